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
 * Then a host-function round trip (the guest calls a function of the host and gets its answer):
 * cowpool's `functions`, sync and async, against quickjs-emscripten's `newFunction` on a reused
 * context and on a new context per use, with a plain eval of the same sum as the floor.
 *
 * Then memory (`quickjs-rss.ts`, one process per reading): the private memory (with PSS and RSS) of
 * 1000 pooled contexts, each used once, just after and once idle, against 1000 live quickjs-emscripten contexts (each with its
 * own runtime, and all in one).
 */
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { newQuickJSWASMModuleFromVariant, RELEASE_SYNC as variant, type QuickJSContext } from 'quickjs-emscripten';
import { loadQuickJSWasm, quickjsExports } from '../src/quickjs/abi.ts';
import { UseState } from '../src/quickjs/use-state.ts';
import { createInitializedPool } from '../src/quickjs/image.ts';
import { QuickJSSandbox } from '../src/quickjs/index.ts';
import { runRequest, type UseResult } from '../src/quickjs/session.ts';
import { measureAsync, summarize, type Measurement } from './measure.ts';

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
  const results: Measurement[] = [];
  const group = 'QuickJS: eval of a 100-iteration loop';
  const qjs = await newQuickJSWASMModuleFromVariant(variant);
  const sandbox = await QuickJSSandbox.create({ max: 1 });
  const soft = await QuickJSSandbox.create({ max: 1, hardDeadline: false });
  const leaking = await leakingContext();
  // V8 compiles the 500 KB QuickJS module with its baseline compiler first and optimizes it in the
  // background: run every contender long enough that all are measured on optimized code.
  const reused = qjs.newContext();
  warmUp(
    () => {
      const context = qjs.newContext();
      evalDump(context);
      context.dispose();
      evalDump(reused);
      sandbox.evalSync(CODE);
      soft.evalSync(CODE);
      leaking.eval();
    },
    quick ? 500 : 3000,
  );

  // Interleaved: every batch runs each contender in turn, so that a noisy neighbour on this shared
  // machine slows them all alike and the ratios hold.
  const before = sandbox.stats().pool;
  results.push(
    ...(await measureInterleaved(
      group,
      [
        {
          name: 'quickjs-emscripten newContext+eval+dispose',
          op: () => {
            const context = qjs.newContext();
            check(evalDump(context));
            context.dispose();
          },
        },
        { name: 'quickjs-emscripten reused context (leaks)', op: () => check(evalDump(reused)) },
        { name: 'cowpool sandbox.evalSync (pristine)', op: () => check(sandbox.evalSync(CODE)) },
        { name: 'cowpool await sandbox.eval (pristine)', op: async () => check(await sandbox.eval(CODE)) },
        { name: 'cowpool evalSync, hardDeadline: false', op: () => check(soft.evalSync(CODE)) },
        {
          name: "cowpool's eval path on one context, never reset (leaks; what the pool adds is the rest)",
          op: () => check(leaking.eval()),
        },
      ],
      quick ? 6 : 25,
      100,
    )),
  );
  reused.dispose();
  const after = sandbox.stats().pool;
  const uses = Math.max(1, after.uses - before.uses);
  results.find((r) => r.name === 'cowpool sandbox.evalSync (pristine)')!.extra = {
    dirtyPagesPerUse: +((after.dirtyPages - before.dirtyPages) / uses).toFixed(1),
    resetNsPerUse: Math.round((after.resetNanoseconds - before.resetNanoseconds) / uses),
    mechanism: sandbox.describe().mechanism,
  };
  await sandbox.close();
  await soft.close();
  await leaking.close();
  results.push(
    await measureAsync(
      group,
      'quickjs-emscripten new wasm instance',
      async () => {
        const fresh = await newQuickJSWASMModuleFromVariant(variant);
        const context = fresh.newContext();
        check(evalDump(context));
        context.dispose();
      },
      { batch: 5, batches: quick ? 3 : 8, budgetMs: quick ? 800 : 3000 },
    ),
  );

  results.push(...(await benchHostFunctions(qjs, quick)));
  results.push(...benchQuickJSMemory(quick ? 200 : 1000));
  return results;
}

/** A host-function round trip: `add(1, 2)` where `add` is the host's; see the module comment. */
async function benchHostFunctions(
  qjs: Awaited<ReturnType<typeof newQuickJSWASMModuleFromVariant>>,
  quick: boolean,
): Promise<Measurement[]> {
  const group = 'QuickJS: a host-function round trip (add(1, 2) answered by the host)';
  const add = (a: number, b: number) => a + b;
  const sandbox = await QuickJSSandbox.create({ max: 1, functions: { add, addAsync: async (a: number, b: number) => add(a, b) } });
  const withFunction = (context: QuickJSContext) => {
    const fn = context.newFunction('add', (a, b) => context.newNumber(add(context.getNumber(a), context.getNumber(b))));
    context.setProp(context.global, 'add', fn);
    fn.dispose();
  };
  const reused = qjs.newContext();
  withFunction(reused);
  const emscriptenCall = (context: QuickJSContext) => {
    const handle = context.unwrapResult(context.evalCode('add(1, 2)'));
    const value = context.getNumber(handle);
    handle.dispose();
    return value;
  };
  const expect3 = (value: unknown) => {
    if (value !== 3) throw new Error(`host-function benchmark: expected 3, got ${String(value)}`);
  };
  warmUp(
    () => {
      expect3(sandbox.evalSync('add(1, 2)'));
      expect3(emscriptenCall(reused));
    },
    quick ? 500 : 3000,
  );
  const results = await measureInterleaved(
    group,
    [
      { name: 'cowpool evalSync("1 + 2") (no host call: the floor)', op: () => expect3(sandbox.evalSync('1 + 2')) },
      { name: 'cowpool evalSync("add(1, 2)"), sync host function', op: () => expect3(sandbox.evalSync('add(1, 2)')) },
      {
        name: 'cowpool await eval("await addAsync(1, 2)"), async host function',
        op: async () => expect3(await sandbox.eval('await addAsync(1, 2)')),
      },
      { name: 'quickjs-emscripten newFunction, reused context (leaks)', op: () => expect3(emscriptenCall(reused)) },
      {
        name: 'quickjs-emscripten newContext + newFunction + eval + dispose',
        op: () => {
          const context = qjs.newContext();
          withFunction(context);
          expect3(emscriptenCall(context));
          context.dispose();
        },
      },
    ],
    quick ? 6 : 25,
    100,
  );
  reused.dispose();
  await sandbox.close();
  return results;
}

/**
 * The sandbox's own eval path (the same image, pool and `runRequest`, the loop fuel included) on one
 * leased context that is never reset: the eval's cost without the reset and the pool's bookkeeping.
 */
async function leakingContext(): Promise<{ eval: () => unknown; close: () => Promise<void> }> {
  const memoryLimit = 32 * 2 ** 20;
  const { pool, image: snapshot } = createInitializedPool(
    loadQuickJSWasm(),
    { headroom: Math.ceil(memoryLimit * 1.5) + 2 * 2 ** 20, setupTimeout: 10_000 },
    { max: 1, interruptible: 'loops' },
  );
  const lease = await pool.acquire(new UseState());
  const x = quickjsExports(lease.instance);
  const request = { kind: 'eval', code: CODE, filename: 'eval.js' } as const;
  return {
    eval: () =>
      (runRequest(x, lease.host.memory!, snapshot.layout, lease.context!, request, { memoryLimit, timeout: Infinity }) as UseResult).value,
    close: () => {
      lease.release();
      return pool.close();
    },
  };
}

/** Memory of `count` pooled contexts against `count` live quickjs-emscripten contexts. */
function benchQuickJSMemory(count: number): Measurement[] {
  const group = `QuickJS: memory of ${count} contexts (private bytes)`;
  // Each case in its own process, so that no other case's heap or wasm memory is counted; three
  // processes a case, the median kept (V8's and malloc's heaps make one reading vary by a third).
  const run = (mode: string) => {
    const script = fileURLToPath(new URL('./quickjs-rss.ts', import.meta.url));
    const out = execFileSync(process.execPath, ['--expose-gc', '--import', 'tsx', script, mode, String(count)], {
      encoding: 'utf8',
    });
    return JSON.parse(out.trim().split('\n').pop()!) as { rss: number; pss: number; private: number };
  };
  const row = (name: string, mode: string): Measurement => {
    const runs = [run(mode), run(mode), run(mode)].sort((a, b) => a.private - b.private);
    const m = runs[1]!;
    // Rows are bytes, not time: nsPerOp holds the private memory the contexts added.
    return {
      group,
      name,
      nsPerOp: m.private,
      minNsPerOp: runs[0]!.private,
      maxNsPerOp: runs[2]!.private,
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
    row('cowpool pooled contexts, idle 1 s (trimmed)', 'pooled-idle'),
  ];
}

/** Runs `batches` rounds of `batch` operations of each case in turn; the median batch per case. */
async function measureInterleaved(
  group: string,
  cases: { name: string; op: () => unknown }[],
  batches: number,
  batch: number,
): Promise<Measurement[]> {
  const perOp = cases.map(() => [] as number[]);
  for (let b = 0; b < batches; b++) {
    for (let c = 0; c < cases.length; c++) {
      const { op } = cases[c]!;
      const t0 = process.hrtime.bigint();
      for (let i = 0; i < batch; i++) {
        const result = op();
        if (result instanceof Promise) await result;
      }
      perOp[c]!.push(Number(process.hrtime.bigint() - t0) / batch);
    }
  }
  return cases.map(({ name }, c) => summarize(group, name, perOp[c]!, batch));
}

function warmUp(op: () => void, ms: number): void {
  const until = performance.now() + ms;
  while (performance.now() < until) op();
}

function check(value: unknown): void {
  if (value !== EXPECTED) throw new Error(`QuickJS benchmark: expected ${EXPECTED}, got ${String(value)}`);
}
