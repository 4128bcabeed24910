// The alternative cowpool replaces: the same CGI server, but a new WebAssembly.Instance (and so a
// new memory) for every request. Built from cowpool's own WASI host and CGI code so that only the
// instance strategy differs.
import { readFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { WasiHost } from '../../dist/wasi/index.js';
import { cgiEnvironment, parseCgiResponse } from '../../dist/serve/cgi.js';

const module = new WebAssembly.Module(readFileSync(process.argv[3] ?? 'examples/hello.wasm'));
const wasi = new WasiHost();
let port = 0;
const server = createServer((req, res) => {
  req.resume();
  const env = cgiEnvironment(
    {
      method: req.method,
      url: req.url,
      headers: req.rawHeaders,
      httpVersion: req.httpVersion,
      remoteAddress: req.socket.remoteAddress,
      remotePort: req.socket.remotePort,
      bodyLength: 0,
    },
    { serverPort: port, scriptName: '' },
  );
  const stdout = [];
  const instance = new WebAssembly.Instance(module, wasi.imports);
  wasi.run(instance, { args: ['app.wasm'], env, stdin: new Uint8Array(0), stdout: (c) => stdout.push(c.slice()), stderr: () => {} });
  const response = parseCgiResponse(Buffer.concat(stdout));
  const headers = [];
  for (const [name, value] of response.headers) headers.push(name, value);
  headers.push('Content-Length', String(response.body.length));
  res.writeHead(response.status, headers);
  res.end(response.body);
});
server.listen(Number(process.argv[2] ?? 0), '127.0.0.1', () => {
  port = server.address().port;
  console.log(`ready ${port}`);
});
