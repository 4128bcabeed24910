/**
 * The line of callers waiting for a member when all `max` are in use, oldest first. A waiter
 * leaves the line in exactly one way, {@link WaiterQueue.dequeue}, which also stops its
 * `acquireTimeout` timer and removes its abort listener: served by the pool (which then resolves
 * or rejects it), timed out ({@link AcquireTimeoutError}), aborted ({@link AbortedError}), or
 * rejected because the pool closed. The queue never touches members; serving is the pool's.
 */
import { AbortedError, AcquireTimeoutError } from '../errors.js';

/** One caller in line, for a lease of type `L` with context `C`. */
export interface Waiter<L, C> {
  /** The context the use will run with. */
  readonly context: C | undefined;
  /** The use's timeout in ms (Infinity for none). */
  readonly timeout: number;
  readonly resolve: (lease: L) => void;
  readonly reject: (err: unknown) => void;
  timer: NodeJS.Timeout | undefined;
  readonly signal: AbortSignal | undefined;
  onAbort: (() => void) | undefined;
}

/** What a wait needs of the use's options. */
export interface WaitOptions {
  timeout: number;
  acquireTimeout: number;
  signal: AbortSignal | undefined;
}

/** The line; see the module comment. */
export class WaiterQueue<L, C> {
  readonly #waiters: Waiter<L, C>[] = [];
  /** The pool's `max`, for the timeout's message. */
  readonly #max: number;

  constructor(max: number) {
    this.#max = max;
  }

  /** Callers in line now. */
  get length(): number {
    return this.#waiters.length;
  }

  /** The caller waiting longest, if any. */
  get first(): Waiter<L, C> | undefined {
    return this.#waiters[0];
  }

  /** Joins the line; settles when the pool serves the waiter, or on its timeout or abort. */
  enqueue(context: C | undefined, use: WaitOptions): Promise<L> {
    return new Promise<L>((resolve, reject) => {
      const waiter: Waiter<L, C> = {
        context,
        timeout: use.timeout,
        resolve,
        reject,
        timer: undefined,
        signal: use.signal,
        onAbort: undefined,
      };
      const limit = use.acquireTimeout;
      if (Number.isFinite(limit)) {
        waiter.timer = setTimeout(() => this.dequeue(waiter).reject(new AcquireTimeoutError(limit, this.#max)), limit);
      }
      if (use.signal) {
        const signal = use.signal;
        waiter.onAbort = () => this.dequeue(waiter).reject(new AbortedError(signal.reason));
        signal.addEventListener('abort', waiter.onAbort, { once: true });
      }
      this.#waiters.push(waiter);
    });
  }

  /** Takes `waiter` out of the line, with its timer and abort listener. Returns it. */
  dequeue(waiter: Waiter<L, C>): Waiter<L, C> {
    const at = this.#waiters.indexOf(waiter);
    if (at >= 0) this.#waiters.splice(at, 1);
    if (waiter.timer) clearTimeout(waiter.timer);
    if (waiter.onAbort) waiter.signal!.removeEventListener('abort', waiter.onAbort);
    waiter.timer = undefined;
    waiter.onAbort = undefined;
    return waiter;
  }

  /** Takes every waiter out of the line, oldest first. */
  dequeueAll(): Waiter<L, C>[] {
    return [...this.#waiters].map((waiter) => this.dequeue(waiter));
  }
}
