/**
 * The engine contract: what the thread layer runs on each worker thread. An engine module is an ES
 * module that the worker imports and whose `createEngine(parts)` builds, once per thread, the state
 * that runs uses (a pool over a shared image, say) from structured-cloneable *built parts* the
 * main thread prepared once. The worker then hands it one use at a time: data in, data out.
 *
 * The layer knows nothing else about engines: the same dispatcher serves a user's raw module, the
 * QuickJS and SQLite sandboxes and the CGI server, each with its own engine module.
 */
import type { TransferListItem } from 'node:worker_threads';

/** What an engine learns about a use besides its input. */
export interface EngineUse {
  /**
   * The use's deadline in ms from when it reached the thread, or Infinity. An engine that can stop
   * its guest itself (the fuel counter of `interruptible`) should, with `GuestTimeoutError`: that
   * keeps the thread. One still running a grace period after the deadline is stopped with its thread.
   */
  readonly timeout: number;
  /**
   * Sends `payload` (structured-cloneable; `transfer` lists objects of it to move) to the use's
   * caller while the use runs, ahead of its result: a command's output as the guest writes it, say.
   * The caller's thread receives the events in order, and each before the result.
   */
  emit(payload: unknown, transfer?: readonly TransferListItem[]): void;
}

/**
 * An engine's counters and gauges: numbers, possibly nested (`{ resets: { pagemap: 3 } }`). The
 * keys must stay the same from the first call on; the thread layer sums them over threads.
 */
export interface EngineStats {
  [key: string]: number | EngineStats;
}

/** The state that runs uses on one worker thread. */
export interface Engine<I = unknown, O = unknown> {
  /** Runs one use. Its result (or a promise of it) must be structured-cloneable; a throw reaches the caller as its error. */
  run(input: I, use: EngineUse): O | Promise<O>;
  /** Objects of `output` to transfer rather than copy (ArrayBuffers, MessagePorts); none by default. */
  transfer?(output: O): TransferListItem[];
  /** This thread's counters, read after every use: keep it cheap. */
  stats?(): EngineStats;
  /** What the engine decided (structured-cloneable data), read once when the thread is ready. */
  describe?(): unknown;
  /** Releases what the engine holds; called when the pool closes without force. */
  close?(): void | Promise<void>;
}

/** Where a thread's engine runs. */
export interface EngineContext {
  /** The thread's index in its pool (0 … threads − 1); a replacement keeps the index of the one it replaces. */
  readonly index: number;
}

/** The module an engine lives in: it exports `createEngine`. */
export interface EngineModule<P = unknown, I = unknown, O = unknown> {
  createEngine(parts: P, context: EngineContext): Engine<I, O> | Promise<Engine<I, O>>;
}
