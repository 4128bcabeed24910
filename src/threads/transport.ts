/**
 * How messages travel between the dispatcher and a worker thread: the one place that knows, so that
 * the mechanism can change without touching either side.
 *
 * It is `postMessage` both ways, each side's event loop waking for each message. Measured on the
 * 2-core development VM (bench/threads-transport.ts, an echo, one use in flight): about 9 µs a round
 * trip, against 7–10 µs with the worker blocked in `Atomics.wait` between uses and taking requests
 * with `receiveMessageOnPort`, and 20–40 µs with it spinning before it blocks (the spin takes the
 * core the main thread needs). The Atomics forms save a microsecond at best, and block the worker's
 * event loop between uses (an engine's timers would not run), so the plain form won.
 */
import { parentPort, type TransferListItem, type Worker } from 'node:worker_threads';
import { InternalError } from '../errors.js';
import type { FromWorker, ToWorker } from './protocol.js';

/** The main thread's end of one worker's channel. */
export interface MainEnd {
  send(message: ToWorker, transfer?: readonly TransferListItem[]): void;
}

/** Connects to `worker`: `receive` gets each of its messages. */
export function mainEnd(worker: Worker, receive: (message: FromWorker) => void): MainEnd {
  worker.on('message', receive);
  return {
    send(message, transfer) {
      worker.postMessage(message, transfer);
    },
  };
}

/** A worker thread's end of its channel. */
export interface WorkerEnd {
  send(message: FromWorker, transfer?: readonly TransferListItem[]): void;
}

/** In a worker thread: connects to the main thread; `receive` gets each of its messages. */
export function workerEnd(receive: (message: ToWorker) => void): WorkerEnd {
  const port = parentPort;
  if (port === null) throw new InternalError('workerEnd() outside a worker thread');
  port.on('message', receive);
  return {
    send(message, transfer) {
      port.postMessage(message, transfer);
    },
  };
}
