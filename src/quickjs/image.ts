/**
 * Pre-initialization of QuickJS: creating a runtime and a context and running a setup script takes
 * a dozen calls with arguments, so QuickJS is set up by a function the pool's pre-initialization
 * runs (`pool/preinitialize/`), with cowpool's imports (`imports.ts`):
 *
 *   start function + ctors, JS_NewRuntime, JS_NewContext, the Math.random state, the bootstrap,
 *   the setup script ── on a fresh memory that may grow ──► the pool's snapshot, from which
 *     - the memory image (sized to the snapshot and a use's memory limit),
 *     - the globals' starting values (the start function is removed: its effects are in the image),
 *     - only the exports the host calls (V8 makes a function object per export per instance),
 *   and where the runtime, context and dispatcher are ({@link ContextLayout}), which every use needs.
 *
 * The module then has no start function and touches no table, so the pool keeps one instance per
 * slot (`reuse`).
 */
import { InternalError, InvalidArgumentError, UnsupportedError, type ConsoleEntry } from '../errors.js';
import { InstancePool, type PoolOptions } from '../pool/index.js';
import type { InternalPoolOptions } from '../pool/options.js';
import { INITIALIZER, type FunctionInitializer } from '../pool/preinitialize/initializer.js';
import { checkAbi, EXPORTS, quickjsExports, type QuickJSExports } from './abi.js';
import { BOOTSTRAP } from './guest.js';
import { writeCString } from '../emscripten/c-strings.js';
import { quickjsImports, UseState } from './imports.js';
import { createLayoutExtras, drainLogs, runRequest, type ContextLayout } from './session.js';

/** QuickJS's stack limit; see where it is set. */
const MAX_STACK_BYTES = 64 * 1024;

/** What every use needs to know of the state initialization left. */
export interface QuickJSImage {
  /** Where the runtime, context and dispatcher are in every use's memory. */
  readonly layout: ContextLayout;
  /** Bytes up to the highest non-zero byte of the image (the heap in use after setup, roughly). */
  readonly usedBytes: number;
  /** What the setup script logged. */
  readonly setupLogs: ConsoleEntry[];
}

/** Options of {@link createInitializedPool}'s initialization. */
export interface ImageOptions {
  readonly setup?: { readonly code: string; readonly filename: string };
  /** Room to leave above the snapshot for a use's heap, in bytes. */
  readonly headroom: number;
  /** Milliseconds the setup script may run. */
  readonly setupTimeout: number;
}

/** The pool's options a QuickJS host may choose (the imports and the initialization are this module's). */
export type QuickJSPoolOptions = Omit<PoolOptions<undefined, UseState>, 'setup' | 'imports' | 'initialize'>;

/**
 * Initializes QuickJS once and returns the pool whose uses all start from that state (with
 * `pool` as its options), and what uses need to know of that state.
 */
export function createInitializedPool(
  wasm: Uint8Array,
  options: ImageOptions,
  pool: QuickJSPoolOptions,
): { pool: InstancePool<WebAssembly.Exports, undefined, UseState>; image: QuickJSImage } {
  let current: UseState | undefined;
  let image: QuickJSImage | undefined;
  const initializer: FunctionInitializer<Omit<QuickJSImage, 'usedBytes'>> = {
    kind: 'function',
    name: 'the QuickJS initialization',
    // The heap may grow while setting up; in a use it never does (the memory is sized for it).
    imports: (memory) => quickjsImports(memory!, () => current),
    run: (instance, memory) => {
      const result = initialize(quickjsExports(instance), memory!, options, (state) => (current = state));
      current = undefined;
      return result;
    },
    keepExports: new Set(Object.values(EXPORTS).map((e) => e.name)),
    headroom: { bytes: options.headroom, option: 'memoryLimit' },
    // What the setup leaves besides the module (the headroom is the pool's to key): the script and its name.
    key: JSON.stringify({ setup: options.setup ?? null }),
    validate: (info) => {
      checkAbi(info);
      if (!info.imports.some((i) => i.kind === 'memory')) throw new InvalidArgumentError('the QuickJS module imports no memory');
    },
    captured: ({ result, usedBytes }) => {
      image = { ...result, usedBytes };
    },
  };
  const poolOptions: InternalPoolOptions<undefined, UseState> = {
    ...pool,
    setup: (host) => ({ imports: quickjsImports(host.memory!, () => host.context, true) }),
    [INITIALIZER]: initializer,
  };
  const created = InstancePool.createSync<WebAssembly.Exports, undefined, UseState>(wasm, poolOptions);
  if (image === undefined) throw new InternalError('the pool did not run the QuickJS initialization');
  return { pool: created, image };
}

/** Sets QuickJS up in `memory` through `x`; `use` sets the use state the host's imports see from then on. */
function initialize(
  x: QuickJSExports,
  memory: WebAssembly.Memory,
  options: ImageOptions,
  use: (state: UseState) => void,
): Omit<QuickJSImage, 'usedBytes'> {
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
  use(state);
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
  return { layout, setupLogs };
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
