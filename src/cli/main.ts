/**
 * The `cowpool` command line: `serve` runs a WASI program once per HTTP request, each on a pristine
 * instance; `inspect` says how a module would be pooled and why.
 */
import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { parseArgs } from 'node:util';
import { CowpoolError, InvalidArgumentError } from '../errors.js';
import { parseStrategy, selfCheck } from '../memory/index.js';
import { InstancePool } from '../pool/index.js';
import { parseDirOption } from './dir-option.js';
import { parseBytes, parseDuration } from './units.js';

const USAGE = `cowpool — a fresh WebAssembly instance per request, in microseconds

Usage:
  cowpool serve <app.wasm> [options]   serve a WASI command module over HTTP, CGI-style
  cowpool inspect <module.wasm>        show how a module is pooled (mechanism, reset strategy) and why
  cowpool quickjs serve [setup.js]     JavaScript per HTTP request, a pristine QuickJS context each
  cowpool --version | --help

serve options:
  --host <addr>           interface to listen on (default 127.0.0.1)
  --port <n>              port (default 8080; 0 picks a free one)
  --keep-resident <size>  bytes a reset may restore in place per request (default 2MiB)
  --strategy <name>       memory reset: auto, pagemap, madvise or copy (default auto)
  --timeout <time>        deadline of one request (default 10s)
  --max-body <size>       largest request body (default 1MiB)
  --env K=V               extra environment variable for the program (repeatable)
  --dir HOST::GUEST       grant a host directory at a guest path (repeatable): writable by each
                          request, changes vanish after it; HOST::GUEST:rw keeps them, :ro refuses them
  --overlay-limit <size>  most bytes one request may write into such directories (default 64MiB)
  --workers <n>           processes sharing the port (default 1). A guest runs on the JavaScript
                          thread, so each process serves one request at a time with one pooled
                          instance; use one worker per core for concurrency
  --quiet                 no access log

Sizes take units (1MiB, 512KiB, 64k); times too (10s, 250ms).
`;

/** Runs the CLI with `argv` (without node and script); resolves to the exit code. */
export async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  try {
    switch (command) {
      case 'serve':
        return await serveCommand(rest);
      case 'inspect':
        return await inspectCommand(rest);
      case 'quickjs':
        // Loaded on demand: only this command needs QuickJS (an optional peer dependency).
        return await (await import('../quickjs/cli.js')).quickjsCommand(rest);
      case '--version':
      case '-v':
        console.log(version());
        return 0;
      case undefined:
      case 'help':
      case '--help':
      case '-h':
        console.log(USAGE);
        return 0;
      default:
        console.error(`cowpool: unknown command "${command}"\n\n${USAGE}`);
        return 2;
    }
  } catch (err) {
    if (err instanceof CowpoolError) {
      console.error(`cowpool: ${err.message}`);
      return err instanceof InvalidArgumentError ? 2 : 1;
    }
    throw err;
  }
}

async function serveCommand(args: string[]): Promise<number> {
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
  const workers = integer('--workers', values.workers!);
  if (workers < 1) throw new InvalidArgumentError('--workers must be at least 1');
  const cluster = await import('./workers.js');
  if (workers > 1 && !cluster.isWorker) return cluster.runPrimary(workers);
  const { serve } = await import('../serve/server.js');
  const quiet = values.quiet!;
  const server = await serve({
    wasm: path,
    host: values.host!,
    port: integer('--port', values.port!),
    ...(values['keep-resident'] !== undefined ? { keepResident: parseBytes('--keep-resident', values['keep-resident']) } : {}),
    strategy,
    timeout: parseDuration('--timeout', values.timeout!),
    maxBody: parseBytes('--max-body', values['max-body']!),
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

async function inspectCommand(args: string[]): Promise<number> {
  const { positionals } = parseArgs({ args, allowPositionals: true, options: {} });
  const path = positionals[0];
  if (!path) throw new InvalidArgumentError('inspect takes a module path: cowpool inspect module.wasm');
  const bytes = new Uint8Array(await readFile(path));
  const imports: WebAssembly.Imports = {};
  // Stand-ins for every import, so that a module with imports can be analysed without its host.
  for (const entry of WebAssembly.Module.imports(new WebAssembly.Module(bytes))) {
    if (entry.kind !== 'function') continue;
    (imports[entry.module] ??= {})[entry.name] = () => {
      throw new Error(`${entry.module}.${entry.name} is a stand-in of cowpool inspect`);
    };
  }
  const pool = await InstancePool.create(bytes, { imports, min: 0 });
  // The host's part of the choice: what each reset strategy's self-check found on this kernel.
  const check = selfCheck();
  const host = {
    kernel: check.kernel.description,
    strategies: Object.fromEntries(
      Object.entries(check.strategies).map(([name, result]) => [name, result.ok ? 'ok' : `unavailable: ${result.reason}`]),
    ),
  };
  console.log(JSON.stringify({ module: path, ...pool.describe(), host }, null, 2));
  await pool.close();
  return 0;
}

function integer(option: string, value: string): number {
  const n = Number(value);
  if (!Number.isSafeInteger(n) || n < 0) throw new InvalidArgumentError(`${option} ${value}: expected a whole number`);
  return n;
}

function version(): string {
  return (createRequire(import.meta.url)('../../package.json') as { version: string }).version;
}
