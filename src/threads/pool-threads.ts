/**
 * `PoolThreads`: a prepared pool's uses on worker threads, for a surface that already has its
 * prepared pool in hand (a sandbox, a WASI command: they prepare on the calling thread, where their
 * setup's host functions live) and keeps a synchronous form on the calling thread. It owns what the
 * process makes once and every thread shares:
 *
 *     prepared pool ──assemble──► the image's one memfd ──shareParts──► N threads: adoptParts +
 *                                         │                           InstancePool[FROM_PREPARED]
 *                                         └── adopt ──► this thread's pool, built at its first use
 *                                                       (the Sync forms: FROM_PREPARED_SYNC)
 *
 * and the order things close in: the threads (drained or forced), then this thread's pool, then the
 * image, once no thread can map it any more. Its stats are the threads' pools summed with this
 * thread's, the thread layer's counters beside them.
 */
import type { TransferListItem } from 'node:worker_threads';
import { PoolClosedError } from '../errors.js';
import { MemoryImage } from '../memory/index.js';
import { assemble, type PoolParts } from '../pool/build.js';
import { InstancePool } from '../pool/instance-pool.js';
import type { FilledOptions, PoolOptions } from '../pool/options.js';
import { FROM_PREPARED_SYNC, type PreparedPool } from '../pool/prepared-pool.js';
import { shareParts, type SharedPoolParts } from '../pool/shared-parts.js';
import type { PoolStats } from '../pool/stats.js';
import type { PoolDescription } from '../pool/types.js';
import { Dispatcher, type DispatcherSpec, type ThreadStats, type UseHooks } from './dispatcher.js';
import type { FilledThreadOptions, ThreadUseOptions } from './options.js';
import { addPoolStats, POOL_GAUGES, poolStats } from './pool-stats.js';

/** A prepared pool as `preparedPool` (`pool/build.ts`) gives it: what the threads are built from. */
export interface PreparedParts {
  readonly prepared: PreparedPool;
  readonly filled: FilledOptions<unknown, unknown>;
  readonly module: WebAssembly.Module;
}

/** What runs on the threads: the engine and its parts, made from the shared pool. */
export interface PoolThreadsSpec extends Omit<DispatcherSpec, 'parts' | 'gauges'> {
  /** The engine's built parts, given the pool every thread adopts. */
  parts(pool: SharedPoolParts): unknown;
  /**
   * The engine answers a use its pool stopped at the deadline (the fuel counter) as a result, not
   * an error (the CGI server's 504): the pools counted those, the threads only the hard stops.
   * Default false: the engine rejects them, and the threads' count has both kinds.
   */
  timeoutsAnswered?: boolean;
}

/** The thread layer's counters, and each thread's pool. */
export interface PoolThreadStats extends Omit<ThreadStats, 'engine' | 'perThread'> {
  /** Each thread alive now: its index, whether it runs a use, its pool's counters. */
  perThread: { index: number; busy: boolean; stats: PoolStats }[];
}

/** What the threads are: the options in force. */
export interface PoolThreadsDescription {
  threads: number;
  maxQueue: number;
  grace: number;
}

/** See the module comment. `I` is a use's input on the threads, `O` its output. */
export class PoolThreads<I, O> {
  readonly #dispatcher: Dispatcher<I, O>;
  readonly #parts: PoolParts<unknown, unknown>;
  readonly #prepared: PreparedPool;
  readonly #timeoutsAnswered: boolean;
  /** This thread's pool, once a Sync use has asked for it. */
  #local: InstancePool<object, unknown, unknown> | undefined;
  #closing: Promise<void> | undefined;

  private constructor(dispatcher: Dispatcher<I, O>, prepared: PreparedPool, parts: PoolParts<unknown, unknown>, timeoutsAnswered: boolean) {
    this.#dispatcher = dispatcher;
    this.#prepared = prepared;
    this.#parts = parts;
    this.#timeoutsAnswered = timeoutsAnswered;
  }

  /**
   * Makes the image's memfd from `made` and starts the threads over it. Rejects as
   * `Dispatcher.create` does (an engine that did not start), with nothing left open.
   */
  static async create<I, O>(made: PreparedParts, spec: PoolThreadsSpec, threads: FilledThreadOptions): Promise<PoolThreads<I, O>> {
    const parts = assemble(made.prepared, made.filled, { module: made.module });
    try {
      const { timeoutsAnswered, ...dispatcherSpec } = spec;
      const dispatcher = await Dispatcher.create<I, O>(
        { ...dispatcherSpec, gauges: POOL_GAUGES, parts: spec.parts(shareParts(made.prepared, parts)) },
        threads,
      );
      return new PoolThreads(dispatcher, made.prepared, parts, timeoutsAnswered === true);
    } catch (err) {
      parts.image?.close();
      throw err;
    }
  }

  /** Runs one use on a thread (`Dispatcher.run`). */
  run(input: I, options?: ThreadUseOptions, transfer?: readonly TransferListItem[], hooks?: UseHooks): Promise<O> {
    return this.#dispatcher.run(input, options, transfer, hooks);
  }

  /**
   * This thread's pool over the same image, from the same prepared pool (nothing prepared again,
   * no new memfd), built at the first call with `options` (its setup, its sizing); later calls
   * return the same pool. Throws `PoolClosedError` when the first call comes after `close()`.
   */
  local<E extends object, S, C>(options: PoolOptions<S, C>): InstancePool<E, S, C> {
    if (this.#local === undefined) {
      if (this.#closing !== undefined) throw new PoolClosedError();
      const image = this.#parts.image;
      this.#local = InstancePool[FROM_PREPARED_SYNC]<E, S, C>(this.#prepared, options, {
        module: this.#parts.prepared.module,
        // Adopted: the pool never closes the memfd, which stays this object's until the threads are gone.
        image: image && MemoryImage.adopt(image.share()),
        strategy: this.#parts.strategy,
      }) as unknown as InstancePool<object, unknown, unknown>;
    }
    return this.#local as unknown as InstancePool<E, S, C>;
  }

  /** The pools' counters summed over the threads and this thread's pool, and the thread layer's. */
  stats(): { pool: PoolStats; threads: PoolThreadStats } {
    const { engine, perThread, ...threads } = this.#dispatcher.stats();
    // A use stopped with its thread never reached its pool's count: the threads' count has it (and,
    // unless the engine answers them, the uses its pool stopped too).
    const pools = poolStats(engine);
    const timeouts = this.#timeoutsAnswered ? pools.timeouts + threads.timedOut : threads.timedOut;
    let pool: PoolStats = { ...pools, timeouts, waiting: threads.queued };
    if (this.#local !== undefined) pool = addPoolStats(pool, this.#local.stats());
    return {
      pool,
      threads: { ...threads, perThread: perThread.map((t) => ({ index: t.index, busy: t.busy, stats: poolStats(t.engine) })) },
    };
  }

  /** The choices the threads' pools made (the same on every thread), and the threads'. */
  describe(): { pool: PoolDescription; threads: PoolThreadsDescription } {
    const pool = this.#dispatcher.engineDescription as PoolDescription;
    const { threads, maxQueue, grace } = this.#dispatcher.options;
    return { pool: { ...pool, max: threads }, threads: { threads, maxQueue, grace } };
  }

  /**
   * Stops taking uses and closes the threads (draining them, or with `force` stopping them), then
   * this thread's pool, then the image. Idempotent; a later `force` still forces the threads.
   */
  close(options: { force?: boolean } = {}): Promise<void> {
    const threads = this.#dispatcher.close(options);
    this.#closing ??= threads.then(async () => {
      await this.#local?.close();
      this.#parts.image?.close();
    });
    return this.#closing;
  }
}
