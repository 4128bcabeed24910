/**
 * One creation of `bench/create.ts`, in a process of its own, so that it is what a new process
 * pays (nothing compiled, nothing probed yet): `node --import tsx bench/create-child.ts <what>`,
 * with the cache directory in COWPOOL_CACHE_DIR (empty for a cold creation, filled for a warm
 * one). Prints the creation's wall and CPU milliseconds as JSON. What:
 *
 * - `quickjs-sandbox`, `sqlite-sandbox`: `QuickJSSandbox.create()`, `SqliteSandbox.create()`;
 * - `quickjs-pool`, `sqlite-pool`: `InstancePool.create()` of the same modules, with stand-in
 *   imports (preparation and one member; the sandboxes' own initialization is not run).
 */
import { InstancePool } from '../src/index.ts';
import { loadQuickJSWasm } from '../src/quickjs/abi.ts';
import { QuickJSSandbox } from '../src/quickjs/index.ts';
import { loadSqliteWasm } from '../src/sqlite/abi.ts';
import { SqliteSandbox } from '../src/sqlite/index.ts';

/** A function for each function import: instantiation links them, and no use calls them here. */
function standIns(bytes: Uint8Array): WebAssembly.Imports {
  const imports: WebAssembly.Imports = {};
  for (const entry of WebAssembly.Module.imports(new WebAssembly.Module(bytes))) {
    if (entry.kind === 'function') (imports[entry.module] ??= {})[entry.name] = () => 0;
  }
  return imports;
}

const what = process.argv[2];
const creators: Record<string, () => Promise<{ close(): Promise<void> }>> = {
  'quickjs-sandbox': () => QuickJSSandbox.create(),
  'sqlite-sandbox': () => SqliteSandbox.create(),
};
// The module's bytes are read and the stand-ins made before the clock starts, as a user has them.
if (what === 'quickjs-pool' || what === 'sqlite-pool') {
  const bytes = what === 'quickjs-pool' ? loadQuickJSWasm() : loadSqliteWasm();
  const imports = standIns(bytes);
  creators[what] = () => InstancePool.create(bytes, { imports });
}
const create = creators[what ?? ''];
if (!create) throw new Error(`create-child: unknown case ${what}`);
const cpu = process.cpuUsage();
const started = performance.now();
const created = await create();
const ms = performance.now() - started;
const used = process.cpuUsage(cpu);
await created.close();
console.log(JSON.stringify({ ms, cpuMs: (used.user + used.system) / 1000 }));
