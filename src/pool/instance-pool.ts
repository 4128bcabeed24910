/**
 * `InstancePool`: hands out WebAssembly instances indistinguishable from freshly instantiated ones,
 * at the cost of a memory reset instead of an instantiation.
 *
 * Each pooled instance (a member, `member.ts`) owns a memory slot mapped copy-on-write over the
 * module's image. A use (`run`, or `acquire` … `release`) gets a member; when it ends the memory is
 * reset to the image and the rest of the instance state is restored or rebuilt (see `prepare.ts`
 * for the two mechanisms).
 *
 * This file is the facade (the public methods) and the lease lifecycle, written here once as a
 * state machine. Its transitions are the only code that moves a member or changes the counts:
 *
 *     create ──► idle ──take──► leased ──end──► reset ──ok──► idle (or the next waiter)
 *                 ▲                               └─ grew / failed / pool closing ──► retired
 *                 └────────── a member created for a waiter while none was idle
 *
 *     pool: open ──close()──► closing (waiters rejected, idle members retired)
 *                 ──last lease ended, no creation pending──► closed (image released)
 *
 * Every failure ends in a defined state: a trap or a timeout is a use that ended (reset, back to
 * idle); a start function that trapped while beginning a use is reset the same way; a reset that
 * throws retires the member, is counted (`stats().resetFailures`) and leaves the use's result alone;
 * an aborted or timed-out wait removes the waiter and takes nothing; `close()` rejects waiters and
 * resolves once the last lease has ended, with every slot and the image's memfd closed.
 *
 * The other jobs have their own modules and touch no member's place: `build.ts` (construction),
 * `waiters.ts` (the line of waiting callers), `idle-trimmer.ts` (`trimIdleAfter`), `learn-size.ts`
 * (`initialMemory: 'learn'`), `guest-error.ts` (what a use's failure becomes), `lease.ts`.
 */
import { debuglog } from 'node:util';
import {
  AbortedError,
  AcquireTimeoutError,
  ClosedError,
  GuestTimeoutError,
  GuestTrapError,
  InternalError,
  InvalidArgumentError,
  NestedUseError,
  PoolClosedError,
  QueueFullError,
} from '../errors.js';
import { Histogram, RESET_TIME_BOUNDS_NS } from '../histogram.js';
import type { MemoryImage, ResetReport, ResetStrategy } from '../memory/index.js';
import { WASM_PAGE_SIZE } from '../module/wasm-page.js';
import { assemble, build, type PoolParts, type Ready } from './build.js';
import { guestError } from './guest-error.js';
import { IdleTrimmer } from './idle-trimmer.js';
import { SizeLearner } from './learn-size.js';
import { Lease } from './lease.js';
import { Member } from './member.js';
import { fillOptions, fillUseOptions, type FilledOptions, type FilledUseOptions, type PoolOptions, type UseOptions } from './options.js';
import type { PreparedModule } from './prepare.js';
import { checkPreparedPool, FROM_PREPARED, FROM_PREPARED_SYNC, type PreparedPool } from './prepared-pool.js';
import { emptyStats, type PoolStats } from './stats.js';
import { driveAsync, driveSync, isPromise, type Steps } from './sync-or-async.js';
import type { ModuleSource, PoolDescription, UseFunction } from './types.js';
import { WaiterQueue } from './waiters.js';

const debug = debuglog('cowpool');

/**
 * A pool of fresh-equivalent instances of one module; see the module comment. `E` types the
 * instance's exports, `S` each instance's own state (what `options.setup` returns), `C` a use's context.
 */
export class InstancePool<E extends object = WebAssembly.Exports, S = undefined, C = unknown> {
  readonly #options: FilledOptions<S, C>;
  readonly #prepared: PreparedModule;
  /** The image new members map; replaced by a larger one when `initialMemory: 'learn'` learns a size. */
  #image: MemoryImage | undefined;
  /** `initialMemory: 'learn'`, else undefined. */
  readonly #learner: SizeLearner | undefined;
  readonly #strategy: ResetStrategy | 'none';
  readonly #strategyReason: string | undefined;
  #state: 'open' | 'closing' | 'closed' = 'open';
  /** Idle members, a stack taken from the top: the longest idle at the bottom. */
  readonly #idle: Member<S, C>[] = [];
  readonly #trimmer: IdleTrimmer<Member<S, C>>;
  #leased = 0;
  /** Members whose async setup has not finished yet: they count against `max`. */
  #creating = 0;
  readonly #waiters: WaiterQueue<Lease<E, S, C>, C>;
  #closing: Promise<void> | undefined;
  #closed: (() => void) | undefined;
  readonly #stats = emptyStats();
  /** Each reset's duration, for `stats().resetTime` (and `/metrics`). */
  readonly #resetTime = new Histogram(RESET_TIME_BOUNDS_NS);
  #defaultUse: FilledUseOptions | undefined;
  /**
   * Uses of this pool whose function is running on the current call stack (`runSync`'s, and the
   * synchronous part of `run`'s). Each holds a lease: when they hold every lease out and the pool
   * is full, a use asked for from inside them could only be served once one of them ends.
   */
  #depth = 0;
  /** Ends a lease; made once so that handing out a lease allocates no closure. */
  readonly #endLease = (member: Member<S, C>, lease: object) => this.#end(member, lease);

  private constructor(parts: PoolParts<S, C>) {
    const { options, prepared } = parts;
    this.#options = options;
    this.#prepared = prepared;
    this.#image = parts.image;
    this.#strategy = parts.strategy.strategy;
    this.#strategyReason = parts.strategy.reason;
    this.#learner =
      options.initialMemory === 'learn' ? new SizeLearner(prepared.virtualMemorySize, prepared.memoryPages?.maximum) : undefined;
    this.#trimmer = new IdleTrimmer(options.trimIdleAfter, this.#trimIdle);
    this.#waiters = new WaiterQueue(options.max);
  }

  /**
   * Prepares `source` (the module's bytes) for pooling and creates `options.min` instances.
   * Rejects with {@link ModuleNotPoolableError}, {@link MalformedModuleError},
   * {@link ImportMissingError} or {@link InvalidArgumentError}, saying what to change.
   */
  static create<E extends object = WebAssembly.Exports, S = undefined, C = unknown>(
    source: ModuleSource,
    options?: PoolOptions<S, C>,
  ): Promise<InstancePool<E, S, C>> {
    // A generator runs nothing until driven, and driveAsync turns every throw into a rejection.
    return driveAsync(InstancePool.#construct<E, S, C>(build<S, C>(source, options)));
  }

  /** {@link create}, synchronously. Throws when `options.setup` is async. */
  static createSync<E extends object = WebAssembly.Exports, S = undefined, C = unknown>(
    source: ModuleSource,
    options?: PoolOptions<S, C>,
  ): InstancePool<E, S, C> {
    return driveSync(InstancePool.#construct<E, S, C>(build<S, C>(source, options)));
  }

  /**
   * Internal (a symbol no user can type): a pool of a module prepared already, by another thread
   * or process, with `ready` what that one made besides (the compiled module, the image, the
   * strategy: a worker thread is given all three, `shared-parts.ts`), so that nothing is prepared
   * or made again. `options` gives the pool's own settings; what shapes the module (mechanism,
   * interruptible, …) is the prepared pool's. See `prepared-pool.ts`.
   */
  static [FROM_PREPARED]<E extends object = WebAssembly.Exports, S = undefined, C = unknown>(
    prepared: PreparedPool,
    options?: PoolOptions<S, C>,
    ready?: Ready,
  ): Promise<InstancePool<E, S, C>> {
    return driveAsync(InstancePool.#construct<E, S, C>(InstancePool.#assembled(prepared, options, ready)));
  }

  /** {@link [FROM_PREPARED]}, synchronously. Throws when `options.setup` is async. */
  static [FROM_PREPARED_SYNC]<E extends object = WebAssembly.Exports, S = undefined, C = unknown>(
    prepared: PreparedPool,
    options?: PoolOptions<S, C>,
    ready?: Ready,
  ): InstancePool<E, S, C> {
    return driveSync(InstancePool.#construct<E, S, C>(InstancePool.#assembled(prepared, options, ready)));
  }

  // eslint-disable-next-line require-yield -- the construction's parts as steps, though assembling has none
  static *#assembled<S, C>(
    prepared: PreparedPool,
    options: PoolOptions<S, C> | undefined,
    ready: Ready | undefined,
  ): Steps<PoolParts<S, C>> {
    let checked: { prepared: PreparedPool; filled: FilledOptions<S, C> };
    try {
      checked = { prepared: checkPreparedPool(prepared), filled: fillOptions(options) };
    } catch (err) {
      ready?.image?.close(); // the pool owned it from the call on
      throw err;
    }
    return assemble(checked.prepared, checked.filled, ready);
  }

  /**
   * The one construction path: the parts (`build.ts`: from the cache or prepared, then assembled),
   * then `options.min` members, created → idle. Each `yield` hands out what may be a promise;
   * whatever fails, nothing stays open.
   */
  static *#construct<E extends object, S, C>(parts: Steps<PoolParts<S, C>>): Steps<InstancePool<E, S, C>> {
    const pool = new InstancePool<E, S, C>(yield* parts);
    try {
      for (let i = 0; i < pool.#options.min; i++) {
        const made = pool.#newMember();
        let member: Member<S, C>;
        try {
          member = (yield made) as Member<S, C>;
        } catch (err) {
          // createSync refused to wait for it: close the member whenever its setup finishes.
          if (isPromise(made))
            made.then(
              (late) => late.close(),
              () => {},
            );
          throw err;
        }
        pool.#stats.created++;
        pool.#toIdle(member);
      }
    } catch (err) {
      pool.#closeNow();
      throw err;
    }
    return pool;
  }

  /**
   * Runs `fn` on a fresh-equivalent instance and resets it afterwards, whatever `fn` did. A guest
   * trap rejects with {@link GuestTrapError}; the next use is pristine all the same. `context` is
   * what host functions see as `host.context` during this use.
   */
  run<T>(fn: UseFunction<E, S, C, T | Promise<T>>, context?: C, options?: UseOptions): Promise<Awaited<T>> {
    let use: FilledUseOptions;
    let lease: Lease<E, S, C> | undefined;
    try {
      checkUseFunction(fn, 'run');
      use = this.#useOptions(options);
      lease = this.#tryLease(context, use);
      if (lease === undefined) this.#refuseNestedWait('run()');
    } catch (err) {
      return Promise.reject(err);
    }
    if (lease === undefined) return this.#wait(context, use).then((l) => this.#runLeased(l, fn));
    return this.#runLeased(lease, fn);
  }

  /**
   * Like {@link run} for a synchronous `fn`, with no promise in between: for request handlers that
   * want the lowest overhead. Throws {@link AcquireTimeoutError} when no instance is free now.
   */
  runSync<T>(fn: UseFunction<E, S, C, T>, context?: C, options?: UseOptions): T {
    checkUseFunction(fn, 'runSync');
    const use = this.#useOptions(options);
    const lease = this.#tryLease(context, use);
    if (lease === undefined) {
      this.#refuseNestedWait('runSync()');
      throw new AcquireTimeoutError(
        0,
        this.#options.max,
        this.#creating > 0
          ? `no instance is free now (an async options.setup is still building one); runSync cannot wait: use run(), or raise options.min`
          : undefined,
      );
    }
    this.#depth++;
    try {
      return fn(lease.instance, lease.context, lease.host);
    } catch (err) {
      throw this.#failed(err);
    } finally {
      this.#depth--;
      lease.release();
    }
  }

  /** Leases an instance, waiting in order if all `max` are in use. Release it when done. */
  acquire(context?: C, options?: UseOptions): Promise<Lease<E, S, C>> {
    let use: FilledUseOptions;
    let lease: Lease<E, S, C> | undefined;
    try {
      use = this.#useOptions(options);
      lease = this.#tryLease(context, use);
      if (lease === undefined) this.#refuseNestedWait('acquire()');
    } catch (err) {
      return Promise.reject(err);
    }
    if (lease !== undefined) return Promise.resolve(lease);
    return this.#wait(context, use);
  }

  /** The choices this pool made (mechanism, strategy, memory) and why. */
  describe(): PoolDescription {
    const p = this.#prepared;
    return {
      mechanism: p.mechanism,
      mechanismReason: p.reason,
      strategy: this.#strategy,
      ...(this.#strategyReason ? { strategyReason: this.#strategyReason } : {}),
      ...(p.memoryPages && this.#image
        ? {
            memory: {
              initialPages: this.#image.minimumBytes / WASM_PAGE_SIZE,
              ...(p.memoryPages.maximum !== undefined ? { maximumPages: p.memoryPages.maximum } : {}),
              imageStart: this.#image.start,
              imageBytes: this.#image.length,
            },
          }
        : {}),
      keepResident: this.#options.keepResident,
      restoredGlobals: p.restoreGlobals.length,
      restoredTables: p.restoreTables.length,
      reservedTables: p.reservedTables.map((t) => ({ ...t })),
      max: this.#options.max,
      interruptible: p.interruptible,
      initialized: p.initialized,
      virtualMemorySize: p.virtualMemorySize,
    };
  }

  /** A snapshot of the pool's counters. */
  stats(): PoolStats {
    // Field by field: a literal that spreads an object and then sets keys it has (resets) takes
    // V8's slow path, 40 times slower (4 µs here), and a pool on a worker thread publishes its
    // stats after every use.
    const s = this.#stats;
    return {
      uses: s.uses,
      resets: { pagemap: s.resets.pagemap, madvise: s.resets.madvise, copy: s.resets.copy },
      dirtyPages: s.dirtyPages,
      resetNanoseconds: s.resetNanoseconds,
      resetTime: this.#resetTime.snapshot(),
      instantiations: s.instantiations,
      created: s.created,
      retirements: s.retirements,
      resetFailures: s.resetFailures,
      waits: s.waits,
      refused: s.refused,
      traps: s.traps,
      timeouts: s.timeouts,
      trims: s.trims,
      instances: this.#idle.length + this.#leased,
      idle: this.#idle.length,
      leased: this.#leased,
      waiting: this.#waiters.length,
    };
  }

  /**
   * Stops handing out instances: waiting callers are rejected with {@link PoolClosedError}, idle
   * instances are released now, leases still out are waited for, then the image is released.
   * Idempotent; resolves when nothing of the pool is left.
   */
  close(): Promise<void> {
    if (this.#closing) return this.#closing;
    this.#state = 'closing';
    for (const waiter of this.#waiters.dequeueAll()) {
      waiter.reject(new PoolClosedError('the pool was closed while waiting for an instance'));
    }
    for (const member of this.#idle.splice(0)) this.#retire(member, false);
    this.#closing = new Promise<void>((resolve) => (this.#closed = resolve));
    this.#drainIfDone();
    return this.#closing;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  // ---- the facade's helpers ----

  /**
   * Refuses to wait (throws {@link NestedUseError}) when only the uses around this call could give
   * an instance back: they hold every lease out, the pool is full and no member is being made. A
   * use nested in another's asynchronous continuation (after an `await`) is not on this stack and
   * is not caught here: `acquireTimeout` bounds that wait (see the README).
   */
  #refuseNestedWait(method: string): void {
    if (this.#depth > 0 && this.#leased <= this.#depth && this.#creating === 0) throw new NestedUseError(this.#options.max, method);
  }

  /**
   * Waits in line for a member, unless `maxQueue` callers wait already (`QueueFullError`); the
   * waiter leaves the line on timeout, abort or close.
   */
  #wait(context: C | undefined, use: FilledUseOptions): Promise<Lease<E, S, C>> {
    if (this.#waiters.length >= this.#options.maxQueue) {
      this.#stats.refused++;
      return Promise.reject(new QueueFullError(this.#options.maxQueue, { instances: this.#options.max }));
    }
    this.#stats.waits++;
    return this.#waiters.enqueue(context, use);
  }

  #useOptions(options: UseOptions | undefined): FilledUseOptions {
    // The common call passes no options: answer it without allocating.
    if (options === undefined) {
      return (this.#defaultUse ??= fillUseOptions(undefined, { acquireTimeout: this.#options.acquireTimeout, interruptible: false }));
    }
    return fillUseOptions(options, { acquireTimeout: this.#options.acquireTimeout, interruptible: this.#prepared.interrupt !== undefined });
  }

  /** What a use's failure reaches its caller as ({@link guestError}), counted as a trap or a timeout. */
  #failed(err: unknown): unknown {
    const error = guestError(err);
    if (error instanceof GuestTrapError) this.#stats.traps++;
    else if (error instanceof GuestTimeoutError) this.#stats.timeouts++;
    return error;
  }

  #runLeased<T>(lease: Lease<E, S, C>, fn: UseFunction<E, S, C, T | Promise<T>>): Promise<Awaited<T>> {
    let result: T | Promise<T>;
    this.#depth++;
    try {
      result = fn(lease.instance, lease.context, lease.host);
    } catch (err) {
      this.#depth--;
      const error = this.#failed(err);
      lease.release();
      return Promise.reject(error);
    }
    this.#depth--;
    if (!isPromise(result)) {
      lease.release();
      return Promise.resolve(result as Awaited<T>);
    }
    return (result as Promise<Awaited<T>>).then(
      (value) => {
        lease.release();
        return value;
      },
      (err: unknown) => {
        const error = this.#failed(err);
        lease.release();
        throw error;
      },
    );
  }

  // ---- the lease lifecycle: the only code that moves members or changes the counts ----

  /** A member idle now, taken; or a new one if there is room; or undefined (the caller waits). */
  #tryLease(context: C | undefined, use: FilledUseOptions): Lease<E, S, C> | undefined {
    if (this.#state !== 'open') throw new PoolClosedError();
    if (use.signal?.aborted) throw new AbortedError(use.signal.reason);
    let member = this.#idle.pop();
    if (member === undefined) {
      if (this.#idle.length + this.#leased + this.#creating >= this.#options.max) return undefined;
      member = this.#create();
      if (member === undefined) return undefined; // async setup: served when it is ready
    }
    return this.#take(member, context, use.timeout);
  }

  /** idle → leased. If beginning the use fails, the member is reset (and kept) and the error thrown. */
  #take(member: Member<S, C>, context: C | undefined, timeout: number): Lease<E, S, C> {
    if (member.state !== 'idle') throw new InternalError(`take() of a ${member.state} member`);
    member.state = 'leased';
    member.lease = BEGINNING;
    this.#leased++;
    let instance: WebAssembly.Instance;
    try {
      instance = member.begin(context, timeout);
      if (this.#prepared.mechanism === 'reinstantiate') this.#stats.instantiations++;
    } catch (err) {
      // Instantiation failed (a start function trapped, say): reset what it wrote, keep the member.
      // The caller settles the pool (a waiter loop goes on; a direct caller had no waiters).
      this.#finish(member);
      throw this.#failed(err);
    }
    const lease = new Lease<E, S, C>(instance, member, this.#endLease, this.#options.guardExports);
    member.lease = lease;
    return lease;
  }

  /** leased → reset → idle or retired, for `lease` (refused when it is not the member's current one). */
  #end(member: Member<S, C>, lease: object): ResetReport | undefined {
    if (member.lease !== lease || member.state !== 'leased') throw new ClosedError('Lease');
    this.#stats.uses++;
    const report = this.#finish(member);
    this.#settle();
    return report;
  }

  /** The reset step of {@link end}: the member ends up idle, or retired when it cannot be kept. */
  #finish(member: Member<S, C>): ResetReport | undefined {
    member.lease = undefined;
    this.#leased--;
    let report: ResetReport | undefined;
    try {
      report = member.reset(this.#options.testHooks.beforeReset);
    } catch (err) {
      // A failed reset leaves unknown state behind: never use this member again. The use itself
      // succeeded or failed on its own; its result stands (Wasmtime too logs and falls back).
      this.#stats.resetFailures++;
      debug('reset failed, retiring the instance: %s', (err as Error)?.stack ?? String(err));
      this.#retire(member, true);
      return undefined;
    }
    if (report) {
      this.#stats.resets[report.strategy]++;
      this.#stats.dirtyPages += report.dirtyPages;
      this.#stats.resetNanoseconds += report.nanoseconds;
      this.#resetTime.observe(report.nanoseconds);
    }
    if (report?.grew) {
      if (this.#learner && this.#image && member.slot) {
        this.#image = this.#learner.grew(this.#image, member.slot.image.minimumBytes, member.slot.memory.buffer.byteLength);
      }
      this.#retire(member, true);
    } else if (member.outgrown) this.#retire(member, true);
    else if (this.#state !== 'open') this.#retire(member, false);
    else this.#toIdle(member);
    return report;
  }

  /**
   * → idle: onto the top of the idle stack, which is taken from the top, so the stack is ordered by
   * how long its members have waited, the longest at the bottom.
   */
  #toIdle(member: Member<S, C>): void {
    member.state = 'idle';
    member.idleSince = performance.now();
    this.#idle.push(member);
    this.#trimmer.becameIdle();
  }

  /** The trim timer fired: idle members due give their pages back; one whose trim failed → retired. */
  readonly #trimIdle = (): void => {
    if (this.#state !== 'open') return;
    const { trimmed, failed } = this.#trimmer.trimDue(this.#idle);
    this.#stats.trims += trimmed;
    for (const member of failed) {
      this.#idle.splice(this.#idle.indexOf(member), 1);
      this.#stats.resetFailures++;
      this.#retire(member, true);
    }
  };

  /** any → retired: the member's slot is closed. `counted` when it is a retirement users should see. */
  #retire(member: Member<S, C>, counted: boolean): void {
    member.state = 'retired';
    member.lease = undefined;
    member.close();
    if (counted) this.#stats.retirements++;
  }

  /** A new member (counted in `created`), or undefined when its async setup is under way. */
  #create(): Member<S, C> | undefined {
    const made = this.#newMember();
    if (!isPromise(made)) {
      this.#stats.created++;
      return made;
    }
    this.#creating++;
    made.then(
      (member) => {
        this.#creating--;
        this.#stats.created++;
        if (this.#state === 'open') this.#toIdle(member);
        else this.#retire(member, false);
        this.#settle();
      },
      (err: unknown) => {
        this.#creating--;
        // The member was for the longest waiter; it gets the error.
        const waiter = this.#waiters.first;
        if (waiter) this.#waiters.dequeue(waiter).reject(err);
        this.#settle();
      },
    );
    return undefined;
  }

  #newMember(): Member<S, C> | Promise<Member<S, C>> {
    return Member.create<S, C>(
      this.#prepared,
      this.#image,
      { strategy: this.#strategy === 'none' ? 'copy' : this.#strategy, keepResident: this.#options.keepResident },
      this.#options.setup,
    );
  }

  /** Hands idle (or new) members to waiters in order, then finishes closing if that was the last lease. */
  #settle(): void {
    while (this.#waiters.length > 0 && this.#state === 'open') {
      let member = this.#idle.pop();
      if (member === undefined) {
        const room = this.#idle.length + this.#leased + this.#creating < this.#options.max;
        if (!room || this.#creating >= this.#waiters.length) break;
        try {
          member = this.#create();
        } catch (err) {
          this.#waiters.dequeue(this.#waiters.first!).reject(err);
          continue;
        }
        if (member === undefined) continue;
      }
      const waiter = this.#waiters.dequeue(this.#waiters.first!);
      let lease: Lease<E, S, C>;
      try {
        lease = this.#take(member, waiter.context, waiter.timeout);
      } catch (err) {
        waiter.reject(err);
        continue;
      }
      waiter.resolve(lease);
    }
    this.#drainIfDone();
  }

  /** closing → closed, the one drain path: once no lease is out and no member is being built. */
  #drainIfDone(): void {
    if (this.#state !== 'closing' || this.#leased > 0 || this.#creating > 0) return;
    this.#state = 'closed';
    this.#closeNow();
    this.#closed?.();
  }

  /** Releases every idle member and the image (the pool's own reference to it). */
  #closeNow(): void {
    this.#trimmer.stop();
    for (const member of this.#idle.splice(0)) this.#retire(member, false);
    this.#image?.close();
  }
}

/** Refuses a use function that is not a function, before anything is taken from the pool. */
function checkUseFunction(fn: unknown, method: string): void {
  if (typeof fn !== 'function') {
    throw new InvalidArgumentError(
      `${method}(fn) needs a function (instance, context, host) => result, not ${fn === null ? 'null' : typeof fn}`,
    );
  }
}

/** The member's lease while its use is beginning, before the {@link Lease} exists. */
const BEGINNING = Object.freeze({});
