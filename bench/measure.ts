/**
 * Timing for the benchmarks: run an operation in batches after a warm-up and report the median time
 * per operation over the batches (robust to a GC or a noisy neighbour on a 2-core machine) plus the
 * spread. Benchmarks are a separate program, never tests.
 */

/** One measured case. */
export interface Measurement {
  /** Group, e.g. `reset 1 MiB, 2 dirty pages`. */
  group: string;
  /** The contender, e.g. `pagemap` or `new Instance`. */
  name: string;
  /** Median nanoseconds per operation over the batches. */
  nsPerOp: number;
  /** Fastest and slowest batch, ns per operation. */
  minNsPerOp: number;
  maxNsPerOp: number;
  operations: number;
  /** Anything else the case wants recorded (dirty pages, bytes, …). */
  extra?: Record<string, number | string>;
  /** Set when the case cannot run on this host: why. Its times are NaN. */
  unavailable?: string;
}

/** A row for a case that cannot run here, so that a report still shows it and says why. */
export function unavailable(group: string, name: string, reason: string): Measurement {
  return { group, name, nsPerOp: NaN, minNsPerOp: NaN, maxNsPerOp: NaN, operations: 0, unavailable: reason };
}

/** Options of {@link measure}. */
export interface MeasureOptions {
  /** Operations per batch. */
  batch?: number;
  /** Batches measured after the warm-up. */
  batches?: number;
  /** Stop early once this many milliseconds were spent measuring. */
  budgetMs?: number;
}

/** Times `op` and returns its measurement. */
export function measure(group: string, name: string, op: () => void, options: MeasureOptions = {}): Measurement {
  const batch = options.batch ?? 200;
  const batches = options.batches ?? 25;
  const budget = options.budgetMs ?? 3000;
  for (let i = 0; i < batch * 2; i++) op();
  const perOp: number[] = [];
  const started = performance.now();
  for (let b = 0; b < batches; b++) {
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < batch; i++) op();
    perOp.push(Number(process.hrtime.bigint() - t0) / batch);
    if (performance.now() - started > budget && perOp.length >= 5) break;
  }
  return summarize(group, name, perOp, batch);
}

/** Like {@link measure} for an async operation. */
export async function measureAsync(
  group: string,
  name: string,
  op: () => Promise<unknown>,
  options: MeasureOptions = {},
): Promise<Measurement> {
  const batch = options.batch ?? 200;
  const batches = options.batches ?? 25;
  const budget = options.budgetMs ?? 3000;
  for (let i = 0; i < batch * 2; i++) await op();
  const perOp: number[] = [];
  const started = performance.now();
  for (let b = 0; b < batches; b++) {
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < batch; i++) await op();
    perOp.push(Number(process.hrtime.bigint() - t0) / batch);
    if (performance.now() - started > budget && perOp.length >= 5) break;
  }
  return summarize(group, name, perOp, batch);
}

/** The measurement of a case from its per-batch times (ns per operation): median, fastest, slowest. */
export function summarize(group: string, name: string, perOp: number[], batch: number): Measurement {
  const sorted = [...perOp].sort((a, b) => a - b);
  return {
    group,
    name,
    nsPerOp: sorted[Math.floor(sorted.length / 2)]!,
    minNsPerOp: sorted[0]!,
    maxNsPerOp: sorted[sorted.length - 1]!,
    operations: batch * perOp.length,
  };
}

/** `12.3 µs` style. */
export function formatNs(ns: number): string {
  if (ns >= 1e6) return `${(ns / 1e6).toFixed(2)} ms`;
  if (ns >= 1e3) return `${(ns / 1e3).toFixed(2)} µs`;
  return `${ns.toFixed(0)} ns`;
}

/** One contender of an {@link interleaved} measurement: a name and one use (awaited if it returns a promise). */
export interface Contender {
  name: string;
  op: () => unknown;
}

/**
 * Measures the contenders batch by batch in turns (fresh, pooled, fresh, pooled, …), so that the
 * load of a shared machine, which drifts over seconds, weighs on each alike. Per contender: the
 * median wall time of its batches, and (`cpuUsPerOp`) the process CPU time spent during its
 * batches, per use: CPU time counts the neighbours much less than wall time does.
 */
export async function interleaved(
  group: string,
  contenders: Contender[],
  options: { batch: number; batches: number; budgetMs: number },
): Promise<Measurement[]> {
  const perOp = contenders.map((): number[] => []);
  const cpu = contenders.map(() => 0);
  const started = performance.now();
  for (let b = 0; b < options.batches; b++) {
    for (const [i, c] of contenders.entries()) {
      const cpu0 = process.cpuUsage();
      const t0 = process.hrtime.bigint();
      for (let k = 0; k < options.batch; k++) await c.op();
      perOp[i]!.push(Number(process.hrtime.bigint() - t0) / options.batch);
      const used = process.cpuUsage(cpu0);
      cpu[i]! += used.user + used.system;
    }
    if (performance.now() - started > options.budgetMs && b >= 4) break;
  }
  return contenders.map((c, i) => {
    const m = summarize(group, c.name, perOp[i]!, options.batch);
    m.extra = { cpuUsPerOp: Math.round(cpu[i]! / m.operations) };
    return m;
  });
}
