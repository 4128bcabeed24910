/**
 * `InstancePool`: hands out WebAssembly instances indistinguishable from freshly instantiated ones,
 * at the cost of a memory reset instead of an instantiation.
 *
 * Each pooled instance owns a memory slot mapped copy-on-write over the module's image. A use
 * (`run`, or `acquire` … `release`) gets an instance; when it ends the memory is reset to the image
 * and the rest of the instance state is restored or rebuilt (see `prepare.ts` for the two
 * mechanisms). A guest trap leaves the pool healthy; a memory that grew is retired and replaced;
 * callers beyond `max` wait in order.
 */
import {
  AcquireTimeoutError,
  ClosedError,
  GuestTimeoutError,
  GuestTrapError,
  InvalidArgumentError,
  PoolClosedError,
} from '../errors.js';
import { chooseStrategy, MemoryImage, type ResetReport, type ResetStrategy } from '../memory/index.js';
import { fillOptions, type FilledOptions, type PoolOptions } from './options.js';
import { InstanceHost, PooledInstance } from './pooled-instance.js';
import { imageOf, prepareModule, type Mechanism, type PreparedModule } from './prepare.js';
import { emptyStats, type PoolStats } from './stats.js';
import { preinitialize } from './initialize.js';

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
  max: number;
  interruptible: boolean;
  initialized: boolean;
}

/** Options of one use. */
export interface UseOptions {
  /** End the guest with {@link GuestTimeoutError} after this many ms (needs `interruptible`). */
  timeout?: number;
  /** Longest wait for a free instance, in ms; overrides `options.acquireTimeout`. */
  acquireTimeout?: number;
}

/** A leased instance. Call {@link release} exactly once when done (or use `using`). */
export class Lease<C = unknown> {
  readonly instance: WebAssembly.Instance;
  readonly host: InstanceHost<C>;
  readonly #member: PooledInstance<C>;
  #release: ((member: PooledInstance<C>) => ResetReport | undefined) | undefined;

  /** @internal */
  constructor(
    instance: WebAssembly.Instance,
    member: PooledInstance<C>,
    release: (member: PooledInstance<C>) => ResetReport | undefined,
  ) {
    this.instance = instance;
    this.host = member.host;
    this.#member = member;
    this.#release = release;
  }

  /** The context of this use. */
  get context(): C | undefined {
    return this.host.context;
  }

  /** Resets the instance and returns it to the pool. Returns what the memory reset did. */
  release(): ResetReport | undefined {
    const release = this.#release;
    if (release === undefined) throw new ClosedError('Lease');
    this.#release = undefined;
    return release(this.#member);
  }

  [Symbol.dispose](): void {
    if (this.#release !== undefined) this.release();
  }
}

interface Waiter<C> {
  context: C | undefined;
  timeout: number;
  resolve: (lease: Lease<C>) => void;
  reject: (err: Error) => void;
  timer: NodeJS.Timeout | undefined;
}

/** A pool of fresh-equivalent instances of one module; see the module comment. */
export class InstancePool<C = unknown> {
  readonly #options: FilledOptions<C>;
  readonly #prepared: PreparedModule;
  readonly #image: MemoryImage | undefined;
  readonly #strategy: ResetStrategy | 'none';
  readonly #strategyReason: string | undefined;
  readonly #initialized: boolean;
  readonly #idle: PooledInstance<C>[] = [];
  #leased = 0;
  /** Ends a lease; made once so that handing out a lease allocates no closure. */
  readonly #releaseMember = (member: PooledInstance<C>) => this.#release(member);
  #size = 0;
  readonly #waiters: Waiter<C>[] = [];
  #closed = false;
  #closing: Promise<void> | undefined;
  #drained: (() => void) | undefined;
  readonly #stats = emptyStats();

  private constructor(
    options: FilledOptions<C>,
    prepared: PreparedModule,
    image: MemoryImage | undefined,
    strategy: { strategy: ResetStrategy | 'none'; reason?: string },
    initialized: boolean,
  ) {
    this.#options = options;
    this.#prepared = prepared;
    this.#image = image;
    this.#strategy = strategy.strategy;
    this.#strategyReason = strategy.reason;
    this.#initialized = initialized;
  }

  /**
   * Prepares `source` (the module's bytes) for pooling and creates `options.min` instances.
   * Rejects with {@link ModuleNotPoolableError}, {@link MalformedModuleError},
   * {@link ImportMissingError} or {@link InvalidArgumentError}, saying what to change.
   */
  static async create<C = unknown>(source: WebAssembly.BufferSource | WebAssembly.Module, options?: PoolOptions<C>): Promise<InstancePool<C>> {
    return InstancePool.createSync(source, options);
  }

  /** {@link create}, synchronously. */
  static createSync<C = unknown>(source: WebAssembly.BufferSource | WebAssembly.Module, options?: PoolOptions<C>): InstancePool<C> {
    const filled = fillOptions(options);
    const bytes = toBytes(source);
    let prepared = prepareModule(bytes, {
      ...(filled.mechanism === 'auto' ? {} : { mechanism: filled.mechanism }),
      interruptible: filled.interruptible,
    });
    let image: MemoryImage | undefined;
    let initialized = false;
    if (prepared.memoryPages) {
      const importedGlobals = importedGlobalValues(prepared, filled);
      const span = imageOf(prepared, bytes, importedGlobals);
      image = MemoryImage.create({ start: span.start, bytes: span.bytes }, span.minimumBytes, { name: 'cowpool-image' });
    }
    if (filled.initialize !== undefined) {
      let result: ReturnType<typeof preinitialize>;
      try {
        result = preinitialize(bytes, prepared, image, filled);
      } finally {
        image?.close(); // the initialized image replaces it, or the pool is not made
      }
      prepared = result.prepared;
      image = result.image;
      initialized = true;
    }
    const strategy = image ? strategyFor(filled.strategy, image.minimumBytes) : { strategy: 'none' as const };
    const pool = new InstancePool(filled, prepared, image, strategy, initialized);
    try {
      for (let i = 0; i < filled.min; i++) pool.#idle.push(pool.#createMember());
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
  run<T>(
    fn: (instance: WebAssembly.Instance, context: C | undefined, host: InstanceHost<C>) => T | Promise<T>,
    context?: C,
    options: UseOptions = {},
  ): Promise<Awaited<T>> {
    let lease: Lease<C> | undefined;
    try {
      lease = this.#tryLease(context, options);
    } catch (err) {
      return Promise.reject(err);
    }
    if (lease === undefined) return this.acquire(context, options).then((l) => this.#runLeased(l, fn));
    return this.#runLeased(lease, fn);
  }

  /**
   * Like {@link run} for a synchronous `fn`, with no promise in between: for request handlers that
   * want the lowest overhead. Throws {@link AcquireTimeoutError} when no instance is free now.
   */
  runSync<T>(
    fn: (instance: WebAssembly.Instance, context: C | undefined, host: InstanceHost<C>) => T,
    context?: C,
    options: UseOptions = {},
  ): T {
    const lease = this.#tryLease(context, options);
    if (lease === undefined) {
      if (this.#closed) throw new PoolClosedError();
      throw new AcquireTimeoutError(0, this.#options.max);
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
  acquire(context?: C, options: UseOptions = {}): Promise<Lease<C>> {
    if (this.#closed) return Promise.reject(new PoolClosedError());
    let lease: Lease<C> | undefined;
    try {
      lease = this.#tryLease(context, options);
    } catch (err) {
      return Promise.reject(err);
    }
    if (lease !== undefined) return Promise.resolve(lease);
    const timeout = options.acquireTimeout ?? this.#options.acquireTimeout;
    this.#stats.waits++;
    return new Promise<Lease<C>>((resolve, reject) => {
      const waiter: Waiter<C> = { context, timeout: this.#timeoutOf(options), resolve, reject, timer: undefined };
      if (Number.isFinite(timeout)) {
        waiter.timer = setTimeout(() => {
          const at = this.#waiters.indexOf(waiter);
          if (at >= 0) this.#waiters.splice(at, 1);
          reject(new AcquireTimeoutError(timeout, this.#options.max));
        }, timeout);
      }
      this.#waiters.push(waiter);
    });
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
              initialPages: this.#image.minimumBytes / 65536,
              ...(p.memoryPages.maximum !== undefined ? { maximumPages: p.memoryPages.maximum } : {}),
              imageStart: this.#image.start,
              imageBytes: this.#image.length,
            },
          }
        : {}),
      keepResident: this.#options.keepResident,
      restoredGlobals: p.restoreGlobals.length,
      restoredTables: p.restoreTables.length,
      max: this.#options.max,
      interruptible: this.#options.interruptible,
      initialized: this.#initialized,
    };
  }

  /** A snapshot of the pool's counters. */
  stats(): PoolStats {
    return {
      ...this.#stats,
      resets: { ...this.#stats.resets },
      instances: this.#size,
      idle: this.#idle.length,
      leased: this.#leased,
      waiting: this.#waiters.length,
    };
  }

  /**
   * Stops handing out instances: waiting callers are rejected with {@link PoolClosedError}, leases
   * still out are waited for, then every slot and the image are released. Idempotent.
   */
  close(): Promise<void> {
    if (this.#closing) return this.#closing;
    this.#closed = true;
    for (const waiter of this.#waiters.splice(0)) {
      if (waiter.timer) clearTimeout(waiter.timer);
      waiter.reject(new PoolClosedError('the pool was closed while waiting for an instance'));
    }
    this.#closing = new Promise<void>((resolve) => {
      this.#drained = () => {
        this.#closeNow();
        resolve();
      };
      if (this.#leased === 0) this.#drained();
    });
    return this.#closing;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  #runLeased<T>(lease: Lease<C>, fn: (instance: WebAssembly.Instance, context: C | undefined, host: InstanceHost<C>) => T | Promise<T>): Promise<Awaited<T>> {
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

  /** Leases an idle (or new) instance now, or returns undefined when all `max` are in use. */
  #tryLease(context: C | undefined, options: UseOptions): Lease<C> | undefined {
    if (this.#closed) throw new PoolClosedError();
    let member = this.#idle.pop();
    if (member === undefined) {
      if (this.#size >= this.#options.max) return undefined;
      member = this.#createMember();
    }
    return this.#begin(member, context, this.#timeoutOf(options));
  }

  #begin(member: PooledInstance<C>, context: C | undefined, timeout: number): Lease<C> {
    let instance: WebAssembly.Instance;
    try {
      instance = member.begin(context, timeout);
      if (this.#prepared.mechanism === 'reinstantiate') this.#stats.instantiations++;
    } catch (err) {
      // Instantiation failed (a start function trapped, say): reset what it wrote and keep the member.
      this.#finish(member);
      throw guestError(err);
    }
    this.#leased++;
    return new Lease<C>(instance, member, this.#releaseMember);
  }

  #release(member: PooledInstance<C>): ResetReport | undefined {
    this.#leased--;
    this.#stats.uses++;
    return this.#finish(member);
  }

  /** Resets `member` and hands it to the next waiter, back to the idle list, or to retirement. */
  #finish(member: PooledInstance<C>): ResetReport | undefined {
    let outcome: { report: ResetReport | undefined; retire: boolean };
    try {
      outcome = member.end();
    } catch (err) {
      // A failed reset leaves unknown state behind: never use this member again.
      this.#retire(member);
      this.#serveWaiters();
      throw err;
    }
    const { report, retire } = outcome;
    if (report) {
      this.#stats.resets[report.strategy]++;
      this.#stats.dirtyPages += report.dirtyPages;
      this.#stats.resetNanoseconds += report.nanoseconds;
    }
    if (retire || this.#closed) this.#retire(member);
    else this.#idle.push(member);
    this.#serveWaiters();
    if (this.#closed && this.#leased === 0) this.#drained?.();
    return report;
  }

  #retire(member: PooledInstance<C>): void {
    member.close();
    this.#size--;
    if (!this.#closed) this.#stats.retirements++;
  }

  #serveWaiters(): void {
    while (this.#waiters.length > 0 && !this.#closed) {
      let member = this.#idle.pop();
      if (member === undefined) {
        if (this.#size >= this.#options.max) return;
        try {
          member = this.#createMember();
        } catch (err) {
          this.#waiters.shift()!.reject(err as Error);
          continue;
        }
      }
      const waiter = this.#waiters.shift()!;
      if (waiter.timer) clearTimeout(waiter.timer);
      try {
        waiter.resolve(this.#begin(member, waiter.context, waiter.timeout));
      } catch (err) {
        waiter.reject(err as Error);
      }
    }
  }

  /** The use's timeout in ms (Infinity for none), checked against what the module supports. */
  #timeoutOf(options: UseOptions): number {
    const timeout = options.timeout;
    if (timeout === undefined || timeout === Infinity) return Infinity;
    if (typeof timeout !== 'number' || !(timeout > 0)) {
      throw new InvalidArgumentError(`timeout must be a positive number of ms, not ${String(timeout)}`);
    }
    if (!this.#options.interruptible) {
      throw new InvalidArgumentError('a timeout needs a pool created with options.interruptible: true');
    }
    return timeout;
  }

  #createMember(): PooledInstance<C> {
    const member = new PooledInstance<C>(
      this.#prepared,
      this.#image,
      { strategy: this.#strategy === 'none' ? 'copy' : this.#strategy, keepResident: this.#options.keepResident },
      this.#options.imports,
    );
    this.#size++;
    this.#stats.created++;
    return member;
  }

  #closeNow(): void {
    for (const member of this.#idle.splice(0)) {
      member.close();
      this.#size--;
    }
    this.#image?.close();
  }
}

function toBytes(source: WebAssembly.BufferSource | WebAssembly.Module): Uint8Array {
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

/** Imported global values for image offsets, read from the imports a first pooled instance would get. */
function importedGlobalValues<C>(prepared: PreparedModule, options: FilledOptions<C>): (index: number) => number | bigint | undefined {
  let imports: WebAssembly.Imports | undefined;
  return (index) => {
    const entry = prepared.info.imports.find((i) => i.kind === 'global' && i.index === index);
    if (!entry) return undefined;
    imports ??= options.imports(new InstanceHost<C>(undefined));
    const value = imports[entry.module]?.[entry.name];
    if (value instanceof WebAssembly.Global) return value.value as number | bigint;
    return typeof value === 'number' || typeof value === 'bigint' ? value : undefined;
  };
}


function isPromise<T>(value: T | Promise<T>): value is Promise<T> {
  return typeof (value as { then?: unknown } | null)?.then === 'function';
}

/** Guest traps become {@link GuestTrapError}; everything else passes through unchanged. */
function guestError(err: unknown): unknown {
  if (err instanceof GuestTimeoutError) return err;
  if (err instanceof WebAssembly.RuntimeError) return new GuestTrapError(err.message, { cause: err });
  return err;
}
