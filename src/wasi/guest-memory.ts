/**
 * Views over the guest's linear memory that survive `memory.grow`.
 *
 * Growing a non-shared WebAssembly.Memory detaches its old ArrayBuffer: every typed array and
 * DataView over it reports length 0 (reads through a DataView then throw). A shared memory is never
 * detached but its old SharedArrayBuffer keeps the old length. Host calls run while the guest is
 * stopped, so checking once at the start of each call is enough: nothing grows memory during it.
 */

/**
 * The bound memory of one WASI host, with cached `Uint8Array`/`DataView` views. Call
 * {@link GuestMemory.refresh} at the start of every host call and then use {@link bytes} and
 * {@link view}; out-of-range accesses through `view` throw `RangeError`, which the host functions
 * turn into `EFAULT`.
 */
export class GuestMemory {
  #memory: WebAssembly.Memory | undefined;
  #shared = false;
  /** The whole linear memory as bytes (length 0 when nothing is bound). */
  bytes: Uint8Array = new Uint8Array(0);
  /** The whole linear memory for little-endian scalar access. */
  view: DataView = new DataView(new ArrayBuffer(0));

  /** The bound memory, if any. */
  get memory(): WebAssembly.Memory | undefined {
    return this.#memory;
  }

  /** Binds `memory` (replacing any earlier one) and builds views over its current buffer. */
  bind(memory: WebAssembly.Memory): void {
    this.#memory = memory;
    const buffer = memory.buffer as ArrayBufferLike;
    this.#shared = typeof SharedArrayBuffer !== 'undefined' && buffer instanceof SharedArrayBuffer;
    this.#rebuild(buffer);
  }

  /**
   * Makes {@link bytes} and {@link view} cover the memory as it is now. Cheap when nothing changed:
   * one length check for a non-shared memory (a detached buffer has length 0).
   */
  refresh(): void {
    const memory = this.#memory;
    if (memory === undefined) return;
    if (this.#shared) {
      const buffer = memory.buffer as ArrayBufferLike;
      if (buffer.byteLength !== this.bytes.byteLength) this.#rebuild(buffer);
    } else if (this.bytes.byteLength === 0) {
      this.#rebuild(memory.buffer);
    }
  }

  /** Whether `[ptr, ptr + len)` lies inside the memory (both already unsigned). */
  contains(ptr: number, len: number): boolean {
    return ptr + len <= this.bytes.length;
  }

  #rebuild(buffer: ArrayBufferLike): void {
    this.bytes = new Uint8Array(buffer);
    this.view = new DataView(buffer);
  }
}
