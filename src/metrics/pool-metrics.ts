/**
 * The counters of a pool, a sandbox or a server as Prometheus metric families: what `stats()`
 * returns, named and described once here. Names follow Prometheus' conventions (a `_total` counter,
 * base units: seconds and bytes), and each family's help says what one unit of it is.
 *
 * A pool's reset-time histogram and its trap and timeout counters appear whenever the stats carry
 * them ({@link PoolCounters}): every `InstancePool` does; a source summed from several pools or
 * another copy of cowpool may not, and then only the summed reset time is shown.
 */
import type { PoolStats } from '../pool/index.js';
import type { Labels, MetricFamily } from './exposition.js';
import type { HistogramSnapshot } from '../histogram.js';
import { threadFamilies, type ThreadCounters } from './thread-metrics.js';

/** Nanoseconds in a second. */
const NS_PER_SECOND = 1e9;

/**
 * A pool's stats as the metrics read them: {@link PoolStats}, where the histogram and the trap and
 * timeout counts may be missing (a source summed from other pools, or another copy of cowpool).
 */
export interface PoolCounters extends Omit<PoolStats, 'resetTime' | 'traps' | 'timeouts'> {
  /** Time of each memory reset, in nanoseconds (buckets: `RESET_TIME_BOUNDS_NS`). */
  readonly resetTime?: HistogramSnapshot;
  /** Uses that ended with a guest trap. */
  readonly traps?: number;
  /** Uses stopped at their deadline. */
  readonly timeouts?: number;
  /** The thread layer's counters, when the pools run on worker threads (`ThreadPool`, a server's `threads`). */
  readonly threads?: ThreadCounters;
}

/**
 * A sandbox's stats (`QuickJSSandboxStats`, `SqliteSandboxStats`): how each use ended, and its pool.
 * QuickJS counts `exceptions` (the script threw), SQLite `errors` (SQLite refused the SQL).
 */
export interface SandboxCounters {
  readonly results: number;
  readonly exceptions?: number;
  readonly errors?: number;
  readonly timeouts: number;
  readonly memoryLimits: number;
  readonly traps: number;
  /** Uses that ended with the host's failure (a host function threw, a value could not be copied). */
  readonly hostErrors?: number;
  /** Uses that the caller's input ended once they had begun. */
  readonly inputErrors?: number;
  /** Bytes of the wasm memory in use after setup. */
  readonly setupBytes: number;
  readonly pool: PoolStats;
  /** The thread layer's counters, when the sandbox runs its uses on worker threads. */
  readonly threads?: ThreadCounters;
}

/** What `stats()` of a server's request handler returns: requests by status, and their times. */
export interface HttpCounters {
  /** Responses sent, by HTTP status code. */
  readonly responses: Readonly<Record<number, number>>;
  /** Time from a request's arrival to its response, in nanoseconds. */
  readonly requestTime: HistogramSnapshot;
}

/** The families of one pool's counters, each sample labelled with `labels`. */
export function poolFamilies(prefix: string, stats: PoolCounters, labels: Labels): MetricFamily[] {
  const counter = (name: string, help: string, value: number): MetricFamily => ({
    name: `${prefix}${name}`,
    help,
    type: 'counter',
    samples: [{ labels, value }],
  });
  const families: MetricFamily[] = [
    counter('uses_total', 'Uses of a pooled instance that ended (released leases and finished runs), traps included.', stats.uses),
    {
      name: `${prefix}resets_total`,
      help: 'Memory resets, by the strategy performed (pagemap: dirty pages copied back; madvise: pages dropped; copy: the whole image).',
      type: 'counter',
      samples: Object.entries(stats.resets).map(([strategy, value]) => ({ labels: { ...labels, strategy }, value })),
    },
    counter('reset_dirty_pages_total', 'Dirty pages found by pagemap resets (host pages).', stats.dirtyPages),
    counter('reset_seconds_total', 'Time spent resetting memory.', stats.resetNanoseconds / NS_PER_SECOND),
    counter('instantiations_total', 'Instances created for single uses by the reinstantiate mechanism.', stats.instantiations),
    counter('instances_created_total', 'Pooled instances created, prewarmed ones and replacements included.', stats.created),
    counter('retirements_total', 'Pooled instances retired: their memory grew (V8 cannot shrink it) or a reset failed.', stats.retirements),
    counter(
      'reset_failures_total',
      'Resets that failed (a system call error); the instance was retired instead of reused.',
      stats.resetFailures,
    ),
    counter('waits_total', 'Calls that had to wait for a free instance.', stats.waits),
    counter('queue_refusals_total', 'Calls refused at once because maxQueue callers were waiting already.', stats.refused),
    counter('trims_total', 'Idle instances that gave back the pages their uses wrote.', stats.trims),
    {
      name: `${prefix}instances`,
      help: 'Pooled instances alive now, idle or in use.',
      type: 'gauge',
      samples: [
        { labels: { ...labels, state: 'idle' }, value: stats.idle },
        { labels: { ...labels, state: 'leased' }, value: stats.leased },
      ],
    },
    {
      name: `${prefix}queue_length`,
      help: 'Calls waiting for a free instance now.',
      type: 'gauge',
      samples: [{ labels, value: stats.waiting }],
    },
  ];
  if (stats.traps !== undefined) families.push(counter('traps_total', 'Uses that ended with a guest trap.', stats.traps));
  if (stats.timeouts !== undefined) families.push(counter('timeouts_total', 'Uses stopped at their deadline.', stats.timeouts));
  if (stats.resetTime !== undefined) {
    families.push({
      name: `${prefix}reset_duration_seconds`,
      help: 'Time of one memory reset.',
      type: 'histogram',
      samples: [{ labels, histogram: stats.resetTime, unitsPerSecond: NS_PER_SECOND }],
    });
  }
  if (stats.threads !== undefined) families.push(...threadFamilies(prefix, stats.threads, labels));
  return families;
}

/** The families of a sandbox's counters and of its pool. */
export function sandboxFamilies(prefix: string, stats: SandboxCounters, labels: Labels): MetricFamily[] {
  const outcomes: [string, number | undefined][] = [
    ['result', stats.results],
    ['exception', stats.exceptions],
    ['error', stats.errors],
    ['timeout', stats.timeouts],
    ['memory_limit', stats.memoryLimits],
    ['trap', stats.traps],
    ['host_error', stats.hostErrors],
    ['input_error', stats.inputErrors],
  ];
  return [
    {
      name: `${prefix}sandbox_uses_total`,
      help:
        'Sandbox uses, by how they ended: a result, an exception the script threw (QuickJS), an error SQLite gave, ' +
        "the deadline, the memory limit, a trap, the host's failure (a host function threw, a value could not be copied), " +
        "the caller's input refused by the use.",
      type: 'counter',
      samples: outcomes.flatMap(([outcome, value]) => (value === undefined ? [] : [{ labels: { ...labels, outcome }, value }])),
    },
    {
      name: `${prefix}sandbox_setup_bytes`,
      help: 'Bytes of the wasm memory in use after setup (the extent of the image every use starts from).',
      type: 'gauge',
      samples: [{ labels, value: stats.setupBytes }],
    },
    ...poolFamilies(prefix, stats.pool, labels),
    ...(stats.threads !== undefined ? threadFamilies(prefix, stats.threads, labels) : []),
  ];
}

/** The families of a request handler's HTTP counters. */
export function httpFamilies(prefix: string, stats: HttpCounters, labels: Labels): MetricFamily[] {
  return [
    {
      name: `${prefix}http_requests_total`,
      help: 'HTTP requests the handler answered, by status code (not those to /healthz, /readyz and /metrics).',
      type: 'counter',
      samples: Object.entries(stats.responses).map(([code, value]) => ({ labels: { ...labels, code }, value })),
    },
    {
      name: `${prefix}http_request_duration_seconds`,
      help: 'Time from the arrival of a request at the handler to its response.',
      type: 'histogram',
      samples: [{ labels, histogram: stats.requestTime, unitsPerSecond: NS_PER_SECOND }],
    },
  ];
}
