/**
 * An `InstancePool`'s counters across threads: what an engine that runs uses on a pool sends (its
 * `PoolStats` as engine stats, the reset-time histogram without its bounds, which are the same on
 * every thread and must not be summed), and what the calling thread makes of the sum (`PoolStats`
 * again, plus the thread layer's own counters). `ThreadPool` and the CGI server on threads report
 * alike through it.
 */
import { RESET_TIME_BOUNDS_NS } from '../histogram.js';
import type { PoolStats } from '../pool/stats.js';
import type { ThreadStats } from './dispatcher.js';
import type { EngineStats } from './engine.js';

/** A pool's levels (instances alive now…), not counts: a thread that ended takes them with it (`DispatcherSpec.gauges`). */
export const POOL_GAUGES: readonly string[] = ['instances', 'idle', 'leased', 'waiting'];

/** Pool counters summed over threads, and the threads'. */
export interface ThreadPoolStats extends PoolStats {
  /** The thread layer: threads, the queue (also `waiting`), hard stops, replacements. */
  threads: Omit<ThreadStats, 'engine' | 'perThread'> & {
    /** Each thread alive now: its index, whether it runs a use, its pool's counters. */
    perThread: { index: number; busy: boolean; stats: PoolStats }[];
  };
}

/** On a worker thread: `stats` (a pool's) as engine stats. */
export function poolEngineStats(stats: PoolStats): EngineStats {
  // Field by field, as PoolStats is made: a worker publishes this after every use, and rest/spread
  // literals take V8's slow path.
  const { resetTime } = stats;
  return {
    uses: stats.uses,
    resets: stats.resets,
    dirtyPages: stats.dirtyPages,
    resetNanoseconds: stats.resetNanoseconds,
    // The histogram's bounds are the same on every thread: counts are summed over threads, bounds are not.
    // (An array is read as an object of its indices, `resetTime.counts.3`, by the stats board.)
    resetTime: { counts: resetTime.counts as unknown as EngineStats, sum: resetTime.sum, count: resetTime.count },
    instantiations: stats.instantiations,
    created: stats.created,
    retirements: stats.retirements,
    resetFailures: stats.resetFailures,
    waits: stats.waits,
    traps: stats.traps,
    timeouts: stats.timeouts,
    trims: stats.trims,
    instances: stats.instances,
    idle: stats.idle,
    leased: stats.leased,
    waiting: stats.waiting,
  };
}

/**
 * On the calling thread: a dispatcher's stats, whose engines run pools, as {@link ThreadPoolStats}.
 * `timeoutsReject`: whether the engine rejects a use its pool stopped at the deadline (as
 * `ThreadPool`'s does), so that the threads' count of timeouts has them already; an engine that
 * answers them as results (the CGI server's: a 504 is an answer) has them in its pools' count only.
 */
export function threadPoolStats(stats: ThreadStats, timeoutsReject = true): ThreadPoolStats {
  const { engine, perThread, ...threads } = stats;
  const pools = poolStats(engine);
  return {
    ...pools,
    // A use stopped with its thread never reached its pool's count: the threads' count has those.
    timeouts: timeoutsReject ? threads.timedOut : pools.timeouts + threads.timedOut,
    waiting: threads.queued,
    threads: { ...threads, perThread: perThread.map((t) => ({ index: t.index, busy: t.busy, stats: poolStats(t.engine) })) },
  };
}

/** A thread's (or the sum's) engine stats as {@link PoolStats}, zero where a count is missing. */
function poolStats(engine: EngineStats): PoolStats {
  const n = (value: unknown) => (typeof value === 'number' ? value : 0);
  const resets = (engine.resets ?? {}) as EngineStats;
  const resetTime = (engine.resetTime ?? {}) as EngineStats;
  const resetCounts = (resetTime.counts ?? {}) as EngineStats;
  return {
    uses: n(engine.uses),
    resets: { pagemap: n(resets.pagemap), madvise: n(resets.madvise), copy: n(resets.copy) },
    dirtyPages: n(engine.dirtyPages),
    resetNanoseconds: n(engine.resetNanoseconds),
    resetTime: {
      bounds: RESET_TIME_BOUNDS_NS,
      counts: RESET_TIME_BOUNDS_NS.concat(Infinity).map((_, i) => n(resetCounts[i])),
      sum: n(resetTime.sum),
      count: n(resetTime.count),
    },
    instantiations: n(engine.instantiations),
    created: n(engine.created),
    retirements: n(engine.retirements),
    resetFailures: n(engine.resetFailures),
    waits: n(engine.waits),
    traps: n(engine.traps),
    timeouts: n(engine.timeouts),
    trims: n(engine.trims),
    instances: n(engine.instances),
    idle: n(engine.idle),
    leased: n(engine.leased),
    waiting: n(engine.waiting),
  };
}
