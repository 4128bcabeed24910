/**
 * `cowpool serve <app.wasm>`: the HTTP server of `cowpool/serve` from the command line, one
 * process or (`--workers N`) N processes sharing the port, each running its guests on its
 * JavaScript thread or (`--threads N`) on N worker threads. The two compose: `--workers 2
 * --threads 4` is two processes of four threads each.
 */
import { InvalidArgumentError } from '../errors.js';
import { parseStrategy } from '../memory/index.js';
import { parseBytes, parseCount, parseDuration, parsePort, UNITS_HELP } from '../options/units.js';
import { readCommandLine } from './command-line.js';
import { parseDirOption } from './dir-option.js';
import { SERVER_FLAGS, SERVER_FLAGS_USAGE, serveUntilSignal, serverFlags, startLine } from './server-command.js';

/** The options of `cowpool serve`, for `cowpool serve --help` and `cowpool --help`. */
export const SERVE_USAGE = `Usage: cowpool serve <app.wasm> [options]

Runs a WASI command module once per HTTP request, CGI-style, each request on a pristine instance.

serve options:
  --host <addr>           interface to listen on (default 127.0.0.1)
  --port <n>              port (default 8080; 0 picks a free one)
  --keep-resident <size>  bytes a reset may restore in place per request (default 2MiB)
  --strategy <name>       memory reset: auto, pagemap, madvise or copy (default auto)
  --timeout <time>        deadline of one request (default 10s)
  --max-body <size>       largest request body (default 1MiB)
  --max-output <size>     most bytes one request's program may write to stdout and stderr
                          together (default 16MiB); past it the program is stopped: 502
  --env K=V               extra environment variable for the program (repeatable)
  --dir HOST::GUEST       grant a host directory at a guest path (repeatable): writable by each
                          request, changes vanish after it; HOST::GUEST:rw keeps them, :ro refuses them
  --overlay-limit <size>  most bytes one request may write into such directories (default 64MiB)
  --threads <n>           run guests on n worker threads of one process (default 0: on the
                          JavaScript thread, one request at a time, the least cost per request).
                          The event loop never waits for a guest, one image serves every thread,
                          and a guest past --timeout and --grace is stopped with its thread (504)
  --max-queue <n>         with --threads: requests that may wait for a thread; more get 503
                          (default: no bound)
  --grace <time>          with --threads: how long past --timeout a guest may run before its
                          thread is ended (default 100ms)
  --workers <n>           processes sharing the port (default 1), each with its own image and
                          instances: a process that crashes takes only its own requests along.
                          Composes with --threads (each process runs that many threads)
${SERVER_FLAGS_USAGE}
  -h, --help              this help

${UNITS_HELP}`;

/** Runs `cowpool serve …` (`args` after `serve`); resolves to the exit code once the server has stopped. */
export async function serveCommand(args: string[]): Promise<number> {
  const commandLine = readCommandLine(
    {
      name: 'serve',
      takes: 'one module path',
      positionals: { min: 1, max: 1 },
      example: 'cowpool serve app.wasm [options]',
      options: {
        host: { type: 'string', default: '127.0.0.1' },
        port: { type: 'string', default: '8080' },
        pool: { type: 'string' }, // removed; kept only to say why (see below)
        'keep-resident': { type: 'string' },
        strategy: { type: 'string', default: 'auto' },
        timeout: { type: 'string', default: '10s' },
        'max-body': { type: 'string', default: '1MiB' },
        'max-output': { type: 'string', default: '16MiB' },
        'overlay-limit': { type: 'string' },
        env: { type: 'string', multiple: true, default: [] },
        dir: { type: 'string', multiple: true, default: [] },
        workers: { type: 'string', default: '1' },
        threads: { type: 'string', default: '0' },
        'max-queue': { type: 'string' },
        grace: { type: 'string' },
        ...SERVER_FLAGS,
      },
    },
    args,
  );
  if (commandLine.help) {
    console.log(SERVE_USAGE);
    return 0;
  }
  const { values, positionals } = commandLine;
  if (values.pool !== undefined) {
    throw new InvalidArgumentError(
      '--pool is gone: a guest runs on the JavaScript thread, so a process serves one request at a time with one ' +
        'instance; use --threads N (guests on N worker threads) or --workers N (N processes) for concurrency',
    );
  }
  const path = positionals[0]!;
  const env: Record<string, string> = {};
  for (const pair of values.env!) {
    const eq = pair.indexOf('=');
    if (eq <= 0) throw new InvalidArgumentError(`--env ${pair}: write it as NAME=value`);
    env[pair.slice(0, eq)] = pair.slice(eq + 1);
  }
  const dirs = values.dir!.map(parseDirOption);
  const strategy = parseStrategy(values.strategy, '--strategy');
  const workers = parseCount('--workers', values.workers!, 1);
  const threads = parseCount('--threads', values.threads!, 0);
  for (const flag of ['max-queue', 'grace'] as const) {
    if (values[flag] !== undefined && threads === 0)
      throw new InvalidArgumentError(`--${flag} applies to guests on worker threads: add --threads N`);
  }
  const flags = serverFlags(values);
  const cluster = await import('./workers.js');
  if (workers > 1 && !cluster.isWorker) return cluster.runPrimary(workers, flags.log);
  const { serve } = await import('../serve/server.js');
  const building = performance.now();
  const server = await serve({
    wasm: path,
    host: values.host!,
    port: parsePort('--port', values.port!),
    ...(values['keep-resident'] !== undefined ? { keepResident: parseBytes('--keep-resident', values['keep-resident']) } : {}),
    strategy,
    timeout: parseDuration('--timeout', values.timeout!),
    maxBody: parseBytes('--max-body', values['max-body']!),
    maxOutput: parseBytes('--max-output', values['max-output']!),
    ...(values['overlay-limit'] !== undefined ? { overlayLimit: parseBytes('--overlay-limit', values['overlay-limit']) } : {}),
    env,
    dirs,
    threads,
    ...(values['max-queue'] !== undefined ? { maxQueue: parseCount('--max-queue', values['max-queue'], 0) } : {}),
    ...(values.grace !== undefined ? { grace: parseDuration('--grace', values.grace) } : {}),
    log: flags.write,
    logFormat: flags.format,
    accessLog: flags.accessLog,
    health: flags.health,
    // Each worker answers /metrics for itself: its label keeps its series apart from the others'.
    metrics: flags.metrics && (cluster.isWorker ? { labels: { worker: String(cluster.workerId) } } : true),
  });
  const { handler } = server;
  const start = startLine(
    `cowpool serving ${path}`,
    server.url,
    performance.now() - building,
    handler.describe(),
    handler.stats().served,
    threads,
  );
  if (cluster.isWorker) cluster.announceListening(start.message, start.fields);
  else flags.log.lifecycle('start', start.message, start.fields);
  await serveUntilSignal(
    flags.log,
    () => server.close(),
    () => server.handler.stats().http,
    !cluster.isWorker,
  );
  return 0;
}
