/**
 * A ready-made stdout/stderr sink. The host hands sinks views into guest memory, which the next
 * guest write or the next request overwrites; this copies each chunk into one growing buffer so a
 * whole response costs a few copies and no per-chunk allocation.
 */

const INITIAL_CAPACITY = 4096;

/**
 * Collects what a guest writes to one stream. Pass {@link OutputCollector.sink} as
 * `WasiContext.stdout`/`stderr`; read {@link OutputCollector.bytes} after the run; {@link reset}
 * to reuse the buffer for the next request.
 */
export class OutputCollector {
  #buffer: Uint8Array;
  #length = 0;

  constructor(initialCapacity = INITIAL_CAPACITY) {
    this.#buffer = new Uint8Array(Math.max(16, initialCapacity));
  }

  /** The sink: copies `chunk` (which may be a view into guest memory) to the end of the buffer. */
  readonly sink = (chunk: Uint8Array): void => {
    const end = this.#length + chunk.length;
    if (end > this.#buffer.length) {
      const grown = new Uint8Array(Math.max(end, this.#buffer.length * 2));
      grown.set(this.#buffer.subarray(0, this.#length));
      this.#buffer = grown;
    }
    this.#buffer.set(chunk, this.#length);
    this.#length = end;
  };

  /** Number of bytes collected so far. */
  get length(): number {
    return this.#length;
  }

  /** The bytes collected so far: a view, valid until the next {@link reset} or write. Slice it to keep it. */
  bytes(): Uint8Array {
    return this.#buffer.subarray(0, this.#length);
  }

  /** The bytes collected so far, decoded as UTF-8. */
  text(): string {
    return Buffer.from(this.#buffer.buffer, this.#buffer.byteOffset, this.#length).toString('utf8');
  }

  /** Forgets the collected bytes and keeps the buffer for the next use. */
  reset(): void {
    this.#length = 0;
  }
}
