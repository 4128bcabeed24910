/**
 * `InstancePool`: hands out WebAssembly instances indistinguishable from freshly instantiated ones,
 * at the cost of a memory reset instead of an instantiation.
 *
 * Each pooled instance (a member, `pooled-instance.ts`) owns a memory slot mapped copy-on-write
 * over the module's image. A use (`run`, or `acquire` … `release`) gets a member; when it ends the
 * memory is reset to the image and the rest of the instance state is restored or rebuilt (see
 * `prepare.ts` for the two mechanisms).
 *
 * The lease lifecycle is written here once, as a state machine. Its transitions are the only code
 * that moves a member or changes the counts:
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
  PoolClosedError,
} from '../errors.js';
import { chooseStrategy, MemoryImage, type ResetReport, type ResetStrategy } from '../memory/index.js';
import { bytesToPages, pagesToBytes, WASM_PAGE_SIZE } from '../module/wasm-page.js';
import { InstanceHost, isPromise, runSetup } from './host.js';
import { initializationMemory, preinitialize } from './initialize.js';
import { fillOptions, fillUseOptions, type FilledOptions, type FilledUseOptions, type PoolOptions, type UseOptions } from './options.js';
import { PooledInstance } from './pooled-instance.js';
import {
  analyzeForPool,
  imageOf,
  poolSource,
  preinitializes,
  rewriteForPool,
  type Initialization,
  type Interruptible,
  type Mechanism,
  type PreparedModule,
} from './prepare.js';
import { emptyStats, type PoolStats } from './stats.js';

const debug = debuglog('cowpool');

/** What {@link InstancePool.describe} reports: the choices the pool made and why. */
export interface PoolDescription {
  mechanism: Mechanism;
  mechanismReason: string;
  /** The memory reset strategy, or `none` when the module has no memory. */
  strategy: ResetStrategy | 'none';
  /** Why the strategy is not `pagemap`, when it is not. */
  strategyReason?: string;
  memory?: {
    initialPages: number;
    maximumPages?: number;
    /** Where the image's non-zero span lies, in bytes. */
    imageStart: number;
    imageBytes: number;
  };
  keepResident: number;
  /** Internal mutable globals restored after each use (reuse). */
  restoredGlobals: number;
  /** Tables restored after each use (reuse). */
  restoredTables: number;
  /** Exported tables given room to grow (`options.tableReserve`, reuse): export name and entries added. */
  reservedTables: { name: string; reserve: number }[];
  max: number;
  /** Whether the module the pool runs carries the fuel counter that lets a use time out, and where (`'loops'`). */
  interruptible: Interruptible;
  initialized: boolean;
  /** Whether the guest sees its memory size through a global (`options.virtualMemorySize`). */
  virtualMemorySize: boolean;
}

/** The module bytes `InstancePool.create` accepts. */
export type ModuleSource = ArrayBuffer | ArrayBufferView;

/** A pooled instance as a use sees it: a `WebAssembly.Instance` whose exports have type `E`. */
export type PoolInstance<E extends object = WebAssembly.Exports> = WebAssembly.Instance & { readonly exports: E };

/** What `run` and `runSync` call: `fn(instance, context, host)`. */
export type UseFunction<E extends object, S, C, T> = (instance: PoolInstance<E>, context: C | undefined, host: InstanceHost<S, C>) => T;

/** A leased instance. Call {@link release} exactly once when done (or use `using`). */
export class Lease<E extends object = WebAssembly.Exports, S = undefined, C = unknown> {
  readonly instance: PoolInstance<E>;
  readonly host: InstanceHost<S, C>;
  readonly #member: PooledInstance<S, C>;
  readonly #end: (member: PooledInstance<S, C>, lease: object) => ResetReport | undefined;

  /** @internal Made by the pool. */
  constructor(
    instance: WebAssembly.Instance,
    member: PooledInstance<S, C>,
    end: (member: PooledInstance<S, C>, lease: object) => ResetReport | undefined,
  ) {
    this.instance = instance as PoolInstance<E>;
    this.host = member.host;
    this.#member = member;
    this.#end = end;
  }

  /** The context of this use. */
  get context(): C | undefined {
    return this.host.context;
  }

  /** Whether this lease still holds its instance (not yet released). */
  get active(): boolean {
    return this.#member.lease === this;
  }

  /**
   * Resets the instance and returns it to the pool. Returns what the memory reset did (undefined
   * when the module has no memory, or when the reset failed and the instance was retired instead).
   * Throws {@link ClosedError} when called a second time.
   */
  release(): ResetReport | undefined {
    if (this.#member.lease !== this) throw new ClosedError('Lease');
    return this.#end(this.#member, this);
  }

  [Symbol.dispose](): void {
    if (this.active) this.release();
  }
}

interface Waiter<E extends object, S, C> {
  context: C | undefined;
  timeout: number;
  resolve: (lease: Lease<E, S, C>) => void;
  reject: (err: unknown) => void;
  timer: NodeJS.Timeout | undefined;
  signal: AbortSignal | undefined;
  onAbort: (() => void) | undefined;
}

/**
 * A pool of fresh-equivalent instances of one module; see the module comment. `E` types the
 * instance's exports, `S` each instance's own state (what `options.setup` returns), `C` a use's context.
 */
export class InstancePool<E extends object = WebAssembly.Exports, S = undefined, C = unknown> {
  readonly #options: FilledOptions<S, C>;
  readonly #prepared: PreparedModule;
  /** The image new members map; replaced by a larger one when `initialMemory: 'learn'` learns a size. */
  #image: MemoryImage | undefined;
  /** `initialMemory: 'learn'`: whether to learn still, and the size last learned. */
  #learning = true;
  #learnedBytes: number | undefined;
  readonly #strategy: ResetStrategy | 'none';
  readonly #strategyReason: string | undefined;
  #state: 'open' | 'closing' | 'closed' = 'open';
  readonly #idle: PooledInstance<S, C>[] = [];
  #trimTimer: ReturnType<typeof setTimeout> | undefined;
  #leased = 0;
  /** Members whose async setup has not finished yet: they count against `max`. */
  #creating = 0;
  readonly #waiters: Waiter<E, S, C>[] = [];
  #closing: Promise<void> | undefined;
  #closed: (() => void) | undefined;
  readonly #stats = emptyStats();
  #defaultUse: FilledUseOptions | undefined;
  /** Ends a lease; made once so that handing out a lease allocates no closure. */
  readonly #endLease = (member: PooledInstance<S, C>, lease: object) => this.#end(member, lease);

  private constructor(options: FilledOptions<S, C>, prepared: PreparedModule, image: MemoryImage | undefined) {
    this.#options = options;
    this.#prepared = prepared;
    this.#image = image;
    const strategy: { strategy: ResetStrategy | 'none'; reason?: string } = image
      ? strategyFor(options.strategy, image.minimumBytes)
      : { strategy: 'none' };
    this.#strategy = strategy.strategy;
    this.#strategyReason = strategy.reason;
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
    return driveAsync(InstancePool.#build<E, S, C>(source, options));
  }

  /** {@link create}, synchronously. Throws when `options.setup` is async. */
  static createSync<E extends object = WebAssembly.Exports, S = undefined, C = unknown>(
    source: ModuleSource,
    options?: PoolOptions<S, C>,
  ): InstancePool<E, S, C> {
    return driveSync(InstancePool.#build<E, S, C>(source, options));
  }

  /**
   * The one construction path, as steps: each `yield` hands out what may be a promise (an async
   * `setup`); `create` awaits it, `createSync` refuses it. Whatever fails, nothing stays open.
   */
  static *#build<E extends object, S, C>(
    source: ModuleSource,
    options: PoolOptions<S, C> | undefined,
  ): Generator<unknown, InstancePool<E, S, C>, unknown> {
    const filled = fillOptions(options);
    const bytes = poolSource(toBytes(source), filled.virtualMemorySize);
    const { plan } = filled;
    const analyzed = analyzeForPool(bytes, plan);
    let image: MemoryImage | undefined;
    let init: Initialization | undefined;
    let prepared: PreparedModule;
    // From here on the image's memfd is open: every failure path closes it.
    try {
      if (analyzed.analysis.memory) {
        // Data offsets may read imported globals: then take them from the imports a pooled
        // instance would get.
        const scratch = analyzed.info.imports.some((i) => i.kind === 'global')
          ? ((yield runSetup(filled.setup, new InstanceHost<S, C>(undefined))) as { imports: WebAssembly.Imports })
          : undefined;
        const span = imageOf(analyzed, bytes, importedGlobalValues(analyzed, scratch?.imports));
        image = MemoryImage.create({ start: span.start, bytes: span.bytes }, span.minimumBytes, { name: 'cowpool-image' });
      }
      if (preinitializes(analyzed, plan)) {
        const memory = initializationMemory(analyzed, image);
        const host = new InstanceHost<S, C>(memory);
        const { imports } = (yield runSetup(filled.setup, host)) as { imports: WebAssembly.Imports };
        const result = preinitialize(bytes, analyzed, plan, memory, imports);
        image?.close(); // the initialized image replaces it
        image = result.image;
        init = result.init;
      }
      prepared = rewriteForPool(bytes, analyzed, plan, init);
      if (image && typeof filled.initialMemory === 'number') image = enlarged(image, filled.initialMemory, prepared);
    } catch (err) {
      image?.close();
      throw err;
    }
    let pool: InstancePool<E, S, C>;
    try {
      pool = new InstancePool<E, S, C>(filled, prepared, image);
    } catch (err) {
      image?.close();
      throw err;
    }
    try {
      for (let i = 0; i < filled.min; i++) {
        const made = pool.#newMember();
        let member: PooledInstance<S, C>;
        try {
          member = (yield made) as PooledInstance<S, C>;
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
      use = this.#useOptions(options);
      lease = this.#tryLease(context, use);
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
    const use = this.#useOptions(options);
    const lease = this.#tryLease(context, use);
    if (lease === undefined) {
      throw new AcquireTimeoutError(
        0,
        this.#options.max,
        this.#creating > 0
          ? `no instance is free now (an async options.setup is still building one); runSync cannot wait: use run(), or raise options.min`
          : undefined,
      );
    }
    try {
      return fn(lease.instance, lease.context, lease.host);
    } catch (err) {
      throw guestError(err);
    } finally {
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
      interruptible: this.#options.plan.interruptible,
      initialized: p.initialized,
      virtualMemorySize: this.#options.virtualMemorySize,
    };
  }

  /** A snapshot of the pool's counters. */
  stats(): PoolStats {
    return {
      ...this.#stats,
      resets: { ...this.#stats.resets },
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
    for (const waiter of [...this.#waiters]) {
      this.#dequeue(waiter).reject(new PoolClosedError('the pool was closed while waiting for an instance'));
    }
    for (const member of this.#idle.splice(0)) this.#retire(member, false);
    this.#closing = new Promise<void>((resolve) => (this.#closed = resolve));
    this.#drainIfDone();
    return this.#closing;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
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
  #take(member: PooledInstance<S, C>, context: C | undefined, timeout: number): Lease<E, S, C> {
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
      throw guestError(err);
    }
    const lease = new Lease<E, S, C>(instance, member, this.#endLease);
    member.lease = lease;
    return lease;
  }

  /** leased → reset → idle or retired, for `lease` (refused when it is not the member's current one). */
  #end(member: PooledInstance<S, C>, lease: object): ResetReport | undefined {
    if (member.lease !== lease || member.state !== 'leased') throw new ClosedError('Lease');
    this.#stats.uses++;
    const report = this.#finish(member);
    this.#settle();
    return report;
  }

  /** The reset step of {@link end}: the member ends up idle, or retired when it cannot be kept. */
  #finish(member: PooledInstance<S, C>): ResetReport | undefined {
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
    }
    if (report?.grew) {
      this.#learnSize(member);
      this.#retire(member, true);
    } else if (member.outgrown) this.#retire(member, true);
    else if (this.#state !== 'open') this.#retire(member, false);
    else this.#toIdle(member);
    return report;
  }

  /**
   * With `initialMemory: 'learn'`, a memory that grew in a use sizes the memories of later members:
   * they start as large as this one ended, so the same use no longer costs them their slot. Some
   * allocators grow on every use however much room they have (Rust's, in brotli-wasm): when a
   * memory that started at a learned size grows all the same, more room does not help, and the
   * pool stops learning rather than ratchet every memory up to the maximum (unless the guest's size
   * is virtualized, which makes such growth a real need).
   */
  #learnSize(member: PooledInstance<S, C>): void {
    if (this.#options.initialMemory !== 'learn' || !this.#learning || !this.#image || !member.slot) return;
    const started = member.slot.image.minimumBytes;
    // With the guest's size virtualized the real memory grows only past what uses really need, so
    // growing past a learned size means a larger need, worth learning too.
    if (!this.#options.virtualMemorySize && this.#learnedBytes !== undefined && started >= this.#learnedBytes) {
      this.#learning = false;
      debug('initialMemory learn: a memory that started at the learned %d bytes grew again; learning stops', started);
      return;
    }
    const reached = member.slot.memory.buffer.byteLength;
    if (reached <= this.#image.minimumBytes) return;
    this.#image = enlarged(this.#image, reached, this.#prepared);
    this.#learnedBytes = this.#image.minimumBytes;
  }

  /**
   * → idle: onto the top of the idle stack, which is taken from the top, so the stack is ordered by
   * how long its members have waited, the longest at the bottom.
   */
  #toIdle(member: PooledInstance<S, C>): void {
    member.state = 'idle';
    member.idleSince = performance.now();
    this.#idle.push(member);
    if (this.#trimTimer === undefined && Number.isFinite(this.#options.trimIdleAfter)) {
      // Every member idle before this one has a timer due no later than this one's would be.
      this.#trimTimer = setTimeout(this.#trimIdle, this.#options.trimIdleAfter).unref();
    }
  }

  /** Trims the members idle for `trimIdleAfter` or longer, then waits for the next one to be. */
  readonly #trimIdle = (): void => {
    this.#trimTimer = undefined;
    if (this.#state !== 'open') return;
    const cutoff = performance.now() - this.#options.trimIdleAfter;
    const failed: PooledInstance<S, C>[] = [];
    for (const member of this.#idle) {
      if (member.idleSince > cutoff) {
        this.#trimTimer = setTimeout(this.#trimIdle, member.idleSince - cutoff).unref();
        break;
      }
      try {
        if ((member.slot?.trim() ?? 0) > 0) this.#stats.trims++;
      } catch (err) {
        // As for a failed reset: the memory's state is unknown, so the member goes (from a timer,
        // an exception would have nowhere to go but the process).
        debug('trim failed, retiring the instance: %s', (err as Error)?.stack ?? String(err));
        failed.push(member);
      }
    }
    for (const member of failed) {
      this.#idle.splice(this.#idle.indexOf(member), 1);
      this.#stats.resetFailures++;
      this.#retire(member, true);
    }
  };

  /** any → retired: the member's slot is closed. `counted` when it is a retirement users should see. */
  #retire(member: PooledInstance<S, C>, counted: boolean): void {
    member.state = 'retired';
    member.lease = undefined;
    member.close();
    if (counted) this.#stats.retirements++;
  }

  /** A new member (counted in `created`), or undefined when its async setup is under way. */
  #create(): PooledInstance<S, C> | undefined {
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
        const waiter = this.#waiters[0];
        if (waiter) this.#dequeue(waiter).reject(err);
        this.#settle();
      },
    );
    return undefined;
  }

  #newMember(): PooledInstance<S, C> | Promise<PooledInstance<S, C>> {
    return PooledInstance.create<S, C>(
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
          this.#dequeue(this.#waiters[0]!).reject(err);
          continue;
        }
        if (member === undefined) continue;
      }
      const waiter = this.#dequeue(this.#waiters[0]!);
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

  /** Waits in line for a member; the waiter leaves the line on timeout, abort or close. */
  #wait(context: C | undefined, use: FilledUseOptions): Promise<Lease<E, S, C>> {
    this.#stats.waits++;
    return new Promise<Lease<E, S, C>>((resolve, reject) => {
      const waiter: Waiter<E, S, C> = {
        context,
        timeout: use.timeout,
        resolve,
        reject,
        timer: undefined,
        signal: use.signal,
        onAbort: undefined,
      };
      const limit = use.acquireTimeout;
      if (Number.isFinite(limit)) {
        waiter.timer = setTimeout(() => this.#dequeue(waiter).reject(new AcquireTimeoutError(limit, this.#options.max)), limit);
      }
      if (use.signal) {
        const signal = use.signal;
        waiter.onAbort = () => this.#dequeue(waiter).reject(new AbortedError(signal.reason));
        signal.addEventListener('abort', waiter.onAbort, { once: true });
      }
      this.#waiters.push(waiter);
    });
  }

  /** Takes `waiter` out of the line, with its timer and abort listener. Returns it. */
  #dequeue(waiter: Waiter<E, S, C>): Waiter<E, S, C> {
    const at = this.#waiters.indexOf(waiter);
    if (at >= 0) this.#waiters.splice(at, 1);
    if (waiter.timer) clearTimeout(waiter.timer);
    if (waiter.onAbort) waiter.signal!.removeEventListener('abort', waiter.onAbort);
    waiter.timer = undefined;
    waiter.onAbort = undefined;
    return waiter;
  }

  #useOptions(options: UseOptions | undefined): FilledUseOptions {
    // The common call passes no options: answer it without allocating.
    if (options === undefined)
      return (this.#defaultUse ??= fillUseOptions(undefined, { acquireTimeout: this.#options.acquireTimeout, interruptible: false }));
    return fillUseOptions(options, { acquireTimeout: this.#options.acquireTimeout, interruptible: this.#prepared.interrupt !== undefined });
  }

  #runLeased<T>(lease: Lease<E, S, C>, fn: UseFunction<E, S, C, T | Promise<T>>): Promise<Awaited<T>> {
    let result: T | Promise<T>;
    try {
      result = fn(lease.instance, lease.context, lease.host);
    } catch (err) {
      const error = guestError(err);
      lease.release();
      return Promise.reject(error);
    }
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
        const error = guestError(err);
        lease.release();
        throw error;
      },
    );
  }

  /** Releases every idle member and the image (the pool's own reference to it). */
  #closeNow(): void {
    clearTimeout(this.#trimTimer);
    this.#trimTimer = undefined;
    for (const member of this.#idle.splice(0)) this.#retire(member, false);
    this.#image?.close();
  }
}

/** The member's lease while its use is beginning, before the {@link Lease} exists. */
const BEGINNING = Object.freeze({});

function toBytes(source: ModuleSource): Uint8Array {
  if (source instanceof WebAssembly.Module) {
    throw new InvalidArgumentError(
      'InstancePool needs the module bytes to build its memory image and rewrite it; pass the .wasm bytes ' +
        '(a compiled WebAssembly.Module does not expose them)',
    );
  }
  if (source instanceof Uint8Array) return source;
  if (ArrayBuffer.isView(source)) return new Uint8Array(source.buffer, source.byteOffset, source.byteLength);
  if (source instanceof ArrayBuffer) return new Uint8Array(source);
  throw new InvalidArgumentError('source must be the module bytes (a Uint8Array, Buffer or ArrayBuffer)');
}

function strategyFor(requested: 'auto' | ResetStrategy, memoryBytes: number): { strategy: ResetStrategy; reason?: string } {
  return requested === 'auto' ? chooseStrategy(memoryBytes) : { strategy: requested };
}

/** Imported global values for image offsets, read from the imports a pooled instance would get. */
function importedGlobalValues(
  analyzed: { info: PreparedModule['info'] },
  imports: WebAssembly.Imports | undefined,
): (index: number) => number | bigint | undefined {
  return (index) => {
    const entry = analyzed.info.imports.find((i) => i.kind === 'global' && i.index === index);
    if (!entry || !imports) return undefined;
    const value = imports[entry.module]?.[entry.name];
    if (value instanceof WebAssembly.Global) return value.value as number | bigint;
    return typeof value === 'number' || typeof value === 'bigint' ? value : undefined;
  };
}

/** Runs construction steps, refusing a step that would need waiting (an async `setup`). */
function driveSync<T>(steps: Generator<unknown, T, unknown>): T {
  let step = steps.next();
  while (!step.done) {
    if (isPromise(step.value)) {
      step.value.then(undefined, () => {}); // its outcome no longer matters
      step = steps.throw(new InvalidArgumentError('options.setup returned a promise; use InstancePool.create (async), not createSync'));
      continue;
    }
    step = steps.next(step.value);
  }
  return step.value;
}

/** Runs construction steps, awaiting each that is a promise. */
async function driveAsync<T>(steps: Generator<unknown, T, unknown>): Promise<T> {
  let step = steps.next();
  while (!step.done) {
    let value: unknown;
    try {
      value = await step.value;
    } catch (err) {
      step = steps.throw(err);
      continue;
    }
    step = steps.next(value);
  }
  return step.value;
}

/**
 * Guest traps become {@link GuestTrapError}: wasm traps, and running out of stack, which V8 reports
 * as a `RangeError` rather than a trap (deep recursion in the guest). Everything else passes
 * through unchanged.
 */
function guestError(err: unknown): unknown {
  if (err instanceof GuestTimeoutError) return err;
  if (err instanceof WebAssembly.RuntimeError) return new GuestTrapError(err.message, { cause: err });
  if (err instanceof RangeError && /call stack/i.test(err.message)) {
    return new GuestTrapError(`the stack ran out during the use (deep recursion in the guest): ${err.message}`, { cause: err });
  }
  return err;
}

/**
 * `image` with its memory enlarged to `bytes` (rounded up to 64 KiB, at most the module's maximum);
 * the old image is closed (members still using it keep it open). Refuses a size over the maximum.
 */
function enlarged(image: MemoryImage, bytes: number, prepared: PreparedModule): MemoryImage {
  const pages = bytesToPages(bytes);
  const maximum = prepared.memoryPages?.maximum;
  if (maximum !== undefined && pages > maximum) {
    throw new InvalidArgumentError(`options.initialMemory is ${pages} pages of 64 KiB, over the module's maximum of ${maximum}`);
  }
  if (pagesToBytes(pages) <= image.minimumBytes) return image;
  const larger = image.withMinimum(pagesToBytes(pages));
  image.close();
  return larger;
}
