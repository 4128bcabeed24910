// The baseline of the two-core group: N bare Node http servers (argv[2], default 2) behind one port,
// node:cluster's primary handing out the connections, as `cowpool serve --workers N` does.
import cluster from 'node:cluster';
import { createServer } from 'node:http';

const count = Number(process.argv[2] ?? 2);
if (cluster.isPrimary) {
  let listening = 0;
  for (let i = 0; i < count; i++) cluster.fork();
  cluster.on('listening', (_worker, address) => {
    if (++listening === count) console.log(`ready ${address.port}`);
  });
  process.on('SIGTERM', () => {
    for (const worker of Object.values(cluster.workers)) worker.kill();
    process.exit(0);
  });
} else {
  const body = Buffer.from('Hello, world!\n');
  const server = createServer((req, res) => {
    res.writeHead(200, ['Content-Type', 'text/plain', 'Content-Length', String(body.length)]);
    res.end(body);
  });
  server.listen(0, '127.0.0.1');
}
