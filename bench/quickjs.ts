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
 * Then memory (`quickjs-rss.ts`, one process per case): the private memory (with PSS and RSS) of
 * 1000 pooled contexts, each used once, against 1000 live quickjs-emscripten contexts (each with its
 * own runtime, and all in one).
 */
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
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

  results.push(...benchQuickJSMemory(quick ? 200 : 1000));
  return results;
}

/** Memory of `count` pooled contexts against `count` live quickjs-emscripten contexts. */
function benchQuickJSMemory(count: number): Measurement[] {
  const group = `QuickJS: memory of ${count} contexts (private bytes)`;
  // Each case in its own process, so that no other case's heap or wasm memory is counted.
  const row = (name: string, ...args: string[]): Measurement => {
    const script = fileURLToPath(new URL('./quickjs-rss.ts', import.meta.url));
    const out = execFileSync(process.execPath, ['--expose-gc', '--import', 'tsx', script, ...args.slice(0, 1), String(count), ...args.slice(1)], {
      encoding: 'utf8',
    });
    const m = JSON.parse(out.trim().split('\n').pop()!) as { rss: number; pss: number; private: number };
    // Rows are bytes, not time: nsPerOp holds the private memory the contexts added.
    return {
      group,
      name,
      nsPerOp: m.private,
      minNsPerOp: m.private,
      maxNsPerOp: m.private,
      operations: count,
      extra: {
        privateKiBPerContext: Math.round(m.private / count / 1024),
        pssMiB: +(m.pss / 2 ** 20).toFixed(1),
        rssMiB: +(m.rss / 2 ** 20).toFixed(1),
      },
    };
  };
  return [
    row('quickjs-emscripten live contexts, own runtime', 'live'),
    row('quickjs-emscripten live contexts, one runtime', 'shared'),
    row('cowpool pooled contexts, each used once', 'pooled'),
    row('cowpool pooled, keepResident: 0 (slower resets)', 'pooled', '0'),
  ];
}

function warmUp(op: () => void, ms: number): void {
  const until = performance.now() + ms;
  while (performance.now() < until) op();
}

function check(value: unknown): void {
  if (value !== EXPECTED) throw new Error(`QuickJS benchmark: expected ${EXPECTED}, got ${String(value)}`);
}
