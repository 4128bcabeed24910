/**
 * `SqliteSandbox`: SQL per request, each use on a pristine in-memory SQLite database.
 *
 * The database is opened once and the setup SQL runs once (`image.ts`); the state they leave becomes
 * the copy-on-write image of an {@link InstancePool}. Every use then runs on a database that is
 * exactly the set-up one, and the pool resets the memory afterwards, so nothing a use does (tables it
 * made or dropped, rows it changed, a memory it filled, a deadline it missed) is visible to the next.
 */
import { InvalidArgumentError } from '../errors.js';
import type { OptionKeys } from '../options/validate.js';
import type { InstanceHost } from '../pool/index.js';
import { PoolEngine, type UseRunner } from '../sandbox/engine.js';
import {
  checkSandboxOptions,
  sandboxKeys,
  useKeys,
  type SandboxDefaults,
  type SandboxOptions,
  type SandboxUseOptions,
} from '../sandbox/options.js';
import type { SandboxStats } from '../sandbox/outcomes.js';
import { Sandbox, type PreparedUse, type SandboxParts } from '../sandbox/sandbox.js';
import { loadSqliteWasm, sqliteExports, type SqliteExports } from './abi.js';
import { UseState } from './imports.js';
import { createInitializedPool, type SqliteImage } from './image.js';
import { runSql, type QueryResult, type SqlParam, type SqlParams } from './session.js';

/**
 * Options of {@link SqliteSandbox.create}: SQLite's own, and those every sandbox takes
 * ({@link SandboxOptions}: `timeout`, default 1000 ms; `memoryLimit`, the bytes SQLite's heap may
 * hold in a use (its `hard_heap_limit`), the setup's tables included, default 32 MiB, past which an
 * allocation fails and the use ends with {@link SqliteMemoryLimitError}; `max`, default 4; `min`,
 * default 1; `keepResident`; `trimIdleAfter`; `acquireTimeout`).
 */
export interface SqliteSandboxOptions extends SandboxOptions {
  /**
   * SQL run once before the image is captured (a schema, reference rows): every use starts with its
   * result. It is the application's own SQL: it runs without a deadline or a memory limit.
   */
  setup?: string;
  /** The SQLite module's bytes; default: `dist/sql-wasm.wasm` of the installed `sql.js`. */
  wasm?: Uint8Array;
}

/** Options of one use: `timeout`, `memoryLimit`, `signal`, `acquireTimeout` ({@link SandboxUseOptions}). */
export type SqliteUseOptions = SandboxUseOptions;

/** A snapshot of a sandbox's counters ({@link SandboxStats}). */
export interface SqliteSandboxStats extends SandboxStats {
  /** Uses SQLite refused ({@link SqliteError}): the same count as `exceptions`, under its older name. */
  errors: number;
}

const OWN_KEYS = { setup: true, wasm: true } as const satisfies OptionKeys<Omit<SqliteSandboxOptions, keyof SandboxOptions>>;
const CREATE_KEYS = sandboxKeys(OWN_KEYS);
const USE_KEYS = useKeys({});

const DEFAULTS: SandboxDefaults = {
  timeout: 1000,
  memoryLimit: 32 * 2 ** 20,
  // What a fixed wasm32 memory leaves room for with the allocator.
  maxMemoryLimit: 2 ** 30,
  max: 4,
  min: 1,
};

/** One use as data. */
interface SqliteRequest {
  readonly sql: string;
  readonly params: SqlParams | undefined;
  readonly memoryLimit: number;
}

/** A pool of pristine SQLite databases; see the module comment. */
export class SqliteSandbox extends Sandbox<SqliteRequest, QueryResult[]> {
  private constructor(parts: SandboxParts<SqliteRequest, QueryResult[]>) {
    super(parts);
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
    const filled = checkSandboxOptions(options, CREATE_KEYS, DEFAULTS);
    if (options.setup !== undefined && typeof options.setup !== 'string')
      throw new InvalidArgumentError('options.setup must be SQL (a string)');
    if (options.wasm !== undefined && !(options.wasm instanceof Uint8Array))
      throw new InvalidArgumentError('options.wasm must be a Uint8Array');
    const wasm = options.wasm ?? loadSqliteWasm();
    const { pool, image } = createInitializedPool(
      wasm,
      { ...(options.setup !== undefined ? { setup: options.setup } : {}), memoryLimit: filled.memoryLimit },
      // SQLite is trusted code and every step of a query passes its VDBE's loop.
      { ...filled.pool, interruptible: 'loops' },
    );
    return new SqliteSandbox({
      engine: new PoolEngine(pool, new SqliteRunner(image)),
      options: filled,
      useKeys: USE_KEYS,
      setupBytes: image.usedBytes,
    });
  }

  /**
   * Runs every statement of `sql` on a pristine copy of the set-up database, with `params` bound to
   * each, and returns the rows of each statement that returned any (sql.js's `exec` shape). Rejects
   * with {@link SqliteError} when SQLite refuses the SQL, `GuestTimeoutError` at the deadline,
   * {@link SqliteMemoryLimitError} at the memory limit.
   */
  exec(sql: string, params?: SqlParams, options?: SqliteUseOptions): Promise<QueryResult[]> {
    return this.use(() => this.#prepare(sql, params, options), same);
  }

  /** {@link exec}, synchronously. */
  execSync(sql: string, params?: SqlParams, options?: SqliteUseOptions): QueryResult[] {
    return this.useSync(() => this.#prepare(sql, params, options), same);
  }

  /** The sandbox's counters and its pool's. */
  override stats(): SqliteSandboxStats {
    const stats = super.stats();
    return { ...stats, errors: stats.exceptions };
  }

  #prepare(sql: string, params: SqlParams | undefined, options: SqliteUseOptions | undefined): PreparedUse<SqliteRequest> {
    if (typeof sql !== 'string') throw new InvalidArgumentError('sql must be a string');
    checkParams(params);
    const use = this.useOptions(options);
    if (use.memoryLimit !== this.options.memoryLimit) {
      throw new InvalidArgumentError("options.memoryLimit: a SQLite use's own memory limit is not supported yet");
    }
    const pool = Number.isFinite(use.timeout) ? { ...use.wait, timeout: use.timeout } : use.wait;
    return { request: { sql, params, memoryLimit: use.memoryLimit }, pool };
  }
}

/** Runs a {@link SqliteRequest} on a pooled database (the engine's kind-specific part). */
class SqliteRunner implements UseRunner<SqliteRequest, QueryResult[], UseState> {
  readonly #image: SqliteImage;
  readonly #exports = new WeakMap<WebAssembly.Instance, SqliteExports>();

  constructor(image: SqliteImage) {
    this.#image = image;
  }

  context(): UseState {
    return new UseState();
  }

  run(instance: WebAssembly.Instance, host: InstanceHost<undefined, UseState>, _state: UseState, use: SqliteRequest): QueryResult[] {
    let x = this.#exports.get(instance);
    if (x === undefined) {
      x = sqliteExports(instance);
      this.#exports.set(instance, x);
    }
    return runSql(x, host.memory!, this.#image.layout, use.sql, use.params, use.memoryLimit);
  }
}

const same = <T>(value: T): T => value;

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
