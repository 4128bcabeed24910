/**
 * Where a sandbox's uses run: the seam between a sandbox's API and the pool underneath.
 *
 * A use crosses it as data: a request in (code and limits, SQL and parameters), a result out (a
 * value and the logs, rows and counts), errors as cowpool's typed errors. Nothing in a request or a
 * result is a function or a handle, so that the same request can run on this thread's pool
 * ({@link PoolEngine}) or be posted to a worker thread that runs a `PoolEngine` of its own over the
 * same image (issue 17): a sandbox's promise forms may then dispatch to threads while its `Sync`
 * forms keep running here.
 *
 * What a sandbox kind supplies for this: a {@link UseRunner}, which runs one request on one pooled
 * instance; the image and its own data (addresses in the image, say), which are plain data; and
 * the mapping of results and errors to its API (its class over `Sandbox`). With threads, an engine
 * module for the worker threads too (`threaded-engine.ts`).
 */
import { InternalError } from '../errors.js';
import type { InstanceHost, InstancePool, PoolDescription, PoolStats, UseOptions } from '../pool/index.js';
import { isPromise } from '../pool/sync-or-async.js';
import type { PoolThreadsDescription, PoolThreadStats } from '../threads/pool-threads.js';

/** What a sandbox's `describe()` says: its pool's choices, and its threads' when it has them. */
export interface SandboxDescription extends PoolDescription {
  /** The worker threads the promise forms run on (`threads`); absent when they run on the calling thread. */
  threads?: PoolThreadsDescription;
}

/** Where a sandbox's uses run; see the module comment. */
export interface Engine<Request, Result> {
  /**
   * Runs one use, waiting in line for a free instance when all are busy. `deadline` is the use's
   * own deadline in ms (Infinity for none), which `use.timeout` may exceed (a hard deadline's
   * margin): on threads, a use still running a grace period past it is stopped with its thread.
   */
  run(request: Request, use: UseOptions, deadline: number): Promise<Result>;
  /** Runs one use now, on this thread; throws `AcquireTimeoutError` when no instance is free. */
  runSync(request: Request, use: UseOptions): Result;
  /** The counters of the pool (or the pools) underneath. */
  stats(): PoolStats;
  /** The thread layer's counters, when the uses run on threads. */
  threadStats?(): PoolThreadStats;
  /** The choices of the pool underneath and why. */
  describe(): SandboxDescription;
  /**
   * Waits for running uses (with `force`, on threads: stops them with their threads), then
   * releases every instance and the image. Idempotent.
   */
  close(options?: { force?: boolean }): Promise<void>;
}

/**
 * The kind-specific part of a {@link PoolEngine}: runs one request on a pristine pooled instance.
 * `Context` is what the kind's imports see of the current use (`host.context`): made per use, never
 * kept past it.
 */
export interface UseRunner<Request, Result, Context> {
  /** A new use's context. */
  context(request: Request): Context;
  /**
   * Runs `request` on `instance`, whose memory is `host.memory`; returns the result as data or throws
   * a typed error. A promise only for a use that waits for the host (the promise forms: a QuickJS
   * host function's promise); a `Sync` use never returns one.
   */
  run(instance: WebAssembly.Instance, host: InstanceHost<undefined, Context>, context: Context, request: Request): Result | Promise<Result>;
}

/** An {@link Engine} over an {@link InstancePool} of this thread. */
export class PoolEngine<Request, Result, Context> implements Engine<Request, Result> {
  readonly #pool: InstancePool<WebAssembly.Exports, undefined, Context>;
  readonly #runner: UseRunner<Request, Result, Context>;

  constructor(pool: InstancePool<WebAssembly.Exports, undefined, Context>, runner: UseRunner<Request, Result, Context>) {
    this.#pool = pool;
    this.#runner = runner;
  }

  run(request: Request, use: UseOptions): Promise<Result> {
    const context = this.#runner.context(request);
    return this.#pool.run((instance, _context, host) => this.#runner.run(instance, host, context, request), context, use);
  }

  runSync(request: Request, use: UseOptions): Result {
    const context = this.#runner.context(request);
    const result = this.#pool.runSync((instance, _context, host) => this.#runner.run(instance, host, context, request), context, use);
    if (isPromise(result)) throw new InternalError('a Sync use returned a promise');
    return result;
  }

  stats(): PoolStats {
    return this.#pool.stats();
  }

  describe(): PoolDescription {
    return this.#pool.describe();
  }

  close(): Promise<void> {
    return this.#pool.close();
  }
}
