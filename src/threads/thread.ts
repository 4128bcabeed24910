/**
 * One worker thread as the dispatcher sees it: its start, the one use it runs at a time, the hard
 * stop, and its end, after which the descriptors it held are closed (its fd ledger). The dispatcher
 * decides what runs where and when a thread is replaced; this file only keeps one thread's states:
 *
 *     starting ──ready──► idle ◄──done──┐
 *        │                 │ run()      │
 *        │                 ▼            │
 *        │               busy ──────────┘
 *        │                 │ stop(reason): deadline + grace passed, aborted, closed with force
 *        │                 ▼
 *        └──failed──► stopping ──exit──► exited (ledger closed)
 *
 * A stop rejects the use at once with its reason and tells the dispatcher (`ending`), which can
 * replace the thread without waiting for the exit: `terminate()` takes some ms, and a thread blocked
 * in a system call (a read that never returns) ends only when the call does. Any exit, asked for or
 * not (an uncaught error in the worker, `process.exit`, out of memory), ends in `exited` with the
 * ledger closed and the dispatcher told; one not asked for rejects the use with `ThreadExitedError`.
 *
 * One rule about ending a thread: never while it loads its native layer. Terminating a worker while
 * koffi's addon registers in it aborts the whole process (node-addon-api turns the failed
 * `napi_throw` of a terminating environment into a fatal error; reproduced here in 1 of a few
 * dozen terminates of workers loading koffi). A worker flags in shared memory once the native layer
 * is loaded, which happens before any guest code runs there; a stop that comes earlier waits for the
 * flag (some ms), then terminates. Terminating during koffi calls is safe (tested).
 */
import type { TransferListItem, Worker } from 'node:worker_threads';
import { deserializeError, type ErrorClass } from '../error-transport.js';
import { GuestTimeoutError, InternalError, InvalidArgumentError, ThreadExitedError } from '../errors.js';
import { sharePagemap } from '../pagemap/support.js';
import { FdLedger } from '../sys/index.js';
import type { FromWorker, WorkerInit } from './protocol.js';
import { siblingModule, spawnWorker } from './spawn.js';
import { StatsBoard } from './stats-board.js';
import { deadlineTimer } from './timer.js';
import { mainEnd, type MainEnd } from './transport.js';

/** The worker entry every thread starts on. */
const WORKER_ENTRY = siblingModule('worker', import.meta.url);

/** A use as the dispatcher tracks it. */
export interface Task {
  readonly id: number;
  readonly input: unknown;
  readonly transfer: readonly TransferListItem[] | undefined;
  /** The use's deadline in ms, Infinity for none. */
  readonly timeout: number;
  state: 'queued' | 'running' | 'settled';
  /** What the caller hears of the use besides its result, if anything. */
  readonly hooks: UseHooks | undefined;
  resolve(value: unknown): void;
  reject(error: unknown): void;
}

/**
 * What a use's caller hears of it besides its result, on the calling thread: when it reaches a
 * thread, and the events its engine emits while it runs (`EngineUse.emit`). A hook that throws
 * ends the use: its thread is stopped and the use rejects with what the hook threw.
 */
export interface UseHooks {
  /** The use was handed to a thread: from now on an abort stops the thread. */
  started?(): void;
  /** One event the engine emitted, in the order emitted, before the use settles. */
  event?(payload: unknown): void;
}

/** What a thread tells its dispatcher. */
export interface ThreadEvents {
  /** The thread finished a use and is idle again (called before the use's promise settles). */
  idle(thread: WorkerThread): void;
  /**
   * The thread will run no more uses: it was stopped or it died. `expected`: the dispatcher asked
   * for it (closing). Its use, if any, has been rejected; its exit comes later.
   */
  ending(thread: WorkerThread, expected: boolean): void;
  /** The thread has exited and its descriptors are closed. */
  exited(thread: WorkerThread): void;
}

/** How a thread is started. */
export interface ThreadSpec {
  engine: URL;
  parts: unknown;
  /** The error classes beyond `errors.ts` a use's error may be (a sandbox's own). */
  errorClasses: ReadonlyMap<string, ErrorClass> | undefined;
  /** Ms after the deadline before the hard stop. */
  grace: number;
  /** Ms the engine may take to start before the thread is stopped; Infinity for no limit. */
  startTimeout: number;
  /** What the engine is, for messages (`the module's setup`, `the QuickJS context`). */
  what: string;
  /** The message of a hard stop's `GuestTimeoutError`, when the default does not say enough. */
  hardStopMessage: ((timeout: number, grace: number) => string) | undefined;
}

/** One worker thread; see the module comment. */
export class WorkerThread {
  readonly index: number;
  readonly #worker: Worker;
  readonly #channel: MainEnd;
  readonly #ledger = FdLedger.create();
  /** See the module comment: 0 while the worker loads its native layer, 1 once loaded, 2 once exited. */
  readonly #native = new Int32Array(new SharedArrayBuffer(4));
  readonly board = StatsBoard.create();
  readonly #spec: ThreadSpec;
  readonly #events: ThreadEvents;
  #state: 'starting' | 'idle' | 'busy' | 'stopping' | 'exited' = 'starting';
  /** The keys of the engine's stats on the board, in order. */
  statsKeys: readonly string[] = [];
  /** What the engine said of itself when ready (`Engine.describe`). */
  description: unknown;
  /** Whether the engine ever became ready (a thread that failed to start is not replaced, but retried). */
  started = false;
  /** Uses the thread answered (its stats board counts them once it has published). */
  answered = 0;
  #task: Task | undefined;
  #timer: NodeJS.Timeout | undefined;
  #workerError: unknown;
  #readyResolve!: () => void;
  #readyReject!: (error: unknown) => void;
  /** Settles when the engine is ready (or failed to start). */
  readonly ready: Promise<void>;
  #exitedResolve!: () => void;
  /** Resolves once the thread has exited and its descriptors are closed. */
  readonly exited: Promise<void>;

  constructor(index: number, spec: ThreadSpec, events: ThreadEvents) {
    this.index = index;
    this.#spec = spec;
    this.#events = events;
    this.ready = new Promise((resolve, reject) => {
      this.#readyResolve = resolve;
      this.#readyReject = reject;
    });
    // A start that fails is reported through `ready`; nobody may be listening when the dispatcher replaces a thread.
    this.ready.catch(() => {});
    this.exited = new Promise((resolve) => (this.#exitedResolve = resolve));
    const init: WorkerInit = {
      engine: spec.engine.href,
      parts: spec.parts,
      index,
      ledger: this.#ledger.buffer,
      stats: this.board.buffer,
      pagemap: sharePagemap(),
      native: this.#native.buffer as SharedArrayBuffer,
    };
    // A thread keeps the process alive while it starts, runs a use or ends (someone awaits each), not
    // while it is idle: an idle pool must not keep a process from exiting.
    // trackUnmanagedFds (Node's default, said here because the ledger relies on it): what the worker
    // opens with node:fs (a WASI guest's host files, a host function's) Node closes when it exits,
    // however it ended; the ledger holds only what node:fs does not know of (sys/fd-ledger.ts).
    this.#worker = spawnWorker(WORKER_ENTRY, { workerData: init, name: `cowpool thread ${index}`, trackUnmanagedFds: true });
    this.#channel = mainEnd(this.#worker, (message) => this.#receive(message));
    this.#worker.on('error', (error) => (this.#workerError = error));
    this.#worker.on('exit', (code) => this.#exit(code));
    this.#timer = deadlineTimer(() => {
      this.#fail(
        new GuestTimeoutError(
          spec.startTimeout,
          `${spec.what} did not finish starting on a worker thread within ${spec.startTimeout} ms; the thread was stopped`,
        ),
      );
    }, spec.startTimeout);
    this.#timer?.unref();
  }

  /** `starting`, `idle`, `busy`, `stopping` or `exited`. */
  get state(): 'starting' | 'idle' | 'busy' | 'stopping' | 'exited' {
    return this.#state;
  }

  /** The use running now, if any. */
  get task(): Task | undefined {
    return this.#task;
  }

  /** Runs `task` here. The thread must be idle. */
  run(task: Task): void {
    if (this.#state !== 'idle') throw new InternalError(`run() on a ${this.#state} thread`);
    this.#state = 'busy';
    this.#task = task;
    task.state = 'running';
    try {
      this.#channel.send({ type: 'run', id: task.id, input: task.input, timeout: task.timeout }, task.transfer);
    } catch (err) {
      this.#state = 'idle';
      this.#task = undefined;
      task.state = 'settled';
      task.reject(
        new InvalidArgumentError(
          `the use's input cannot be sent to a worker thread (${(err as Error).message}); pass structured-cloneable data`,
          { cause: err },
        ),
      );
      this.#events.idle(this);
      return;
    }
    this.#worker.ref();
    if (task.hooks?.started !== undefined && !this.#hook(() => task.hooks!.started!())) return;
    const timeout = task.timeout;
    this.#timer = deadlineTimer(() => {
      this.stop(
        new GuestTimeoutError(
          timeout,
          this.#spec.hardStopMessage?.(timeout, this.#spec.grace) ??
            `guest did not finish within ${timeout} ms (nor within the ${this.#spec.grace} ms grace after it) ` +
              'and was stopped with its worker thread, which was replaced',
        ),
      );
    }, timeout + this.#spec.grace);
  }

  /**
   * Ends the thread now, whatever it is doing; its use (if any) is rejected with `reason`.
   * `expected`: the dispatcher is closing it, not replacing it.
   */
  stop(reason: unknown, expected = false): void {
    if (this.#state === 'stopping' || this.#state === 'exited') return;
    this.#end(reason, expected);
    // Whoever awaits the end (close) keeps the process alive until it comes.
    this.#worker.ref();
    this.#terminate();
  }

  /** Asks an idle thread to close its engine and exit; stops it if it has not within `patience` ms. */
  close(patience: number): Promise<void> {
    if (this.#state === 'idle') {
      this.#end(undefined, true);
      this.#worker.ref();
      this.#channel.send({ type: 'close' });
      const timer = setTimeout(() => this.#terminate(), patience);
      void this.exited.then(() => clearTimeout(timer));
    } else this.stop(undefined, true);
    return this.exited;
  }

  #receive(message: FromWorker): void {
    switch (message.type) {
      case 'ready':
        if (this.#state !== 'starting') return;
        this.#clearTimer();
        this.statsKeys = message.statsKeys;
        this.description = message.description;
        this.started = true;
        this.#state = 'idle';
        this.#worker.unref();
        this.#readyResolve();
        return;
      case 'failed':
        this.#fail(deserializeError(message.error, this.#spec.errorClasses));
        return;
      case 'event': {
        const task = this.#task;
        if (this.#state !== 'busy' || task === undefined || task.id !== message.id) return;
        const event = task.hooks?.event;
        if (event !== undefined) this.#hook(() => event(message.payload));
        return;
      }
      case 'done': {
        const task = this.#task;
        if (this.#state !== 'busy' || task === undefined || task.id !== message.id) return;
        this.#clearTimer();
        this.#worker.unref();
        this.#task = undefined;
        this.#state = 'idle';
        this.answered++;
        task.state = 'settled';
        this.#events.idle(this);
        if (message.ok) task.resolve(message.value);
        else task.reject(deserializeError(message.error, this.#spec.errorClasses));
        return;
      }
    }
  }

  /** Calls a use's hook; one that throws stops the thread, the use rejecting with what it threw. False then. */
  #hook(call: () => void): boolean {
    try {
      call();
      return true;
    } catch (err) {
      this.stop(err);
      return false;
    }
  }

  /** The engine did not start: reject `ready` with `error` and end the thread. */
  #fail(error: unknown): void {
    if (this.#state === 'starting') this.stop(error);
  }

  /** No more uses here: the use (if any) is rejected with `reason`, the dispatcher told. */
  #end(reason: unknown, expected: boolean): void {
    this.#clearTimer();
    const wasStarting = this.#state === 'starting';
    this.#state = 'stopping';
    const task = this.#task;
    this.#task = undefined;
    if (task !== undefined && task.state === 'running') {
      task.state = 'settled';
      task.reject(reason);
    }
    if (wasStarting) this.#readyReject(reason);
    this.#events.ending(this, expected);
  }

  /** `worker.terminate()`, once the worker's native layer is loaded (see the module comment). */
  #terminate(): void {
    const waiting = Atomics.waitAsync(this.#native, 0, 0);
    if (!waiting.async) {
      void this.#worker.terminate();
      return;
    }
    void waiting.value.then(() => this.#worker.terminate());
  }

  #exit(code: number): void {
    // A terminate still waiting for the native layer has nothing left to wait for.
    Atomics.store(this.#native, 0, 2);
    Atomics.notify(this.#native, 0);
    if (this.#state !== 'stopping') this.#end(new ThreadExitedError(code, { cause: this.#workerError }), false);
    this.#state = 'exited';
    // Only now, with the worker gone, may its descriptors be closed (see sys/fd-ledger.ts).
    this.#ledger.closeAll();
    this.#exitedResolve();
    this.#events.exited(this);
  }

  #clearTimer(): void {
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
  }
}
