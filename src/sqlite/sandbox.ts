/**
 * `SqliteSandbox`: SQL per request, each use on a pristine in-memory SQLite database.
 *
 * The database is opened once and the setup SQL runs once (`image.ts`); the state they leave becomes
 * the copy-on-write image of an {@link InstancePool}. Every use then runs on a database that is
 * exactly the set-up one, and the pool resets the memory afterwards, so nothing a use does (tables it
 * made or dropped, rows it changed, a memory it filled, a deadline it missed) is visible to the next.
 */
import { CowpoolError, GuestTimeoutError, GuestTrapError, InvalidArgumentError } from '../errors.js';
import { memoryLimitBytes, timeoutMs } from '../options/validate.js';
import type { CacheOption, InstancePool, PoolDescription, PoolStats } from '../pool/index.js';
import { loadSqliteWasm, sqliteExports, type SqliteExports } from './abi.js';
import { SqliteError, SqliteMemoryLimitError } from './errors.js';
import { UseState } from './imports.js';
import { createInitializedPool, type SqliteImage } from './image.js';
import { runSql, type QueryResult, type SqlParam, type SqlParams } from './session.js';

/** Options of {@link SqliteSandbox.create}. */
export interface SqliteSandboxOptions {
  /**
   * SQL run once before the image is captured (a schema, reference rows): every use starts with its
   * result. It is the application's own SQL: it runs without a deadline or a memory limit.
   */
  setup?: string;
  /** Default deadline of a use, in ms; `Infinity` for none. Default 1000. */
  timeout?: number;
  /**
   * Bytes SQLite's heap may hold in a use (its `hard_heap_limit`), the setup's tables included.
   * Default 32 MiB. Past it an allocation fails and the use ends with {@link SqliteMemoryLimitError}.
   * It also sizes the wasm memory (pages a use does not touch cost nothing), which never grows.
   */
  memoryLimit?: number;
  /** Bytes of pages a use wrote that a database keeps in memory, restored in place (the pool's `keepResident`). */
  keepResident?: number;
  /** A database idle this long (ms) gives back the pages `keepResident` kept (the pool's `trimIdleAfter`). */
  trimIdleAfter?: number;
  /** Most databases alive at once (one per concurrent use). Default 4. */
  max?: number;
  /** Databases created up front. Default 1. */
  min?: number;
  /**
   * Keep the prepared image (the state the setup left) in the cache on disk, so that the next
   * sandbox with the same module, setup and limits starts in milliseconds without running the setup
   * again: `true` (default), `false`, or `{ dir }` (see the README's "The cache"). The setup's effects
   * are then those of the run that filled the cache: a setup that reads the clock keeps that time.
   */
  cache?: CacheOption;
  /** The SQLite module's bytes; default: `dist/sql-wasm.wasm` of the installed `sql.js`. */
  wasm?: Uint8Array;
}

/** Options of one use. */
export interface SqliteUseOptions {
  /** Deadline in ms; overrides the sandbox's `timeout`. */
  timeout?: number;
}

/** A snapshot of a sandbox's counters. */
export interface SqliteSandboxStats {
  /** Uses that returned rows. */
  results: number;
  /** Uses SQLite refused ({@link SqliteError}). */
  errors: number;
  /** Uses stopped at their deadline. */
  timeouts: number;
  /** Uses stopped at the memory limit. */
  memoryLimits: number;
  /** Uses that ended with a trap or an unexpected error. */
  traps: number;
  /** Bytes of the wasm memory in use after setup (the image's extent). */
  setupBytes: number;
  /** The counters of the underlying instance pool. */
  pool: PoolStats;
}

/** The largest memory limit: what a fixed wasm32 memory leaves room for with the allocator. */
const MAX_MEMORY_LIMIT = 2 ** 30;
const DEFAULTS = { timeout: 1000, memoryLimit: 32 * 2 ** 20, max: 4, min: 1 } as const;

/** A pool of pristine SQLite databases; see the module comment. */
export class SqliteSandbox {
  readonly #pool: InstancePool<WebAssembly.Exports, undefined, UseState>;
  readonly #snapshot: SqliteImage;
  readonly #defaults: { timeout: number; memoryLimit: number };
  readonly #exports = new WeakMap<WebAssembly.Instance, SqliteExports>();
  readonly #stats = { results: 0, errors: 0, timeouts: 0, memoryLimits: 0, traps: 0 };

  private constructor(
    pool: InstancePool<WebAssembly.Exports, undefined, UseState>,
    snapshot: SqliteImage,
    defaults: { timeout: number; memoryLimit: number },
  ) {
    this.#pool = pool;
    this.#snapshot = snapshot;
    this.#defaults = defaults;
  }

  /**
   * Opens the database, runs `options.setup`, and makes that state the image every use starts from.
   * Rejects with {@link SqliteError} when the setup SQL fails, `UnsupportedError` when the module is
   * not the sql.js build this version hosts.
   */
  static async create(options: SqliteSandboxOptions = {}): Promise<SqliteSandbox> {
    return SqliteSandbox.createSync(options);
  }

  /** {@link create}, synchronously. */
  static createSync(options: SqliteSandboxOptions = {}): SqliteSandbox {
    if (typeof options !== 'object' || options === null) throw new InvalidArgumentError('options must be an object');
    const timeout = timeoutMs('options.timeout', options.timeout ?? DEFAULTS.timeout);
    const memoryLimit = memoryLimitBytes('options.memoryLimit', options.memoryLimit ?? DEFAULTS.memoryLimit, MAX_MEMORY_LIMIT);
    if (options.setup !== undefined && typeof options.setup !== 'string')
      throw new InvalidArgumentError('options.setup must be SQL (a string)');
    if (options.wasm !== undefined && !(options.wasm instanceof Uint8Array))
      throw new InvalidArgumentError('options.wasm must be a Uint8Array');
    const wasm = options.wasm ?? loadSqliteWasm();
    const { pool, image: snapshot } = createInitializedPool(
      wasm,
      { ...(options.setup !== undefined ? { setup: options.setup } : {}), memoryLimit },
      {
        max: options.max ?? DEFAULTS.max,
        min: options.min ?? DEFAULTS.min,
        // SQLite is trusted code and every step of a query passes its VDBE's loop.
        interruptible: 'loops',
        ...(options.keepResident !== undefined ? { keepResident: options.keepResident } : {}),
        ...(options.trimIdleAfter !== undefined ? { trimIdleAfter: options.trimIdleAfter } : {}),
        ...(options.cache !== undefined ? { cache: options.cache } : {}),
      },
    );
    return new SqliteSandbox(pool, snapshot, { timeout, memoryLimit });
  }

  /**
   * Runs every statement of `sql` on a pristine copy of the set-up database, with `params` bound to
   * each, and returns the rows of each statement that returned any (sql.js's `exec` shape). Rejects
   * with {@link SqliteError} when SQLite refuses the SQL, `GuestTimeoutError` at the deadline,
   * {@link SqliteMemoryLimitError} at the memory limit.
   */
  exec(sql: string, params?: SqlParams, options: SqliteUseOptions = {}): Promise<QueryResult[]> {
    try {
      return this.#pool.run(this.#use(sql, params), new UseState(), this.#poolOptions(options)).then(
        (result) => this.#deliver(result),
        (err: unknown) => {
          throw this.#failed(err);
        },
      );
    } catch (err) {
      return Promise.reject(this.#failed(err));
    }
  }

  /** {@link exec}, synchronously. */
  execSync(sql: string, params?: SqlParams, options: SqliteUseOptions = {}): QueryResult[] {
    let result: QueryResult[];
    try {
      result = this.#pool.runSync(this.#use(sql, params), new UseState(), this.#poolOptions(options));
    } catch (err) {
      throw this.#failed(err);
    }
    return this.#deliver(result);
  }

  /** The sandbox's counters and its pool's. */
  stats(): SqliteSandboxStats {
    return { ...this.#stats, setupBytes: this.#snapshot.usedBytes, pool: this.#pool.stats() };
  }

  /** The pool's choices (mechanism, reset strategy, memory) and why. */
  describe(): PoolDescription {
    return this.#pool.describe();
  }

  /** Waits for running uses, then releases every database and the image. Idempotent. */
  close(): Promise<void> {
    return this.#pool.close();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  #use(sql: string, params: SqlParams | undefined) {
    if (typeof sql !== 'string') throw new InvalidArgumentError('sql must be a string');
    checkParams(params);
    const memoryLimit = this.#defaults.memoryLimit;
    return (
      instance: WebAssembly.Instance,
      _state: UseState | undefined,
      host: { memory: WebAssembly.Memory | undefined },
    ): QueryResult[] => {
      let x = this.#exports.get(instance);
      if (x === undefined) {
        x = sqliteExports(instance);
        this.#exports.set(instance, x);
      }
      return runSql(x, host.memory!, this.#snapshot.layout, sql, params, memoryLimit);
    };
  }

  #poolOptions(options: SqliteUseOptions): { timeout?: number } {
    if (typeof options !== 'object' || options === null) throw new InvalidArgumentError('options must be an object');
    const timeout = options.timeout === undefined ? this.#defaults.timeout : timeoutMs('options.timeout', options.timeout);
    return Number.isFinite(timeout) ? { timeout } : {};
  }

  #deliver(result: QueryResult[]): QueryResult[] {
    this.#stats.results++;
    return result;
  }

  #failed(err: unknown): unknown {
    if (err instanceof SqliteError) this.#stats.errors++;
    else if (err instanceof GuestTimeoutError) this.#stats.timeouts++;
    else if (err instanceof SqliteMemoryLimitError) this.#stats.memoryLimits++;
    else if (err instanceof GuestTrapError || !(err instanceof CowpoolError)) this.#stats.traps++;
    return err;
  }
}

function checkParams(params: unknown): void {
  if (params === undefined) return;
  if (typeof params !== 'object' || params === null)
    throw new InvalidArgumentError('params must be an array or an object of named parameters');
  const values: [string, unknown][] = Array.isArray(params)
    ? params.map((v, i) => [`params[${i}]`, v])
    : Object.entries(params).map(([k, v]) => [`params[${JSON.stringify(k)}]`, v]);
  for (const [path, value] of values) {
    if (
      value === null ||
      typeof value === 'number' ||
      typeof value === 'string' ||
      typeof value === 'boolean' ||
      value instanceof Uint8Array
    )
      continue;
    if (typeof value === 'bigint') {
      if (value >= BigInt(Number.MIN_SAFE_INTEGER) && value <= BigInt(Number.MAX_SAFE_INTEGER)) continue;
      throw new InvalidArgumentError(
        `${path} (${value}n) is outside the safe integer range, which this SQLite build can bind exactly; pass it as a string`,
      );
    }
    throw new InvalidArgumentError(`${path} must be a number, bigint, string, boolean, Uint8Array or null, not ${typeof value}`);
  }
}

export type { QueryResult, SqlParam, SqlParams };
