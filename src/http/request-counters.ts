/**
 * The HTTP counters of a request handler: responses by status code and the time each request
 * took, which `/metrics` shows beside the counters of the pool or sandbox behind the handler.
 * Recording costs an increment and a histogram bucket, no allocation after a status's first use.
 */
import { Histogram, REQUEST_TIME_BOUNDS_NS } from '../histogram.js';
import type { HttpCounters } from '../metrics/pool-metrics.js';

/** Nanoseconds in a millisecond, `performance.now()`'s unit. */
const NS_PER_MS = 1e6;

/** Counters a handler records into; see the module comment. */
export class RequestCounters {
  readonly #responses: Record<number, number> = {};
  readonly #time = new Histogram(REQUEST_TIME_BOUNDS_NS);

  /** One request answered with `status`; `started` is `performance.now()` at its arrival. */
  record(status: number, started: number): void {
    this.#responses[status] = (this.#responses[status] ?? 0) + 1;
    this.#time.observe((performance.now() - started) * NS_PER_MS);
  }

  /** The counts so far. */
  snapshot(): HttpCounters {
    return { responses: { ...this.#responses }, requestTime: this.#time.snapshot() };
  }
}
