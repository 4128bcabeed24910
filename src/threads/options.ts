/**
 * The options of the thread layer (how many threads, the queue's bound, deadlines and the grace
 * before a hard stop) and of each use dispatched to it, their defaults, and their validation.
 * Internals see only the filled forms, never `undefined`.
 */
import { availableParallelism } from 'node:os';
import { InvalidArgumentError } from '../errors.js';
import { integer, queueBound, rejectUnknownKeys, timeoutMs, waitMs } from '../options/validate.js';

/** Options of the thread layer, as a pool or sandbox with threads accepts them. */
export interface ThreadOptions {
  /** Worker threads running uses. Default: the cores this process may use (`os.availableParallelism()`). */
  threads?: number;
  /**
   * Uses that may wait for a free thread; one more is refused with `QueueFullError`. Default
   * Infinity (never refused): set a bound where load must be shed, as a server should.
   */
  maxQueue?: number;
  /**
   * Each use's deadline in ms (a use's own `timeout` overrides it), Infinity for none. A use still
   * running `grace` ms after it is stopped with its thread: `GuestTimeoutError`. Default Infinity.
   */
  timeout?: number;
  /**
   * How long past its deadline a use may still run before its thread is ended, in ms: the time an
   * engine gets to stop its guest itself (the fuel counter) and keep the thread. Default 100.
   */
  grace?: number;
  /** Longest wait for a free thread, in ms; then `AcquireTimeoutError`. Default: no limit. */
  acquireTimeout?: number;
}

/** Options of one use on threads. */
export interface ThreadUseOptions {
  /** This use's deadline in ms; overrides `options.timeout`. */
  timeout?: number;
  /** Longest wait for a free thread, in ms; overrides `options.acquireTimeout`. */
  acquireTimeout?: number;
  /** Before the use starts: it never runs (`AbortedError`). While it runs: its thread is ended and replaced (`AbortedError`). */
  signal?: AbortSignal;
}

/** {@link ThreadOptions} with every default applied. */
export interface FilledThreadOptions {
  threads: number;
  maxQueue: number;
  timeout: number;
  grace: number;
  acquireTimeout: number;
}

/** {@link ThreadUseOptions} checked, the pool's defaults applied. */
export interface FilledThreadUseOptions {
  timeout: number;
  acquireTimeout: number;
  signal: AbortSignal | undefined;
}

/** The keys of {@link ThreadOptions}, for callers that accept them among their own options. */
export const THREAD_OPTION_KEYS = [
  'threads',
  'maxQueue',
  'timeout',
  'grace',
  'acquireTimeout',
] as const satisfies readonly (keyof ThreadOptions)[];
const USE_KEYS = ['timeout', 'acquireTimeout', 'signal'] as const satisfies readonly (keyof ThreadUseOptions)[];

/** The default grace period in ms. */
export const DEFAULT_GRACE = 100;

/**
 * Validates the thread options among `options` (other keys are the caller's to check; `what` names
 * the object in messages) and fills in the defaults.
 */
export function fillThreadOptions(options: ThreadOptions, what = 'options'): FilledThreadOptions {
  const own = <K extends keyof ThreadOptions>(key: K): ThreadOptions[K] => (Object.hasOwn(options, key) ? options[key] : undefined);
  return {
    threads: integer(`${what}.threads`, own('threads') ?? availableParallelism(), 1),
    maxQueue: queueBound(`${what}.maxQueue`, own('maxQueue') ?? Infinity),
    timeout: timeoutMs(`${what}.timeout`, own('timeout') ?? Infinity),
    grace: waitMs(`${what}.grace`, own('grace') ?? DEFAULT_GRACE),
    acquireTimeout: waitMs(`${what}.acquireTimeout`, own('acquireTimeout') ?? Infinity),
  };
}

/** Validates one use's options and applies the pool's defaults. */
export function fillThreadUseOptions(options: ThreadUseOptions | undefined, pool: FilledThreadOptions): FilledThreadUseOptions {
  if (options === undefined) return { timeout: pool.timeout, acquireTimeout: pool.acquireTimeout, signal: undefined };
  if (typeof options !== 'object' || options === null) throw new InvalidArgumentError('the use options must be an object');
  rejectUnknownKeys(options, USE_KEYS, 'the use options');
  const timeout = Object.hasOwn(options, 'timeout') && options.timeout !== undefined ? timeoutMs('timeout', options.timeout) : pool.timeout;
  const acquireTimeout =
    Object.hasOwn(options, 'acquireTimeout') && options.acquireTimeout !== undefined
      ? waitMs('acquireTimeout', options.acquireTimeout)
      : pool.acquireTimeout;
  const signal = Object.hasOwn(options, 'signal') ? options.signal : undefined;
  if (signal !== undefined && !(signal instanceof AbortSignal)) throw new InvalidArgumentError('signal must be an AbortSignal');
  return { timeout, acquireTimeout, signal };
}

/**
 * The options that put a sandbox's or a WASI command's uses on worker threads, beside its own
 * `timeout` and `acquireTimeout` (which keep their meaning: a use's deadline, the longest wait for
 * a free thread).
 */
export interface OnThreadsOptions {
  /**
   * Worker threads that run the promise forms' uses (`eval`, `query`, `run`, …), each on its own
   * pool over the one image of this process, while the calling thread only dispatches: a guest
   * never stops its event loop, and one still running `grace` ms past its deadline is stopped with
   * its thread (replaced at once), whatever it is doing. The `Sync` forms still run on the calling
   * thread. 0 runs every use on the calling thread. Default 0 (see the README's "Threads": a thread
   * hop costs microseconds per use; a server running untrusted code should set it).
   */
  threads?: number;
  /**
   * Uses that may wait for a free thread; one more is refused with `QueueFullError`. Default
   * Infinity. A sandbox without `threads` applies it to the uses waiting for a free instance on the
   * calling thread (`InstancePool`'s `maxQueue`); elsewhere it needs `threads`.
   */
  maxQueue?: number;
  /**
   * How long past its deadline a use on a thread may still run before the thread is ended (the
   * guest's own deadline checks get this long to stop it and keep the thread), in ms. Default 100.
   * With `threads` only.
   */
  grace?: number;
}

/** The keys of {@link OnThreadsOptions}. */
export const ON_THREADS_KEYS = ['threads', 'maxQueue', 'grace'] as const satisfies readonly (keyof OnThreadsOptions)[];

/** The default of {@link OnThreadsOptions.threads}: uses on the calling thread. */
export const DEFAULT_SURFACE_THREADS = 0;

/**
 * Validates the {@link OnThreadsOptions} among `options` (other keys are the caller's), with the
 * surface's own deadline and wait as the threads' defaults. Undefined when the uses run on the
 * calling thread (`threads: 0`); `grace` is refused then, since nothing would read it, and so is
 * `maxQueue` unless `queueHere` says the surface bounds its calling thread's line with it.
 */
export function fillOnThreadsOptions(
  options: OnThreadsOptions,
  defaults: { readonly timeout: number; readonly acquireTimeout: number },
  what = 'options',
  queueHere = false,
): FilledThreadOptions | undefined {
  const own = <K extends keyof OnThreadsOptions>(key: K): OnThreadsOptions[K] => (Object.hasOwn(options, key) ? options[key] : undefined);
  const threads = integer(`${what}.threads`, own('threads') ?? DEFAULT_SURFACE_THREADS, 0);
  if (threads === 0) {
    for (const key of queueHere ? (['grace'] as const) : (['maxQueue', 'grace'] as const)) {
      if (own(key) !== undefined) {
        throw new InvalidArgumentError(
          `${what}.${key} applies to uses on worker threads; set ${what}.threads (0 runs uses on this thread)`,
        );
      }
    }
    return undefined;
  }
  return fillThreadOptions(
    { threads, maxQueue: own('maxQueue'), grace: own('grace'), timeout: defaults.timeout, acquireTimeout: defaults.acquireTimeout },
    what,
  );
}
