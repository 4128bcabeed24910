// The baseline: a bare Node http server answering "Hello, world!\n", no WebAssembly at all.
import { createServer } from 'node:http';

const body = Buffer.from('Hello, world!\n');
const server = createServer((req, res) => {
  res.writeHead(200, ['Content-Type', 'text/plain', 'Content-Length', String(body.length)]);
  res.end(body);
});
server.listen(Number(process.argv[2] ?? 0), '127.0.0.1', () => console.log(`ready ${server.address().port}`));
// Exit normally on a signal, so that `node --cpu-prof` writes its profile.
for (const signal of ['SIGINT', 'SIGTERM']) process.on(signal, () => process.exit(0));
