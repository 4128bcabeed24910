/**
 * `cowpool quickjs serve [setup.js]`: the HTTP server of `serve.ts` from the command line. Loaded
 * only when the command is used, so that the rest of the CLI does not need QuickJS installed.
 */
import { readFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import { InvalidArgumentError } from '../errors.js';
import { parseBytes, parseDuration } from '../cli/units.js';
import { QuickJSSandbox } from './sandbox.js';
import { createQuickJSServer } from './serve.js';

/** Usage lines for `cowpool --help`. */
export const QUICKJS_USAGE = `  cowpool quickjs serve [setup.js] [options]
                                       evaluate JavaScript per HTTP request, each in a pristine
                                       QuickJS context; with setup.js, call its handle(request)

quickjs serve options:
  --host <addr>           interface to listen on (default 127.0.0.1)
  --port <n>              port (default 8080; 0 picks a free one)
  --handler <name>        function of setup.js to call per request (default handle)
  --timeout <time>        deadline of one request (default 1s)
  --memory-limit <size>   QuickJS heap of one request (default 32MiB)
  --pool <n>              most contexts at once (default 4)
  --max-body <size>       largest request body (default 1MiB)`;

/** Runs `cowpool quickjs …`; resolves to the exit code when the server stops. */
export async function quickjsCommand(args: string[]): Promise<number> {
  const [sub, ...rest] = args;
  if (sub === undefined || sub === 'help' || sub === '--help' || sub === '-h') {
    console.log(`Usage:\n${QUICKJS_USAGE}\n`);
    return 0;
  }
  if (sub !== 'serve')
    throw new InvalidArgumentError(`cowpool quickjs: unknown command "${sub ?? ''}"; try cowpool quickjs serve [setup.js]`);
  const { values, positionals } = parseArgs({
    args: rest,
    allowPositionals: true,
    options: {
      host: { type: 'string', default: '127.0.0.1' },
      port: { type: 'string', default: '8080' },
      handler: { type: 'string', default: 'handle' },
      timeout: { type: 'string', default: '1s' },
      'memory-limit': { type: 'string', default: '32MiB' },
      pool: { type: 'string', default: '4' },
      'max-body': { type: 'string', default: '1MiB' },
    },
  });
  if (positionals.length > 1)
    throw new InvalidArgumentError('quickjs serve takes at most one setup script: cowpool quickjs serve setup.js');
  const setupFile = positionals[0];
  const port = Number(values.port);
  const pool = Number(values.pool);
  if (!Number.isSafeInteger(port) || port < 0 || port > 65535)
    throw new InvalidArgumentError(`--port ${values.port}: expected a port number`);
  if (!Number.isSafeInteger(pool) || pool < 1)
    throw new InvalidArgumentError(`--pool ${values.pool}: expected a whole number of at least 1`);
  const sandbox = await QuickJSSandbox.create({
    ...(setupFile !== undefined ? { setup: await readFile(setupFile, 'utf8'), setupFilename: setupFile } : {}),
    timeout: parseDuration('--timeout', values.timeout!),
    memoryLimit: parseBytes('--memory-limit', values['memory-limit']!),
    max: pool,
  });
  const server = createQuickJSServer(sandbox, {
    ...(setupFile !== undefined ? { handler: values.handler! } : {}),
    maxBody: parseBytes('--max-body', values['max-body']!),
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, values.host, resolve);
  });
  const address = server.address();
  const at = typeof address === 'object' && address !== null ? `http://${values.host}:${address.port}` : String(address);
  console.log(`cowpool quickjs serving ${setupFile ? `${setupFile} (${values.handler}(request))` : 'request bodies'} at ${at}`);
  await new Promise<void>((resolve) => {
    const stop = () => server.close(() => resolve());
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
  });
  await sandbox.close();
  return 0;
}
