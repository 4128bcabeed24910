/**
 * A histogram with fixed buckets: what a pool records per memory reset (and a server per request),
 * and what `/metrics` shows as a Prometheus histogram. It sits at the top of src/, beside errors.ts,
 * because both the pool (which records) and metrics/ (which reads the pool's stats) need it. Recording is one comparison per bucket below
 * the value and one increment, no allocation, so a reset that takes microseconds can afford it.
 * Values are in whatever unit the recorder uses (nanoseconds for resets); the exposition scales
 * them to seconds, Prometheus' base unit.
 */
import { InvalidArgumentError } from './errors.js';

/** A histogram's state at one moment. */
export interface HistogramSnapshot {
  /** Upper bounds of the buckets, ascending (a value equal to a bound falls in its bucket). */
  readonly bounds: readonly number[];
  /** Values per bucket, not cumulative: `counts[i]` for `bounds[i]`, the last one past every bound. */
  readonly counts: readonly number[];
  /** All values recorded, summed. */
  readonly sum: number;
  /** Values recorded. */
  readonly count: number;
}

/**
 * Bucket bounds for memory reset times, in nanoseconds: 1 µs to 10 ms. A pagemap reset of a few
 * dirty pages takes 2–5 µs, a copy of a 16 MiB memory about 1 ms; past 10 ms something is wrong.
 */
export const RESET_TIME_BOUNDS_NS: readonly number[] = [
  1_000, 2_500, 5_000, 10_000, 25_000, 50_000, 100_000, 250_000, 500_000, 1_000_000, 2_500_000, 5_000_000, 10_000_000,
];

/**
 * Bucket bounds for HTTP request times, in nanoseconds: 25 µs (hello world on a reused instance)
 * to 10 s (the default deadline of `cowpool serve`).
 */
export const REQUEST_TIME_BOUNDS_NS: readonly number[] = [
  25_000, 50_000, 100_000, 250_000, 500_000, 1_000_000, 2_500_000, 5_000_000, 10_000_000, 25_000_000, 50_000_000, 100_000_000, 250_000_000,
  500_000_000, 1_000_000_000, 2_500_000_000, 5_000_000_000, 10_000_000_000,
];

/** A histogram being recorded into; see the module comment. */
export class Histogram {
  readonly #bounds: readonly number[];
  readonly #counts: number[];
  #sum = 0;
  #count = 0;

  /** @param bounds upper bounds of the buckets, ascending and finite; a last bucket takes everything past them. */
  constructor(bounds: readonly number[]) {
    if (bounds.length === 0 || bounds.some((bound, i) => !Number.isFinite(bound) || (i > 0 && bound <= bounds[i - 1]!))) {
      throw new InvalidArgumentError(`histogram bounds must be finite numbers in ascending order, not [${bounds.join(', ')}]`);
    }
    this.#bounds = [...bounds];
    this.#counts = new Array<number>(bounds.length + 1).fill(0);
  }

  /** Records one value. */
  observe(value: number): void {
    const bounds = this.#bounds;
    let i = 0;
    while (i < bounds.length && value > bounds[i]!) i++;
    this.#counts[i]!++;
    this.#sum += value;
    this.#count++;
  }

  /** The counts so far (a copy: recording goes on). */
  snapshot(): HistogramSnapshot {
    return { bounds: this.#bounds, counts: [...this.#counts], sum: this.#sum, count: this.#count };
  }
}
