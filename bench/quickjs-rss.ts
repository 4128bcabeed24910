/**
 * One RSS measurement of `bench/quickjs.ts`, run in its own process so that no other case's heap
 * is counted: `node --expose-gc --import tsx bench/quickjs-rss.ts <mode> <count> [keepResident]` prints the growth
 * of RSS, PSS and private memory in bytes as JSON. `pooled` takes the pool's `keepResident` as a
 * third argument.
 *
 * - `live`: `count` quickjs-emscripten contexts, each with its own runtime, each having evaluated
 *   the benchmark script and kept alive (the isolated alternative);
 * - `shared`: `count` quickjs-emscripten contexts in one runtime;
 * - `pooled`: a cowpool QuickJS pool of `count` contexts, every one of them used once (leased all
 *   at once, so each slot has touched what a use touches, and reset).
 */
import { readFileSync } from 'node:fs';
import { newQuickJSWASMModuleFromVariant, RELEASE_SYNC as variant, type QuickJSContext } from 'quickjs-emscripten';
import { InstancePool } from '../src/pool/index.ts';
import { loadQuickJSWasm, quickjsExports } from '../src/quickjs/abi.ts';
import { quickjsImports, UseState } from '../src/quickjs/host.ts';
import { buildSnapshot } from '../src/quickjs/image.ts';
import { runRequest } from '../src/quickjs/session.ts';

const RSS_CODE = '(() => { let s = 0; for (let i = 0; i < 100; i++) s += i; return s })()';

/**
 * RSS counts a shared file page once per mapping: 1000 slots reading one page of the image count
 * it 1000 times though it is in memory once. PSS divides each page among its mappers, and private
 * memory is what the process alone holds; report all three.
 */
function memory(): { rss: number; pss: number; private: number } {
  (globalThis as { gc?: () => void }).gc?.();
  const rollup = readFileSync('/proc/self/smaps_rollup', 'utf8');
  const kib = (field: string) => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(rollup)?.[1] ?? NaN) * 1024;
  return { rss: kib('Rss'), pss: kib('Pss'), private: kib('Private_Clean') + kib('Private_Dirty') };
}

const [mode, countText] = process.argv.slice(2);
const count = Number(countText);
const keep: unknown[] = [];
let before: ReturnType<typeof memory>;
if (mode === 'live' || mode === 'shared') {
  const qjs = await newQuickJSWASMModuleFromVariant(variant);
  qjs.newContext().dispose();
  before = memory();
  const runtime = mode === 'shared' ? qjs.newRuntime() : undefined;
  for (let i = 0; i < count; i++) {
    const context: QuickJSContext = runtime ? runtime.newContext() : qjs.newContext();
    context.unwrapResult(context.evalCode(RSS_CODE)).dispose();
    keep.push(context);
  }
} else if (mode === 'pooled') {
  const memoryLimit = 32 * 2 ** 20;
  const snapshot = buildSnapshot(loadQuickJSWasm(), { headroom: Math.ceil(memoryLimit * 1.5) + 2 * 2 ** 20, setupTimeout: 10_000 });
  before = memory();
  const pool = InstancePool.createSync<WebAssembly.Exports, undefined, UseState>(snapshot.bytes, { setup: (host) => ({ imports: quickjsImports(host.memory!, () => host.context, true) }), max: count, min: 0, ...(process.argv[4] ? { keepResident: Number(process.argv[4]) } : {}) });
  const leases = await Promise.all(Array.from({ length: count }, () => pool.acquire(new UseState())));
  for (const lease of leases) {
    runRequest(quickjsExports(lease.instance), lease.host.memory!, snapshot.layout, lease.context!, { kind: 'eval', code: RSS_CODE, filename: 'eval.js' }, { memoryLimit, timeout: 1000 });
  }
  for (const lease of leases) lease.release();
  keep.push(pool);
} else {
  throw new Error(`unknown mode ${mode}`);
}
const after = memory();
console.log(JSON.stringify({ mode, count, rss: after.rss - before.rss, pss: after.pss - before.pss, private: after.private - before.private, kept: keep.length }));
