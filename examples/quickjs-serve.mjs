// Untrusted JavaScript over HTTP, each request in a pristine QuickJS context.
//
//   node examples/quickjs-serve.mjs                            # POST a script, get its value
//   node examples/quickjs-serve.mjs examples/quickjs-setup.js  # requests call handle() from the setup
//
//   curl -d '[1, 2, 3].map((x) => x * 2)' http://127.0.0.1:8080/
//   curl 'http://127.0.0.1:8080/add?a=1&b=2'                   # with quickjs-setup.js
//
// Without a setup script, the request body is evaluated and the answer is {"value": …, "logs": […]}.
// With one, `handle({ method, path, query, headers, body })` is called and may return
// { status, headers, body }. A script that throws answers 400, one that runs past the deadline 504,
// one that exceeds the memory limit 507; the next request is pristine either way. PORT sets the port.
// `npx cowpool quickjs serve [setup.js]` is the same server as a command.
import { readFile } from 'node:fs/promises';
import { QuickJSSandbox, createQuickJSServer } from 'cowpool/quickjs';

const setupFile = process.argv[2];
const sandbox = await QuickJSSandbox.create({
  ...(setupFile ? { setup: await readFile(setupFile, 'utf8'), setupFilename: setupFile } : {}),
  timeout: 200,
  memoryLimit: 16 * 2 ** 20,
});
const server = createQuickJSServer(sandbox, setupFile ? { handler: 'handle' } : {});

server.listen(Number(process.env.PORT ?? 8080), '127.0.0.1', () => {
  console.log(`listening on http://127.0.0.1:${server.address().port}`);
});
const stop = () => server.close(() => sandbox.close());
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
