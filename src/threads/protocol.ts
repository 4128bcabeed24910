/**
 * The messages between the dispatcher (main thread) and a worker thread, and what a worker starts
 * with. A worker runs its uses one at a time, in the order posted, so a message needs no more
 * routing than its id; a few may be posted ahead (the thread's window), each with its claim word
 * (`claims.ts`), which the worker claims before it starts the use and skips the use if it cannot.
 *
 *     main                                   worker
 *     spawn(WorkerInit) ───────────────────► import engine module, createEngine(parts)
 *                       ◄─────────────────── ready { statsKeys, description } | failed { error }
 *     run { id, input, timeout, slot, tag } ► queued; when its turn comes: claimed? engine.run(input) : skipped
 *                       ◄─────────────────── event { id, payload } (any number, while it runs: output, say)
 *                       ◄─────────────────── done { id, value } | done { id, error }   (not for a skipped use)
 *     close ───────────────────────────────► engine.close(), exit
 */
import type { SerializedError } from '../error-transport.js';
import type { SharedPagemap } from '../pagemap/support.js';

/** What a worker thread starts with (its `workerData`). Structured-cloneable. */
export interface WorkerInit {
  /** URL of the engine module (see `engine.ts`). */
  engine: string;
  /** The built parts the engine makes its state from. */
  parts: unknown;
  /** The thread's index in its pool. */
  index: number;
  /** The thread's fd ledger (`sys/fd-ledger.ts`). */
  ledger: SharedArrayBuffer;
  /** The thread's stats board (`stats-board.ts`). */
  stats: SharedArrayBuffer;
  /** The process's pagemap descriptor, adopted instead of opening another. */
  pagemap: SharedPagemap;
  /**
   * One Int32 the worker sets to 1 once its native layer (koffi) is loaded, and the main thread to 2
   * when the worker exited: until then the worker must not be terminated (see `thread.ts`).
   */
  native: SharedArrayBuffer;
  /** The claim words of the thread's window (`claims.ts`). */
  claims: SharedArrayBuffer;
}

/** A use posted to a worker: its input, its deadline in ms (Infinity for none), its claim word. */
export interface RunMessage {
  type: 'run';
  id: number;
  input: unknown;
  timeout: number;
  slot: number;
  tag: number;
}

/** A message from the main thread to a worker. */
export type ToWorker = RunMessage | { type: 'close' };

/** A message from a worker to the main thread. */
export type FromWorker =
  | { type: 'ready'; statsKeys: string[]; description: unknown }
  | { type: 'failed'; error: SerializedError }
  | { type: 'event'; id: number; payload: unknown }
  | { type: 'done'; id: number; ok: true; value: unknown }
  | { type: 'done'; id: number; ok: false; error: SerializedError };
