/**
 * The fd ledger: which file descriptors a worker thread holds, written by the worker into shared
 * memory, so that the thread that started it can close them after the worker has ended, however it
 * ended. Descriptors belong to the process, and a worker that is terminated (a hard stop) runs no
 * cleanup: without the ledger every memfd or `/proc/self/pagemap` descriptor it had open would leak.
 *
 *     main thread                              worker thread
 *     FdLedger.create() ──buffer──────────────► installFdLedger(FdLedger.attach(buffer))
 *                                               open  → recordFd(fd)       (after the open)
 *                                               close → forgetFd(fd)       (before the close)
 *     'exit' event ──► ledger.closeAll()
 *
 * What the ledger must not hold: descriptors opened with `node:fs` (a WASI guest's host files, a
 * host function's files). Node tracks those itself in a worker (`trackUnmanagedFds`, on by default,
 * and set by the threads layer) and closes them when the worker exits, however it ended; recorded
 * here too they would be closed twice, the second time perhaps after the number went to another
 * open. The ledger is for what is opened beneath `node:fs` (through `sys/`: a memfd, the pagemap).
 *
 * Ordering is what makes this safe: a descriptor is recorded only once it is open and forgotten
 * before it is closed, so every number in the ledger is open and the worker's; a worker stopped
 * between two steps can leak one descriptor, never make the main thread close another thread's.
 * `closeAll()` may only run once the worker has exited (after its `exit` event): then no one writes.
 *
 * Layout: Int32 slots, each 0 (free) or fd + 1, so that a new buffer (zeros) is an empty ledger;
 * slot 0 counts descriptors that found no free slot (they would leak; `overflowed` reports it).
 */
import { closeSync } from 'node:fs';
import { InvalidArgumentError } from '../errors.js';

/** Descriptors a ledger holds by default: far more than a worker's pool and guest open at once. */
export const DEFAULT_LEDGER_CAPACITY = 1024;

/** The fds one worker thread holds, in shared memory; see the module comment. */
export class FdLedger {
  /** The shared memory: give it to the worker (workerData or postMessage). */
  readonly buffer: SharedArrayBuffer;
  readonly #slots: Int32Array;
  /** Where the next free slot is likely to be (slots before it were full when last looked at). */
  #hint = 1;

  private constructor(buffer: SharedArrayBuffer) {
    this.buffer = buffer;
    this.#slots = new Int32Array(buffer);
  }

  /** A new, empty ledger for a worker about to start (main thread). */
  static create(capacity = DEFAULT_LEDGER_CAPACITY): FdLedger {
    if (!Number.isSafeInteger(capacity) || capacity < 1)
      throw new InvalidArgumentError(`ledger capacity ${capacity} is not a positive integer`);
    return new FdLedger(new SharedArrayBuffer((capacity + 1) * Int32Array.BYTES_PER_ELEMENT));
  }

  /** The ledger whose memory is `buffer` (worker thread). */
  static attach(buffer: SharedArrayBuffer): FdLedger {
    if (!(buffer instanceof SharedArrayBuffer) || buffer.byteLength < 8 || buffer.byteLength % 4 !== 0) {
      throw new InvalidArgumentError('an fd ledger needs the SharedArrayBuffer of FdLedger.create()');
    }
    return new FdLedger(buffer);
  }

  /** Records `fd` as held (call once it is open). */
  record(fd: number): void {
    const slots = this.#slots;
    for (let i = this.#hint; i < slots.length; i++) {
      if (slots[i] === 0) {
        Atomics.store(slots, i, fd + 1);
        this.#hint = i + 1;
        return;
      }
    }
    for (let i = 1; i < this.#hint && i < slots.length; i++) {
      if (slots[i] === 0) {
        Atomics.store(slots, i, fd + 1);
        this.#hint = i + 1;
        return;
      }
    }
    Atomics.add(slots, 0, 1);
  }

  /** Forgets `fd` (call before it is closed). A descriptor never recorded is ignored. */
  forget(fd: number): void {
    const slots = this.#slots;
    for (let i = 1; i < slots.length; i++) {
      if (slots[i] === fd + 1) {
        Atomics.store(slots, i, 0);
        if (i < this.#hint) this.#hint = i;
        return;
      }
    }
  }

  /** The descriptors recorded now, in slot order. */
  held(): number[] {
    const out: number[] = [];
    for (let i = 1; i < this.#slots.length; i++) {
      const entry = Atomics.load(this.#slots, i);
      if (entry !== 0) out.push(entry - 1);
    }
    return out;
  }

  /** Descriptors that found the ledger full: they were not recorded, and leak if the worker is stopped. */
  get overflowed(): number {
    return Atomics.load(this.#slots, 0);
  }

  /**
   * Closes every descriptor still recorded and empties the ledger; returns how many it closed.
   * Only once the worker that wrote the ledger has exited (see the module comment).
   */
  closeAll(): number {
    let closed = 0;
    for (const fd of this.held()) {
      try {
        closeSync(fd);
        closed++;
      } catch {
        // Already closed: only a bug elsewhere (a close that bypassed the ledger) gets here.
      }
    }
    this.#slots.fill(0);
    this.#hint = 1;
    return closed;
  }
}

/** This thread's ledger, when a thread pool started it; undefined on the main thread. */
let current: FdLedger | undefined;

/** Makes `ledger` this thread's: from now on the descriptors cowpool opens here are recorded in it. */
export function installFdLedger(ledger: FdLedger): void {
  current = ledger;
}

/** Records `fd`, just opened by this thread, in its ledger if it has one. */
export function recordFd(fd: number): void {
  current?.record(fd);
}

/** Forgets `fd`, about to be closed by this thread, from its ledger if it has one. */
export function forgetFd(fd: number): void {
  current?.forget(fd);
}
