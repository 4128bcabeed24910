/**
 * `cowpool warm`: fills the cache of prepared pools at deploy time (a container image's build
 * step, say), so that the servers and sandboxes that start later find their module prepared and
 * start in milliseconds:
 *
 *     cowpool warm app.wasm [--timeout <time>]         what `cowpool serve app.wasm` will prepare
 *     cowpool warm quickjs [setup.js] [--memory-limit]  what `cowpool quickjs serve [setup.js]` will
 *     cowpool warm sqlite [setup.sql] [--memory-limit]  what a SqliteSandbox with that setup will
 *
 * Each prepares with the options of the command it warms for that shape the result (the key), so
 * they must be given alike (the setup script's path as the server is given it, the same limits).
 * It reports what the cache did through the diagnostics channel every pool publishes on.
 */
import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import { readFile } from 'node:fs/promises';
import { InvalidArgumentError } from '../errors.js';
import { parseBytes, parseDuration, UNITS_HELP } from '../options/units.js';
import type { PreparedMessage } from '../pool/build.js';
import { InstancePool, type CacheOption } from '../pool/index.js';
import { readCommandLine } from './command-line.js';

/** Usage of `cowpool warm`, for its `--help`. */
export const WARM_USAGE = `Usage: cowpool warm <app.wasm> | quickjs [setup.js] | sqlite [setup.sql] [options]

Prepares a module ahead of time (a deploy step), into the cache of prepared pools, so that the
servers and sandboxes started later find it prepared and start in milliseconds:

  cowpool warm <app.wasm>            for cowpool serve app.wasm (with the same --timeout)
  cowpool warm quickjs [setup.js]    for cowpool quickjs serve [setup.js] (the same path, --memory-limit)
  cowpool warm sqlite [setup.sql]    for a SqliteSandbox with that setup and memoryLimit

Give the options that shape the result as the server will be given them, and run it as the user
(and with the COWPOOL_CACHE_DIR) the server will have.

warm options:
  --timeout <time>        cowpool serve's --timeout: a finite one instruments the module (default 10s)
  --memory-limit <size>   the sandbox's memoryLimit (default 32MiB)
  --cache-dir <dir>       the cache directory (default $COWPOOL_CACHE_DIR, $XDG_CACHE_HOME/cowpool
                          or ~/.cache/cowpool)
  -h, --help              this help

${UNITS_HELP}`;

/** Runs `cowpool warm …` (`args` after `warm`); resolves to the exit code. */
export async function warmCommand(args: string[]): Promise<number> {
  const line = readCommandLine(
    {
      name: 'warm',
      takes: 'a module path, or quickjs or sqlite and at most one setup file',
      positionals: { min: 1, max: 2 },
      example: 'cowpool warm app.wasm | quickjs [setup.js] | sqlite [setup.sql]',
      options: {
        timeout: { type: 'string', default: '10s' },
        'memory-limit': { type: 'string', default: '32MiB' },
        'cache-dir': { type: 'string' },
      },
    },
    args,
  );
  if (line.help) {
    console.log(WARM_USAGE);
    return 0;
  }
  const { values, positionals } = line;
  const [target, setupFile] = positionals as [string, string | undefined];
  const cache: CacheOption = values['cache-dir'] !== undefined ? { dir: values['cache-dir'] } : true;
  const kind = target === 'quickjs' || target === 'sqlite' ? target : 'module';
  if (kind === 'module' && setupFile !== undefined) {
    throw new InvalidArgumentError(`a module takes no setup file (usage: cowpool warm app.wasm)`);
  }
  const messages: PreparedMessage[] = [];
  const listener = (message: unknown) => messages.push(message as PreparedMessage);
  subscribe('cowpool:pool:prepared', listener);
  try {
    if (kind === 'module') {
      const bytes = new Uint8Array(await readFile(target));
      // cowpool serve's pool shapes its module by one option: the fuel counter, when requests have a deadline.
      const timeout = parseDuration('--timeout', values.timeout!);
      await (
        await InstancePool.create(bytes, { min: 0, interruptible: Number.isFinite(timeout), imports: standIns(bytes), cache })
      ).close();
    } else {
      const memoryLimit = parseBytes('--memory-limit', values['memory-limit']!);
      const setup = setupFile !== undefined ? await readFile(setupFile, 'utf8') : undefined;
      if (kind === 'quickjs') {
        const { QuickJSSandbox } = await import('../quickjs/index.js');
        const options = setup !== undefined ? { setup, setupFilename: setupFile! } : {};
        await (await QuickJSSandbox.create({ ...options, memoryLimit, min: 0, cache })).close();
      } else {
        const { SqliteSandbox } = await import('../sqlite/index.js');
        await (await SqliteSandbox.create({ ...(setup !== undefined ? { setup } : {}), memoryLimit, min: 0, cache })).close();
      }
    }
  } finally {
    unsubscribe('cowpool:pool:prepared', listener);
  }
  const what = kind === 'module' ? target : `${kind}${setupFile !== undefined ? ` with ${setupFile}` : ''}`;
  const outcome = messages[messages.length - 1]?.cache;
  if (outcome?.kind === 'hit') console.log(`cowpool warm: ${what} is prepared already (${outcome.path})`);
  else if (outcome?.kind === 'stored') console.log(`cowpool warm: ${what} prepared into ${outcome.path}`);
  else if (outcome?.kind === 'unneeded') console.log(`cowpool warm: ${what} needs no cache: ${outcome.reason}`);
  else {
    console.error(`cowpool warm: ${what} was prepared but not cached: ${outcome?.reason ?? 'the pool said nothing'}`);
    return 1;
  }
  return 0;
}

/**
 * A stand-in for each function import, so that preparation can link the module without its host
 * (a start function run once may not call them: see `module/start-analysis.ts`).
 */
function standIns(bytes: Uint8Array): WebAssembly.Imports {
  const imports: WebAssembly.Imports = {};
  for (const entry of WebAssembly.Module.imports(new WebAssembly.Module(bytes))) {
    if (entry.kind !== 'function') continue;
    (imports[entry.module] ??= {})[entry.name] = () => {
      throw new Error(`${entry.module}.${entry.name} is a stand-in of cowpool warm`);
    };
  }
  return imports;
}
