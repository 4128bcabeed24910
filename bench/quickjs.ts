/**
 * `cowpool/quickjs` against quickjs-emscripten, side by side in one process, on the same QuickJS
 * build (`@jitl/quickjs-wasmfile-release-sync`), evaluating a 100-iteration loop:
 *
 * - quickjs-emscripten, a new context per use (`newContext` + `evalCode` + `dump` + `dispose`):
 *   isolated, the usual choice for untrusted code;
 * - quickjs-emscripten, one reused context: cheapest, but each script sees what the last one left;
 * - quickjs-emscripten, a new wasm instance per use (`newQuickJSWASMModuleFromVariant`): what full
 *   isolation of the whole heap costs without cowpool;
 * - cowpool's sandbox: a pristine context per use, `evalSync` and `await eval`.
 *
 * Then memory: RSS of 1000 pooled contexts (a sandbox with `min: 1000`) against 1000 live
 * quickjs-emscripten contexts (each with its own runtime, and all in one runtime).
 */
import { newQuickJSWASMModuleFromVariant, RELEASE_SYNC as variant, type QuickJSContext } from 'quickjs-emscripten';
import { QuickJSSandbox } from '../src/quickjs/index.ts';
import { measure, measureAsync, type Measurement } from './measure.ts';

const CODE = '(() => { let s = 0; for (let i = 0; i < 100; i++) s += i; return s })()';
const EXPECTED = 4950;

function evalDump(context: QuickJSContext): unknown {
  const result = context.evalCode(CODE);
  const handle = context.unwrapResult(result);
  const value = context.dump(handle);
  handle.dispose();
  return value;
}

/** Runs the QuickJS benchmark. */
export async function benchQuickJS(quick: boolean): Promise<Measurement[]> {
  const options = quick ? { batches: 8, budgetMs: 800 } : {};
  const results: Measurement[] = [];
  const group = 'QuickJS: eval of a 100-iteration loop';
  const qjs = await newQuickJSWASMModuleFromVariant(variant);
  const sandbox = await QuickJSSandbox.create({ max: 1 });
  const soft = await QuickJSSandbox.create({ max: 1, hardDeadline: false });
  // V8 compiles the 500 KB QuickJS module with its baseline compiler first and optimizes it in the
  // background: run every contender long enough that all are measured on optimized code.
  const reused = qjs.newContext();
  warmUp(() => {
    const context = qjs.newContext();
    evalDump(context);
    context.dispose();
    evalDump(reused);
    sandbox.evalSync(CODE);
    soft.evalSync(CODE);
  }, quick ? 500 : 3000);

  results.push(
    measure(group, 'quickjs-emscripten newContext+eval+dispose', () => {
      const context = qjs.newContext();
      check(evalDump(context));
      context.dispose();
    }, options),
  );
  results.push(measure(group, 'quickjs-emscripten reused context (leaks)', () => check(evalDump(reused)), options));
  reused.dispose();
  const before = sandbox.stats().pool;
  results.push(measure(group, 'cowpool sandbox.evalSync (pristine)', () => check(sandbox.evalSync(CODE)), options));
  const after = sandbox.stats().pool;
  results[results.length - 1]!.extra = {
    dirtyPagesPerUse: +((after.dirtyPages - before.dirtyPages) / Math.max(1, after.uses - before.uses)).toFixed(1),
    resetNsPerUse: Math.round((after.resetNanoseconds - before.resetNanoseconds) / Math.max(1, after.uses - before.uses)),
    mechanism: sandbox.describe().mechanism,
  };
  results.push(await measureAsync(group, 'cowpool await sandbox.eval (pristine)', async () => check(await sandbox.eval(CODE)), options));
  results.push(measure(group, 'cowpool evalSync, hardDeadline: false', () => check(soft.evalSync(CODE)), options));
  await sandbox.close();
  await soft.close();
  results.push(
    await measureAsync(group, 'quickjs-emscripten new wasm instance', async () => {
      const fresh = await newQuickJSWASMModuleFromVariant(variant);
      const context = fresh.newContext();
      check(evalDump(context));
      context.dispose();
    }, { batch: 5, batches: quick ? 3 : 8, budgetMs: quick ? 800 : 3000 }),
  );

  results.push(...(await benchQuickJSMemory(quick ? 200 : 1000)));
  return results;
}

/** RSS growth of `count` pooled contexts against `count` live quickjs-emscripten contexts. */
async function benchQuickJSMemory(count: number): Promise<Measurement[]> {
  const group = `QuickJS: RSS of ${count} contexts`;
  const rss = () => {
    (globalThis as { gc?: () => void }).gc?.();
    return process.memoryUsage().rss;
  };
  const row = (name: string, bytes: number, extra?: Record<string, number | string>): Measurement => ({
    group,
    name,
    nsPerOp: bytes,
    minNsPerOp: bytes,
    maxNsPerOp: bytes,
    operations: count,
    extra: { MiB: +(bytes / 2 ** 20).toFixed(1), KiBPerContext: Math.round(bytes / count / 1024), ...extra },
  });

  // Isolated live contexts: quickjs-emscripten's newContext() gives each its own runtime, as the
  // "new context per use" row does; contexts sharing one runtime share its heap and atoms.
  const qjs = await newQuickJSWASMModuleFromVariant(variant);
  let before = rss();
  const contexts: QuickJSContext[] = [];
  for (let i = 0; i < count; i++) {
    const context = qjs.newContext();
    evalDump(context);
    contexts.push(context);
  }
  const live = rss() - before;
  for (const context of contexts.splice(0)) context.dispose();
  before = rss();
  const runtime = qjs.newRuntime();
  for (let i = 0; i < count; i++) {
    const context = runtime.newContext();
    evalDump(context);
    contexts.push(context);
  }
  const shared = rss() - before;
  for (const context of contexts) context.dispose();
  runtime.dispose();

  const start = rss();
  const sandbox = await QuickJSSandbox.create({ max: count, min: count });
  // Uses are synchronous, so they all land on one slot; the others stay as created.
  for (let i = 0; i < count; i++) sandbox.evalSync(CODE);
  const pooled = rss() - start;
  const created = sandbox.stats().pool.created;
  await sandbox.close();
  // Rows are bytes, not time: nsPerOp holds the RSS growth in bytes.
  return [
    row('quickjs-emscripten live contexts, own runtime (bytes)', live),
    row('quickjs-emscripten live contexts, one runtime (bytes)', shared),
    row('cowpool pooled contexts (bytes)', pooled, { created }),
  ];
}

function warmUp(op: () => void, ms: number): void {
  const until = performance.now() + ms;
  while (performance.now() < until) op();
}

function check(value: unknown): void {
  if (value !== EXPECTED) throw new Error(`QuickJS benchmark: expected ${EXPECTED}, got ${String(value)}`);
}
