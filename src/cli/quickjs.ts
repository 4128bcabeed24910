/**
 * `cowpool quickjs serve [setup.js]`: the HTTP server of `cowpool/quickjs` (`createQuickJSServer`)
 * from the command line, its scripts on the JavaScript thread or (`--threads N`) on N worker
 * threads. `main.ts` loads this file only when the command is used, so that the rest of the CLI
 * does not need QuickJS installed.
 */
import { readFile } from 'node:fs/promises';
import { InvalidArgumentError } from '../errors.js';
import { parseBytes, parseCount, parseDuration, parsePort, UNITS_HELP } from '../options/units.js';
import { createQuickJSServer, QuickJSSandbox } from '../quickjs/index.js';
import { readCommandLine } from './command-line.js';
import { SERVER_FLAGS, SERVER_FLAGS_USAGE, serveUntilSignal, serverFlags, startLine } from './server-command.js';

/** Usage of `cowpool quickjs serve`, for its `--help` and `cowpool quickjs --help`. */
const QUICKJS_USAGE = `Usage: cowpool quickjs serve [setup.js] [options]

Evaluates JavaScript per HTTP request, each in a pristine QuickJS context: without setup.js, a
POST body is a script and the answer is {"value", "logs"}; with setup.js, each request calls its
handle(request) and answers what it returns.

quickjs serve options:
  --host <addr>           interface to listen on (default 127.0.0.1)
  --port <n>              port (default 8080; 0 picks a free one)
  --handler <name>        function of setup.js to call per request (default handle)
  --timeout <time>        deadline of one request (default 1s)
  --memory-limit <size>   QuickJS heap of one request (default 32MiB)
  --pool <n>              most contexts at once on the JavaScript thread (default 4); not with
                          --threads (each thread runs one script at a time)
  --threads <n>           run the scripts on n worker threads (default 0: on the JavaScript
                          thread, where a script holds the event loop while it runs). QuickJS is
                          set up once, one image serves every thread, and a script past --timeout
                          and --grace is stopped with its thread (504)
  --max-queue <n>         requests that may wait for a thread (without --threads: for a context
                          that scripts awaiting timers hold); more get 503 (default: no bound)
  --grace <time>          with --threads: how long past --timeout a script may run before its
                          thread is ended (default 100ms)
  --max-body <size>       largest request body (default 1MiB)
${SERVER_FLAGS_USAGE.replace(/ \(with --workers[^)]*\)/, '')}
  -h, --help              this help

${UNITS_HELP}`;

/** Runs `cowpool quickjs …`; resolves to the exit code when the server stops. */
export async function quickjsCommand(args: string[]): Promise<number> {
  const [sub, ...rest] = args;
  if (sub === undefined || sub === 'help' || sub === '--help' || sub === '-h') {
    console.log(QUICKJS_USAGE);
    return 0;
  }
  if (sub !== 'serve') throw new InvalidArgumentError(`unknown command "${sub}"; try cowpool quickjs serve [setup.js]`);
  const line = readCommandLine(
    {
      name: 'quickjs serve',
      takes: 'at most one setup script',
      positionals: { min: 0, max: 1 },
      example: 'cowpool quickjs serve [setup.js] [options]',
      options: {
        host: { type: 'string', default: '127.0.0.1' },
        port: { type: 'string', default: '8080' },
        handler: { type: 'string', default: 'handle' },
        timeout: { type: 'string', default: '1s' },
        'memory-limit': { type: 'string', default: '32MiB' },
        pool: { type: 'string' },
        threads: { type: 'string', default: '0' },
        'max-queue': { type: 'string' },
        grace: { type: 'string' },
        'max-body': { type: 'string', default: '1MiB' },
        ...SERVER_FLAGS,
      },
    },
    rest,
  );
  if (line.help) {
    console.log(QUICKJS_USAGE);
    return 0;
  }
  const { values, positionals } = line;
  const setupFile = positionals[0];
  const port = parsePort('--port', values.port!);
  const threads = parseCount('--threads', values.threads!, 0);
  if (threads > 0 && values.pool !== undefined) {
    throw new InvalidArgumentError('--pool does not apply with --threads: each thread runs one script at a time; set --threads');
  }
  if (values.grace !== undefined && threads === 0)
    throw new InvalidArgumentError('--grace applies to scripts on worker threads: add --threads N');
  const queue = values['max-queue'] !== undefined ? { maxQueue: parseCount('--max-queue', values['max-queue'], 0) } : {};
  const onThreads =
    threads === 0
      ? { max: parseCount('--pool', values.pool ?? '4', 1), ...queue }
      : { threads, ...queue, ...(values.grace !== undefined ? { grace: parseDuration('--grace', values.grace) } : {}) };
  const flags = serverFlags(values);
  const building = performance.now();
  const sandbox = await QuickJSSandbox.create({
    ...(setupFile !== undefined ? { setup: await readFile(setupFile, 'utf8'), setupFilename: setupFile } : {}),
    timeout: parseDuration('--timeout', values.timeout!),
    memoryLimit: parseBytes('--memory-limit', values['memory-limit']!),
    ...onThreads,
  });
  const buildMs = performance.now() - building;
  const server = createQuickJSServer(sandbox, {
    ...(setupFile !== undefined ? { handler: values.handler! } : {}),
    maxBody: parseBytes('--max-body', values['max-body']!),
    log: flags.write,
    logFormat: flags.format,
    accessLog: flags.accessLog,
    health: flags.health,
    metrics: flags.metrics,
  });
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, values.host, resolve);
    });
  } catch (err) {
    await sandbox.close();
    throw err;
  }
  const address = server.address();
  const at = typeof address === 'object' && address !== null ? `http://${values.host}:${address.port}` : String(address);
  const what = `cowpool quickjs serving ${setupFile ? `${setupFile} (${values.handler}(request))` : 'request bodies'}`;
  const start = startLine(what, at, buildMs, sandbox.describe(), sandbox.stats().pool, threads);
  flags.log.lifecycle('start', start.message, start.fields);
  await serveUntilSignal(
    flags.log,
    async () => {
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeIdleConnections();
      });
      await server.handler.close();
      await sandbox.close();
    },
    () => server.handler.stats().http,
  );
  return 0;
}
