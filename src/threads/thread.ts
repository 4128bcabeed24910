/**
 * One worker thread as the dispatcher sees it: its start, its window of uses (the one it runs and
 * those posted behind it), the hard stop, and its end, after which the descriptors it held are
 * closed (its fd ledger). The dispatcher decides what runs where and when a thread is replaced; this
 * file only keeps one thread's states:
 *
 *     starting ──ready──► idle ◄──its last use answered──┐
 *        │                 │ run()                        │
 *        │                 ▼                              │
 *        │               busy ────────────────────────────┘   (run() while busy posts behind, up to the window)
 *        │                 │ stop(reason): deadline + grace passed, aborted, closed with force
 *        │                 ▼
 *        └──failed──► stopping ──exit──► exited (ledger closed)
 *
 * The window. A thread's uses are a list: its head, which the worker runs (or is about to start),
 * and those posted behind it, which the worker runs next, one at a time and in order, without
 * waiting for the main thread: on the 2-vCPU development VM a worker that sleeps between uses costs
 * its waker 12–17 µs a wake (BENCHMARKS.md, "Threads: the hop"), and one that finds its next use
 * already posted does not sleep. The main thread learns that the worker moved on from the head's
 * answer: only then is the next use the head here, which arms its hard stop (deadline + grace) and
 * calls its `started` hook. The worker started it right after sending that answer, so the hard stop
 * comes a few µs late at most (the message's way back). The deadline the engine enforces itself
 * (fuel, interrupts, host calls) counts from the use's start on the worker (`EngineUse.timeout`),
 * not from its post.
 *
 * A posted use is not the worker's until it claims it (`claims.ts`). The main thread takes one back
 * with a compare-and-swap that either wins (the worker will skip it: it never ran) or says the
 * worker has started it, which also says that the use before it has finished (the worker runs in
 * order) and that its answer is on its way. Hence:
 * - A thread that ends (a hard stop, an abort of its head, a forced close, a death) gives back to
 *   the dispatcher the posted uses it took back (`ending`), which run elsewhere; one the worker had
 *   started was running, and is rejected with the end's reason.
 * - A stop meant for the head (its hard stop, its abort, a hook of it that threw) first takes back
 *   the uses posted behind it. If the worker has already moved past the head, the head has
 *   finished, and the thread is not stopped: the uses taken back go back to the dispatcher
 *   (`returned`), and an abort's or a hook's error replaces the head's answer when it comes.
 * - A posted use whose abort finds it started is stopped as a running use once it is the head here,
 *   when the answer before it arrives (microseconds later).
 *
 * A stop rejects the running use at once with its reason and tells the dispatcher (`ending`), which
 * can replace the thread without waiting for the exit: `terminate()` takes some ms, and a thread
 * blocked in a system call (a read that never returns) ends only when the call does. Any exit,
 * asked for or not (an uncaught error in the worker, `process.exit`, out of memory), ends in
 * `exited` with the ledger closed and the dispatcher told; one not asked for rejects the running
 * use with `ThreadExitedError`.
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
import { ClaimBoard, type Claim } from './claims.js';
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
  /** Waiting in the dispatcher's queue, posted behind a thread's running use, running (its thread's head), or settled. */
  state: 'queued' | 'posted' | 'running' | 'settled';
  /** What the caller hears of the use besides its result, if anything. */
  readonly hooks: UseHooks | undefined;
  /** The use became its thread's head: it runs (as far as the main thread can tell). */
  began(): void;
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
  /** The thread answered a use and has room for another (called before that use's promise settles). */
  answered(thread: WorkerThread): void;
  /** Uses posted here that the thread took back unstarted while it carries on (in order): to run elsewhere. */
  returned(thread: WorkerThread, tasks: Task[]): void;
  /**
   * The thread will run no more uses: it was stopped or it died. `expected`: the dispatcher asked
   * for it (closing). Its running use, if any, has been rejected; `returned` are the uses posted
   * behind it, which never ran (in order). Its exit comes later.
   */
  ending(thread: WorkerThread, expected: boolean, returned: Task[]): void;
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
  /** Uses a thread holds at most: the one it runs and those posted behind it. */
  window: number;
}

/** A use in a thread's window. */
interface Entry {
  readonly task: Task;
  readonly claim: Claim;
  /** Set when an abort found the use started on the worker before it was the head here: its stop, once it is. */
  stopWith: { reason: unknown } | undefined;
  /** Set when a stop meant for the use found it finished: what it rejects with instead of its answer. */
  failWith: { reason: unknown } | undefined;
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
  readonly #claims: ClaimBoard;
  readonly #spec: ThreadSpec;
  readonly #events: ThreadEvents;
  #state: 'starting' | 'idle' | 'busy' | 'stopping' | 'exited' = 'starting';
  /** The head (running) first, then the uses posted behind it, in order. */
  #window: Entry[] = [];
  /** The keys of the engine's stats on the board, in order. */
  statsKeys: readonly string[] = [];
  /** What the engine said of itself when ready (`Engine.describe`). */
  description: unknown;
  /** Whether the engine ever became ready (a thread that failed to start is not replaced, but retried). */
  started = false;
  /** Uses the thread answered (its stats board counts them once it has published). */
  answered = 0;
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
    this.#claims = ClaimBoard.create(spec.window);
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
      claims: this.#claims.buffer,
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

  /** `starting`, `idle` (ready, no use), `busy` (running a use), `stopping` or `exited`. */
  get state(): 'starting' | 'idle' | 'busy' | 'stopping' | 'exited' {
    return this.#state;
  }

  /** Uses here now: the running one and those posted behind it. */
  get load(): number {
    return this.#window.length;
  }

  /** Uses posted behind the running one, not known to have started. */
  get posted(): number {
    return this.#window.length > 1 ? this.#window.length - 1 : 0;
  }

  /** Whether `run` may take a use now: idle, or busy with room in the window. */
  get room(): boolean {
    return this.#state === 'idle' || (this.#state === 'busy' && this.#window.length < this.#spec.window);
  }

  /**
   * Runs `task` here: as the running use when the thread is idle, else posted behind the uses it
   * holds (a use whose `transfer` list must move is only ever run on an idle thread: the
   * dispatcher's part). The thread must have room. False when the input could not be sent (the use
   * is rejected then).
   */
  run(task: Task): boolean {
    const head = this.#state === 'idle';
    const claim = this.room ? this.#claims.post() : undefined;
    if (claim === undefined) throw new InternalError(`run() on a ${this.#state} thread holding ${this.#window.length} uses`);
    try {
      // Posted behind, the input is copied, not moved: it may be taken back and posted elsewhere.
      const message = { type: 'run', id: task.id, input: task.input, timeout: task.timeout, slot: claim.slot, tag: claim.tag } as const;
      this.#channel.send(message, head ? task.transfer : undefined);
    } catch (err) {
      this.#claims.unpost(claim);
      task.state = 'settled';
      task.reject(
        new InvalidArgumentError(
          `the use's input cannot be sent to a worker thread (${(err as Error).message}); pass structured-cloneable data`,
          { cause: err },
        ),
      );
      return false;
    }
    const entry: Entry = { task, claim, stopWith: undefined, failWith: undefined };
    this.#window.push(entry);
    if (head) {
      this.#state = 'busy';
      this.#worker.ref();
      this.#begin(entry);
    } else task.state = 'posted';
    return true;
  }

  /**
   * Takes back a use posted behind the running one (`task`, or the oldest posted) if the worker has
   * not started it: then it never will, and it is returned; undefined otherwise.
   */
  takeBack(task?: Task): Task | undefined {
    if (this.#state !== 'busy') return undefined;
    const index = task === undefined ? 1 : this.#window.findIndex((entry) => entry.task === task);
    const entry = this.#window[index];
    if (index < 1 || entry === undefined || !this.#claims.takeBack(entry.claim)) return undefined;
    this.#window.splice(index, 1);
    return entry.task;
  }

  /**
   * Stops `task`'s use, which runs here: at once when it is the running use, else (a posted use the
   * worker started, as `takeBack` found) once the answer before it arrives. Its thread is ended
   * (unless the use turns out to have finished, see the module comment); it rejects with `reason`.
   */
  stopUse(task: Task, reason: unknown): void {
    const index = this.#window.findIndex((entry) => entry.task === task);
    if (index === 0) this.#stopHead(reason, true);
    else if (index > 0) this.#window[index]!.stopWith = { reason };
  }

  /**
   * Ends the thread now, whatever it is doing: its running use (if any) is rejected with `reason`,
   * those posted behind it go back to the dispatcher. `expected`: the dispatcher is closing it, not
   * replacing it.
   */
  stop(reason: unknown, expected = false): void {
    this.#stop(reason, expected, []);
  }

  /** Asks an idle thread to close its engine and exit; stops it if it has not within `patience` ms. */
  close(patience: number): Promise<void> {
    if (this.#state === 'idle') {
      this.#end(undefined, true, []);
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
        const head = this.#window[0];
        if (this.#state !== 'busy' || head === undefined || head.task.id !== message.id) return;
        const event = head.task.hooks?.event;
        if (event !== undefined) this.#hook(() => event(message.payload));
        return;
      }
      case 'done': {
        const head = this.#window[0];
        if (this.#state !== 'busy' || head === undefined || head.task.id !== message.id) return;
        this.#clearTimer();
        this.#window.shift();
        this.#claims.release(head.claim);
        this.answered++;
        const task = head.task;
        task.state = 'settled';
        const next = this.#window[0];
        if (next === undefined) {
          this.#state = 'idle';
          this.#worker.unref();
        } else this.#begin(next);
        this.#events.answered(this);
        if (head.failWith !== undefined) task.reject(head.failWith.reason);
        else if (message.ok) task.resolve(message.value);
        else task.reject(deserializeError(message.error, this.#spec.errorClasses));
        return;
      }
    }
  }

  /** `entry` is the head now: it runs; its hard stop is armed (see the module comment for how late). */
  #begin(entry: Entry): void {
    const task = entry.task;
    task.state = 'running';
    task.began();
    if (task.hooks?.started !== undefined && !this.#hook(() => task.hooks!.started!())) return;
    if (entry.stopWith !== undefined) {
      this.#stopHead(entry.stopWith.reason, true);
      return;
    }
    const timeout = task.timeout;
    this.#timer = deadlineTimer(() => {
      this.#stopHead(
        new GuestTimeoutError(
          timeout,
          this.#spec.hardStopMessage?.(timeout, this.#spec.grace) ??
            `guest did not finish within ${timeout} ms (nor within the ${this.#spec.grace} ms grace after it) ` +
              'and was stopped with its worker thread, which was replaced',
        ),
        false,
      );
    }, timeout + this.#spec.grace);
  }

  /**
   * Stops the running use with `reason`, and its thread with it, unless the worker has moved past it
   * (see the module comment): then it has finished, and `replaceAnswer` says whether `reason`
   * replaces its answer (an abort, a hook's error) or not (a hard stop: it finished after all).
   */
  #stopHead(reason: unknown, replaceAnswer: boolean): void {
    if (this.#state !== 'busy') return;
    const taken: Task[] = [];
    let movedOn = false;
    while (this.#window.length > 1) {
      const posted = this.#window[1]!;
      if (!this.#claims.takeBack(posted.claim)) {
        movedOn = true;
        break;
      }
      this.#window.splice(1, 1);
      taken.push(posted.task);
    }
    if (!movedOn) {
      this.#stop(reason, false, taken);
      return;
    }
    this.#clearTimer();
    if (replaceAnswer) this.#window[0]!.failWith = { reason };
    if (taken.length > 0) this.#events.returned(this, taken);
  }

  /** Calls a use's hook; one that throws stops the use, which rejects with what it threw. False then. */
  #hook(call: () => void): boolean {
    try {
      call();
      return true;
    } catch (err) {
      this.#stopHead(err, true);
      return false;
    }
  }

  /** The engine did not start: reject `ready` with `error` and end the thread. */
  #fail(error: unknown): void {
    if (this.#state === 'starting') this.stop(error);
  }

  #stop(reason: unknown, expected: boolean, taken: Task[]): void {
    if (this.#state === 'stopping' || this.#state === 'exited') return;
    this.#end(reason, expected, taken);
    // Whoever awaits the end (close) keeps the process alive until it comes.
    this.#worker.ref();
    this.#terminate();
  }

  /**
   * No more uses here: the running use (and any posted one the worker had started) is rejected with
   * `reason`, the posted ones not started are taken back and, after `taken`, given to the dispatcher.
   */
  #end(reason: unknown, expected: boolean, taken: Task[]): void {
    this.#clearTimer();
    const wasStarting = this.#state === 'starting';
    this.#state = 'stopping';
    const window = this.#window;
    this.#window = [];
    const returned = taken;
    for (let i = 0; i < window.length; i++) {
      const entry = window[i]!;
      if (i > 0 && this.#claims.takeBack(entry.claim)) {
        returned.push(entry.task);
        continue;
      }
      const task = entry.task;
      if (task.state === 'settled') continue;
      task.state = 'settled';
      task.reject(entry.failWith?.reason ?? entry.stopWith?.reason ?? reason);
    }
    if (wasStarting) this.#readyReject(reason);
    this.#events.ending(this, expected, returned);
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
    if (this.#state !== 'stopping') this.#end(new ThreadExitedError(code, { cause: this.#workerError }), false, []);
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
