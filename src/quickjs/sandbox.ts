/**
 * `QuickJSSandbox`: untrusted JavaScript, each use in a pristine QuickJS context.
 *
 * The runtime and context are created once and the setup script runs once (`image.ts`); the state
 * they leave becomes the copy-on-write image of an {@link InstancePool}. Every use then evaluates in
 * a context that is exactly the set-up one, and the pool resets the memory afterwards, so nothing a
 * script does (globals, prototypes, pending jobs, atoms, a heap it filled, a deadline it missed) is
 * visible to the next use.
 */
import {
  CowpoolError,
  GuestMemoryLimitError,
  GuestTimeoutError,
  GuestTrapError,
  InvalidArgumentError,
  type ConsoleEntry,
} from '../errors.js';
import { boolean, memoryLimitBytes, timeoutMs } from '../options/validate.js';
import type { CacheOption, InstancePool, PoolDescription, PoolStats } from '../pool/index.js';
import { quickjsExports, loadQuickJSWasm, type QuickJSExports } from './abi.js';
import { QuickJSError } from './errors.js';
import { UseState } from './imports.js';
import { createInitializedPool, type QuickJSImage } from './image.js';
import { runRequest, type Request, type UseLimits, type UseResult } from './session.js';

/** Options of {@link QuickJSSandbox.create}. */
export interface QuickJSSandboxOptions {
  /** A script run once before the image is captured; what it defines is there in every use. */
  setup?: string;
  /** The setup script's file name in stack traces. Default `setup.js`. */
  setupFilename?: string;
  /** Default deadline of a use, in ms; `Infinity` for none. Default 1000. */
  timeout?: number;
  /**
   * Default memory limit of a use, in bytes: QuickJS's whole heap, the setup script's objects
   * included. Default 32 MiB. It also sizes the wasm memory (pages a use does not touch cost
   * nothing), which never grows: a use's own `memoryLimit` may be lower, not higher.
   */
  memoryLimit?: number;
  /**
   * Also instrument the wasm so that a deadline stops code QuickJS's own interrupt check does not
   * reach (long-running built-ins such as a huge `sort` or `repeat`). Only loop headers are
   * instrumented (the pool's `interruptible: 'loops'`): QuickJS is trusted code, and every step of a
   * script passes its interpreter's dispatch loop. Costs about a tenth of an eval. Default true.
   */
  hardDeadline?: boolean;
  /** Where lines the guest logs with `console` go, unless a use says otherwise. Default: dropped. */
  console?: (entry: ConsoleEntry) => void;
  /**
   * Bytes of pages a use wrote that a context keeps in memory, restored in place, rather than
   * dropping them and taking page faults on them next time (the pool's `keepResident`). Default
   * 2 MiB: a QuickJS use writes about 12 pages (48 KiB); 0 gives them back after every use (each
   * use then takes page faults on them).
   */
  keepResident?: number;
  /**
   * A context idle this long (ms) gives back the pages `keepResident` kept (the pool's
   * `trimIdleAfter`): after a burst of concurrent uses, the contexts it needed cost V8's share of
   * an instance and little else. Default 1000.
   */
  trimIdleAfter?: number;
  /** Most contexts alive at once (one per concurrent use). Default 4. */
  max?: number;
  /** Contexts created up front. Default 1. */
  min?: number;
  /**
   * Keep the prepared image (the state the setup left) in the cache on disk, so that the next
   * sandbox with the same module, setup and limits starts in milliseconds without running the setup
   * again: `true` (default), `false`, or `{ dir }` (see the README's "The cache"). The setup's effects
   * are then those of the run that filled the cache: a setup that reads the clock keeps that time.
   */
  cache?: CacheOption;
  /** The QuickJS module's bytes; default: read from `@jitl/quickjs-wasmfile-release-sync`. */
  wasm?: Uint8Array;
}

/** Options of one use. */
export interface QuickJSUseOptions {
  /** Deadline in ms; overrides the sandbox's `timeout`. */
  timeout?: number;
  /** Memory limit in bytes; overrides the sandbox's `memoryLimit`. */
  memoryLimit?: number;
  /** File name of the evaluated code in stack traces. Default `eval.js`. */
  filename?: string;
  /** Where this use's `console` lines go; overrides the sandbox's `console`. */
  console?: (entry: ConsoleEntry) => void;
}

/** A snapshot of a sandbox's counters. */
export interface QuickJSSandboxStats {
  /** Uses that returned a value. */
  results: number;
  /** Uses that ended with a {@link QuickJSError} (the guest threw). */
  exceptions: number;
  /** Uses stopped at their deadline. */
  timeouts: number;
  /** Uses stopped at their memory limit. */
  memoryLimits: number;
  /** Uses that ended with a trap (QuickJS aborted, the wasm stack ran out) or an unexpected error. */
  traps: number;
  /** Bytes of the wasm memory in use after setup (the image's extent). */
  setupBytes: number;
  /** The counters of the underlying instance pool. */
  pool: PoolStats;
}

/** The largest memory limit: a wasm32 heap. */
const MAX_MEMORY_LIMIT = 2 ** 31;
const DEFAULTS = { timeout: 1000, memoryLimit: 32 * 2 ** 20, max: 4, min: 1 } as const;
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
export class QuickJSSandbox {
  readonly #pool: InstancePool<WebAssembly.Exports, undefined, UseState>;
  readonly #snapshot: QuickJSImage;
  readonly #defaults: { timeout: number; memoryLimit: number; console: ((entry: ConsoleEntry) => void) | undefined };
  readonly #hardDeadline: boolean;
  readonly #exports = new WeakMap<WebAssembly.Instance, QuickJSExports>();
  readonly #stats = { results: 0, exceptions: 0, timeouts: 0, memoryLimits: 0, traps: 0 };
  /** What the setup script logged. */
  readonly setupLogs: readonly ConsoleEntry[];

  private constructor(
    pool: InstancePool<WebAssembly.Exports, undefined, UseState>,
    snapshot: QuickJSImage,
    options: Required<Pick<QuickJSSandboxOptions, 'timeout' | 'memoryLimit' | 'hardDeadline'>> & Pick<QuickJSSandboxOptions, 'console'>,
  ) {
    this.#pool = pool;
    this.#snapshot = snapshot;
    this.#defaults = { timeout: options.timeout, memoryLimit: options.memoryLimit, console: options.console };
    this.#hardDeadline = options.hardDeadline;
    this.setupLogs = snapshot.setupLogs;
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
    if (typeof options !== 'object' || options === null) throw new InvalidArgumentError('options must be an object');
    const timeout = timeoutMs('options.timeout', options.timeout ?? DEFAULTS.timeout);
    const memoryLimit = memoryLimitBytes('options.memoryLimit', options.memoryLimit ?? DEFAULTS.memoryLimit, MAX_MEMORY_LIMIT);
    const hardDeadline = boolean('options.hardDeadline', options.hardDeadline ?? true);
    if (options.setup !== undefined && typeof options.setup !== 'string')
      throw new InvalidArgumentError('options.setup must be a script (a string)');
    if (options.console !== undefined && typeof options.console !== 'function')
      throw new InvalidArgumentError('options.console must be a function');
    const wasm = options.wasm ?? loadQuickJSWasm();
    const { pool, image: snapshot } = createInitializedPool(
      wasm,
      {
        ...(options.setup !== undefined ? { setup: { code: options.setup, filename: options.setupFilename ?? 'setup.js' } } : {}),
        headroom: heapRoom(memoryLimit),
        setupTimeout: SETUP_TIMEOUT_MS,
      },
      {
        max: options.max ?? DEFAULTS.max,
        min: options.min ?? DEFAULTS.min,
        interruptible: hardDeadline ? 'loops' : false,
        ...(options.keepResident !== undefined ? { keepResident: options.keepResident } : {}),
        ...(options.trimIdleAfter !== undefined ? { trimIdleAfter: options.trimIdleAfter } : {}),
        ...(options.cache !== undefined ? { cache: options.cache } : {}),
      },
    );
    return new QuickJSSandbox(pool, snapshot, { timeout, memoryLimit, hardDeadline, console: options.console });
  }

  /**
   * Evaluates `code` as a script in a pristine context and returns its completion value as JSON
   * would carry it (a promise is awaited first). Rejects with {@link QuickJSError} when the guest
   * throws, {@link GuestTimeoutError} at the deadline, {@link GuestMemoryLimitError} at the memory
   * limit.
   */
  eval<T = unknown>(code: string, options: QuickJSUseOptions = {}): Promise<T> {
    try {
      return this.#pool.run(this.#use(evalRequest(code, options), options), new UseState(), this.#poolOptions(options)).then(
        (result) => this.#deliver<T>(result, options),
        (err: unknown) => {
          throw this.#failed(err, options);
        },
      );
    } catch (err) {
      return Promise.reject(this.#failed(err, options));
    }
  }

  /** {@link eval}, synchronously. */
  evalSync<T = unknown>(code: string, options: QuickJSUseOptions = {}): T {
    return this.#runSync<T>(evalRequest(code, options), options);
  }

  /**
   * Calls the global function `name` (defined by the setup script) with `args` (JSON-compatible) in
   * a pristine context and returns its result, awaited if it is a promise. Errors as {@link eval}.
   */
  call<T = unknown>(name: string, args: readonly unknown[] = [], options: QuickJSUseOptions = {}): Promise<T> {
    try {
      return this.#pool.run(this.#use(callRequest(name, args), options), new UseState(), this.#poolOptions(options)).then(
        (result) => this.#deliver<T>(result, options),
        (err: unknown) => {
          throw this.#failed(err, options);
        },
      );
    } catch (err) {
      return Promise.reject(this.#failed(err, options));
    }
  }

  /** {@link call}, synchronously. */
  callSync<T = unknown>(name: string, args: readonly unknown[] = [], options: QuickJSUseOptions = {}): T {
    return this.#runSync<T>(callRequest(name, args), options);
  }

  /** The sandbox's counters and its pool's. */
  stats(): QuickJSSandboxStats {
    return { ...this.#stats, setupBytes: this.#snapshot.usedBytes, pool: this.#pool.stats() };
  }

  /** The pool's choices (mechanism, reset strategy, memory) and why. */
  describe(): PoolDescription {
    return this.#pool.describe();
  }

  /** Waits for running uses, then releases every context and the image. Idempotent. */
  close(): Promise<void> {
    return this.#pool.close();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  #runSync<T>(request: Request, options: QuickJSUseOptions): T {
    let result: UseResult;
    try {
      result = this.#pool.runSync(this.#use(request, options), new UseState(), this.#poolOptions(options));
    } catch (err) {
      throw this.#failed(err, options);
    }
    return this.#deliver<T>(result, options);
  }

  #use(request: Request, options: QuickJSUseOptions) {
    const limits: UseLimits = {
      timeout: options.timeout === undefined ? this.#defaults.timeout : timeoutMs('options.timeout', options.timeout),
      memoryLimit:
        options.memoryLimit === undefined
          ? this.#defaults.memoryLimit
          : memoryLimitBytes('options.memoryLimit', options.memoryLimit, MAX_MEMORY_LIMIT),
    };
    if (options.console !== undefined && typeof options.console !== 'function')
      throw new InvalidArgumentError('options.console must be a function');
    if (limits.memoryLimit > this.#defaults.memoryLimit) {
      throw new InvalidArgumentError(
        `options.memoryLimit (${limits.memoryLimit} bytes) exceeds the sandbox's memoryLimit (${this.#defaults.memoryLimit} bytes), ` +
          'which sizes its memory; create the sandbox with a larger memoryLimit',
      );
    }
    return (instance: WebAssembly.Instance, state: UseState | undefined, host: { memory: WebAssembly.Memory | undefined }): UseResult => {
      let x = this.#exports.get(instance);
      if (x === undefined) {
        x = quickjsExports(instance);
        this.#exports.set(instance, x);
      }
      return runRequest(x, host.memory!, this.#snapshot.layout, state!, request, limits);
    };
  }

  #poolOptions(options: QuickJSUseOptions): { timeout?: number } {
    if (!this.#hardDeadline) return {};
    const timeout = options.timeout ?? this.#defaults.timeout;
    return Number.isFinite(timeout) ? { timeout: timeout + HARD_DEADLINE_GRACE_MS } : {};
  }

  #deliver<T>(result: UseResult, options: QuickJSUseOptions): T {
    this.#stats.results++;
    const sink = options.console ?? this.#defaults.console;
    if (sink) for (const entry of result.logs) sink(entry);
    return result.value as T;
  }

  #failed(err: unknown, options: QuickJSUseOptions): unknown {
    if (err instanceof QuickJSError) this.#stats.exceptions++;
    else if (err instanceof GuestTimeoutError) this.#stats.timeouts++;
    else if (err instanceof GuestMemoryLimitError) this.#stats.memoryLimits++;
    else if (err instanceof GuestTrapError || !(err instanceof CowpoolError)) this.#stats.traps++;
    const sink = options.console ?? this.#defaults.console;
    const logs = typeof err === 'object' && err !== null ? (err as { logs?: unknown }).logs : undefined;
    if (sink && Array.isArray(logs)) for (const entry of logs as ConsoleEntry[]) sink(entry);
    // The hard deadline fires a little after the use's own; report the use's.
    if (err instanceof GuestTimeoutError && !('logs' in err)) return new GuestTimeoutError(options.timeout ?? this.#defaults.timeout);
    return err;
  }
}

function evalRequest(code: string, options: QuickJSUseOptions): Request {
  if (typeof code !== 'string') throw new InvalidArgumentError('code must be a string');
  const filename = options.filename ?? 'eval.js';
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
