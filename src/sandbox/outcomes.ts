/**
 * How a sandbox's uses ended, counted: one counter per outcome, the same for every sandbox kind,
 * decided from the error's class and code alone (a guest exception is `COWPOOL_ERR_GUEST_EXCEPTION`
 * whatever the engine: a QuickJS throw, a SQL error), so that a kind adds no counting of its own.
 */
import { CowpoolError, ErrorCodes, GuestMemoryLimitError, GuestTimeoutError, GuestTrapError } from '../errors.js';
import type { PoolStats } from '../pool/index.js';

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
  /** Uses that ended with a trap or an unexpected error. */
  traps: number;
}

/** A snapshot of a sandbox's counters. */
export interface SandboxStats extends OutcomeCounts {
  /** Bytes of the wasm memory in use after setup (the image's extent). */
  setupBytes: number;
  /** The counters of the underlying instance pool. */
  pool: PoolStats;
}

/** The outcome a use's error counts as, or undefined for one that is not the guest's (bad input, a closed sandbox, a wait given up). */
export function outcomeOf(err: unknown): Exclude<keyof OutcomeCounts, 'results'> | undefined {
  if (err instanceof GuestTimeoutError) return 'timeouts';
  if (err instanceof GuestMemoryLimitError) return 'memoryLimits';
  if (err instanceof GuestTrapError || !(err instanceof CowpoolError)) return 'traps';
  if (err.code === ErrorCodes.GUEST_EXCEPTION) return 'exceptions';
  return undefined;
}

/** Counters all at zero. */
export function emptyOutcomes(): OutcomeCounts {
  return { results: 0, exceptions: 0, timeouts: 0, memoryLimits: 0, traps: 0 };
}
