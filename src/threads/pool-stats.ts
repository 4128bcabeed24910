/**
 * An `InstancePool`'s counters across threads: how a thread's engine publishes its pool's
 * `PoolStats` on its stats board (`stats-board.ts`: numbers only, summed over threads), and how
 * the calling thread reads the sum back as `PoolStats`. The one rule besides flattening: the
 * reset-time histogram travels without its bounds, which are the same on every thread and must
 * not be summed.
 */
import { RESET_TIME_BOUNDS_NS } from '../histogram.js';
import type { PoolStats } from '../pool/stats.js';
import type { EngineStats } from './engine.js';

/** A pool's levels (instances alive now…), not counts: a thread that ended takes them with it. */
export const POOL_GAUGES: readonly string[] = ['instances', 'idle', 'leased', 'waiting'];

/** `stats` (a pool's, on a worker thread) as an engine's stats: the histogram's counts without its bounds. */
export function publishedPoolStats(stats: PoolStats): EngineStats {
  // Field by field, as PoolStats is made: a worker publishes this after every use, and rest/spread
  // literals take V8's slow path (1.5 µs a call here).
  const { resetTime } = stats;
  return {
    uses: stats.uses,
    resets: stats.resets,
    dirtyPages: stats.dirtyPages,
    resetNanoseconds: stats.resetNanoseconds,
    // An array is read as an object of its indices (`resetTime.counts.3`) by the stats board.
    resetTime: { counts: resetTime.counts as unknown as EngineStats, sum: resetTime.sum, count: resetTime.count },
    instantiations: stats.instantiations,
    created: stats.created,
    retirements: stats.retirements,
    resetFailures: stats.resetFailures,
    waits: stats.waits,
    refused: stats.refused,
    traps: stats.traps,
    timeouts: stats.timeouts,
    trims: stats.trims,
    instances: stats.instances,
    idle: stats.idle,
    leased: stats.leased,
    waiting: stats.waiting,
  };
}

/** A thread's (or the sum's) engine stats as {@link PoolStats}, zero where a count is missing. */
export function poolStats(engine: EngineStats): PoolStats {
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
    refused: n(engine.refused),
    traps: n(engine.traps),
    timeouts: n(engine.timeouts),
    trims: n(engine.trims),
    instances: n(engine.instances),
    idle: n(engine.idle),
    leased: n(engine.leased),
    waiting: n(engine.waiting),
  };
}

/** The sum of `a` and `b` (a pool on threads and the calling thread's own, say), bounds kept. */
export function addPoolStats(a: PoolStats, b: PoolStats): PoolStats {
  const sum = (x: number, y: number) => x + y;
  return {
    uses: a.uses + b.uses,
    resets: {
      pagemap: a.resets.pagemap + b.resets.pagemap,
      madvise: a.resets.madvise + b.resets.madvise,
      copy: a.resets.copy + b.resets.copy,
    },
    dirtyPages: a.dirtyPages + b.dirtyPages,
    resetNanoseconds: a.resetNanoseconds + b.resetNanoseconds,
    resetTime: {
      bounds: a.resetTime.bounds,
      counts: a.resetTime.counts.map((c, i) => sum(c, b.resetTime.counts[i] ?? 0)),
      sum: a.resetTime.sum + b.resetTime.sum,
      count: a.resetTime.count + b.resetTime.count,
    },
    instantiations: a.instantiations + b.instantiations,
    created: a.created + b.created,
    retirements: a.retirements + b.retirements,
    resetFailures: a.resetFailures + b.resetFailures,
    waits: a.waits + b.waits,
    refused: a.refused + b.refused,
    traps: a.traps + b.traps,
    timeouts: a.timeouts + b.timeouts,
    trims: a.trims + b.trims,
    instances: a.instances + b.instances,
    idle: a.idle + b.idle,
    leased: a.leased + b.leased,
    waiting: a.waiting + b.waiting,
  };
}
