/** The counters of an {@link InstancePool}, as `pool.stats()` returns them. */
import type { HistogramSnapshot } from '../histogram.js';
import type { ResetStrategy } from '../memory/index.js';

/** A snapshot of a pool's counters. Counts are since the pool was created. */
export interface PoolStats {
  /** Uses that ended (released leases and finished runs), traps included. */
  uses: number;
  /** Memory resets by the strategy actually performed (a pagemap slot decommitting counts as madvise). */
  resets: Record<ResetStrategy, number>;
  /** Dirty pages the pagemap resets found, summed. */
  dirtyPages: number;
  /** Time spent resetting memory, in nanoseconds, summed. */
  resetNanoseconds: number;
  /** Each reset's duration in nanoseconds, by bucket (`/metrics` shows it as `cowpool_reset_duration_seconds`). */
  resetTime: HistogramSnapshot;
  /** Instances created for uses by the `reinstantiate` mechanism. */
  instantiations: number;
  /** Pooled instances created (slots included), prewarmed ones and replacements counted. */
  created: number;
  /** Pooled instances retired because their memory grew (V8 cannot shrink it) or a reset failed. */
  retirements: number;
  /**
   * Resets that failed (a system call error, say). The instance was retired instead of reused and
   * the use's own result stood; set `NODE_DEBUG=cowpool` to log each failure.
   */
  resetFailures: number;
  /** Calls that had to wait for a free instance. */
  waits: number;
  /** Calls refused at once because `maxQueue` callers were waiting already (`QueueFullError`). */
  refused: number;
  /** Uses through `run`/`runSync` (or beginning a use) that ended with a guest trap ({@link GuestTrapError}). */
  traps: number;
  /** Uses through `run`/`runSync` (or beginning a use) stopped at their deadline ({@link GuestTimeoutError}). */
  timeouts: number;
  /** Idle instances that gave back the pages their uses wrote (`trimIdleAfter`). */
  trims: number;
  /** Pooled instances alive now. */
  instances: number;
  /** Of those, idle now. */
  idle: number;
  /** Of those, in use now. */
  leased: number;
  /** Callers waiting now. */
  waiting: number;
}

/** The counters kept while the pool runs (the rest of {@link PoolStats} is computed on demand). */
export type RunningStats = Omit<PoolStats, 'instances' | 'idle' | 'leased' | 'waiting' | 'resetTime'>;

/** All counters at zero. */
export function emptyStats(): RunningStats {
  return {
    uses: 0,
    resets: { pagemap: 0, madvise: 0, copy: 0 },
    dirtyPages: 0,
    resetNanoseconds: 0,
    instantiations: 0,
    created: 0,
    retirements: 0,
    resetFailures: 0,
    waits: 0,
    refused: 0,
    traps: 0,
    timeouts: 0,
    trims: 0,
  };
}
