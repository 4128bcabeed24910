/**
 * Pre-initialization of QuickJS: creating a runtime and a context and running a setup script takes
 * a dozen calls with arguments, so QuickJS is set up by a function the pool's pre-initialization
 * runs (`pool/preinitialize/`), with cowpool's imports (`imports.ts`):
 *
 *   the module rewritten with wrappers of QuickJS's allocator that count bytes (`heap-accounting.ts`);
 *   start function + ctors, JS_NewRuntime (its allocator swapped for the wrappers), JS_NewContext
 *   (the module loader on when there are modules), the Math.random state, the bootstrap
 *   (`guest.ts`), the one host-call function (`QTS_NewFunction`) with the timers and a wrapper per
 *   host function around it, the setup script or module (what it imports compiled and evaluated
 *   here, under the sandbox's memory limit), the heap's holes filled
 *     ── on a fresh memory that may grow ──► the pool's snapshot, from which
 *     - the memory image (sized to the snapshot and a use's memory limit),
 *     - the globals' starting values (the start function is removed: its effects are in the image),
 *     - only the exports the host calls (V8 makes a function object per export per instance),
 *   and where the runtime, context and dispatcher are ({@link ContextLayout}), which every use needs.
 *
 * A use's cost is mostly the pages it writes (each is a page to reset), so the image is laid out
 * for few: the bootstrap is compiled, the holes its compilation freed are filled, and only then is
 * it run, so that the closures a use touches lie side by side; after the setup script the holes are
 * filled again, so that a use allocates from the top of the heap (`fillHoles`).
 *
 * The module then has no start function and touches no table, so the pool keeps one instance per
 * slot (`reuse`).
 */
import { InternalError, InvalidArgumentError, UnsupportedError, type ConsoleEntry } from '../errors.js';
import { InstancePool, type PoolOptions } from '../pool/index.js';
import { announce, preparedPool, type Prepared } from '../pool/build.js';
import type { InternalPoolOptions } from '../pool/options.js';
import { driveAsync, isPromise } from '../pool/sync-or-async.js';
import { INITIALIZER, type FunctionInitializer } from '../pool/preinitialize/initializer.js';
import { checkAbi, EXPORTS, quickjsExports, type QuickJSExports } from './abi.js';
import { callDispatcher, newString } from './guest-io.js';
import { BOOTSTRAP, GuestOp } from './guest.js';
import { writeCString } from '../emscripten/c-strings.js';
import { NO_BINDINGS, quickjsImports, type HostBindings } from './imports.js';
import { DEFAULT_FILENAME, SCRATCH_BYTES, type ContextLayout } from './layout.js';
import { addHeapAccounting, clearRefusals, limitHeap, newAccountedRuntime } from './heap-accounting.js';
import { then } from './event-loop.js';
import { drainLogs, evaluate, failure, isModule, startUse } from './session.js';
import { UseState } from './use-state.js';

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
  /** Bytes of QuickJS heap the setup script may use (the sandbox's `memoryLimit`); no limit by default. */
  readonly memoryLimit?: number;
  /** Milliseconds the setup script may run. */
  readonly setupTimeout: number;
  /** Host functions and modules; none by default. */
  readonly bindings?: HostBindings;
}

/** The pool's options a QuickJS host may choose (the imports and the initialization are this module's). */
export type QuickJSPoolOptions = Omit<PoolOptions<undefined, UseState>, 'setup' | 'imports' | 'initialize'>;

/** A pool whose uses all start from the initialized state, and what they need to know of it. */
export interface InitializedPool {
  readonly pool: InstancePool<WebAssembly.Exports, undefined, UseState>;
  readonly image: QuickJSImage;
}

/**
 * Initializes QuickJS once and returns the pool whose uses all start from that state (with
 * `pool` as its options), and what uses need to know of that state. The setup script may not wait
 * for a host function's promise (see {@link createInitializedPoolAsync}).
 */
export function createInitializedPool(wasm: Uint8Array, options: ImageOptions, pool: QuickJSPoolOptions): InitializedPool {
  const made = initializedPoolOptions(options, pool, false);
  const created = InstancePool.createSync<WebAssembly.Exports, undefined, UseState>(wasm, made.options);
  return { pool: created, image: made.image() };
}

/** {@link createInitializedPool}, where the setup script may wait for host functions' promises and timers. */
export async function createInitializedPoolAsync(
  wasm: Uint8Array,
  options: ImageOptions,
  pool: QuickJSPoolOptions,
): Promise<InitializedPool> {
  const made = initializedPoolOptions(options, pool, true);
  const created = await InstancePool.create<WebAssembly.Exports, undefined, UseState>(wasm, made.options);
  return { pool: created, image: made.image() };
}

/**
 * QuickJS initialized once, as a prepared pool not yet assembled (`pool/build.ts`), and what uses
 * need to know of that state: what a sandbox on worker threads builds its threads' pools and the
 * calling thread's from. The setup script may wait for host functions' promises and timers.
 */
export async function prepareInitializedPool(
  wasm: Uint8Array,
  options: ImageOptions,
  pool: QuickJSPoolOptions,
): Promise<{ made: Prepared<undefined, UseState>; image: QuickJSImage }> {
  const started = performance.now();
  const made = initializedPoolOptions(options, pool, true);
  const prepared = await driveAsync(preparedPool<undefined, UseState>(wasm, made.options));
  announce(prepared.cache, started);
  return { made: prepared, image: made.image() };
}

/**
 * The options of a pool of prepared QuickJS (`pool` and the imports over `bindings`): a pool made
 * from a prepared pool (`InstancePool[FROM_PREPARED]`, a thread's or the calling thread's) runs no
 * initialization, only the uses.
 */
export function preparedPoolOptions(bindings: HostBindings, pool: QuickJSPoolOptions): PoolOptions<undefined, UseState> {
  return { ...pool, setup: (host) => ({ imports: quickjsImports(host.memory!, () => host.context, bindings, true) }) };
}

/**
 * The pool's options with QuickJS's initialization (`waits`: the setup script may wait for host
 * promises), and the image it made, once the pool is created.
 */
function initializedPoolOptions(
  options: ImageOptions,
  pool: QuickJSPoolOptions,
  waits: boolean,
): { options: InternalPoolOptions<undefined, UseState>; image: () => QuickJSImage } {
  const bindings = options.bindings ?? NO_BINDINGS;
  // The function-table index of the allocator wrappers, once the module is rewritten (not on a cache hit: nothing runs).
  let accounting: number | undefined;
  let current: UseState | undefined;
  let image: QuickJSImage | undefined;
  const initializer: FunctionInitializer<Initialized> = {
    kind: 'function',
    name: 'the QuickJS initialization',
    // The heap may grow while setting up; in a use it never does (the memory is sized for it).
    imports: (memory) => quickjsImports(memory!, () => current, bindings),
    run: (instance, memory) => {
      if (accounting === undefined) throw new InternalError('the QuickJS module was not rewritten for its heap accounting');
      const done = (): void => {
        current = undefined;
      };
      let initialized: Initialized | Promise<Initialized>;
      try {
        initialized = initialize(
          quickjsExports(instance),
          memory!,
          { ...options, waits },
          bindings,
          accounting,
          (state) => (current = state),
        );
      } catch (err) {
        done();
        throw err;
      }
      if (isPromise(initialized)) return initialized.finally(done);
      done();
      return initialized;
    },
    keepExports: new Set(Object.values(EXPORTS).map((e) => e.name)),
    headroom: { bytes: options.headroom, option: 'memoryLimit' },
    // What the setup leaves besides the module (the headroom is the pool's to key): the script and its
    // name, and the limit it runs under. Host functions and modules are JavaScript the setup may call,
    // which no key covers.
    ...(bindings.functions.names.length === 0 && bindings.modules === undefined
      ? { key: JSON.stringify({ setup: options.setup ?? null, memoryLimit: options.memoryLimit ?? null }) }
      : {}),
    validate: (info) => {
      checkAbi(info);
      if (!info.imports.some((i) => i.kind === 'memory')) throw new InvalidArgumentError('the QuickJS module imports no memory');
    },
    rewrite: (bytes, info) => {
      const accounted = addHeapAccounting(bytes, info);
      accounting = accounted.first;
      return accounted.bytes;
    },
    captured: ({ result, usedBytes }) => {
      image = { ...result, usedBytes };
    },
  };
  return {
    options: { ...preparedPoolOptions(bindings, pool), [INITIALIZER]: initializer },
    image: () => {
      if (image === undefined) throw new InternalError('the pool did not run the QuickJS initialization');
      return image;
    },
  };
}

/** What {@link initialize} learns: the image but its size, which the pool measures. */
type Initialized = Omit<QuickJSImage, 'usedBytes'>;

/**
 * Sets QuickJS up in `memory` through `x`; `use` sets the use state the host's imports see from
 * then on. A promise when the setup script waits (only with `options.waits`).
 */
function initialize(
  x: QuickJSExports,
  memory: WebAssembly.Memory,
  options: ImageOptions & { readonly waits: boolean },
  bindings: HostBindings,
  accounting: number,
  use: (state: UseState) => void,
): Initialized | Promise<Initialized> {
  x.wasmCallCtors();
  const rt = newAccountedRuntime(x, memory, accounting);
  const ctx = x.QTS_NewContext(rt, 0);
  if (rt === 0 || ctx === 0) throw new InternalError('QuickJS could not create a runtime and a context');
  x.QTS_RuntimeEnableInterruptHandler(rt);
  // QuickJS measures the shadow stack in linear memory, but V8's native stack (about 1 MB) holds the
  // wasm frames and runs out first unless QuickJS stops well before: at this limit deep recursion is
  // QuickJS's catchable `InternalError: stack overflow` (about 340 plain JS calls deep), not a trap.
  x.QTS_RuntimeSetMaxStackSize(rt, MAX_STACK_BYTES);
  if (bindings.modules !== undefined) x.QTS_RuntimeEnableModuleLoader(rt, 0);
  const state = new UseState();
  use(state);
  const randomState = findRandomState(x, memory, ctx);
  const undefinedValue = x.QTS_GetUndefined();
  const core = { ctx, dispatcher: runBootstrap(x, memory, ctx, undefinedValue), undefinedValue };
  const layout: ContextLayout = { rt, randomState, ...core, ...createLayoutExtras(x, memory, core) };
  install(x, memory, layout, bindings);
  const { setup } = options;
  if (!setup) return finish(x, memory, layout);
  // Runs as a use does (errors typed the same way), but its effects are kept: this is the image.
  const limits = { memoryLimit: options.memoryLimit ?? Infinity, timeout: options.setupTimeout };
  const guest = startUse(x, memory, layout, state, limits);
  state.setup = true;
  state.waits = options.waits;
  return then(evaluate(guest, state, setup.code, setup.filename), (settled) => {
    if ('thrown' in settled) throw failure(guest, state, settled.thrown, limits);
    if (state.abort !== undefined) throw failure(guest, state, layout.undefinedValue, limits);
    // A module's exports are what `call` finds first.
    if (isModule(setup.code)) callDispatcher(guest, layout.ops.exports, settled.value);
    state.end();
    return finish(x, memory, layout);
  });
}

/** The image's last touches, once the setup script is done: its logs taken out, the heap laid out for uses. */
function finish(x: QuickJSExports, memory: WebAssembly.Memory, layout: ContextLayout): Initialized {
  const { rt, ctx } = layout;
  const setupLogs = drainLogs(x, memory, layout);
  limitHeap(x, memory, rt, Infinity);
  // What the setup script had refused is not a use's.
  clearRefusals(memory, rt);
  fillHoles(x, memory);
  // Written by every use, so at the heap's top, on the page a use's first allocation dirties anyway:
  // the scratch, and the atom of the default file name, kept alive by a function compiled under that
  // name (else every use would add it to the atom table, and write to pages of the table to do so).
  const scratch = x.malloc(SCRATCH_BYTES);
  const keep = writeCString(memory, x.malloc, '(function () {})');
  x.QTS_Eval(ctx, keep.ptr, keep.length, layout.defaultFilename, 0, 0);
  return { layout: { ...layout, scratch }, setupLogs };
}

/** Creates the strings, the scratch space and the handles of a {@link ContextLayout}. */
function createLayoutExtras(
  x: QuickJSExports,
  memory: WebAssembly.Memory,
  layout: Pick<ContextLayout, 'ctx' | 'dispatcher' | 'undefinedValue'>,
): Pick<ContextLayout, 'ops' | 'scratch' | 'defaultFilename' | 'logs' | 'stash'> {
  const scratch = x.malloc(SCRATCH_BYTES);
  const guest = { x, memory, layout: { ...layout, scratch } };
  const ops = Object.fromEntries(
    Object.entries(GuestOp).map(([key, op]) => [key, x.QTS_NewFloat64(layout.ctx, op)]),
  ) as ContextLayout['ops'];
  return {
    ops,
    scratch,
    defaultFilename: writeCString(memory, x.malloc, DEFAULT_FILENAME).ptr,
    logs: callDispatcher(guest, ops.logs),
    stash: callDispatcher(guest, ops.stasher),
  };
}

/**
 * Makes the one C function through which the guest calls the host (`QTS_NewFunction`), and has the
 * bootstrap install the timers and a wrapper per host function around it.
 */
function install(x: QuickJSExports, memory: WebAssembly.Memory, layout: ContextLayout, bindings: HostBindings): void {
  const guest = { x, memory, layout };
  const hostCall = x.QTS_NewFunction(layout.ctx, writeCString(memory, x.malloc, 'hostCall').ptr, 0, 0, 1);
  const names = newString(guest, JSON.stringify(bindings.functions.names));
  const done = callDispatcher(guest, layout.ops.install, hostCall, names);
  if (x.QTS_ResolveException(layout.ctx, hostCall) !== 0 || x.QTS_ResolveException(layout.ctx, done) !== 0) {
    throw new InternalError('the QuickJS bootstrap could not install the host functions and timers');
  }
}

/** Sizes {@link fillHoles} asks for, largest first: powers of two down to 512, then every small bin. */
const HOLE_SIZES = [...Array.from({ length: 8 }, (_, i) => 2 ** (16 - i)), ...Array.from({ length: 63 }, (_, i) => 504 - 8 * i)];

/**
 * Fills the holes that setting up left in the heap (blocks the parser and the setup script freed)
 * with blocks that stay allocated, so that a use allocates from the top of the heap: its few pages
 * there, instead of a page per hole it happens to reuse (every page a use writes is a page to
 * reset). dlmalloc serves a request from a free block below the top before it splits the top; a
 * block at or above the highest non-zero byte can only come from the top, and is given back.
 */
function fillHoles(x: QuickJSExports, memory: WebAssembly.Memory): void {
  const words = new Uint32Array(memory.buffer);
  let end = words.length;
  while (end > 0 && words[end - 1] === 0) end--;
  const top = end * 4;
  for (const size of HOLE_SIZES) {
    for (;;) {
      const block = x.malloc(size);
      if (block === 0) break;
      if (block >= top) {
        x.free(block);
        break;
      }
    }
  }
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

/** Compiles the bootstrap, fills the holes compiling left, then runs it; returns the dispatcher (`JSValue*`). */
function runBootstrap(x: QuickJSExports, memory: WebAssembly.Memory, ctx: number, undefinedValue: number): number {
  const code = writeCString(memory, x.malloc, BOOTSTRAP);
  const make = x.QTS_Eval(ctx, code.ptr, code.length, writeCString(memory, x.malloc, '<cowpool>').ptr, 0, 0);
  if (x.QTS_ResolveException(ctx, make) !== 0) throw new InternalError('the QuickJS bootstrap script failed to evaluate');
  // What compiling it freed is filled first: the closures it makes then come from the heap's top.
  fillHoles(x, memory);
  const dispatcher = x.QTS_Call(ctx, make, undefinedValue, 0, 0);
  if (x.QTS_ResolveException(ctx, dispatcher) !== 0) throw new InternalError('the QuickJS bootstrap script failed to run');
  return dispatcher;
}
