/**
 * One creation of `bench/create.ts`, in a process of its own, so that it is what a new process
 * pays (nothing compiled, nothing probed yet): `node --import tsx bench/create-child.ts <what>`,
 * with the cache directory in COWPOOL_CACHE_DIR (empty for a cold creation, filled for a warm
 * one), and cowpool taken from the installed package in COWPOOL_BENCH_PACKAGE (else from src/).
 * Prints the creation's wall and CPU milliseconds as JSON. What:
 *
 * - `quickjs-sandbox`, `sqlite-sandbox`: `QuickJSSandbox.create()`, `SqliteSandbox.create()`;
 * - `quickjs-pool`, `sqlite-pool`: `InstancePool.create()` of the same modules, with stand-in
 *   imports (preparation and one member; the sandboxes' own initialization is not run).
 */
import { pathToFileURL } from 'node:url';
import type * as Root from '../src/index.ts';
import type * as QuickJSAbi from '../src/quickjs/abi.ts';
import type * as QuickJS from '../src/quickjs/index.ts';
import type * as SqliteAbi from '../src/sqlite/abi.ts';
import type * as Sqlite from '../src/sqlite/index.ts';

/** A module of cowpool: from the installed package in COWPOOL_BENCH_PACKAGE (dist/), else from src/. */
async function cowpool<T>(path: string): Promise<T> {
  const installed = process.env.COWPOOL_BENCH_PACKAGE;
  const url = installed ? pathToFileURL(`${installed}/dist/${path}.js`) : new URL(`../src/${path}.ts`, import.meta.url);
  return (await import(url.href)) as T;
}

const { InstancePool } = await cowpool<typeof Root>('index');
const { loadQuickJSWasm } = await cowpool<typeof QuickJSAbi>('quickjs/abi');
const { QuickJSSandbox } = await cowpool<typeof QuickJS>('quickjs/index');
const { loadSqliteWasm } = await cowpool<typeof SqliteAbi>('sqlite/abi');
const { SqliteSandbox } = await cowpool<typeof Sqlite>('sqlite/index');

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
