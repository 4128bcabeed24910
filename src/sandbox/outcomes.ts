/**
 * How a sandbox's uses ended, counted: one counter per outcome, the same for every sandbox kind,
 * decided from the error's class and code alone (a guest exception is `COWPOOL_ERR_GUEST_EXCEPTION`
 * whatever the engine: a QuickJS throw, a SQL error), so that a kind adds no counting of its own.
 * Every use that ran counts in exactly one counter, so they add up to the pool's `uses`; input
 * refused before a use, and a wait given up, count nowhere. With threads, so does a use its signal
 * stopped while it ran (the caller gave it up), and the pool's `uses` lack the uses that ended with
 * their thread (a hard stop, a thread that died), which are counted here all the same.
 */
import {
  CowpoolError,
  ErrorCodes,
  GuestMemoryLimitError,
  GuestTimeoutError,
  GuestTrapError,
  HostError,
  InvalidArgumentError,
  ThreadExitedError,
} from '../errors.js';
import type { PoolStats } from '../pool/index.js';
import type { PoolThreadStats } from '../threads/pool-threads.js';

/** The counters by outcome. */
export interface OutcomeCounts {
  /** Uses that returned a result. */
  results: number;
  /** Uses that ended with the guest's own error (a QuickJS exception, an SQL error). */
  exceptions: number;
  /** Uses stopped at their deadline. */
  timeouts: number;
  /** Uses stopped at their memory limit. */
  memoryLimits: number;
  /** Uses that ended with a trap or an unexpected error (with threads: their thread died, `ThreadExitedError`). */
  traps: number;
  /**
   * Uses that ended with the host's failure ({@link HostError}): a host function threw and the
   * guest did not catch it, a value could not be copied between host and guest, cowpool failed.
   */
  hostErrors: number;
  /**
   * Uses that the caller's input ended once they had begun ({@link InvalidArgumentError}: code or
   * an argument too large for the sandbox's memory, say).
   */
  inputErrors: number;
}

/** A snapshot of a sandbox's counters. */
export interface SandboxStats extends OutcomeCounts {
  /** Bytes of the wasm memory in use after setup (the image's extent). */
  setupBytes: number;
  /**
   * The counters of the underlying instance pool; with threads, of every thread's pool summed
   * (and the calling thread's, once a `Sync` form has used it).
   */
  pool: PoolStats;
  /** With threads: the threads, the queue, hard stops and replacements, and each thread's pool. */
  threads?: PoolThreadStats;
}

/** The outcome a use's error counts as, or undefined for one that ended no use (a closed sandbox, a wait given up). */
export function outcomeOf(err: unknown): Exclude<keyof OutcomeCounts, 'results'> | undefined {
  if (err instanceof GuestTimeoutError) return 'timeouts';
  if (err instanceof GuestMemoryLimitError) return 'memoryLimits';
  if (err instanceof GuestTrapError || err instanceof ThreadExitedError || !(err instanceof CowpoolError)) return 'traps';
  if (err.code === ErrorCodes.GUEST_EXCEPTION) return 'exceptions';
  if (err instanceof HostError) return 'hostErrors';
  // Input is checked before a use: what reaches here was refused by the use itself.
  if (err instanceof InvalidArgumentError) return 'inputErrors';
  return undefined;
}

/** Counters all at zero. */
export function emptyOutcomes(): OutcomeCounts {
  return { results: 0, exceptions: 0, timeouts: 0, memoryLimits: 0, traps: 0, hostErrors: 0, inputErrors: 0 };
}
