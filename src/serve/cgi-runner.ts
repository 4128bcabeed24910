/**
 * Where the CGI handler's guests run: the seam between the HTTP side (`cgi-handler.ts`: bodies,
 * answers, counters, logs) and the guest side. Two runners, one contract:
 *
 * - on the calling thread (`local-runner.ts`): the guest runs synchronously inside the request's
 *   callback, one request at a time, on one pooled instance: the least cost per request, and the
 *   event loop waits while a guest runs;
 * - on worker threads (`thread-runner.ts`): the request is handed to one of N threads, each with its
 *   own instance over the process's one image; the event loop never waits for a guest, and a guest
 *   past its deadline and grace is stopped with its thread.
 *
 * A runner answers with the run's outcome (`cgi-guest.ts`), synchronously or as a promise, or
 * throws (rejects) with what was not the guest's doing: the pool closed, the queue full, the thread
 * stopped or dead.
 */
import type { IncomingMessage } from 'node:http';
import type { Readiness } from '../http/operations.js';
import type { InstancePool, PoolDescription, PoolStats } from '../pool/index.js';
import type { ThreadPoolStats } from '../threads/thread-pool.js';
import type { WasiHost } from '../wasi/index.js';
import type { CgiOutcome } from './cgi-guest.js';

/** See the module comment. */
export interface CgiRunner {
  /** Worker threads running guests; 0 when they run on the calling thread. */
  readonly threads: number;
  /** The pool on the calling thread, or undefined when the pools are on worker threads. */
  readonly pool: InstancePool<WebAssembly.Exports, WasiHost> | undefined;
  /** Runs the program for `req` with `body` on stdin. */
  run(req: IncomingMessage, body: Uint8Array): CgiOutcome | Promise<CgiOutcome>;
  /** The pool's counters (summed over threads, with the threads' own). */
  stats(): PoolStats | ThreadPoolStats;
  /** The choices the pool made (the same on every thread). */
  describe(): PoolDescription;
  /** Whether guests can run now, and what is ready (not counting a handler that is closing). */
  readiness(): Readiness;
  /** Lets the requests waiting and running finish, then releases the pools (and threads). */
  close(): Promise<void>;
}
