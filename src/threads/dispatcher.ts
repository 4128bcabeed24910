/**
 * The dispatcher: uses of data, run on N worker threads while the calling thread only hands them out
 * and hears back, so a guest never stops the caller's event loop. Engine-agnostic: each thread runs
 * the engine module it is given (see `engine.ts`), built from parts prepared once.
 *
 * What it owns: which thread runs which use (the rest wait in a bounded FIFO: `maxQueue`, then
 * `QueueFullError`), the per-use `AbortSignal` (waiting: the use never runs; running: its thread is
 * stopped), the hard stop (a use still running `grace` ms after its deadline ends its thread:
 * `GuestTimeoutError`), the replacement of a thread that ended for any reason while the other
 * threads carry on, `close()` (drain, or `force`), and stats summed over threads.
 *
 * Which thread: an idle one when there is one. When every thread is busy, a use is posted behind a
 * thread's running use, up to {@link WINDOW} uses a thread (the window, `thread.ts`), so that under
 * load a worker finds its next use waiting when it answers one, instead of sleeping until the main
 * thread hears the answer and posts again (on the 2-vCPU development VM each such wake costs the
 * waker 12–17 µs, and a use one in flight per thread paid two; see BENCHMARKS.md). Past the windows,
 * uses wait here. A use posted behind another has not started: it counts as waiting (`maxQueue`,
 * `stats().queued`), and its `acquireTimeout` or its signal takes it back (`claims.ts`: the worker
 * then never starts it). So that no use waits behind a long one while a thread is free, a thread
 * that falls idle with nothing queued takes back a use posted on a busy thread and runs it. A use
 * whose `transfer` list must move (more than ArrayBuffers of {@link COPY_BEHIND_LIMIT} bytes) is
 * only run on an idle thread: what was moved could not be taken back.
 *
 *     dispatcher: open ──close()──► closing ──queue empty, threads idle, each closed──► closed
 *                            └─close({ force })─► waiting uses and running ones rejected, threads stopped
 *
 *     a use: queued ──a thread has room──► posted ──the use before it answered──► running ──done──► settled
 *              │  ▲  (an idle thread: running at once)  │                           │ deadline + grace, aborted,
 *              │  └── taken back: its thread ended, ────┘                           │ force: thread stopped
 *              │      or a thread fell idle                                         ▼ (and replaced unless closing)
 *              └── aborted / acquireTimeout (queued or posted: it never ran) ──► settled
 *
 * A thread that ends unexpectedly is replaced at once; the uses posted behind its running one go
 * back to the front of the queue, in order, to run on another. One that fails to start (not at
 * `create`, which rejects instead) is retried with a growing delay; while no thread is alive the
 * waiting uses are rejected with the start's error rather than left to wait for ever.
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
  /** Uses a thread holds at most, the one it runs included (see the module comment). Default {@link WINDOW}; 1: none posted behind. */
  window?: number;
}

/** A snapshot of a dispatcher's counters. Counts are since it was created. */
export interface ThreadStats {
  /** Threads ready to run uses now (not starting, not ended). */
  threads: number;
  /** Of those, running a use now. */
  busy: number;
  /** Uses waiting now: for a thread, or posted behind a thread's running use (not yet started). */
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
  /** The thread it was last handed to (it runs there, or is posted there, when `state` says so). */
  thread: WorkerThread | undefined;
  /** Whether it may be posted behind a running use (nothing to move, or only ArrayBuffers small enough to copy). */
  readonly mayWait: boolean;
  signal: AbortSignal | undefined;
  onAbort: (() => void) | undefined;
  waitTimer: NodeJS.Timeout | undefined;
}

/**
 * Uses a thread holds at most by default: the one it runs and three posted behind it. A worker
 * sleeps when it has answered every use it holds before the main thread's next post, so the window
 * must cover the main thread's reaction time: a server's main thread, busy with HTTP, hears an
 * answer tens of µs late. Measured on the 2-vCPU development VM, quiet (BENCHMARKS.md, "The
 * window"): the echo of bench/threads-transport.ts with 8 clients on 2 threads, 32 µs a use with a
 * window of 1, 12 with 2, 7.4 with 4, 8.0 with 8; `cowpool serve --threads 2` under wrk, about
 * 28 000 requests/s with 1, 35 000 with 2, 43 000 with 4 or 8 (medians of rounds). Four takes most of
 * the gain while holding few uses on a thread that may turn out slow (an idle thread takes them
 * back, one at a time).
 */
export const WINDOW = 4;

/**
 * Bytes of ArrayBuffers in a use's `transfer` list up to which it may still be posted behind a
 * running use, copied rather than moved (a copy can be taken back and posted elsewhere). A request
 * body of a few KiB copies in well under a µs; larger ones, and other transferables (a
 * MessagePort), wait for an idle thread and move.
 */
export const COPY_BEHIND_LIMIT = 64 * 1024;

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
  readonly #window: number;
  readonly #events: ThreadEvents = {
    answered: (thread) => this.#offer(thread),
    returned: (_thread, tasks) => this.#requeue(tasks as Use[]),
    ending: (thread, expected, returned) => this.#threadEnding(thread, expected, returned as Use[]),
    exited: (thread) => this.#exited(thread),
  };

  private constructor(spec: DispatcherSpec, options: FilledThreadOptions) {
    this.#options = options;
    this.#window = spec.window ?? WINDOW;
    this.#spec = {
      engine: spec.engine,
      parts: spec.parts,
      errorClasses: spec.errorClasses ? knownErrorClasses(spec.errorClasses) : undefined,
      grace: options.grace,
      startTimeout: spec.startTimeout ?? Infinity,
      what: spec.what ?? 'the engine',
      hardStopMessage: spec.hardStopMessage,
      window: this.#window,
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
    if (thread === undefined && this.#options.maxQueue !== Infinity && this.#waiting() >= this.#options.maxQueue) {
      this.#counters.refused++;
      this.#counters.failed++;
      return Promise.reject(new QueueFullError(this.#options.maxQueue, { threads: this.#options.threads }));
    }
    return new Promise<O>((resolve, reject) => {
      const task: Use = {
        id: this.#nextId++,
        input,
        transfer,
        mayWait: transfer === undefined || transfer.length === 0 || copiable(transfer),
        timeout: use.timeout,
        state: 'queued',
        hooks,
        thread: undefined,
        signal,
        onAbort: undefined,
        waitTimer: undefined,
        began: () => {
          if (task.waitTimer !== undefined) clearTimeout(task.waitTimer);
          task.waitTimer = undefined;
        },
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
      if (thread !== undefined) {
        if (!this.#dispatch(thread, task)) this.#offer(thread);
        return;
      }
      this.#waitAtMost(task, use.acquireTimeout);
      const behind = task.mayWait ? this.#roomBehind() : undefined;
      if (behind !== undefined) this.#dispatch(behind, task);
      else this.#enqueue(task);
    });
  }

  /** The counters now; see {@link ThreadStats}. */
  stats(): ThreadStats {
    const engine: FlatStats = { ...this.#retired };
    const perThread: ThreadStats['perThread'] = [];
    let threads = 0;
    let busy = 0;
    let queued = this.#queue.size;
    for (const thread of this.#threads) {
      if (thread === undefined || (thread.state !== 'idle' && thread.state !== 'busy')) continue;
      threads++;
      if (thread.state === 'busy') busy++;
      queued += thread.posted;
      const flat = thread.board.read(thread.statsKeys, thread.answered);
      addInto(engine, flat);
      perThread.push({ index: thread.index, busy: thread.state === 'busy', engine: unflatten(flat) });
    }
    // Ended threads not yet retired (they retire when they exit): their counts, not their levels.
    for (const thread of this.#ending) if (thread.started) addInto(engine, thread.board.read(thread.statsKeys), this.#gauges);
    return { threads, busy, queued, ...this.#counters, engine: unflatten(engine), perThread };
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

  /**
   * A thread with room (it became ready, answered a use, or gave one back) takes waiting uses: an
   * idle one the next as its running use, then, while no other thread is idle, more posted behind
   * it up to its window. An idle thread with nothing queued takes back a use posted behind another
   * thread's running one, if that worker has not started it (a use must not wait behind a long one
   * while a thread is free), or waits for one.
   */
  #offer(thread: WorkerThread): void {
    if (!thread.room) return;
    if (this.#forced || this.#state === 'closed') {
      if (thread.state === 'idle') thread.stop(undefined, true);
      return;
    }
    while (thread.state === 'idle') {
      const next = this.#queue.shift() ?? this.#takeBackPosted();
      if (next === undefined) {
        this.#idle.push(thread);
        this.#maybeDrained();
        return;
      }
      this.#dispatch(thread, next);
    }
    while (thread.room && this.#idle.length === 0 && this.#queue.peek()?.mayWait === true) this.#dispatch(thread, this.#queue.shift()!);
  }

  /** Hands `task` to `thread` (which has room); false when its input could not be sent (it is rejected). */
  #dispatch(thread: WorkerThread, task: Use): boolean {
    task.thread = thread;
    return thread.run(task);
  }

  /** The busy thread holding the fewest uses, if one has room behind its running use. */
  #roomBehind(): WorkerThread | undefined {
    let best: WorkerThread | undefined;
    for (const thread of this.#threads) {
      if (thread === undefined || thread.state !== 'busy' || !thread.room) continue;
      if (best === undefined || thread.load < best.load) best = thread;
    }
    return best;
  }

  /** A use posted behind a busy thread's running one, taken back for an idle thread; undefined if none could be. */
  #takeBackPosted(): Use | undefined {
    for (const thread of this.#threads) {
      if (thread === undefined || thread.posted === 0) continue;
      const task = thread.takeBack() as Use | undefined;
      if (task !== undefined) return task;
    }
    return undefined;
  }

  /** Uses waiting: queued here, or posted behind a thread's running use. */
  #waiting(): number {
    let waiting = this.#queue.size;
    for (const thread of this.#threads) if (thread !== undefined) waiting += thread.posted;
    return waiting;
  }

  #enqueue(task: Use): void {
    this.#queue.push(task);
    // A use waiting for a thread that is yet to be retried keeps the process alive until the retry.
    for (const timer of this.#retryTimers) timer.ref();
  }

  /**
   * Uses taken back unstarted (their thread ended, or gave them back) wait again, first and in
   * order, and go to the threads that have room. After a forced close they are rejected instead.
   */
  #requeue(tasks: Use[]): void {
    if (tasks.length === 0) return;
    if (this.#forced) {
      for (const task of tasks) task.reject(new PoolClosedError('the pool was closed before this use started; it did not run'));
      return;
    }
    for (const task of tasks) task.state = 'queued';
    this.#queue.unshift(tasks);
    for (const timer of this.#retryTimers) timer.ref();
    for (let thread = this.#idle.pop(); thread !== undefined; thread = this.#idle.pop()) {
      this.#offer(thread);
      if (this.#queue.size === 0) break;
    }
    for (let thread = this.#roomBehind(); thread !== undefined && this.#queue.peek()?.mayWait === true; thread = this.#roomBehind()) {
      this.#dispatch(thread, this.#queue.shift()!);
    }
  }

  /** A waiting use (queued or posted) that has not started within `acquireTimeout` ms is taken back and rejected. */
  #waitAtMost(task: Use, acquireTimeout: number): void {
    task.waitTimer = deadlineTimer(() => {
      task.waitTimer = undefined;
      const thread = task.thread;
      if (task.state === 'queued') this.#leaveQueue(task);
      // Posted: unless the worker has just started it (then it did not wait too long after all).
      else if (task.state !== 'posted' || thread?.takeBack(task) === undefined) return;
      const threads = this.#options.threads;
      task.reject(
        new AcquireTimeoutError(
          acquireTimeout,
          threads,
          `no thread became free within ${acquireTimeout} ms (all ${threads} busy); raise threads or the acquire timeout`,
        ),
      );
      if (thread !== undefined) this.#offer(thread);
      this.#maybeDrained();
    }, acquireTimeout);
  }

  #leaveQueue(task: Use): void {
    task.state = 'settled';
    this.#queue.left();
  }

  #abort(task: Use): void {
    const reason = task.signal?.reason;
    const thread = task.thread;
    const ran = () => new AbortedError(reason, 'the use was aborted while it ran; its thread was stopped and replaced');
    if (task.state === 'queued') {
      this.#leaveQueue(task);
      task.reject(new AbortedError(reason, 'the use was aborted while it waited for a thread; it did not run'));
      this.#maybeDrained();
    } else if (task.state === 'posted' && thread !== undefined) {
      if (thread.takeBack(task) === undefined) {
        // The worker has started it (the use before it has just finished): it runs, and is stopped as it does.
        thread.stopUse(task, ran());
        return;
      }
      task.reject(new AbortedError(reason, 'the use was aborted while it waited for a thread; it did not run'));
      this.#offer(thread);
      this.#maybeDrained();
    } else if (task.state === 'running') thread?.stopUse(task, ran());
  }

  #settled(task: Use): void {
    task.state = 'settled';
    if (task.onAbort !== undefined) task.signal?.removeEventListener('abort', task.onAbort);
    if (task.waitTimer !== undefined) clearTimeout(task.waitTimer);
  }

  #threadEnding(thread: WorkerThread, expected: boolean, returned: Use[]): void {
    const idle = this.#idle.indexOf(thread);
    if (idle >= 0) this.#idle.splice(idle, 1);
    if (this.#threads[thread.index] === thread) this.#threads[thread.index] = undefined;
    this.#ending.add(thread);
    // The uses posted behind its running one never ran: they run on another thread (or its replacement).
    this.#requeue(returned);
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

/** Whether a `transfer` list holds only ArrayBuffers, of {@link COPY_BEHIND_LIMIT} bytes at most in all: copied when posted behind. */
function copiable(transfer: readonly TransferListItem[]): boolean {
  let bytes = 0;
  for (const item of transfer) {
    if (!(item instanceof ArrayBuffer)) return false;
    bytes += item.byteLength;
  }
  return bytes <= COPY_BEHIND_LIMIT;
}
