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
import { parseArgs } from 'node:util';
import { InvalidArgumentError } from '../errors.js';
import { parseBytes, parseDuration } from '../options/units.js';
import type { PreparedMessage } from '../pool/build.js';
import { InstancePool, type CacheOption } from '../pool/index.js';

/** Usage of `cowpool warm`, for the CLI's help. */
export const WARM_USAGE = `warm: prepare a module ahead of time, into the cache (see the README's "The cache")
  cowpool warm <app.wasm> [--timeout <time>]       for cowpool serve app.wasm with that --timeout (default 10s)
  cowpool warm quickjs [setup.js] [--memory-limit <size>]
                                                   for cowpool quickjs serve [setup.js] (default 32MiB)
  cowpool warm sqlite [setup.sql] [--memory-limit <size>]
                                                   for a SqliteSandbox with that setup (default 32MiB)
  --cache-dir <dir>       the cache directory (default $COWPOOL_CACHE_DIR, $XDG_CACHE_HOME/cowpool or
                          ~/.cache/cowpool)`;

/** Runs `cowpool warm …` (`args` after `warm`); resolves to the exit code. */
export async function warmCommand(args: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: {
      timeout: { type: 'string', default: '10s' },
      'memory-limit': { type: 'string', default: '32MiB' },
      'cache-dir': { type: 'string' },
    },
  });
  const [target, setupFile, ...extra] = positionals;
  if (target === undefined) throw new InvalidArgumentError('warm takes a module path, quickjs or sqlite: cowpool warm app.wasm');
  const cache: CacheOption = values['cache-dir'] !== undefined ? { dir: values['cache-dir'] } : true;
  const kind = target === 'quickjs' || target === 'sqlite' ? target : 'module';
  if (extra.length > 0 || (kind === 'module' && setupFile !== undefined)) {
    throw new InvalidArgumentError(
      kind === 'module' ? 'warm takes one module path: cowpool warm app.wasm' : `warm ${kind} takes at most one setup file`,
    );
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
