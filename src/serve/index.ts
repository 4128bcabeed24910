/**
 * `cowpool/serve`: the HTTP server of `cowpool serve`, to start from a program. Every request runs
 * a WASI command module on a pristine instance, CGI-style.
 *
 * ```ts
 * import { serve } from 'cowpool/serve';
 * const server = await serve({ wasm: 'app.wasm', port: 8080, timeout: 5000 });
 * console.log(server.url);
 * await server.close();
 * ```
 */
export { serve, type CowpoolServer, type ServeOptions } from './server.js';
export { MalformedCgiResponseError } from './cgi.js';
