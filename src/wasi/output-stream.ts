/**
 * `WasiRunStream`: a use's output as an async iterable of chunks, in the order the guest wrote them,
 * stdout and stderr interleaved as they were, and the use's result beside it. What `WasiCommand`'s
 * `stream()` returns.
 *
 * The queue in between holds the chunks written and not yet read. It cannot push back on the guest:
 * a guest runs synchronously on its thread, so it is never paused for a reader; on this thread the
 * reader gets its first chunk only once the guest has stopped. What bounds the queue is the use's
 * output limit (every chunk was counted against it before it was queued). When uses run on worker
 * threads, chunks arrive here as messages while the guest runs, and the bound is the same.
 *
 *     producer (the use):  push(chunk) … push(chunk) ── end(result) or fail(error)
 *     reader:              for await (const chunk of stream)  ── then `await stream.result`
 *                          leaving the loop early ──► chunks dropped, the use given up
 */
import { InvalidArgumentError } from '../errors.js';
import type { WasiRunResult } from './command-use.js';

/** One piece of a use's output: the bytes of one write, and the stream they were written to. */
export interface WasiOutputChunk {
  /** Which stream the guest wrote them to (fd 1 or fd 2). */
  readonly stream: 'stdout' | 'stderr';
  /** The bytes: a copy, the reader's to keep. */
  readonly data: Buffer;
}

/** How often the queue is compacted: once this many chunks have been read from its front. */
const COMPACT_AFTER = 1024;

/** A use's streamed output and its result; see the module comment. */
export class WasiRunStream implements AsyncIterable<WasiOutputChunk> {
  /**
   * The use's result, settled when it has ended: the exit code or the `error` of a use that ran
   * (its `stdout` and `stderr` are empty: they were streamed). Rejects when the use did not run:
   * aborted before it began or while it waited (or the reader left first), the command closed.
   */
  readonly result: Promise<WasiRunResult>;
  #queue: (WasiOutputChunk | undefined)[] = [];
  #head = 0;
  /** The use has ended: nothing more will be queued. */
  #ended = false;
  /** Why the use did not run, for the reader once the queue is empty; thrown once. */
  #failure: { error: unknown } | undefined = undefined;
  /** The reader's pending `next()` while the queue is empty. */
  #waiting: { resolve: (r: IteratorResult<WasiOutputChunk>) => void; reject: (e: unknown) => void } | undefined;
  #iterated = false;
  /** The reader is done (it read to the end, or left): chunks are dropped from now on. */
  #finished = false;
  readonly #giveUp: AbortController;
  readonly #caller: AbortSignal | undefined;
  readonly #onCallerAbort = () => this.#giveUp.abort(this.#caller?.reason);

  /**
   * @internal Made by `WasiCommand.stream()`: `run` runs the use, its output going to {@link push}
   * and its signal being `giveUp`'s, which fires with the caller's `signal` or when the reader
   * leaves early.
   */
  constructor(run: () => Promise<WasiRunResult>, giveUp: AbortController, signal: AbortSignal | undefined) {
    this.#giveUp = giveUp;
    this.#caller = signal;
    if (signal?.aborted) giveUp.abort(signal.reason);
    else signal?.addEventListener('abort', this.#onCallerAbort, { once: true });
    // The use begins after stream() has returned (a guest runs synchronously: it would run inside the call).
    this.result = Promise.resolve()
      .then(run)
      .then(
        (result) => {
          this.#end(undefined);
          return result;
        },
        (error: unknown) => {
          this.#end({ error });
          throw error;
        },
      );
    // The reader sees the failure too (the loop throws it); a caller who only iterates must not
    // get an unhandled rejection. Awaiting `result` still rejects.
    this.result.catch(() => {});
  }

  /** @internal Queues one chunk (or hands it to a waiting reader). */
  push(stream: 'stdout' | 'stderr', data: Buffer): void {
    if (this.#finished) return;
    const chunk: WasiOutputChunk = { stream, data };
    const waiting = this.#waiting;
    if (waiting !== undefined) {
      this.#waiting = undefined;
      waiting.resolve({ value: chunk, done: false });
    } else {
      this.#queue.push(chunk);
    }
  }

  /**
   * The chunks, in order; the loop ends when the use has ended and every chunk has been read, and
   * throws when the use did not run (see {@link result}). One reader: a stream is iterated once.
   * Leaving the loop early (`break`, a throw) drops the chunks not read and gives the use up, as
   * its signal would: one that has not begun does not run (`result` rejects with AbortedError),
   * one still running (on a worker thread) is stopped.
   */
  [Symbol.asyncIterator](): AsyncIterator<WasiOutputChunk> {
    if (this.#iterated) throw new InvalidArgumentError('a WasiRunStream is read once; it is being read or was read already');
    this.#iterated = true;
    return {
      next: () => this.#next(),
      return: () => {
        this.#leave();
        return Promise.resolve({ value: undefined, done: true });
      },
    };
  }

  #next(): Promise<IteratorResult<WasiOutputChunk>> {
    if (this.#head < this.#queue.length) {
      const chunk = this.#queue[this.#head]!;
      this.#queue[this.#head++] = undefined;
      if (this.#head >= COMPACT_AFTER && this.#head * 2 >= this.#queue.length) {
        this.#queue = this.#queue.slice(this.#head);
        this.#head = 0;
      }
      return Promise.resolve({ value: chunk, done: false });
    }
    if (this.#finished || this.#ended) {
      const failure = this.#failure;
      this.#failure = undefined;
      this.#finished = true;
      return failure === undefined ? Promise.resolve({ value: undefined, done: true }) : Promise.reject(failure.error);
    }
    return new Promise((resolve, reject) => (this.#waiting = { resolve, reject }));
  }

  #end(failure: { error: unknown } | undefined): void {
    this.#ended = true;
    this.#caller?.removeEventListener('abort', this.#onCallerAbort);
    if (this.#finished) return;
    this.#failure = failure;
    const waiting = this.#waiting;
    if (waiting === undefined) return;
    this.#waiting = undefined;
    this.#failure = undefined;
    this.#finished = true;
    if (failure === undefined) waiting.resolve({ value: undefined, done: true });
    else waiting.reject(failure.error);
  }

  #leave(): void {
    if (this.#finished) return;
    this.#finished = true;
    this.#queue = [];
    this.#head = 0;
    this.#failure = undefined;
    const waiting = this.#waiting;
    this.#waiting = undefined;
    waiting?.resolve({ value: undefined, done: true });
    if (!this.#ended) this.#giveUp.abort(new Error('the reader of the stream left before the use ended'));
  }
}
