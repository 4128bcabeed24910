/**
 * The thread layer's counters as Prometheus metric families, beside those of the pools it runs (a
 * `ThreadPool`, a sandbox with `threads`, `cowpool serve --threads`): threads alive and busy, threads replaced (a guest
 * stopped with its thread, an abort, a thread that died), uses refused by a full queue. The pools'
 * own counters are summed over the threads (`cowpool_uses_total` counts every thread's uses), not
 * labelled per thread: a thread's index says nothing an operator acts on (a replacement takes the
 * index of the thread it replaces), and per-thread series would multiply every family by the threads.
 * Per-thread numbers stay in `stats()` (`threads.perThread`).
 */
import type { Labels, MetricFamily } from './exposition.js';

/** The thread layer's counters, as `ThreadPool.stats().threads` has them. */
export interface ThreadCounters {
  /** Threads ready to run uses now. */
  readonly threads: number;
  /** Of those, running a use now. */
  readonly busy: number;
  /** Threads started to replace one that ended. */
  readonly replaced: number;
  /** Uses refused because the queue was full. */
  readonly refused: number;
}

/** The families of a thread layer's counters, each sample labelled with `labels`. */
export function threadFamilies(prefix: string, stats: ThreadCounters, labels: Labels): MetricFamily[] {
  return [
    {
      name: `${prefix}threads`,
      help: 'Worker threads running uses, by state (busy: running one now; idle: waiting for one).',
      type: 'gauge',
      samples: [
        { labels: { ...labels, state: 'busy' }, value: stats.busy },
        { labels: { ...labels, state: 'idle' }, value: stats.threads - stats.busy },
      ],
    },
    {
      name: `${prefix}thread_replacements_total`,
      help:
        'Worker threads started to replace one that ended: a use stopped with its thread past its deadline, an abort, ' +
        'a thread that died.',
      type: 'counter',
      samples: [{ labels, value: stats.replaced }],
    },
    {
      name: `${prefix}queue_refusals_total`,
      help: 'Uses refused at once because the queue of uses waiting for a thread was full (maxQueue).',
      type: 'counter',
      samples: [{ labels, value: stats.refused }],
    },
  ];
}
