/**
 * `cowpool/metrics`: the counters of pools, sandboxes and servers in the Prometheus text format,
 * for a program that runs its own HTTP server (`cowpool serve --metrics` and
 * `cowpool quickjs serve --metrics` answer `/metrics` with the same text).
 *
 * ```ts
 * import { metrics, METRICS_CONTENT_TYPE } from 'cowpool/metrics';
 * app.get('/metrics', (req, res) => res.type(METRICS_CONTENT_TYPE).send(metrics(pool, { process: true })));
 * ```
 *
 * Why not prom-client, the ecosystem's library: it would be cowpool's second runtime dependency,
 * and it brings two more (@opentelemetry/api, tdigest), for what is here a page of text formatting;
 * its default registry is global, so two pools, or cowpool loaded both as CommonJS and as an ES
 * module, would register the same names twice and throw. What it offers beyond that, the process
 * metrics operators expect, cowpool writes under the same names (`process.ts`). A program that
 * already uses prom-client appends this text to `await register.metrics()`: the format is
 * line-based and the names do not collide.
 */
import { InvalidArgumentError } from '../errors.js';
import { checkLabels, checkMetricName, PROMETHEUS_CONTENT_TYPE, writeExposition, type Labels, type MetricFamily } from './exposition.js';
import { httpFamilies, poolFamilies, sandboxFamilies, type HttpCounters, type PoolCounters, type SandboxCounters } from './pool-metrics.js';
import { processFamilies } from './process-metrics.js';

export { Histogram, RESET_TIME_BOUNDS_NS, REQUEST_TIME_BOUNDS_NS, type HistogramSnapshot } from '../histogram.js';
export type { HttpCounters, PoolCounters, SandboxCounters } from './pool-metrics.js';
export type { Labels } from './exposition.js';
export type { ThreadCounters } from './thread-metrics.js';

/** The Content-Type to answer {@link metrics}' text with. */
export const METRICS_CONTENT_TYPE = PROMETHEUS_CONTENT_TYPE;

/**
 * Anything with counters: an `InstancePool`, `GluePool` or `WasiCommand` (pool stats), a
 * `QuickJSSandbox` or `SqliteSandbox` (sandbox stats around pool stats), a server's request handler
 * (HTTP stats around one of those).
 */
export interface MetricsSource {
  stats(): PoolCounters | SandboxCounters | ServedCounters;
}

/** A request handler's stats: its HTTP counters and those of what it serves (a pool's, a sandbox's). */
export interface ServedCounters<S extends PoolCounters | SandboxCounters = PoolCounters | SandboxCounters> {
  readonly http: HttpCounters;
  readonly served: S;
}

/** A source and the labels that tell its samples apart from another source's. */
export interface LabeledSource {
  readonly source: MetricsSource;
  readonly labels?: Labels;
}

/** Options of {@link metrics}. */
export interface MetricsOptions {
  /** Prepended to every cowpool metric name (not to the process metrics). Default `cowpool_`. */
  prefix?: string;
  /** Labels on every sample, the process's included (`{ worker: '2' }`); with several sources, each adds its own. */
  labels?: Labels;
  /** Add the process metrics (`process_cpu_seconds_total`, `nodejs_heap_size_used_bytes`, …). Default false. */
  process?: boolean;
}

const OPTION_KEYS = ['prefix', 'labels', 'process'];
const DEFAULT_PREFIX = 'cowpool_';

/**
 * The counters of `sources` as Prometheus text (serve it with {@link METRICS_CONTENT_TYPE}). Several
 * sources are merged metric by metric, so give each labels that tell them apart.
 */
export function metrics(sources: MetricsSource | readonly LabeledSource[], options: MetricsOptions = {}): string {
  if (typeof options !== 'object' || options === null) throw new InvalidArgumentError('metrics() options must be an object');
  for (const key of Object.keys(options)) {
    if (!OPTION_KEYS.includes(key))
      throw new InvalidArgumentError(`metrics() options: unknown option '${key}' (known: ${OPTION_KEYS.join(', ')})`);
  }
  const prefix = options.prefix ?? DEFAULT_PREFIX;
  checkMetricName(prefix, 'metrics() options.prefix');
  const common = options.labels ?? {};
  checkLabels(common, 'metrics() options.labels');
  const list: readonly LabeledSource[] = isSourceList(sources) ? sources : [{ source: sources }];
  const families: MetricFamily[] = [];
  list.forEach(({ source, labels: own = {} }, i) => {
    if (typeof source?.stats !== 'function') throw new InvalidArgumentError(`metrics(): source ${i} has no stats() method`);
    checkLabels(own, `metrics(): the labels of source ${i}`);
    const labels = { ...common, ...own };
    families.push(...sourceFamilies(prefix, source.stats(), labels));
  });
  if (options.process) families.push(...processFamilies(common));
  return writeExposition(families);
}

function isSourceList(sources: MetricsSource | readonly LabeledSource[]): sources is readonly LabeledSource[] {
  return Array.isArray(sources);
}

function sourceFamilies(prefix: string, stats: PoolCounters | SandboxCounters | ServedCounters, labels: Labels): MetricFamily[] {
  if ('http' in stats) return [...httpFamilies(prefix, stats.http, labels), ...sourceFamilies(prefix, stats.served, labels)];
  if ('pool' in stats) return sandboxFamilies(prefix, stats, labels);
  return poolFamilies(prefix, stats, labels);
}
