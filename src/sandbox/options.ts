/**
 * The options every sandbox takes, in one place: the deadline and memory limit of a use (a default
 * at create, a per-use override), the pool's sizing passed through flat (`max`, `min`,
 * `keepResident`, `trimIdleAfter`, `acquireTimeout`, and `cache`), and the worker threads the promise
 * forms may run on (`threads`, `maxQueue`, `grace`: `threads/options.ts` checks them, for the WASI
 * command too; without threads `maxQueue` bounds the pool's own line). A sandbox kind adds its own
 * keys; each
 * options object is checked once against the union, so that a misspelt key (`timeOut`,
 * `memLimit`) is refused with the closest name instead of being silently ignored.
 *
 * Why flat and not `pool: {...}` (as `GluePool` and `WasiCommand` take it): those wrap any module
 * and pass any pool option through, while a sandbox owns its module, its imports, its mechanism and
 * its instrumentation, so that only the sizing knobs are the user's to choose. Giving `pool` to a
 * sandbox says so.
 */
import { InvalidArgumentError } from '../errors.js';
import { keysOf, memoryLimitBytes, rejectUnknownKeys, timeoutMs, waitMs, type OptionKeys } from '../options/validate.js';
import type { CacheOption, PoolOptions } from '../pool/index.js';
import { fillOnThreadsOptions, type FilledThreadOptions, type OnThreadsOptions } from '../threads/options.js';

/**
 * The options of `create` that every sandbox takes, beside its own. With `threads` (see
 * {@link OnThreadsOptions}) the promise forms run on worker threads, the `Sync` forms on the
 * calling thread; what a use carries (a context, parameters) is then copied to its thread, and
 * what is code (host functions, SQL functions, a module loader) comes from a module file.
 */
export interface SandboxOptions extends OnThreadsOptions {
  /** Default deadline of a use, in ms; `Infinity` for none. Default 1000. */
  timeout?: number;
  /**
   * Default memory limit of a use, in bytes. It also sizes the wasm memory (pages a use does not
   * touch cost nothing), which never grows: a use's own `memoryLimit` may be lower, not higher.
   */
  memoryLimit?: number;
  /**
   * Most instances alive at once (one per concurrent use). Default 4. Not with `threads`: each
   * thread runs one use at a time on one instance (set `threads`).
   */
  max?: number;
  /** Instances created up front. Default 1. Not with `threads` (each thread creates its one). */
  min?: number;
  /**
   * Bytes of pages a use wrote that an instance keeps in memory, restored in place, rather than
   * dropping them and taking page faults on them next time (the pool's `keepResident`). Default 2 MiB.
   */
  keepResident?: number;
  /**
   * An instance idle this long (ms) gives back the pages `keepResident` kept (the pool's
   * `trimIdleAfter`). Default 1000.
   */
  trimIdleAfter?: number;
  /**
   * Longest wait of a use for a free instance when all `max` are busy (with `threads`: for a free
   * thread), in ms (the pool's `acquireTimeout`); past it the use rejects with
   * `AcquireTimeoutError`. Default: no limit. The `Sync` forms never wait.
   */
  acquireTimeout?: number;
  /**
   * Keep the prepared image (the state the setup left) in the cache on disk, so that the next
   * sandbox with the same module, setup and limits starts in milliseconds without running its setup
   * again (the pool's `cache`): `true` (default), `false`, or `{ dir }` (see the README's "The
   * cache"). The setup's effects are then those of the run that filled the cache: a setup that reads
   * the clock keeps that time.
   */
  cache?: CacheOption;
}

/** The options of one use that every sandbox takes, beside its own. */
export interface SandboxUseOptions {
  /** Deadline in ms; overrides the sandbox's `timeout`. */
  timeout?: number;
  /** Memory limit in bytes; overrides the sandbox's `memoryLimit`, which it may not exceed. */
  memoryLimit?: number;
  /**
   * Gives up waiting for a free instance when it fires: the use rejects with `AbortedError` and
   * never runs. On this thread, a use that has started runs to its end or its deadline; on a
   * worker thread (`threads`), a use that has started is stopped with its thread (which is
   * replaced), and rejects with `AbortedError`.
   */
  signal?: AbortSignal;
  /** Longest wait for a free instance, in ms; overrides the sandbox's `acquireTimeout`. */
  acquireTimeout?: number;
}

/** A sandbox kind's defaults and bounds for the shared options. */
export interface SandboxDefaults {
  readonly timeout: number;
  readonly memoryLimit: number;
  /** The largest memory limit the kind's memory can hold. */
  readonly maxMemoryLimit: number;
  readonly max: number;
  readonly min: number;
}

/** The pool options a sandbox passes through (the rest are the kind's). */
export type SandboxPoolOptions = Pick<
  PoolOptions,
  'max' | 'min' | 'keepResident' | 'trimIdleAfter' | 'acquireTimeout' | 'maxQueue' | 'cache'
>;

/** {@link SandboxOptions}, checked, with the kind's defaults applied. */
export interface FilledSandboxOptions {
  readonly timeout: number;
  readonly memoryLimit: number;
  readonly maxMemoryLimit: number;
  /**
   * For the pool, which checks them (its messages name the same `options.max`). With threads:
   * each thread's pool's (one instance), and the calling thread's for the `Sync` forms.
   */
  readonly pool: SandboxPoolOptions;
  /** The threads the promise forms run on, or undefined to run them on the calling thread. */
  readonly threads: FilledThreadOptions | undefined;
}

/** {@link SandboxUseOptions}, checked, with the sandbox's defaults applied. */
export interface FilledUseOptions {
  readonly timeout: number;
  readonly memoryLimit: number;
  /** What the pool needs of the use besides its deadline. */
  readonly wait: { readonly signal?: AbortSignal; readonly acquireTimeout?: number };
}

const SANDBOX_KEYS = {
  timeout: true,
  memoryLimit: true,
  max: true,
  min: true,
  keepResident: true,
  trimIdleAfter: true,
  acquireTimeout: true,
  cache: true,
  threads: true,
  maxQueue: true,
  grace: true,
} as const satisfies OptionKeys<SandboxOptions>;

const USE_KEYS = { timeout: true, memoryLimit: true, signal: true, acquireTimeout: true } as const satisfies OptionKeys<SandboxUseOptions>;

/** The keys of `create` options: the shared ones and `own`. */
export function sandboxKeys(own: object): string[] {
  return [...keysOf(own), ...keysOf(SANDBOX_KEYS)];
}

/** The keys of a use's options: the shared ones and `own`. */
export function useKeys(own: object): string[] {
  return [...keysOf(USE_KEYS), ...keysOf(own)];
}

/**
 * Checks the shared part of `options` (an object whose keys are all in `known`, see
 * {@link sandboxKeys}) and applies `defaults`. Throws {@link InvalidArgumentError} naming the option.
 */
export function checkSandboxOptions(options: unknown, known: readonly string[], defaults: SandboxDefaults): FilledSandboxOptions {
  if (typeof options !== 'object' || options === null) throw new InvalidArgumentError('options must be an object');
  if (Object.hasOwn(options, 'pool')) {
    throw new InvalidArgumentError(
      "options.pool: a sandbox takes the pool's options flat (max, min, keepResident, trimIdleAfter, acquireTimeout, maxQueue, cache); " +
        'its module, imports and instrumentation are its own',
    );
  }
  rejectUnknownKeys(options, known, 'options');
  const o = options as SandboxOptions;
  const timeout = timeoutMs('options.timeout', o.timeout ?? defaults.timeout);
  const wait = { timeout, acquireTimeout: waitMs('options.acquireTimeout', o.acquireTimeout ?? Infinity) };
  const threads = fillOnThreadsOptions(o, wait, 'options', true);
  if (threads !== undefined) {
    for (const key of ['max', 'min'] as const) {
      if (o[key] !== undefined) {
        throw new InvalidArgumentError(
          `options.${key} does not apply with threads: each thread runs one use at a time on one instance; set options.threads`,
        );
      }
    }
  }
  const pool: SandboxPoolOptions = {
    max: o.max ?? defaults.max,
    min: o.min ?? defaults.min,
    ...(o.keepResident !== undefined ? { keepResident: o.keepResident } : {}),
    ...(o.trimIdleAfter !== undefined ? { trimIdleAfter: o.trimIdleAfter } : {}),
    ...(o.acquireTimeout !== undefined ? { acquireTimeout: o.acquireTimeout } : {}),
    // Without threads the line of uses waiting for an instance is the pool's (with threads, the dispatcher's).
    ...(threads === undefined && o.maxQueue !== undefined ? { maxQueue: o.maxQueue } : {}),
    ...(o.cache !== undefined ? { cache: o.cache } : {}),
  };
  return {
    timeout,
    memoryLimit: memoryLimitBytes('options.memoryLimit', o.memoryLimit ?? defaults.memoryLimit, defaults.maxMemoryLimit),
    maxMemoryLimit: defaults.maxMemoryLimit,
    pool,
    threads,
  };
}

/**
 * Checks the shared part of one use's `options` (keys in `known`, see {@link useKeys}) against the
 * sandbox's `filled` options, before anything is taken from the pool. `undefined` gives the
 * sandbox's defaults (a sandbox keeps that answer, so that the common call allocates nothing).
 */
export function checkUseOptions(options: unknown, known: readonly string[], filled: FilledSandboxOptions): FilledUseOptions {
  if (options === undefined) return { timeout: filled.timeout, memoryLimit: filled.memoryLimit, wait: {} };
  if (typeof options !== 'object' || options === null) throw new InvalidArgumentError('the use options must be an object');
  rejectUnknownKeys(options, known, 'the use options');
  const o = options as SandboxUseOptions;
  const timeout = o.timeout === undefined ? filled.timeout : timeoutMs('options.timeout', o.timeout);
  let memoryLimit = filled.memoryLimit;
  if (o.memoryLimit !== undefined) {
    memoryLimit = memoryLimitBytes('options.memoryLimit', o.memoryLimit, filled.maxMemoryLimit);
    if (memoryLimit > filled.memoryLimit) {
      throw new InvalidArgumentError(
        `options.memoryLimit (${memoryLimit} bytes) exceeds the sandbox's memoryLimit (${filled.memoryLimit} bytes), ` +
          'which sizes its memory; create the sandbox with a larger memoryLimit',
      );
    }
  }
  if (o.signal !== undefined && !(o.signal instanceof AbortSignal)) throw new InvalidArgumentError('options.signal must be an AbortSignal');
  if (o.acquireTimeout !== undefined) waitMs('options.acquireTimeout', o.acquireTimeout);
  const wait = {
    ...(o.signal !== undefined ? { signal: o.signal } : {}),
    ...(o.acquireTimeout !== undefined ? { acquireTimeout: o.acquireTimeout } : {}),
  };
  return { timeout, memoryLimit, wait };
}
