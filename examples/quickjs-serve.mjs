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
// { status, body }. A script that throws answers 400, one that runs past the deadline 504, one that
// exceeds the memory limit 507; the next request is pristine either way. PORT sets the port.
import { createServer } from 'node:http';
import { readFile } from 'node:fs/promises';
import { QuickJSSandbox, QuickJSError, GuestTimeoutError, GuestMemoryLimitError } from 'cowpool/quickjs';

const setupFile = process.argv[2];
const sandbox = await QuickJSSandbox.create({
  ...(setupFile ? { setup: await readFile(setupFile, 'utf8'), setupFilename: setupFile } : {}),
  timeout: 200,
  memoryLimit: 16 * 2 ** 20,
});

const server = createServer(async (req, res) => {
  const chunks = [];
  for await (const chunk of req) chunks.push(chunk);
  const body = Buffer.concat(chunks).toString('utf8');
  const url = new URL(req.url ?? '/', 'http://localhost');
  const logs = [];
  const options = { console: (entry) => logs.push(entry) };
  let status = 200;
  let answer;
  try {
    if (setupFile) {
      const request = { method: req.method, path: url.pathname, query: Object.fromEntries(url.searchParams), headers: req.headers, body };
      const response = (await sandbox.call('handle', [request], options)) ?? {};
      status = response.status ?? 200;
      answer = { ...response.body, logs };
    } else {
      answer = { value: await sandbox.eval(body, options), logs };
    }
  } catch (err) {
    status = err instanceof QuickJSError ? 400 : err instanceof GuestTimeoutError ? 504 : err instanceof GuestMemoryLimitError ? 507 : 500;
    answer = { error: { name: err.guestName ?? err.name, message: err.guestMessage ?? err.message, stack: err.guestStack }, logs };
  }
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(JSON.stringify(answer));
});

server.listen(Number(process.env.PORT ?? 8080), '127.0.0.1', () => {
  console.log(`listening on http://127.0.0.1:${server.address().port}`);
});
const stop = () => server.close(() => sandbox.close());
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
