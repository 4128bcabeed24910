/**
 * `QuickJSSandbox`: untrusted JavaScript, each use in a pristine QuickJS context.
 *
 * The runtime and context are created once and the setup script runs once (`image.ts`); the state
 * they leave becomes the copy-on-write image of an {@link InstancePool}. Every use then evaluates in
 * a context that is exactly the set-up one, and the pool resets the memory afterwards, so nothing a
 * script does (globals, prototypes, pending jobs and timers, atoms, a heap it filled, a deadline it
 * missed) is visible to the next use. Host functions and the modules the setup script imports are
 * part of the image too (`host-functions.ts`, `modules.ts`); values cross as copies (`values.ts`).
 */
import { GuestTimeoutError, InvalidArgumentError, type ConsoleEntry } from '../errors.js';
import { boolean, type OptionKeys } from '../options/validate.js';
import { PoolEngine, type Engine } from '../sandbox/engine.js';
import {
  checkSandboxOptions,
  sandboxKeys,
  useKeys,
  type FilledSandboxOptions,
  type SandboxDefaults,
  type SandboxOptions,
  type SandboxUseOptions,
} from '../sandbox/options.js';
import type { SandboxStats } from '../sandbox/outcomes.js';
import { Sandbox, type PreparedUse, type SandboxParts } from '../sandbox/sandbox.js';
import { ThreadedEngine, type ThreadRequest } from '../sandbox/threaded-engine.js';
import { PoolThreads, type PreparedParts } from '../threads/pool-threads.js';
import { siblingModule } from '../threads/spawn.js';
import { loadQuickJSWasm } from './abi.js';
import { QuickJSError } from './errors.js';
import {
  hostFunctionTable,
  importHostFunctions,
  moduleFileUrl,
  NO_HOST_FUNCTIONS,
  type HostFunctions,
  type HostFunctionTable,
} from './host-functions.js';
import {
  createInitializedPool,
  createInitializedPoolAsync,
  prepareInitializedPool,
  preparedPoolOptions,
  type ImageOptions,
  type InitializedPool,
  type QuickJSImage,
  type QuickJSPoolOptions,
} from './image.js';
import { importModuleLoader, moduleLoader, type ModuleLoader, type ModuleSource } from './modules.js';
import { QuickJSRunner, type QuickJSRequest } from './runner.js';
import type { UseLimits, UseResult, Request } from './session.js';
import type { QuickJSThreadParts } from './thread-engine.js';
import type { UseState } from './use-state.js';
import { toWire } from './values.js';

type Sink = (entry: ConsoleEntry) => void;

/**
 * Options of {@link QuickJSSandbox.create}: QuickJS's own, and those every sandbox takes
 * ({@link SandboxOptions}: `timeout`, default 1000 ms; `memoryLimit`, the bytes of QuickJS's whole
 * heap with the setup script's objects, default 32 MiB; `max`, default 4; `min`, default 1;
 * `keepResident`, default 2 MiB: a QuickJS use writes about 12 pages; `trimIdleAfter`;
 * `acquireTimeout`).
 */
export interface QuickJSSandboxOptions extends SandboxOptions {
  /**
   * A script (or a module: code that begins with `import` or `export`) run once before the image is
   * captured; what it defines is there in every use. It may `await` at top level: timers, and
   * host functions' promises under `create` (not `createSync`). It runs under `memoryLimit`.
   */
  setup?: string;
  /**
   * The setup script's file name in stack traces, and its module name when it is a module (code
   * that begins with `import` or `export`). Default `setup.js`.
   */
  setupFilename?: string;
  /**
   * Functions of the host the guest may call, by name (a nested object is a namespace: `db.query`),
   * in the setup script and in every use; they are part of the image. Each gets the guest's
   * arguments (copied) and, as `this`, a {@link HostCall} that says which use called
   * (`this.context`, `this.signal`). It returns a value, or a promise that the guest awaits within
   * the use (not in a Sync use), or in the setup script under `create` (not `createSync`). What it
   * throws reaches the guest as an Error with its name and message; uncaught, the use fails with
   * {@link HostFunctionError}. Or the path or URL of a module whose exports are those functions
   * (`create` only): the form worker threads can load.
   */
  functions?: HostFunctions | string | URL;
  /**
   * ES modules the setup script and uses may `import`: a map of module names to source text, or a
   * function that returns a module's source by name (undefined when there is none), or the path
   * or URL of a module whose default export is either (`create` only: the form worker threads can
   * load). Names are as QuickJS normalizes them: `./lib.js` imported from `setup.js` is `lib.js`.
   * What the setup script imports is compiled once, into the image.
   */
  modules?: ModuleSource | string | URL;
  /**
   * Also instrument the wasm so that a deadline stops code QuickJS's own interrupt check does not
   * reach (long-running built-ins such as a huge `sort` or `repeat`). Only loop headers are
   * instrumented (the pool's `interruptible: 'loops'`): QuickJS is trusted code, and every step of a
   * script passes its interpreter's dispatch loop. Costs about a tenth of an eval. Default true.
   */
  hardDeadline?: boolean;
  /** Where lines the guest logs with `console` go, unless a use says otherwise. Default: dropped. */
  console?: Sink;
  /** The QuickJS module's bytes; default: read from `@jitl/quickjs-wasmfile-release-sync`. */
  wasm?: Uint8Array;
}

/** Options of one use: QuickJS's own, and `timeout`, `memoryLimit`, `signal`, `acquireTimeout` ({@link SandboxUseOptions}). */
export interface QuickJSUseOptions extends SandboxUseOptions {
  /** File name of the evaluated code in stack traces. Default `eval.js`. */
  filename?: string;
  /** Where this use's `console` lines go; overrides the sandbox's `console`. */
  console?: Sink;
  /**
   * What host functions see as `this.context` during this use. Plain data is best: when uses run
   * on worker threads, it will be copied to the thread as `postMessage` copies.
   */
  context?: unknown;
}

/**
 * A snapshot of a sandbox's counters ({@link SandboxStats}): `exceptions` counts the uses that
 * ended with a {@link QuickJSError} (the guest threw), `traps` those where QuickJS aborted or the
 * wasm stack ran out.
 */
export type QuickJSSandboxStats = SandboxStats;

const OWN_KEYS = {
  setup: true,
  setupFilename: true,
  functions: true,
  modules: true,
  hardDeadline: true,
  console: true,
  wasm: true,
} as const satisfies OptionKeys<Omit<QuickJSSandboxOptions, keyof SandboxOptions>>;
const OWN_USE_KEYS = { filename: true, console: true, context: true } as const satisfies OptionKeys<
  Omit<QuickJSUseOptions, keyof SandboxUseOptions>
>;
const CREATE_KEYS = sandboxKeys(OWN_KEYS);
const USE_KEYS = useKeys(OWN_USE_KEYS);

const DEFAULTS: SandboxDefaults = {
  timeout: 1000,
  memoryLimit: 32 * 2 ** 20,
  // A wasm32 heap.
  maxMemoryLimit: 2 ** 31,
  max: 4,
  min: 1,
};
/** The engine every thread of a sandbox with `threads` runs. */
const THREAD_ENGINE = siblingModule('thread-engine', import.meta.url);
/** Setup may take this long (it runs once). */
const SETUP_TIMEOUT_MS = 10_000;
/** How long past its deadline the hard deadline lets a use run before the wasm is stopped. */
const HARD_DEADLINE_GRACE_MS = 20;
/**
 * Room above the limit for what QuickJS does not count (`heap-accounting.ts` counts each block's
 * whole chunk): the allocator's fragmentation, a reallocation's old and new blocks alive at once,
 * and the blocks the host allocates outside QuickJS's accounting (values it copies in). A heap that
 * fills this room anyway ends its use as the limit does.
 */
const heapRoom = (limit: number) => Math.ceil(limit * 1.5) + 2 * 2 ** 20;

/** A pool of pristine QuickJS contexts; see the module comment. */
export class QuickJSSandbox extends Sandbox<QuickJSRequest, UseResult> {
  readonly #hardDeadline: boolean;
  readonly #console: Sink | undefined;
  /** What the setup script logged. */
  readonly setupLogs: readonly ConsoleEntry[];

  private constructor(parts: SandboxParts<QuickJSRequest, UseResult>, image: QuickJSImage, own: { hardDeadline: boolean; console?: Sink }) {
    super(parts);
    this.#hardDeadline = own.hardDeadline;
    this.#console = own.console;
    this.setupLogs = image.setupLogs;
  }

  /**
   * Creates the runtime and context, runs `options.setup`, and makes that state the image every use
   * starts from. The setup script may await host functions' promises and timers. Rejects with
   * {@link QuickJSError} when the setup script throws. With `options.threads`, the setup runs here
   * once and the threads start over its image; host functions and a module loader must then come
   * from module files (a function cannot be sent to a thread).
   */
  static async create(options: QuickJSSandboxOptions = {}): Promise<QuickJSSandbox> {
    const files = moduleFiles(options);
    const table =
      files.functions !== undefined
        ? await importHostFunctions(files.functions, 'options.functions')
        : ownFunctions((options as QuickJSSandboxOptions | null)?.functions as HostFunctions | undefined);
    const loader = files.modules !== undefined ? await importModuleLoader(files.modules, 'options.modules') : undefined;
    const plan = QuickJSSandbox.#plan(options, table, loader);
    if (plan.filled.threads !== undefined) return QuickJSSandbox.#onThreads(plan, files);
    return QuickJSSandbox.#made(plan, await createInitializedPoolAsync(plan.wasm, plan.image, plan.pool));
  }

  /**
   * {@link create}, synchronously: host functions given as functions, not as a module to import,
   * and a setup script that does not wait for a host function's promise. No `threads` (they start
   * asynchronously).
   */
  static createSync(options: QuickJSSandboxOptions = {}): QuickJSSandbox {
    const files = moduleFiles(options);
    for (const key of ['functions', 'modules'] as const) {
      if (files[key] !== undefined) {
        throw new InvalidArgumentError(`options.${key} is a module to import, which createSync cannot wait for; use create`);
      }
    }
    const plan = QuickJSSandbox.#plan(options, ownFunctions(options.functions as HostFunctions | undefined), undefined);
    if (plan.filled.threads !== undefined) {
      throw new InvalidArgumentError(
        'options.threads: worker threads start asynchronously; use QuickJSSandbox.create (the Sync forms still run on this thread)',
      );
    }
    return QuickJSSandbox.#made(plan, createInitializedPool(plan.wasm, plan.image, plan.pool));
  }

  /** The options checked, and what the image and the pool are made with (`loader`: `options.modules` from its module file). */
  static #plan(options: QuickJSSandboxOptions, functions: HostFunctionTable, loader: ModuleLoader | undefined): SandboxPlan {
    const filled = checkSandboxOptions(options, CREATE_KEYS, DEFAULTS);
    const hardDeadline = boolean('options.hardDeadline', options.hardDeadline ?? true);
    if (options.setup !== undefined && typeof options.setup !== 'string')
      throw new InvalidArgumentError('options.setup must be a script (a string)');
    if (options.setupFilename !== undefined && typeof options.setupFilename !== 'string')
      throw new InvalidArgumentError('options.setupFilename must be a string');
    checkSink('options.console', options.console);
    if (options.wasm !== undefined && !(options.wasm instanceof Uint8Array))
      throw new InvalidArgumentError('options.wasm must be a Uint8Array');
    if (filled.threads !== undefined) refuseCodeOnThreads(options);
    const modules = loader ?? moduleLoader(options.modules, 'options.modules');
    return {
      filled,
      hardDeadline,
      ...(options.console !== undefined ? { console: options.console } : {}),
      wasm: options.wasm ?? loadQuickJSWasm(),
      image: {
        ...(options.setup !== undefined ? { setup: { code: options.setup, filename: options.setupFilename ?? 'setup.js' } } : {}),
        headroom: heapRoom(filled.memoryLimit),
        memoryLimit: filled.memoryLimit,
        setupTimeout: SETUP_TIMEOUT_MS,
        bindings: { functions, modules },
      },
      pool: { ...filled.pool, interruptible: hardDeadline ? 'loops' : false },
      modules: typeof options.modules === 'object' && !(options.modules instanceof URL) ? options.modules : undefined,
    };
  }

  static #made(plan: SandboxPlan, { pool, image }: InitializedPool): QuickJSSandbox {
    return QuickJSSandbox.#sandbox(plan, new PoolEngine(pool, new QuickJSRunner(image)), image);
  }

  /** The sandbox whose promise forms run on threads: QuickJS set up here once, the threads started over its image. */
  static async #onThreads(plan: SandboxPlan, files: ModuleFiles): Promise<QuickJSSandbox> {
    const { made, image } = await prepareInitializedPool(plan.wasm, plan.image, plan.pool);
    const threads = await PoolThreads.create<ThreadRequest<QuickJSRequest>, UseResult>(
      made as PreparedParts,
      {
        engine: THREAD_ENGINE,
        parts: (pool): QuickJSThreadParts => ({
          pool,
          options: plan.pool,
          image,
          functions: files.functions,
          modules: files.modules ?? plan.modules,
        }),
        errorClasses: [QuickJSError],
        what: 'a QuickJS sandbox thread (its module files and its first context)',
        startTimeout: SETUP_TIMEOUT_MS,
      },
      plan.filled.threads!,
    );
    const local = () =>
      new PoolEngine(
        threads.local<WebAssembly.Exports, undefined, UseState>(preparedPoolOptions(plan.image.bindings!, plan.pool)),
        new QuickJSRunner(image),
      );
    return QuickJSSandbox.#sandbox(plan, new ThreadedEngine(threads, local), image);
  }

  static #sandbox(plan: SandboxPlan, engine: Engine<QuickJSRequest, UseResult>, image: QuickJSImage): QuickJSSandbox {
    return new QuickJSSandbox({ engine, options: plan.filled, useKeys: USE_KEYS, setupBytes: image.usedBytes }, image, {
      hardDeadline: plan.hardDeadline,
      ...(plan.console !== undefined ? { console: plan.console } : {}),
    });
  }

  /**
   * Evaluates `code` in a pristine context and returns its completion value, copied (`values.ts`:
   * JSON, and undefined, NaN, BigInt, Date, RegExp, Map, Set, Error, ArrayBuffer and typed
   * arrays). A promise is awaited, with the host calls and timers it waits for; a script that uses
   * `await` at top level is an async script; code that begins with `import` or `export` is a module,
   * whose completion value is its exports. Rejects with {@link QuickJSError} when the guest throws,
   * {@link HostFunctionError} when a host function threw and the guest did not catch it,
   * {@link UncloneableValueError} for a result that cannot be copied, {@link GuestTimeoutError} at
   * the deadline, {@link GuestMemoryLimitError} at the memory limit.
   */
  eval<T = unknown>(code: string, options?: QuickJSUseOptions): Promise<T> {
    return this.use(
      () => this.#prepare(evalRequest(code, options), options, true),
      (result) => this.#deliver<T>(result, options),
      (err) => this.#failed(err, options),
    );
  }

  /** {@link eval}, synchronously: a host function may not return a promise, and timers are waited for by sleeping. */
  evalSync<T = unknown>(code: string, options?: QuickJSUseOptions): T {
    return this.useSync(
      () => this.#prepare(evalRequest(code, options), options, false),
      (result) => this.#deliver<T>(result, options),
      (err) => this.#failed(err, options),
    );
  }

  /**
   * Calls the function `name` of the setup script (an export of a module setup, or a global) with
   * `args` (copied, as results are) in a pristine context and returns its result, awaited if it is
   * a promise. Errors as {@link eval}; arguments that cannot be copied are an
   * {@link UncloneableValueError} before anything runs.
   */
  call<T = unknown>(name: string, args: readonly unknown[] = [], options?: QuickJSUseOptions): Promise<T> {
    return this.use(
      () => this.#prepare(callRequest(name, args), options, true),
      (result) => this.#deliver<T>(result, options),
      (err) => this.#failed(err, options),
    );
  }

  /** {@link call}, synchronously (as {@link evalSync}). */
  callSync<T = unknown>(name: string, args: readonly unknown[] = [], options?: QuickJSUseOptions): T {
    return this.useSync(
      () => this.#prepare(callRequest(name, args), options, false),
      (result) => this.#deliver<T>(result, options),
      (err) => this.#failed(err, options),
    );
  }

  #prepare(request: Request, options: QuickJSUseOptions | undefined, waits: boolean): PreparedUse<QuickJSRequest> {
    const use = this.useOptions(options);
    checkSink('options.console', options?.console);
    const limits: UseLimits = { timeout: use.timeout, memoryLimit: use.memoryLimit };
    // The hard deadline (the instrumented loops) stops the wasm a little after QuickJS's own check would.
    const pool =
      this.#hardDeadline && Number.isFinite(use.timeout) ? { ...use.wait, timeout: use.timeout + HARD_DEADLINE_GRACE_MS } : use.wait;
    return { request: { request, limits, waits, context: options?.context }, pool, deadline: use.timeout };
  }

  #deliver<T>(result: UseResult, options: QuickJSUseOptions | undefined): T {
    const sink = options?.console ?? this.#console;
    if (sink) for (const entry of result.logs) sink(entry);
    return result.value as T;
  }

  #failed(err: unknown, options: QuickJSUseOptions | undefined): unknown {
    const sink = options?.console ?? this.#console;
    const logs = typeof err === 'object' && err !== null ? (err as { logs?: unknown }).logs : undefined;
    if (sink && Array.isArray(logs)) for (const entry of logs as ConsoleEntry[]) sink(entry);
    // The hard deadline fires a little after the use's own; report the use's (a thread's hard stop does already).
    const timeout = options?.timeout ?? this.options.timeout;
    if (err instanceof GuestTimeoutError && !('logs' in err) && err.timeoutMs !== timeout) return new GuestTimeoutError(timeout);
    return err;
  }
}

/** What {@link QuickJSSandbox} is made with, once its options are checked. */
interface SandboxPlan {
  readonly filled: FilledSandboxOptions;
  readonly hardDeadline: boolean;
  readonly console?: Sink;
  readonly wasm: Uint8Array;
  readonly image: ImageOptions;
  readonly pool: QuickJSPoolOptions;
  /** `options.modules` as a map of sources (what threads are sent), if it is one. */
  readonly modules: Readonly<Record<string, string>> | undefined;
}

/** The options given as module files, as URLs (the same for this thread and a worker thread). */
interface ModuleFiles {
  readonly functions?: string;
  readonly modules?: string;
}

function moduleFiles(options: QuickJSSandboxOptions | null): ModuleFiles {
  const file = (value: unknown) => (typeof value === 'string' || value instanceof URL ? moduleFileUrl(value) : undefined);
  const functions = file(options?.functions);
  const modules = file(options?.modules);
  return { ...(functions !== undefined ? { functions } : {}), ...(modules !== undefined ? { modules } : {}) };
}

/** With threads, what is code must come from a module file: a function cannot be sent to a worker thread. */
function refuseCodeOnThreads(options: QuickJSSandboxOptions): void {
  const { functions, modules } = options;
  if (
    typeof functions === 'object' &&
    functions !== null &&
    !(functions instanceof URL) &&
    hostFunctionTable(functions, 'options.functions').names.length > 0
  ) {
    throw new InvalidArgumentError(
      'options.functions: with options.threads the host functions run on worker threads, which cannot be sent a function; ' +
        "give the path or URL of a module that exports them (functions: './host-functions.js')",
    );
  }
  if (typeof modules === 'function') {
    throw new InvalidArgumentError(
      'options.modules: with options.threads a loader function cannot be sent to worker threads; give a map of module sources, ' +
        'or the path or URL of a module whose default export is the loader',
    );
  }
}

/** The table of `options.functions` given as functions (none when absent). */
function ownFunctions(functions: HostFunctions | undefined): HostFunctionTable {
  return functions === undefined ? NO_HOST_FUNCTIONS : hostFunctionTable(functions, 'options.functions');
}

function checkSink(path: string, sink: unknown): void {
  if (sink !== undefined && typeof sink !== 'function') throw new InvalidArgumentError(`${path} must be a function`);
}

function evalRequest(code: string, options: QuickJSUseOptions | undefined): Request {
  if (typeof code !== 'string') throw new InvalidArgumentError('code must be a string');
  const filename = options?.filename ?? 'eval.js';
  if (typeof filename !== 'string') throw new InvalidArgumentError('options.filename must be a string');
  return { kind: 'eval', code, filename };
}

function callRequest(name: string, args: readonly unknown[]): Request {
  if (typeof name !== 'string' || name === '') throw new InvalidArgumentError('name must be the name of a function of the setup script');
  if (!Array.isArray(args)) throw new InvalidArgumentError('args must be an array');
  return { kind: 'call', name, args: toWire(args, 'args') };
}
