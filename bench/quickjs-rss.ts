/**
 * One RSS measurement of `bench/quickjs.ts`, run in its own process so that no other case's heap
 * is counted: `node --expose-gc --import tsx bench/quickjs-rss.ts <mode> <count>` prints the growth
 * of RSS, PSS and private memory in bytes as JSON.
 *
 * - `live`: `count` quickjs-emscripten contexts, each with its own runtime, each having evaluated
 *   the benchmark script and kept alive (the isolated alternative);
 * - `shared`: `count` quickjs-emscripten contexts in one runtime;
 * - `pooled`: a cowpool QuickJS pool of `count` contexts, every one of them used once (leased all
 *   at once, so each slot has touched what a use touches, and reset), measured right away: each
 *   still holds the pages its use wrote (`keepResident`), for its next use;
 * - `pooled-idle`: the same, measured once the contexts have been idle for `trimIdleAfter`.
 */
import { readFileSync } from 'node:fs';
import { newQuickJSWASMModuleFromVariant, RELEASE_SYNC as variant, type QuickJSContext } from 'quickjs-emscripten';
import { loadQuickJSWasm, quickjsExports } from '../src/quickjs/abi.ts';
import { UseState } from '../src/quickjs/use-state.ts';
import { createInitializedPool } from '../src/quickjs/image.ts';
import { runRequest } from '../src/quickjs/session.ts';

const RSS_CODE = '(() => { let s = 0; for (let i = 0; i < 100; i++) s += i; return s })()';

/**
 * RSS counts a shared file page once per mapping: 1000 slots reading one page of the image count
 * it 1000 times though it is in memory once. PSS divides each page among its mappers, and private
 * memory is what the process alone holds; report all three. `private` is what the contexts
 * themselves hold, measured so that it does not swing between runs: anonymous memory (wasm
 * memories, the pages a pooled slot wrote, V8's and malloc's heaps), with the JS heap counted by
 * its live objects (`heapUsed`) rather than the pages it kept from earlier garbage, and without the
 * image's memfd, which all slots share (a cost per sandbox, not per context; smaps counts its pages
 * private or shared depending on how many slots map them at the moment of reading).
 */
function memory(): { rss: number; pss: number; private: number } {
  (globalThis as { gc?: () => void }).gc?.();
  const rollup = readFileSync('/proc/self/smaps_rollup', 'utf8');
  const kib = (field: string) => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(rollup)?.[1] ?? NaN) * 1024;
  const heap = process.memoryUsage();
  return { rss: kib('Rss'), pss: kib('Pss'), private: kib('Anonymous') - heap.heapTotal + heap.heapUsed };
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
} else if (mode === 'pooled' || mode === 'pooled-idle') {
  const memoryLimit = 32 * 2 ** 20;
  // The image (made with the pool, which has no context yet) is the sandbox's, not the contexts'.
  const { pool, image: snapshot } = createInitializedPool(
    loadQuickJSWasm(),
    { headroom: Math.ceil(memoryLimit * 1.5) + 2 * 2 ** 20, setupTimeout: 10_000 },
    { max: count, min: 0 },
  );
  before = memory();
  const leases = await Promise.all(Array.from({ length: count }, () => pool.acquire(new UseState())));
  for (const lease of leases) {
    runRequest(
      quickjsExports(lease.instance),
      lease.host.memory!,
      snapshot.layout,
      lease.context!,
      { kind: 'eval', code: RSS_CODE, filename: 'eval.js' },
      { memoryLimit, timeout: 1000 },
    );
  }
  for (const lease of leases) lease.release();
  // Idle: once `trimIdleAfter` (1 s by default) has passed, every context has given back its pages.
  for (let waited = 0; mode === 'pooled-idle' && pool.stats().trims < count && waited < 5000; waited += 50) {
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  keep.push(pool);
} else {
  throw new Error(`unknown mode ${mode}`);
}
const after = memory();
console.log(
  JSON.stringify({
    mode,
    count,
    rss: after.rss - before.rss,
    pss: after.pss - before.pss,
    private: after.private - before.private,
    kept: keep.length,
  }),
);
