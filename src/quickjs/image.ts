/**
 * Pre-initialization of QuickJS, done here rather than by the pool's `initialize` option, which
 * runs one export without arguments: creating a runtime and a context and running a setup script
 * takes a dozen calls with arguments. The result is handed to the pool as an ordinary module:
 *
 *   original module ─ run start + ctors, JS_NewRuntime, JS_NewContext, bootstrap, setup script
 *        │                     (on a fresh memory, with cowpool's host)
 *        ▼
 *   snapshot module = the original, with
 *     - the start function removed (its effects are in the snapshot),
 *     - its mutable globals starting from the values initialization left,
 *     - its data segments emptied and the snapshot's non-zero pages added as active segments,
 *     - the memory's initial size raised to hold the snapshot and a use's memory limit.
 *
 * The pool then builds its copy-on-write image from those segments, and since the snapshot module
 * has no start function and touches no table, it keeps one instance per slot (`reuse`).
 */
import { InternalError, InvalidArgumentError, UnsupportedError } from '../errors.js';
import { readModule } from '../module/index.js';
import { inspectable, snapshotModule } from '../hosting/snapshot.js';
import { checkAbi, EXPORTS, quickjsExports, type QuickJSExports } from './abi.js';
import { BOOTSTRAP, type ConsoleEntry } from './guest.js';
import { writeCString } from '../hosting/strings.js';
import { quickjsImports, UseState } from './host.js';
import { createLayoutExtras, drainLogs, runRequest, type ContextLayout } from './session.js';

/** QuickJS's stack limit; see where it is set. */
const MAX_STACK_BYTES = 64 * 1024;

/** What {@link buildSnapshot} produces. */
export interface Snapshot {
  /** The snapshot module's bytes, for the pool. */
  readonly bytes: Uint8Array;
  /** Where the runtime, context and dispatcher are in every use's memory. */
  readonly layout: ContextLayout;
  /** Bytes up to the highest non-zero byte of the snapshot (the heap in use after setup, roughly). */
  readonly usedBytes: number;
  /** The memory's initial size in bytes. */
  readonly memoryBytes: number;
  /** What the setup script logged. */
  readonly setupLogs: ConsoleEntry[];
}

/** Options of {@link buildSnapshot}. */
export interface SnapshotOptions {
  readonly setup?: { readonly code: string; readonly filename: string };
  /** Room to leave above the snapshot for a use's heap, in bytes. */
  readonly headroom: number;
  /** Milliseconds the setup script may run. */
  readonly setupTimeout: number;
}

/** Initializes QuickJS once and returns the module whose uses all start from that state. */
export function buildSnapshot(wasm: Uint8Array, options: SnapshotOptions): Snapshot {
  const info = readModule(wasm);
  checkAbi(info);
  const memoryType = info.imports.find((i) => i.kind === 'memory');
  if (memoryType?.kind !== 'memory') throw new InvalidArgumentError('the QuickJS module imports no memory');
  const { min, max } = memoryType.memory;
  const memory = new WebAssembly.Memory({ initial: min, ...(max !== undefined ? { maximum: max } : {}) });
  let current: UseState | undefined;
  const instance = new WebAssembly.Instance(
    new WebAssembly.Module(inspectable(wasm, info)),
    quickjsImports(memory, () => current),
  );
  const x = quickjsExports(instance);
  x.wasmCallCtors();
  const rt = x.QTS_NewRuntime();
  const ctx = x.QTS_NewContext(rt, 0);
  if (rt === 0 || ctx === 0) throw new InternalError('QuickJS could not create a runtime and a context');
  x.QTS_RuntimeEnableInterruptHandler(rt);
  // QuickJS measures the shadow stack in linear memory, but V8's native stack (about 1 MB) holds the
  // wasm frames and runs out first unless QuickJS stops well before: at this limit deep recursion is
  // QuickJS's catchable `InternalError: stack overflow` (about 340 plain JS calls deep), not a trap.
  x.QTS_RuntimeSetMaxStackSize(rt, MAX_STACK_BYTES);
  const state = new UseState();
  current = state;
  const randomState = findRandomState(x, memory, ctx);
  const bootstrap = runBootstrap(x, memory, ctx);
  const core = { ctx, dispatcher: bootstrap, undefinedValue: x.QTS_GetUndefined() };
  const layout: ContextLayout = { rt, randomState, ...core, ...createLayoutExtras(x, memory, core) };
  if (options.setup) {
    // Runs as a use does (errors typed the same way), but its effects are kept: this is the image.
    runRequest(x, memory, layout, state, { kind: 'eval', ...options.setup }, { memoryLimit: Infinity, timeout: options.setupTimeout });
  }
  const setupLogs = drainLogs(x, memory, layout);
  x.QTS_RuntimeSetMemoryLimit(rt, -1);
  current = undefined;

  const keepExports = new Set(Object.values(EXPORTS).map((e) => e.name));
  const { bytes, usedBytes, memoryBytes } = snapshotModule(wasm, info, {
    instance,
    memory,
    headroom: options.headroom,
    keepExports,
    what: 'QuickJS',
  });
  return { bytes, layout, usedBytes, memoryBytes, setupLogs };
}

/** Bytes of the `JSContext` searched for its `Math.random` state. */
const CONTEXT_SEARCH_BYTES = 4096;

/**
 * Where the context keeps `Math.random`'s xorshift64* state. QuickJS seeds it from the clock when
 * the context is made, so a snapshot would give every use the same "random" numbers: each use
 * writes a fresh seed there instead. Found as the word of the context that a call to
 * `Math.random()` steps the way xorshift64* does, then proved by seeding it and stepping it again.
 */
function findRandomState(x: QuickJSExports, memory: WebAssembly.Memory, ctx: number): number {
  const evaluate = (code: string): void => {
    const source = writeCString(memory, x.malloc, code);
    const value = x.QTS_Eval(ctx, source.ptr, source.length, writeCString(memory, x.malloc, '<cowpool>').ptr, 0, 0);
    if (x.QTS_ResolveException(ctx, value) !== 0) throw new InternalError(`QuickJS failed to evaluate ${code}`);
  };
  const word = (at: number): bigint => new DataView(memory.buffer).getBigUint64(at, true);
  evaluate('1');
  const before = new BigUint64Array(memory.buffer.slice(ctx, ctx + CONTEXT_SEARCH_BYTES));
  evaluate('Math.random()');
  for (let i = 0; i < before.length; i++) {
    const at = ctx + i * 8;
    if (word(at) !== xorshiftNext(before[i]!)) continue;
    // Seed it and check that the next draw steps exactly this word.
    const seed = 0x9e3779b97f4a7c15n;
    new DataView(memory.buffer).setBigUint64(at, seed, true);
    evaluate('Math.random()');
    if (word(at) === xorshiftNext(seed)) return at;
  }
  throw new UnsupportedError('QuickJS', "cannot find where this build keeps Math.random's state, so every use would draw the same numbers");
}

/** The state after one step of QuickJS's `xorshift64star`. */
function xorshiftNext(state: bigint): bigint {
  let v = state;
  v ^= v >> 12n;
  v = BigInt.asUintN(64, v ^ (v << 25n));
  return v ^ (v >> 27n);
}

function runBootstrap(x: QuickJSExports, memory: WebAssembly.Memory, ctx: number): number {
  const code = writeCString(memory, x.malloc, BOOTSTRAP);
  const value = x.QTS_Eval(ctx, code.ptr, code.length, writeCString(memory, x.malloc, '<cowpool>').ptr, 0, 0);
  if (x.QTS_ResolveException(ctx, value) !== 0) throw new InternalError('the QuickJS bootstrap script failed to evaluate');
  return value;
}
