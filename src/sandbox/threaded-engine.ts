/**
 * A sandbox's uses on worker threads: the {@link Engine} whose promise forms dispatch each request
 * to a thread (`threads/pool-threads.ts`: N threads, each with its own pool over the process's one
 * image), and whose `Sync` forms run on this thread, on a pool built at the first of them from the
 * same prepared parts. A request crosses as data (see `engine.ts`), with only what the thread's
 * pool needs of the use's options (its deadline); the signal, the wait and the hard stop are the
 * thread layer's:
 *
 *     eval(code) ─► ThreadedEngine.run ─► dispatcher ─► thread: { request, timeout } ─► PoolEngine.run
 *                      (signal, acquireTimeout, deadline + grace: the hard stop)          │
 *                   ◄──────────── result, or the error as its own class ◄────────────────┘
 *     evalSync(code) ─► ThreadedEngine.runSync ─► this thread's PoolEngine (built once)
 *
 * Each kind's engine module (`quickjs/thread-engine.ts`, `sqlite/thread-engine.ts`) builds the
 * thread's side with {@link threadEngine}.
 */
import type { PoolStats, UseOptions } from '../pool/index.js';
import type { Engine as ThreadSideEngine } from '../threads/engine.js';
import type { ThreadUseOptions } from '../threads/options.js';
import { publishedPoolStats } from '../threads/pool-stats.js';
import type { PoolThreads, PoolThreadStats } from '../threads/pool-threads.js';
import type { Engine, PoolEngine, SandboxDescription } from './engine.js';

/** One use as a thread receives it: the request, and the pool's deadline for it (ms), if any. */
export interface ThreadRequest<Request> {
  readonly request: Request;
  readonly timeout?: number;
}

/** See the module comment. */
export class ThreadedEngine<Request, Result> implements Engine<Request, Result> {
  readonly #threads: PoolThreads<ThreadRequest<Request>, Result>;
  readonly #makeLocal: () => Engine<Request, Result>;
  #local: Engine<Request, Result> | undefined;

  /**
   * @param threads the threads, running the kind's engine module
   * @param local makes the engine of the `Sync` forms on this thread (over `threads.local(…)`), at the first of them
   */
  constructor(threads: PoolThreads<ThreadRequest<Request>, Result>, local: () => Engine<Request, Result>) {
    this.#threads = threads;
    this.#makeLocal = local;
  }

  run(request: Request, use: UseOptions, deadline: number): Promise<Result> {
    const input: ThreadRequest<Request> = use.timeout === undefined ? { request } : { request, timeout: use.timeout };
    const options: ThreadUseOptions = { timeout: deadline };
    if (use.signal !== undefined) options.signal = use.signal;
    if (use.acquireTimeout !== undefined) options.acquireTimeout = use.acquireTimeout;
    return this.#threads.run(input, options);
  }

  runSync(request: Request, use: UseOptions): Result {
    this.#local ??= this.#makeLocal();
    return this.#local.runSync(request, use);
  }

  stats(): PoolStats {
    return this.#threads.stats().pool;
  }

  threadStats(): PoolThreadStats {
    return this.#threads.stats().threads;
  }

  describe(): SandboxDescription {
    const { pool, threads } = this.#threads.describe();
    return { ...pool, threads };
  }

  close(options?: { force?: boolean }): Promise<void> {
    return this.#threads.close(options);
  }
}

/**
 * The thread's side: `engine` (a {@link PoolEngine} over the thread's pool, one instance) as the
 * thread layer runs it, one {@link ThreadRequest} at a time, its pool's counters published.
 */
export function threadEngine<Request, Result, Context>(
  engine: PoolEngine<Request, Result, Context>,
): ThreadSideEngine<ThreadRequest<Request>, Result> {
  const NO_DEADLINE = {};
  return {
    run: (input) => engine.run(input.request, input.timeout === undefined ? NO_DEADLINE : { timeout: input.timeout }),
    stats: () => publishedPoolStats(engine.stats()),
    describe: () => engine.describe(),
    close: () => engine.close(),
  };
}
