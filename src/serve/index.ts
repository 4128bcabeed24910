/**
 * `cowpool/serve`: the HTTP server of `cowpool serve`, to start from a program, and its request
 * handler, to mount in a server of one's own. Every request runs a WASI command module on a
 * pristine instance, CGI-style.
 *
 * ```ts
 * import { serve } from 'cowpool/serve';
 * const server = await serve({ wasm: 'app.wasm', port: 8080, timeout: 5000 });
 * console.log(server.url);
 * await server.close();
 *
 * // The guests on 2 worker threads: the event loop never waits for one, a runaway is stopped with its thread.
 * const threaded = await serve({ wasm: 'app.wasm', port: 8081, threads: 2, maxQueue: 256 });
 *
 * import { createCgiHandler } from 'cowpool/serve';
 * const handler = await createCgiHandler({ wasm: 'app.wasm' });
 * http.createServer(handler).listen(8080);   // or app.use('/app', handler) in express
 * ```
 */
export { serve, type CowpoolServer, type ServeOptions } from './server.js';
export { createCgiHandler, type CgiHandler, type CgiHandlerOptions } from './cgi-handler.js';
export { MalformedCgiResponseError } from './cgi.js';
export type { Readiness } from '../http/operations.js';
export type { LogFormat } from '../http/server-log.js';
