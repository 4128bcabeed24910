/**
 * `QuickJSSandbox`: untrusted JavaScript, each use in a pristine QuickJS context.
 *
 * The runtime and context are created once and the setup script runs once (`image.ts`); the state
 * they leave becomes the copy-on-write image of an {@link InstancePool}. Every use then evaluates in
 * a context that is exactly the set-up one, and the pool resets the memory afterwards, so nothing a
 * script does (globals, prototypes, pending jobs, atoms, a heap it filled, a deadline it missed) is
 * visible to the next use.
 */
import { GuestTimeoutError, InvalidArgumentError, type ConsoleEntry } from '../errors.js';
import { boolean, type OptionKeys } from '../options/validate.js';
import type { InstanceHost } from '../pool/index.js';
import { PoolEngine, type UseRunner } from '../sandbox/engine.js';
import {
  checkSandboxOptions,
  sandboxKeys,
  useKeys,
  type SandboxDefaults,
  type SandboxOptions,
  type SandboxUseOptions,
} from '../sandbox/options.js';
import type { SandboxStats } from '../sandbox/outcomes.js';
import { Sandbox, type PreparedUse, type SandboxParts } from '../sandbox/sandbox.js';
import { quickjsExports, loadQuickJSWasm, type QuickJSExports } from './abi.js';
import { UseState } from './imports.js';
import { createInitializedPool, type QuickJSImage } from './image.js';
import { runRequest, type Request, type UseLimits, type UseResult } from './session.js';

type Sink = (entry: ConsoleEntry) => void;

/**
 * Options of {@link QuickJSSandbox.create}: QuickJS's own, and those every sandbox takes
 * ({@link SandboxOptions}: `timeout`, default 1000 ms; `memoryLimit`, QuickJS's whole heap with the
 * setup script's objects, default 32 MiB; `max`, default 4; `min`, default 1; `keepResident`,
 * default 2 MiB: a QuickJS use writes about 12 pages; `trimIdleAfter`; `acquireTimeout`).
 */
export interface QuickJSSandboxOptions extends SandboxOptions {
  /** A script run once before the image is captured; what it defines is there in every use. */
  setup?: string;
  /** The setup script's file name in stack traces. Default `setup.js`. */
  setupFilename?: string;
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
  hardDeadline: true,
  console: true,
  wasm: true,
} as const satisfies OptionKeys<Omit<QuickJSSandboxOptions, keyof SandboxOptions>>;
const OWN_USE_KEYS = { filename: true, console: true } as const satisfies OptionKeys<Omit<QuickJSUseOptions, keyof SandboxUseOptions>>;
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
/** Setup may take this long (it runs once). */
const SETUP_TIMEOUT_MS = 10_000;
/** How long past its deadline the hard deadline lets a use run before the wasm is stopped. */
const HARD_DEADLINE_GRACE_MS = 20;
/**
 * Room above the limit for what QuickJS does not count: the allocator's chunk headers (a sixth of a
 * heap of small objects) and its fragmentation, and a reallocation's old and new blocks alive at once.
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
   * starts from. Rejects with {@link QuickJSError} when the setup script throws.
   */
  static async create(options: QuickJSSandboxOptions = {}): Promise<QuickJSSandbox> {
    return QuickJSSandbox.createSync(options);
  }

  /** {@link create}, synchronously. */
  static createSync(options: QuickJSSandboxOptions = {}): QuickJSSandbox {
    const filled = checkSandboxOptions(options, CREATE_KEYS, DEFAULTS);
    const hardDeadline = boolean('options.hardDeadline', options.hardDeadline ?? true);
    if (options.setup !== undefined && typeof options.setup !== 'string')
      throw new InvalidArgumentError('options.setup must be a script (a string)');
    if (options.setupFilename !== undefined && typeof options.setupFilename !== 'string')
      throw new InvalidArgumentError('options.setupFilename must be a string');
    checkSink('options.console', options.console);
    if (options.wasm !== undefined && !(options.wasm instanceof Uint8Array))
      throw new InvalidArgumentError('options.wasm must be a Uint8Array');
    const wasm = options.wasm ?? loadQuickJSWasm();
    const { pool, image } = createInitializedPool(
      wasm,
      {
        ...(options.setup !== undefined ? { setup: { code: options.setup, filename: options.setupFilename ?? 'setup.js' } } : {}),
        headroom: heapRoom(filled.memoryLimit),
        setupTimeout: SETUP_TIMEOUT_MS,
      },
      { ...filled.pool, interruptible: hardDeadline ? 'loops' : false },
    );
    const engine = new PoolEngine(pool, new QuickJSRunner(image));
    return new QuickJSSandbox({ engine, options: filled, useKeys: USE_KEYS, setupBytes: image.usedBytes }, image, {
      hardDeadline,
      ...(options.console !== undefined ? { console: options.console } : {}),
    });
  }

  /**
   * Evaluates `code` as a script in a pristine context and returns its completion value as JSON
   * would carry it (a promise is awaited first). Rejects with {@link QuickJSError} when the guest
   * throws, {@link GuestTimeoutError} at the deadline, {@link GuestMemoryLimitError} at the memory
   * limit.
   */
  eval<T = unknown>(code: string, options?: QuickJSUseOptions): Promise<T> {
    return this.use(
      () => this.#prepare(evalRequest(code, options), options),
      (result) => this.#deliver<T>(result, options),
      (err) => this.#failed(err, options),
    );
  }

  /** {@link eval}, synchronously. */
  evalSync<T = unknown>(code: string, options?: QuickJSUseOptions): T {
    return this.useSync(
      () => this.#prepare(evalRequest(code, options), options),
      (result) => this.#deliver<T>(result, options),
      (err) => this.#failed(err, options),
    );
  }

  /**
   * Calls the global function `name` (defined by the setup script) with `args` (JSON-compatible) in
   * a pristine context and returns its result, awaited if it is a promise. Errors as {@link eval}.
   */
  call<T = unknown>(name: string, args: readonly unknown[] = [], options?: QuickJSUseOptions): Promise<T> {
    return this.use(
      () => this.#prepare(callRequest(name, args), options),
      (result) => this.#deliver<T>(result, options),
      (err) => this.#failed(err, options),
    );
  }

  /** {@link call}, synchronously. */
  callSync<T = unknown>(name: string, args: readonly unknown[] = [], options?: QuickJSUseOptions): T {
    return this.useSync(
      () => this.#prepare(callRequest(name, args), options),
      (result) => this.#deliver<T>(result, options),
      (err) => this.#failed(err, options),
    );
  }

  #prepare(request: Request, options: QuickJSUseOptions | undefined): PreparedUse<QuickJSRequest> {
    const use = this.useOptions(options);
    checkSink('options.console', options?.console);
    const limits: UseLimits = { timeout: use.timeout, memoryLimit: use.memoryLimit };
    // The hard deadline (the instrumented loops) stops the wasm a little after QuickJS's own check would.
    const pool =
      this.#hardDeadline && Number.isFinite(use.timeout) ? { ...use.wait, timeout: use.timeout + HARD_DEADLINE_GRACE_MS } : use.wait;
    return { request: { request, limits }, pool };
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
    // The hard deadline fires a little after the use's own; report the use's.
    if (err instanceof GuestTimeoutError && !('logs' in err)) return new GuestTimeoutError(options?.timeout ?? this.options.timeout);
    return err;
  }
}

/** One use as data: what to run and within which limits. */
interface QuickJSRequest {
  readonly request: Request;
  readonly limits: UseLimits;
}

/** Runs a {@link QuickJSRequest} on a pooled context (the engine's kind-specific part). */
class QuickJSRunner implements UseRunner<QuickJSRequest, UseResult, UseState> {
  readonly #image: QuickJSImage;
  readonly #exports = new WeakMap<WebAssembly.Instance, QuickJSExports>();

  constructor(image: QuickJSImage) {
    this.#image = image;
  }

  context(): UseState {
    return new UseState();
  }

  run(instance: WebAssembly.Instance, host: InstanceHost<undefined, UseState>, state: UseState, use: QuickJSRequest): UseResult {
    let x = this.#exports.get(instance);
    if (x === undefined) {
      x = quickjsExports(instance);
      this.#exports.set(instance, x);
    }
    return runRequest(x, host.memory!, this.#image.layout, state, use.request, use.limits);
  }
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
  if (typeof name !== 'string' || name === '') throw new InvalidArgumentError('name must be the name of a global function');
  if (!Array.isArray(args)) throw new InvalidArgumentError('args must be an array');
  let argsJson: string;
  try {
    argsJson = JSON.stringify(args);
  } catch (err) {
    throw new InvalidArgumentError(`args must be JSON-compatible: ${(err as Error).message}`, { cause: err });
  }
  return { kind: 'call', name, argsJson };
}
