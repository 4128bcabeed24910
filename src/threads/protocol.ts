/**
 * The messages between the dispatcher (main thread) and a worker thread, and what a worker starts
 * with. One use is in flight per worker at a time, so a message needs no more routing than its id.
 *
 *     main                                   worker
 *     spawn(WorkerInit) ───────────────────► import engine module, createEngine(parts)
 *                       ◄─────────────────── ready { statsKeys, description } | failed { error }
 *     run { id, input, timeout } ──────────► engine.run(input)
 *                       ◄─────────────────── event { id, payload } (any number, while it runs: output, say)
 *                       ◄─────────────────── done { id, value } | done { id, error }
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
}

/** A message from the main thread to a worker. */
export type ToWorker = { type: 'run'; id: number; input: unknown; timeout: number } | { type: 'close' };

/** A message from a worker to the main thread. */
export type FromWorker =
  | { type: 'ready'; statsKeys: string[]; description: unknown }
  | { type: 'failed'; error: SerializedError }
  | { type: 'event'; id: number; payload: unknown }
  | { type: 'done'; id: number; ok: true; value: unknown }
  | { type: 'done'; id: number; ok: false; error: SerializedError };
