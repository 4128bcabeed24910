/**
 * `ThreadPool`: an `InstancePool` whose uses run on worker threads, for a user's own module. The
 * calling thread only dispatches, so a guest never stops its event loop; a guest past its deadline
 * is stopped whatever it is doing, its thread ended and replaced.
 *
 * Construction, in three steps, each where it must be (`pool/build.ts` is the pipeline):
 *
 *     1. the prepared pool (`pool/prepared-pool.ts`): the cache's, or, on a miss, made on a worker
 *        thread (analysis, pre-initialization, rewrite: guest code) under `createTimeout`, which
 *        sends back data and the compiled module; this thread stores it in the cache
 *     2. this thread assembles it: the image's one memfd, the reset strategy, once per process
 *     3. N worker threads each assemble an InstancePool from the prepared pool and what step 2 made
 *        (`pool/shared-parts.ts`: the module posted, the image shared; no preparation, no new
 *        image, no new memfd) with the module file's `setup`
 *
 * A warm ThreadPool (its prepared pool in the cache) thus prepares nothing and starts no preparing
 * thread.

 * The pool owns the image: it is closed once every thread has exited (`close()`).
 */
import type { TransferListItem } from 'node:worker_threads';
import type { MemoryImage } from '../memory/index.js';
import { announce, assemble, preparedPool, type Preparer } from '../pool/build.js';
import type { Preparation } from '../pool/preparation.js';
import { shareParts } from '../pool/shared-parts.js';
import { driveAsync } from '../pool/sync-or-async.js';
import type { PoolStats } from '../pool/stats.js';
import type { ModuleSource, PoolDescription } from '../pool/types.js';
import { Dispatcher, type ThreadStats } from './dispatcher.js';
import { fillThreadOptions, type ThreadUseOptions } from './options.js';
import type { PoolEngineParts } from './pool-engine.js';
import { POOL_GAUGES, poolStats } from './pool-stats.js';
import type { PrepareInput, PrepareParts } from './prepare-engine.js';
import { siblingModule } from './spawn.js';
import { fillThreadPoolOptions, type ThreadPoolOptions } from './thread-pool-options.js';

const PREPARE_ENGINE = siblingModule('prepare-engine', import.meta.url);
const POOL_ENGINE = siblingModule('pool-engine', import.meta.url);

/** Options of one use of a {@link ThreadPool}. */
export interface ThreadPoolUseOptions extends ThreadUseOptions {
  /** Objects of the input to move to the thread rather than copy (ArrayBuffers, MessagePorts). */
  transfer?: readonly TransferListItem[];
}

/** What {@link ThreadPool.stats} reports: the pools' counters summed over threads, and the threads'. */
export interface ThreadPoolStats extends PoolStats {
  /** The thread layer: threads, the queue (also `waiting`), hard stops, replacements. */
  threads: Omit<ThreadStats, 'engine' | 'perThread'> & {
    /** Each thread alive now: its index, whether it runs a use, its pool's counters. */
    perThread: { index: number; busy: boolean; stats: PoolStats }[];
  };
}

/** What {@link ThreadPool.describe} reports: the pools' choices (the same on every thread), and the threads'. */
export interface ThreadPoolDescription extends PoolDescription {
  threads: { threads: number; maxQueue: number; timeout: number; grace: number; createTimeout: number; filename: string };
}

/** See the module comment. `I` types a use's input, `O` its result. */
export class ThreadPool<I = unknown, O = unknown> {
  readonly #dispatcher: Dispatcher<I, O>;
  readonly #image: MemoryImage | undefined;
  readonly #describe: ThreadPoolDescription['threads'];
  #closing: Promise<void> | undefined;

  private constructor(dispatcher: Dispatcher<I, O>, image: MemoryImage | undefined, describe: ThreadPoolDescription['threads']) {
    this.#dispatcher = dispatcher;
    this.#image = image;
    this.#describe = describe;
  }

  /**
   * Prepares `source` (the module's bytes) once, or reads it from the cache (`options.cache`), and
   * starts `options.threads` threads, each with its own pool over the one image. Rejects as
   * `InstancePool.create` does, and with a `GuestTimeoutError` when the start function, the
   * initializer or a thread's start overran `options.createTimeout` (the thread doing it was ended).
   */
  static async create<I = unknown, O = unknown>(source: ModuleSource, options: ThreadPoolOptions): Promise<ThreadPool<I, O>> {
    const o = fillThreadPoolOptions(options);
    const filename = o.filename.href;
    const started = performance.now();
    const preparer = onThread(o.pool, filename, o.createTimeout);
    const { filled, prepared, module, cache } = await driveAsync(preparedPool<unknown, unknown>(source, o.pool, preparer));
    const parts = assemble(prepared, filled, { module });
    announce(cache, started);
    try {
      const engineParts: PoolEngineParts = { pool: shareParts(prepared, parts), options: o.pool, filename };
      const dispatcher = await Dispatcher.create<I, O>(
        {
          engine: POOL_ENGINE,
          parts: engineParts,
          gauges: POOL_GAUGES,
          what: `the module file ${filename} (its import, setup and first instance)`,
          startTimeout: o.createTimeout,
        },
        o.threads,
      );
      return new ThreadPool<I, O>(dispatcher, parts.image, {
        threads: o.threads.threads,
        maxQueue: o.threads.maxQueue,
        timeout: o.threads.timeout,
        grace: o.threads.grace,
        createTimeout: o.createTimeout,
        filename,
      });
    } catch (err) {
      parts.image?.close();
      throw err;
    }
  }

  /**
   * Runs one use on a thread: `input` (structured-cloneable) goes to the module file's default
   * export, its result comes back. Never throws: rejects with the use's error (the same class,
   * code and fields as on the thread), `GuestTimeoutError` (the fuel counter, or past `timeout` +
   * `grace` its thread was ended), `AbortedError`, `QueueFullError`, `AcquireTimeoutError`,
   * `ThreadExitedError` or `PoolClosedError`.
   */
  run(input: I, options?: ThreadPoolUseOptions): Promise<O> {
    if (options === undefined) return this.#dispatcher.run(input);
    const { transfer, ...use } = options;
    return this.#dispatcher.run(input, use, transfer);
  }

  /** The pools' counters summed over the threads (those that ended included, but for levels), and the threads'. */
  stats(): ThreadPoolStats {
    const { engine, perThread, ...threads } = this.#dispatcher.stats();
    return {
      ...poolStats(engine),
      // A use stopped with its thread never reached its pool's count: the threads' count has both kinds.
      timeouts: threads.timedOut,
      waiting: threads.queued,
      threads: { ...threads, perThread: perThread.map((t) => ({ index: t.index, busy: t.busy, stats: poolStats(t.engine) })) },
    };
  }

  /** The choices the pools made (the same on every thread) and the threads' options. */
  describe(): ThreadPoolDescription {
    const pool = this.#dispatcher.engineDescription as PoolDescription;
    return { ...pool, max: this.#describe.threads, threads: { ...this.#describe } };
  }

  /**
   * Stops taking uses; lets those waiting and running finish (with `force`: rejects them and ends
   * their threads, `PoolClosedError`); resolves once every thread has exited, what each held is
   * closed, and the image's memfd with it. Idempotent (a later `force` still forces).
   */
  close(options: { force?: boolean } = {}): Promise<void> {
    const closed = this.#dispatcher.close(options);
    this.#closing ??= closed.then(() => this.#image?.close());
    return this.#closing;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }
}

/**
 * Step 1 of construction on a cache miss: preparation on a thread of its own, ended past
 * `createTimeout`. The thread fills `options` itself, with the module file's `setup`.
 */
function onThread(options: PrepareInput['options'], filename: string, createTimeout: number): Preparer {
  return function* (bytes) {
    return (yield prepareOnThread({ bytes, options }, filename, createTimeout)) as Preparation;
  };
}

async function prepareOnThread(input: PrepareInput, filename: string, createTimeout: number): Promise<Preparation> {
  const what = `the module file ${filename} (its import)`;
  const parts: PrepareParts = { filename };
  const preparer = await Dispatcher.create<PrepareInput, Preparation>(
    {
      engine: PREPARE_ENGINE,
      parts,
      what,
      startTimeout: createTimeout,
      hardStopMessage: (timeout) =>
        `the module's start function or initializer did not return within ${timeout} ms (options.createTimeout); ` +
        'the worker thread preparing it was stopped',
    },
    fillThreadOptions({ threads: 1 }),
  );
  try {
    return await preparer.run(input, { timeout: createTimeout });
  } finally {
    await preparer.close({ force: true });
  }
}
