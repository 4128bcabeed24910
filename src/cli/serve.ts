/**
 * `cowpool serve <app.wasm>`: the HTTP server of `cowpool/serve` from the command line, one
 * process or (`--workers N`) N processes sharing the port.
 */
import { parseArgs } from 'node:util';
import { InvalidArgumentError } from '../errors.js';
import { parseStrategy } from '../memory/index.js';
import { parseBytes, parseCount, parseDuration, parsePort } from '../options/units.js';
import { parseDirOption } from './dir-option.js';

/** The options of `cowpool serve`, for `cowpool --help`. */
export const SERVE_USAGE = `serve options:
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
  --workers <n>           processes sharing the port (default 1). A guest runs on the JavaScript
                          thread, so each process serves one request at a time with one pooled
                          instance; use one worker per core for concurrency
  --quiet                 no access log`;

/** Runs `cowpool serve …` (`args` after `serve`); resolves to the exit code once the server has stopped. */
export async function serveCommand(args: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
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
      quiet: { type: 'boolean', default: false },
    },
  });
  if (values.pool !== undefined) {
    throw new InvalidArgumentError(
      '--pool is gone: a guest runs on the JavaScript thread, so a process serves one request at a time with one ' +
        'instance; use --workers N (one per core) for concurrency',
    );
  }
  const path = positionals[0];
  if (!path || positionals.length > 1) throw new InvalidArgumentError('serve takes one module path: cowpool serve app.wasm');
  const env: Record<string, string> = {};
  for (const pair of values.env!) {
    const eq = pair.indexOf('=');
    if (eq <= 0) throw new InvalidArgumentError(`--env ${pair}: write it as NAME=value`);
    env[pair.slice(0, eq)] = pair.slice(eq + 1);
  }
  const dirs = values.dir!.map(parseDirOption);
  const strategy = parseStrategy(values.strategy, '--strategy');
  const workers = parseCount('--workers', values.workers!, 1);
  const cluster = await import('./workers.js');
  if (workers > 1 && !cluster.isWorker) return cluster.runPrimary(workers);
  const { serve } = await import('../serve/server.js');
  const quiet = values.quiet!;
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
    ...(quiet ? {} : { log: (line: string) => process.stdout.write(`${line}\n`) }),
  });
  const description = server.pool.describe();
  const line =
    `cowpool serving ${path} at ${server.url} (${description.mechanism}, ${description.strategy} reset` +
    `${description.strategyReason ? `: ${description.strategyReason}` : ''})`;
  if (cluster.isWorker) cluster.announceListening(line);
  else console.log(line);
  await new Promise<void>((resolve) => {
    const stop = (signal: string) => {
      if (!cluster.isWorker) console.log(`cowpool: ${signal}, finishing requests in flight`);
      server.close().then(resolve, resolve);
    };
    process.once('SIGINT', () => stop('SIGINT'));
    process.once('SIGTERM', () => stop('SIGTERM'));
  });
  return 0;
}
