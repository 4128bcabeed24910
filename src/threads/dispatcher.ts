/**
 * The dispatcher: uses of data, run on N worker threads while the calling thread only hands them out
 * and hears back, so a guest never stops the caller's event loop. Engine-agnostic: each thread runs
 * the engine module it is given (see `engine.ts`), built from parts prepared once.
 *
 * What it owns: which thread runs which use (one at a time per thread, the rest wait in a bounded
 * FIFO: `maxQueue`, then `QueueFullError`), the per-use `AbortSignal` (waiting: the use never runs;
 * running: its thread is stopped), the hard stop (a use still running `grace` ms after its deadline
 * ends its thread: `GuestTimeoutError`), the replacement of a thread that ended for any reason while
 * the other threads carry on, `close()` (drain, or `force`), and stats summed over threads.
 *
 *     dispatcher: open ──close()──► closing ──queue empty, threads idle, each closed──► closed
 *                            └─close({ force })─► waiting uses and running ones rejected, threads stopped
 *
 *     a use: queued ──a thread is free──► running ──done──► settled
 *              │ aborted / acquireTimeout   │ deadline + grace, aborted, force: thread stopped
 *              ▼                            ▼ (the thread is replaced unless the pool closes)
 *            settled                      settled
 *
 * A thread that ends unexpectedly is replaced at once. One that fails to start (not at `create`,
 * which rejects instead) is retried with a growing delay; while no thread is alive the waiting uses
 * are rejected with the start's error rather than left to wait for ever.
 */
import type { TransferListItem } from 'node:worker_threads';
import { knownErrorClasses, type ErrorClass } from '../error-transport.js';
import { AbortedError, AcquireTimeoutError, GuestTimeoutError, PoolClosedError, QueueFullError } from '../errors.js';
import type { EngineStats } from './engine.js';
import { fillThreadUseOptions, type FilledThreadOptions, type FilledThreadUseOptions, type ThreadUseOptions } from './options.js';
import { addInto, unflatten, type FlatStats } from './stats-board.js';
import { TaskQueue } from './task-queue.js';
import { deadlineTimer } from './timer.js';
import { WorkerThread, type Task, type ThreadEvents, type ThreadSpec, type UseHooks } from './thread.js';

/** What a dispatcher runs: the engine, its parts, and what to know about it. */
export interface DispatcherSpec {
  /** The engine module (see `engine.ts`). */
  engine: URL;
  /**
   * The built parts every thread's engine is made from. Structured-cloneable; a SharedArrayBuffer
   * or a `WebAssembly.Module` in them is shared by the threads, not copied.
   */
  parts: unknown;
  /** Error classes beyond `errors.ts` that a use's error may be (a sandbox's own), rebuilt as themselves. */
  errorClasses?: readonly ErrorClass[];
  /** Engine stats that are levels (instances alive now) rather than counts: not kept after a thread ends. */
  gauges?: readonly string[];
  /** What the engine is, for messages: `the module's setup`. */
  what?: string;
  /** Ms an engine may take to start on a thread before the thread is stopped. Default: no limit. */
  startTimeout?: number;
  /** Ms a thread asked to close may take to close its engine before it is stopped. Default 5000. */
  closePatience?: number;
  /** The message of a hard stop's `GuestTimeoutError` (a use past `timeout` + `grace`), when the default does not say enough. */
  hardStopMessage?: (timeout: number, grace: number) => string;
}

/** A snapshot of a dispatcher's counters. Counts are since it was created. */
export interface ThreadStats {
  /** Threads ready to run uses now (not starting, not ended). */
  threads: number;
  /** Of those, running a use now. */
  busy: number;
  /** Uses waiting for a thread now. */
  queued: number;
  /** Uses that returned a result. */
  completed: number;
  /** Uses that ended with an error, of any kind (those below included). */
  failed: number;
  /** Uses that ran past their deadline (stopped by the engine itself, or with their thread). */
  timedOut: number;
  /** Uses aborted by their signal (waiting or running). */
  aborted: number;
  /** Uses refused because the queue was full. */
  refused: number;
  /** Threads started to replace one that ended: a hard stop, an abort, or a thread that died. */
  replaced: number;
  /** The engines' counters summed over every thread (those that ended included, but for levels). */
  engine: EngineStats;
  /** Each thread alive now: its index, whether busy, its engine's counters. */
  perThread: { index: number; busy: boolean; engine: EngineStats }[];
}

/** A use as the dispatcher tracks it. */
interface Use extends Task {
  thread: WorkerThread | undefined;
  signal: AbortSignal | undefined;
  onAbort: (() => void) | undefined;
  waitTimer: NodeJS.Timeout | undefined;
}

const MAX_RETRY_DELAY = 1000;

/** Worker threads running an engine's uses; see the module comment. */
export class Dispatcher<I = unknown, O = unknown> {
  readonly #options: FilledThreadOptions;
  readonly #spec: ThreadSpec;
  readonly #closePatience: number;
  readonly #gauges: ReadonlySet<string>;
  readonly #threads: (WorkerThread | undefined)[];
  /** Threads that will run no more uses but have not exited yet (replaced already, unless closing). */
  readonly #ending = new Set<WorkerThread>();
  /** Threads with nothing to do. */
  readonly #idle: WorkerThread[] = [];
  readonly #queue = new TaskQueue<Use>();
  #state: 'creating' | 'open' | 'closing' | 'closed' = 'creating';
  #forced = false;
  #draining = false;
  #closing: Promise<void> | undefined;
  #closed!: () => void;
  #nextId = 0;
  #startFailures = 0;
  readonly #retryTimers = new Set<NodeJS.Timeout>();
  readonly #counters = { completed: 0, failed: 0, timedOut: 0, aborted: 0, refused: 0, replaced: 0 };
  /** Counters of threads that have ended. */
  readonly #retired: FlatStats = {};
  readonly #defaultUse: FilledThreadUseOptions;
  readonly #events: ThreadEvents = {
    idle: (thread) => this.#offer(thread),
    ending: (thread, expected) => this.#threadEnding(thread, expected),
    exited: (thread) => this.#exited(thread),
  };

  private constructor(spec: DispatcherSpec, options: FilledThreadOptions) {
    this.#options = options;
    this.#spec = {
      engine: spec.engine,
      parts: spec.parts,
      errorClasses: spec.errorClasses ? knownErrorClasses(spec.errorClasses) : undefined,
      grace: options.grace,
      startTimeout: spec.startTimeout ?? Infinity,
      what: spec.what ?? 'the engine',
      hardStopMessage: spec.hardStopMessage,
    };
    this.#closePatience = spec.closePatience ?? 5000;
    this.#gauges = new Set(spec.gauges ?? []);
    this.#threads = new Array<WorkerThread | undefined>(options.threads).fill(undefined);
    this.#defaultUse = { timeout: options.timeout, acquireTimeout: options.acquireTimeout, signal: undefined };
  }

  /**
   * Starts `options.threads` threads and resolves once every engine is ready. Rejects with the
   * error of an engine that failed to start (the same class as on its thread; a start that overran
   * `spec.startTimeout` is a `GuestTimeoutError` that says so), after stopping every thread.
   */
  static async create<I = unknown, O = unknown>(spec: DispatcherSpec, options: FilledThreadOptions): Promise<Dispatcher<I, O>> {
    const dispatcher = new Dispatcher<I, O>(spec, options);
    await dispatcher.#start();
    return dispatcher;
  }

  /** The options in force. */
  get options(): Readonly<FilledThreadOptions> {
    return this.#options;
  }

  /** What the engine said of itself (`Engine.describe`), from its first thread. */
  get engineDescription(): unknown {
    return this.#threads.find((thread) => thread?.started)?.description;
  }

  /**
   * Runs one use on a thread: `input` goes to the engine, its result comes back. Never throws;
   * rejects with the engine's error (as its own class), `QueueFullError`, `AbortedError`,
   * `AcquireTimeoutError`, `GuestTimeoutError` (hard stop), `ThreadExitedError` or `PoolClosedError`.
   * `transfer` lists objects of `input` to move rather than copy; `hooks` hear of the use while it
   * runs (see {@link UseHooks}).
   */
  run(input: I, options?: ThreadUseOptions, transfer?: readonly TransferListItem[], hooks?: UseHooks): Promise<O> {
    let use: FilledThreadUseOptions;
    try {
      use = options === undefined ? this.#defaultUse : fillThreadUseOptions(options, this.#options);
    } catch (err) {
      return Promise.reject(err);
    }
    if (this.#state !== 'open') return Promise.reject(new PoolClosedError());
    const signal = use.signal;
    if (signal?.aborted) {
      this.#counters.aborted++;
      this.#counters.failed++;
      return Promise.reject(new AbortedError(signal.reason, 'the use was aborted before it started; it did not run'));
    }
    const thread = this.#idle.pop();
    if (thread === undefined && this.#queue.size >= this.#options.maxQueue) {
      this.#counters.refused++;
      this.#counters.failed++;
      return Promise.reject(new QueueFullError(this.#options.maxQueue, this.#options.threads));
    }
    return new Promise<O>((resolve, reject) => {
      const task: Use = {
        id: this.#nextId++,
        input,
        transfer,
        timeout: use.timeout,
        state: 'queued',
        hooks,
        thread: undefined,
        signal,
        onAbort: undefined,
        waitTimer: undefined,
        resolve: (value) => {
          this.#settled(task);
          this.#counters.completed++;
          resolve(value as O);
        },
        reject: (error) => {
          this.#settled(task);
          this.#counters.failed++;
          if (error instanceof GuestTimeoutError) this.#counters.timedOut++;
          else if (error instanceof AbortedError) this.#counters.aborted++;
          reject(error);
        },
      };
      if (signal !== undefined) {
        task.onAbort = () => this.#abort(task);
        signal.addEventListener('abort', task.onAbort, { once: true });
      }
      if (thread !== undefined) this.#dispatch(thread, task);
      else this.#enqueue(task, use.acquireTimeout);
    });
  }

  /** The counters now; see {@link ThreadStats}. */
  stats(): ThreadStats {
    const engine: FlatStats = { ...this.#retired };
    const perThread: ThreadStats['perThread'] = [];
    let threads = 0;
    let busy = 0;
    for (const thread of this.#threads) {
      if (thread === undefined || (thread.state !== 'idle' && thread.state !== 'busy')) continue;
      threads++;
      if (thread.state === 'busy') busy++;
      const flat = thread.board.read(thread.statsKeys, thread.answered);
      addInto(engine, flat);
      perThread.push({ index: thread.index, busy: thread.state === 'busy', engine: unflatten(flat) });
    }
    // Ended threads not yet retired (they retire when they exit): their counts, not their levels.
    for (const thread of this.#ending) if (thread.started) addInto(engine, thread.board.read(thread.statsKeys), this.#gauges);
    return { threads, busy, queued: this.#queue.size, ...this.#counters, engine: unflatten(engine), perThread };
  }

  /**
   * Stops taking uses (new ones reject with `PoolClosedError`), lets the waiting and running ones
   * finish, closes every thread's engine and resolves once every thread has exited and the
   * descriptors they held are closed. With `force`, waiting uses are rejected and running ones
   * stopped with their threads (`PoolClosedError`). Idempotent; a forced call after a draining one
   * forces it.
   */
  close(options: { force?: boolean } = {}): Promise<void> {
    if (this.#closing === undefined) {
      this.#state = 'closing';
      this.#closing = new Promise((resolve) => (this.#closed = resolve));
      for (const timer of this.#retryTimers) clearTimeout(timer);
      this.#retryTimers.clear();
    }
    if (options.force === true) this.#force();
    else this.#maybeDrained();
    return this.#closing;
  }

  async #start(): Promise<void> {
    const threads = this.#threads.map((_, index) => this.#startThread(index));
    const started = await Promise.allSettled(threads.map((thread) => thread.ready));
    const failure = started.find((result) => result.status === 'rejected');
    if (failure !== undefined) {
      this.#state = 'closing';
      this.#forced = true;
      for (const thread of threads) thread.stop(undefined, true);
      await Promise.all(threads.map((thread) => thread.exited));
      this.#state = 'closed';
      throw failure.reason;
    }
    this.#state = 'open';
    for (const thread of threads) {
      if (this.#threads[thread.index] === thread) this.#offer(thread);
      else {
        // It died after it was ready, while others were still starting: replace it now.
        this.#counters.replaced++;
        this.#startThread(thread.index);
      }
    }
  }

  #startThread(index: number): WorkerThread {
    const thread = new WorkerThread(index, this.#spec, this.#events);
    this.#threads[index] = thread;
    if (this.#state !== 'creating') {
      thread.ready.then(
        () => {
          this.#startFailures = 0;
          this.#offer(thread);
        },
        (error: unknown) => this.#startFailed(index, error),
      );
    }
    return thread;
  }

  /** A ready thread takes the next waiting use, or waits for one. */
  #offer(thread: WorkerThread): void {
    if (thread.state !== 'idle') return;
    if (this.#forced || this.#state === 'closed') {
      thread.stop(undefined, true);
      return;
    }
    const next = this.#queue.shift();
    if (next !== undefined) this.#dispatch(thread, next);
    else {
      this.#idle.push(thread);
      this.#maybeDrained();
    }
  }

  #dispatch(thread: WorkerThread, task: Use): void {
    if (task.waitTimer !== undefined) clearTimeout(task.waitTimer);
    task.waitTimer = undefined;
    task.thread = thread;
    thread.run(task);
  }

  #enqueue(task: Use, acquireTimeout: number): void {
    this.#queue.push(task);
    // A use waiting for a thread that is yet to be retried keeps the process alive until the retry.
    for (const timer of this.#retryTimers) timer.ref();
    task.waitTimer = deadlineTimer(() => {
      if (task.state !== 'queued') return;
      this.#leaveQueue(task);
      const threads = this.#options.threads;
      task.reject(
        new AcquireTimeoutError(
          acquireTimeout,
          threads,
          `no thread became free within ${acquireTimeout} ms (all ${threads} busy); raise threads or the acquire timeout`,
        ),
      );
    }, acquireTimeout);
  }

  #leaveQueue(task: Use): void {
    task.state = 'settled';
    this.#queue.left();
  }

  #abort(task: Use): void {
    const reason = task.signal?.reason;
    if (task.state === 'queued') {
      this.#leaveQueue(task);
      task.reject(new AbortedError(reason, 'the use was aborted while it waited for a thread; it did not run'));
      this.#maybeDrained();
    } else if (task.state === 'running') {
      task.thread?.stop(new AbortedError(reason, 'the use was aborted while it ran; its thread was stopped and replaced'));
    }
  }

  #settled(task: Use): void {
    task.state = 'settled';
    if (task.onAbort !== undefined) task.signal?.removeEventListener('abort', task.onAbort);
    if (task.waitTimer !== undefined) clearTimeout(task.waitTimer);
  }

  #threadEnding(thread: WorkerThread, expected: boolean): void {
    const idle = this.#idle.indexOf(thread);
    if (idle >= 0) this.#idle.splice(idle, 1);
    if (this.#threads[thread.index] === thread) this.#threads[thread.index] = undefined;
    this.#ending.add(thread);
    // A thread that never started is retried by #startFailed, with a delay; one that ran is replaced now.
    if (!expected && thread.started && this.#wantsThreads()) {
      this.#counters.replaced++;
      this.#startThread(thread.index);
    }
  }

  #exited(thread: WorkerThread): void {
    this.#ending.delete(thread);
    if (thread.started) addInto(this.#retired, thread.board.read(thread.statsKeys), this.#gauges);
    this.#maybeDrained();
  }

  /** Whether threads are still needed: open, or draining uses that still wait. */
  #wantsThreads(): boolean {
    return this.#state === 'open' || (this.#state === 'closing' && !this.#forced && this.#queue.size > 0);
  }

  #startFailed(index: number, error: unknown): void {
    if (!this.#wantsThreads()) {
      this.#maybeDrained();
      return;
    }
    this.#startFailures++;
    // With no thread left to run them, the waiting uses would wait for ever: they get the reason.
    const alive = this.#threads.some((thread) => thread?.started && (thread.state === 'idle' || thread.state === 'busy'));
    if (!alive) for (const task of this.#queue.drain()) task.reject(error);
    const delay = Math.min(MAX_RETRY_DELAY, 10 * 2 ** this.#startFailures);
    const timer: NodeJS.Timeout = setTimeout(() => {
      this.#retryTimers.delete(timer);
      if (this.#wantsThreads() && this.#threads[index] === undefined) {
        this.#counters.replaced++;
        this.#startThread(index);
      }
    }, delay);
    if (this.#queue.size === 0) timer.unref();
    this.#retryTimers.add(timer);
  }

  #force(): void {
    if (this.#forced) return;
    this.#forced = true;
    for (const task of this.#queue.drain()) task.reject(new PoolClosedError('the pool was closed before this use started; it did not run'));
    for (const thread of this.#threads) {
      thread?.stop(new PoolClosedError('the pool was closed with force while this use ran; its thread was stopped'), true);
    }
    void this.#allExited().then(() => this.#finish());
  }

  /** While closing without force: once nothing waits or runs, closes every thread. */
  #maybeDrained(): void {
    if (this.#state !== 'closing' || this.#forced || this.#draining || this.#queue.size > 0) return;
    if (this.#threads.some((thread) => thread?.state === 'busy')) return;
    this.#draining = true;
    for (const thread of this.#threads) void thread?.close(this.#closePatience);
    void this.#allExited().then(() => this.#finish());
  }

  async #allExited(): Promise<void> {
    // A replacement may start while others exit (a use still waited); wait for it too.
    for (;;) {
      const live = [...this.#threads.filter((thread): thread is WorkerThread => thread !== undefined), ...this.#ending];
      if (live.length === 0) return;
      await Promise.all(live.map((thread) => thread.exited));
    }
  }

  #finish(): void {
    if (this.#state === 'closed') return;
    this.#state = 'closed';
    this.#idle.length = 0;
    this.#closed();
  }
}

export type { UseHooks } from './thread.js';
