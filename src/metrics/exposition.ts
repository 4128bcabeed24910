/**
 * The Prometheus text exposition format (version 0.0.4), written out: families of samples with
 * their `# HELP` and `# TYPE` lines, label values escaped, histograms as cumulative `_bucket`
 * lines with `_sum` and `_count`. Samples of one family from several sources (two pools, say) are
 * grouped under one header, as the format requires. Prometheus and its `promtool check metrics`
 * read the output; so does anything that scrapes OpenMetrics' predecessor.
 */
import { InvalidArgumentError } from '../errors.js';
import type { HistogramSnapshot } from '../histogram.js';

/** The Content-Type of {@link writeExposition}'s output. */
export const PROMETHEUS_CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8';

/** Label names and values of one sample. */
export type Labels = Readonly<Record<string, string>>;

/** One value of a counter or gauge. */
export interface Sample {
  readonly labels: Labels;
  readonly value: number;
}

/** One histogram, with the number of its units in a second (1e9 for nanoseconds). */
export interface HistogramSample {
  readonly labels: Labels;
  readonly histogram: HistogramSnapshot;
  readonly unitsPerSecond: number;
}

/** A metric and its samples. */
export type MetricFamily =
  | { readonly name: string; readonly help: string; readonly type: 'counter' | 'gauge'; readonly samples: readonly Sample[] }
  | { readonly name: string; readonly help: string; readonly type: 'histogram'; readonly samples: readonly HistogramSample[] };

const METRIC_NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/;

/** Throws unless `name` is a valid metric name (or prefix: `what` says which) for Prometheus. */
export function checkMetricName(name: string, what: string): void {
  if (name !== '' && !METRIC_NAME.test(name)) {
    throw new InvalidArgumentError(`${what} "${name}" is not a Prometheus metric name: use letters, digits, _ and :, not first a digit`);
  }
}

/** Throws unless every key of `labels` is a valid label name and every value a string. */
export function checkLabels(labels: Labels, what: string): void {
  for (const [name, value] of Object.entries(labels)) {
    if (!LABEL_NAME.test(name) || name.startsWith('__')) {
      throw new InvalidArgumentError(
        `${what}: "${name}" is not a Prometheus label name: use letters, digits and _, not first a digit or __`,
      );
    }
    if (typeof value !== 'string')
      throw new InvalidArgumentError(`${what}: the value of label "${name}" must be a string, not ${typeof value}`);
  }
}

/** The families as Prometheus text; families that share a name are merged (their samples listed together). */
export function writeExposition(families: readonly MetricFamily[]): string {
  const merged = new Map<string, MetricFamily>();
  for (const family of families) {
    const seen = merged.get(family.name);
    if (seen === undefined) merged.set(family.name, family);
    else if (seen.type !== family.type) throw new InvalidArgumentError(`metric ${family.name} is both a ${seen.type} and a ${family.type}`);
    else merged.set(family.name, { ...seen, samples: [...seen.samples, ...family.samples] } as MetricFamily);
  }
  const lines: string[] = [];
  for (const family of merged.values()) {
    if (family.samples.length === 0) continue;
    lines.push(`# HELP ${family.name} ${escapeHelp(family.help)}`, `# TYPE ${family.name} ${family.type}`);
    if (family.type === 'histogram') {
      for (const sample of family.samples) writeHistogram(lines, family.name, sample);
    } else {
      for (const sample of family.samples) lines.push(`${family.name}${labelSet(sample.labels)} ${formatValue(sample.value)}`);
    }
  }
  return lines.length === 0 ? '' : `${lines.join('\n')}\n`;
}

function writeHistogram(lines: string[], name: string, { labels, histogram, unitsPerSecond }: HistogramSample): void {
  let cumulative = 0;
  histogram.bounds.forEach((bound, i) => {
    cumulative += histogram.counts[i]!;
    lines.push(`${name}_bucket${labelSet({ ...labels, le: formatValue(bound / unitsPerSecond) })} ${cumulative}`);
  });
  lines.push(`${name}_bucket${labelSet({ ...labels, le: '+Inf' })} ${histogram.count}`);
  lines.push(`${name}_sum${labelSet(labels)} ${formatValue(histogram.sum / unitsPerSecond)}`);
  lines.push(`${name}_count${labelSet(labels)} ${histogram.count}`);
}

function labelSet(labels: Labels): string {
  const pairs = Object.entries(labels);
  if (pairs.length === 0) return '';
  return `{${pairs.map(([name, value]) => `${name}="${escapeLabelValue(value)}"`).join(',')}}`;
}

function formatValue(value: number): string {
  if (Number.isNaN(value)) return 'NaN';
  if (value === Infinity) return '+Inf';
  if (value === -Infinity) return '-Inf';
  return String(value);
}

function escapeHelp(text: string): string {
  return text.replaceAll('\\', '\\\\').replaceAll('\n', '\\n');
}

function escapeLabelValue(text: string): string {
  return text.replaceAll('\\', '\\\\').replaceAll('"', '\\"').replaceAll('\n', '\\n');
}
