/**
 * `SqliteSandbox`: SQL per request, each use on a pristine SQLite database.
 *
 * The database is made once (`image.ts`): an in-memory database, filled from an existing database
 * file if one is given, the user's functions registered, the setup SQL run, the user's statements
 * prepared. The state this leaves becomes the copy-on-write image of an {@link InstancePool}. Every
 * use then runs on a database that is exactly that one, and the pool resets the memory afterwards,
 * so nothing a use does (rows it changed, tables it made or dropped, a memory it filled, a deadline
 * it missed) is visible to the next; a use pays only for the pages it writes.
 *
 * Uses: `exec` (any SQL, sql.js's result shape), `query` (one prepared statement: bind and step),
 * `batch` (several prepared statements in one use), `export` (SQL, then the database's bytes).
 */
import { readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { InvalidArgumentError } from '../errors.js';
import { boolean, closestName, keysOf, rejectUnknownKeys, type OptionKeys } from '../options/validate.js';
import { PoolEngine, type Engine } from '../sandbox/engine.js';
import {
  checkSandboxOptions,
  sandboxKeys,
  useKeys,
  type FilledSandboxOptions,
  type FilledUseOptions,
  type SandboxDefaults,
  type SandboxOptions,
  type SandboxUseOptions,
} from '../sandbox/options.js';
import type { SandboxStats } from '../sandbox/outcomes.js';
import { Sandbox, type PreparedUse, type SandboxParts } from '../sandbox/sandbox.js';
import { ThreadedEngine, type ThreadRequest } from '../sandbox/threaded-engine.js';
import { PoolThreads, type PreparedParts } from '../threads/pool-threads.js';
import { siblingModule } from '../threads/spawn.js';
import { loadSqliteWasm } from './abi.js';
import { SqliteError, SqliteMemoryLimitError } from './errors.js';
import { FunctionCalls } from './function-calls.js';
import { functionSpecs, functionsFileUrl, importFunctions, type SqlFunctions } from './functions.js';
import type { UseState } from './imports.js';
import {
  createInitializedPool,
  prepareInitializedPool,
  preparedPoolOptions,
  type ImageOptions,
  type SqliteImage,
  type SqlitePoolOptions,
} from './image.js';
import { SqliteRunner, type Limits, type SqliteRequest, type SqliteResult } from './runner.js';
import type { RowOptions } from './session.js';
import type { QueryResult, SqlParam, SqlParams, SqlRow, StatementResult } from './values.js';
import type { SqliteThreadParts } from './thread-engine.js';

/**
 * Options of {@link SqliteSandbox.create}: SQLite's own, and those every sandbox takes
 * ({@link SandboxOptions}: `timeout`, default 1000 ms; `memoryLimit`; `max`, default 4; `min`,
 * default 1; `keepResident`; `trimIdleAfter`; `acquireTimeout`).
 *
 * `memoryLimit` is the bytes SQLite's heap may hold in a use (its `hard_heap_limit`), the database
 * and the setup's tables included; past it an allocation fails and the use ends with
 * {@link SqliteMemoryLimitError}. Default 32 MiB, plus the database's size and an eighth when one
 * is given. It sizes the wasm memory, which never grows.
 */
export interface SqliteSandboxOptions extends SandboxOptions {
  /**
   * An existing database to start every use from: a SQLite database file's bytes, or its path.
   * It is copied into the image once (a WAL database as a rollback one, without its -wal file),
   * and the file is not read again or written: every use starts from this copy.
   */
  database?: Uint8Array | string;
  /**
   * SQL run once before the image is captured (a schema, reference rows), after the database is
   * copied in: every use starts with its result. It is the application's own SQL: it runs without
   * a deadline or a memory limit.
   */
  setup?: string;
  /**
   * Statements compiled once, after the setup, and kept compiled in the image, by name: a use of
   * one (`query`, `batch`) only binds its parameters and steps it. One statement each.
   */
  statements?: Readonly<Record<string, string>>;
  /**
   * User-defined SQL functions, scalar and aggregate, that call this process's JavaScript, by SQL
   * name: an object, or a module (path or `file:` URL; `create` only) whose named exports they
   * are. Registered before the setup runs. See {@link SqlFunctionDefinition}.
   */
  functions?: SqlFunctions;
  /** Rows of prepared statements as arrays (the default) or objects keyed by column name. */
  rowMode?: 'array' | 'object';
  /** Read every INTEGER as a bigint (not only those beyond 2^53). Default false. */
  readBigInts?: boolean;
  /** The SQLite module's bytes; default: `dist/sql-wasm.wasm` of the installed `sql.js`. */
  wasm?: Uint8Array;
}

/** Options of one use: `rowMode` and `readBigInts`, and `timeout`, `memoryLimit`, `signal`, `acquireTimeout` ({@link SandboxUseOptions}). */
export interface SqliteUseOptions extends SandboxUseOptions {
  /** Overrides the sandbox's `rowMode` (prepared statements only: `exec` returns sql.js's shape). */
  rowMode?: 'array' | 'object';
  /** Overrides the sandbox's `readBigInts`. */
  readBigInts?: boolean;
}

/** One step of a {@link SqliteSandbox.batch}: a prepared statement and its parameters. */
export interface BatchStep {
  /** The statement's name in `options.statements`. */
  statement: string;
  params?: SqlParams;
}

/** A snapshot of a sandbox's counters ({@link SandboxStats}). */
export interface SqliteSandboxStats extends SandboxStats {
  /** Uses SQLite refused ({@link SqliteError}): the same count as `exceptions`, under its older name. */
  errors: number;
}

const OWN_KEYS = {
  database: true,
  setup: true,
  statements: true,
  functions: true,
  rowMode: true,
  readBigInts: true,
  wasm: true,
} as const satisfies OptionKeys<Omit<SqliteSandboxOptions, keyof SandboxOptions>>;
const OWN_USE_KEYS = { rowMode: true, readBigInts: true } as const satisfies OptionKeys<Omit<SqliteUseOptions, keyof SandboxUseOptions>>;
const CREATE_KEYS = sandboxKeys(OWN_KEYS);
const USE_KEYS = useKeys(OWN_USE_KEYS);
const STEP_KEYS = keysOf({ statement: true, params: true } satisfies OptionKeys<BatchStep>);

/** The engine every thread of a sandbox with `threads` runs. */
const THREAD_ENGINE = siblingModule('thread-engine', import.meta.url);
/** How long a thread may take to start (import the functions' module, make its first database). */
const START_TIMEOUT_MS = 10_000;

const DEFAULTS: SandboxDefaults = {
  timeout: 1000,
  memoryLimit: 32 * 2 ** 20,
  // What a fixed wasm32 memory leaves room for with the allocator.
  maxMemoryLimit: 2 ** 30,
  max: 4,
  min: 1,
};

/** A pool of pristine SQLite databases; see the module comment. */
export class SqliteSandbox extends Sandbox<SqliteRequest, SqliteResult> {
  readonly #statements: ReadonlyMap<string, number>;
  readonly #rows: RowOptions;

  private constructor(parts: SandboxParts<SqliteRequest, SqliteResult>, image: SqliteImage, rows: RowOptions) {
    super(parts);
    this.#statements = new Map(image.statements.map((s, i) => [s.name, i]));
    this.#rows = rows;
  }

  /**
   * Makes the database (copies `options.database` in, registers `options.functions`, runs
   * `options.setup`, prepares `options.statements`) and makes that state the image every use
   * starts from. Rejects with {@link SqliteError} when the setup SQL fails,
   * {@link InvalidArgumentError} for a database SQLite cannot read or a statement that does not
   * compile, `UnsupportedError` when the module is not the sql.js build this version hosts. With
   * `options.threads`, the database is made here once and the threads start over its image;
   * user-defined functions must then come from a module file (a function cannot be sent to a thread).
   */
  static async create(options: SqliteSandboxOptions = {}): Promise<SqliteSandbox> {
    if (typeof options !== 'object' || options === null) throw new InvalidArgumentError('options must be an object');
    const loaded: SqliteSandboxOptions = { ...options };
    if (typeof options.database === 'string') loaded.database = await readDatabase(options.database, readFile);
    const file =
      typeof options.functions === 'string' || options.functions instanceof URL ? functionsFileUrl(options.functions) : undefined;
    if (file !== undefined) loaded.functions = await importFunctions(file);
    const plan = SqliteSandbox.#plan(loaded, file !== undefined);
    return plan.filled.threads === undefined ? SqliteSandbox.#made(plan) : SqliteSandbox.#onThreads(plan, file);
  }

  /** {@link create}, synchronously (`options.functions` as an object only; no `threads`, which start asynchronously). */
  static createSync(options: SqliteSandboxOptions = {}): SqliteSandbox {
    const plan = SqliteSandbox.#plan(options, false);
    if (plan.filled.threads !== undefined) {
      throw new InvalidArgumentError(
        'options.threads: worker threads start asynchronously; use SqliteSandbox.create (the Sync forms still run on this thread)',
      );
    }
    return SqliteSandbox.#made(plan);
  }

  /** The options checked, and what the image and the pool are made with (`fromFile`: the functions came from a module file). */
  static #plan(options: SqliteSandboxOptions, fromFile: boolean): SandboxPlan {
    if (typeof options !== 'object' || options === null) throw new InvalidArgumentError('options must be an object');
    const database = typeof options.database === 'string' ? readDatabase(options.database, readFileSync) : options.database;
    if (database !== undefined && !(database instanceof Uint8Array)) {
      throw new InvalidArgumentError("options.database must be a database file's bytes (a Uint8Array) or its path");
    }
    const filled = checkSandboxOptions(options, CREATE_KEYS, database === undefined ? DEFAULTS : withDatabase(database.length));
    if (options.setup !== undefined && typeof options.setup !== 'string')
      throw new InvalidArgumentError('options.setup must be SQL (a string)');
    if (options.wasm !== undefined && !(options.wasm instanceof Uint8Array))
      throw new InvalidArgumentError('options.wasm must be a Uint8Array');
    const statements = options.statements ?? {};
    if (typeof statements !== 'object' || statements === null)
      throw new InvalidArgumentError('options.statements must be an object of SQL statements by name');
    const rows: RowOptions = {
      rowMode: rowMode('options.rowMode', options.rowMode ?? 'array'),
      readBigInts: boolean('options.readBigInts', options.readBigInts ?? false),
    };
    const functions = new FunctionCalls(functionSpecs(options.functions));
    if (filled.threads !== undefined && functions.count > 0 && !fromFile) {
      throw new InvalidArgumentError(
        'options.functions: with options.threads the functions run on worker threads, which cannot be sent a function; ' +
          "give the path or URL of a module whose named exports they are (functions: './sql-functions.js')",
      );
    }
    return {
      filled,
      rows,
      functions,
      wasm: options.wasm ?? loadSqliteWasm(),
      image: {
        ...(database !== undefined ? { database } : {}),
        ...(options.setup !== undefined ? { setup: options.setup } : {}),
        statements,
        functions,
        memoryLimit: filled.memoryLimit,
      },
      // SQLite is trusted code and every step of a query passes its VDBE's loop.
      pool: { ...filled.pool, interruptible: 'loops' },
    };
  }

  static #made(plan: SandboxPlan): SqliteSandbox {
    const { pool, image } = createInitializedPool(plan.wasm, plan.image, plan.pool);
    return SqliteSandbox.#sandbox(plan, new PoolEngine(pool, new SqliteRunner(image, plan.filled.memoryLimit, plan.functions)), image);
  }

  /** The sandbox whose promise forms run on threads: the database made here once, the threads started over its image. */
  static async #onThreads(plan: SandboxPlan, functions: string | undefined): Promise<SqliteSandbox> {
    const { made, image } = prepareInitializedPool(plan.wasm, plan.image, plan.pool);
    const memoryLimit = plan.filled.memoryLimit;
    const threads = await PoolThreads.create<ThreadRequest<SqliteRequest>, SqliteResult>(
      made as PreparedParts,
      {
        engine: THREAD_ENGINE,
        parts: (pool): SqliteThreadParts => ({ pool, options: plan.pool, image, memoryLimit, functions }),
        errorClasses: [SqliteError, SqliteMemoryLimitError],
        what: 'a SQLite sandbox thread (its functions module and its first database)',
        startTimeout: START_TIMEOUT_MS,
      },
      plan.filled.threads!,
    );
    const local = () =>
      new PoolEngine(
        threads.local<WebAssembly.Exports, undefined, UseState>(preparedPoolOptions(plan.pool)),
        new SqliteRunner(image, memoryLimit, plan.functions),
      );
    return SqliteSandbox.#sandbox(plan, new ThreadedEngine(threads, local), image);
  }

  static #sandbox(plan: SandboxPlan, engine: Engine<SqliteRequest, SqliteResult>, image: SqliteImage): SqliteSandbox {
    return new SqliteSandbox({ engine, options: plan.filled, useKeys: USE_KEYS, setupBytes: image.usedBytes }, image, plan.rows);
  }

  /**
   * Runs every statement of `sql` on a pristine copy of the database, with `params` bound to
   * each, and returns the rows of each statement that returned any (sql.js's `exec` shape). Rejects
   * with {@link SqliteError} when SQLite refuses the SQL, `GuestTimeoutError` at the deadline,
   * {@link SqliteMemoryLimitError} at the memory limit.
   */
  exec(sql: string, params?: SqlParams, options?: SqliteUseOptions): Promise<QueryResult[]> {
    return this.use(() => this.#exec(sql, params, options), asQueryResults);
  }

  /** {@link exec}, synchronously. */
  execSync(sql: string, params?: SqlParams, options?: SqliteUseOptions): QueryResult[] {
    return this.useSync(() => this.#exec(sql, params, options), asQueryResults);
  }

  /**
   * Runs the prepared statement `name` (of `options.statements`) with `params` on a pristine copy
   * of the database: binds and steps it, and returns its rows, the rows it changed and the last
   * rowid inserted. Errors as {@link exec}.
   */
  query<R extends SqlRow = SqlRow>(name: string, params?: SqlParams, options?: SqliteUseOptions): Promise<StatementResult<R>> {
    return this.use(() => this.#batch([{ statement: name, params }], options, 'name'), first<R>);
  }

  /** {@link query}, synchronously. */
  querySync<R extends SqlRow = SqlRow>(name: string, params?: SqlParams, options?: SqliteUseOptions): StatementResult<R> {
    return this.useSync(() => this.#batch([{ statement: name, params }], options, 'name'), first<R>);
  }

  /**
   * Runs prepared statements one after the other in one use (each sees what the ones before it
   * wrote; the next use sees none of it) and returns each one's result. Errors as {@link exec}:
   * the first statement that fails ends the use.
   */
  batch<R extends SqlRow = SqlRow>(steps: readonly BatchStep[], options?: SqliteUseOptions): Promise<StatementResult<R>[]> {
    return this.use(() => this.#batch(steps, options, 'steps'), all<R>);
  }

  /** {@link batch}, synchronously. */
  batchSync<R extends SqlRow = SqlRow>(steps: readonly BatchStep[], options?: SqliteUseOptions): StatementResult<R>[] {
    return this.useSync(() => this.#batch(steps, options, 'steps'), all<R>);
  }

  /**
   * Runs `sql` (if given) on a pristine copy of the database, as {@link exec} would, and returns
   * the database it leaves as a SQLite database file's bytes (what sql.js's `export()` gives).
   */
  export(sql?: string, params?: SqlParams, options?: SqliteUseOptions): Promise<Uint8Array> {
    return this.use(() => this.#export(sql, params, options), asBytes);
  }

  /** {@link export}, synchronously. */
  exportSync(sql?: string, params?: SqlParams, options?: SqliteUseOptions): Uint8Array {
    return this.useSync(() => this.#export(sql, params, options), asBytes);
  }

  /** The sandbox's counters and its pool's. */
  override stats(): SqliteSandboxStats {
    const stats = super.stats();
    return { ...stats, errors: stats.exceptions };
  }

  #exec(sql: string, params: SqlParams | undefined, options: SqliteUseOptions | undefined): PreparedUse<SqliteRequest> {
    if (typeof sql !== 'string') throw new InvalidArgumentError('sql must be a string');
    checkParams('params', params);
    if (options?.rowMode !== undefined) {
      throw new InvalidArgumentError(
        "options.rowMode applies to prepared statements (query, batch); exec returns sql.js's { columns, values }",
      );
    }
    const use = this.useOptions(options);
    return { request: { kind: 'exec', sql, params, limits: this.#limits(use, options) }, pool: poolOptions(use), deadline: use.timeout };
  }

  #batch(steps: readonly BatchStep[], options: SqliteUseOptions | undefined, what: 'name' | 'steps'): PreparedUse<SqliteRequest> {
    if (!Array.isArray(steps)) throw new InvalidArgumentError('steps must be an array of { statement, params }');
    const checked = steps.map((step: BatchStep, i) => {
      const path = what === 'name' ? 'name' : `steps[${i}]`;
      if (what === 'steps') {
        if (typeof step !== 'object' || step === null) throw new InvalidArgumentError(`${path} must be { statement, params }`);
        rejectUnknownKeys(step, STEP_KEYS, path);
      }
      const statement = this.#statement(what === 'name' ? 'name' : `${path}.statement`, step.statement);
      checkParams(what === 'name' ? 'params' : `${path}.params`, step.params);
      return { statement, params: step.params };
    });
    const use = this.useOptions(options);
    return {
      request: { kind: 'batch', steps: checked, limits: this.#limits(use, options) },
      pool: poolOptions(use),
      deadline: use.timeout,
    };
  }

  #export(sql: string | undefined, params: SqlParams | undefined, options: SqliteUseOptions | undefined): PreparedUse<SqliteRequest> {
    if (sql !== undefined && typeof sql !== 'string') throw new InvalidArgumentError('sql must be a string');
    checkParams('params', params);
    const use = this.useOptions(options);
    return { request: { kind: 'export', sql, params, limits: this.#limits(use, options) }, pool: poolOptions(use), deadline: use.timeout };
  }

  #statement(path: string, name: unknown): number {
    const index = typeof name === 'string' ? this.#statements.get(name) : undefined;
    if (index !== undefined) return index;
    const known = [...this.#statements.keys()];
    const closest = typeof name === 'string' ? closestName(name, known) : undefined;
    throw new InvalidArgumentError(
      `${path}: ${JSON.stringify(name)} is not one of the sandbox's statements` +
        (closest ? `; did you mean '${closest}'?` : '') +
        (known.length > 0 ? ` (known: ${known.join(', ')})` : ' (it has none: declare them in options.statements)'),
    );
  }

  #limits(use: FilledUseOptions, options: SqliteUseOptions | undefined): Limits {
    return {
      memoryLimit: use.memoryLimit,
      rowMode: options?.rowMode === undefined ? this.#rows.rowMode : rowMode('options.rowMode', options.rowMode),
      readBigInts: options?.readBigInts === undefined ? this.#rows.readBigInts : boolean('options.readBigInts', options.readBigInts),
    };
  }
}

/** What {@link SqliteSandbox} is made with, once its options are checked. */
interface SandboxPlan {
  readonly filled: FilledSandboxOptions;
  readonly rows: RowOptions;
  readonly functions: FunctionCalls;
  readonly wasm: Uint8Array;
  readonly image: ImageOptions;
  readonly pool: SqlitePoolOptions;
}

/** The shared defaults, with a memory limit that leaves 32 MiB above a database of `bytes`. */
function withDatabase(bytes: number): SandboxDefaults {
  const MiB = 2 ** 20;
  const memoryLimit = Math.min(DEFAULTS.maxMemoryLimit, DEFAULTS.memoryLimit + Math.ceil((bytes * 1.125) / MiB) * MiB);
  return { ...DEFAULTS, memoryLimit };
}

function readDatabase<R>(path: string, read: (path: string) => R): R {
  const fail = (err: unknown): never => {
    throw new InvalidArgumentError(`options.database: cannot read ${path}: ${(err as Error).message}`, { cause: err });
  };
  try {
    const bytes = read(path);
    return bytes instanceof Promise ? (bytes.catch(fail) as R) : bytes;
  } catch (err) {
    return fail(err);
  }
}

function rowMode(path: string, value: unknown): 'array' | 'object' {
  if (value !== 'array' && value !== 'object') throw new InvalidArgumentError(`${path} must be 'array' or 'object', not ${String(value)}`);
  return value;
}

function poolOptions(use: FilledUseOptions) {
  return Number.isFinite(use.timeout) ? { ...use.wait, timeout: use.timeout } : use.wait;
}

const asQueryResults = (result: SqliteResult) => result as QueryResult[];
const asBytes = (result: SqliteResult) => result as Uint8Array;
const all = <R>(result: SqliteResult) => result as StatementResult<R>[];
const first = <R>(result: SqliteResult) => (result as StatementResult<R>[])[0]!;

function checkParams(path: string, params: unknown): void {
  if (params === undefined) return;
  if (typeof params !== 'object' || params === null)
    throw new InvalidArgumentError(`${path} must be an array or an object of named parameters`);
  const check = (at: () => string, value: unknown): void => {
    if (
      value === null ||
      typeof value === 'number' ||
      typeof value === 'string' ||
      typeof value === 'boolean' ||
      value instanceof Uint8Array
    )
      return;
    if (typeof value === 'bigint') {
      if (value >= BigInt(Number.MIN_SAFE_INTEGER) && value <= BigInt(Number.MAX_SAFE_INTEGER)) return;
      throw new InvalidArgumentError(
        `${at()} (${value}n) is outside the safe integer range, which this SQLite build can bind exactly; pass it as a string`,
      );
    }
    throw new InvalidArgumentError(`${at()} must be a number, bigint, string, boolean, Uint8Array or null, not ${typeof value}`);
  };
  if (Array.isArray(params)) {
    for (let i = 0; i < params.length; i++) check(() => `${path}[${i}]`, params[i]);
  } else {
    for (const key in params)
      if (Object.hasOwn(params, key)) check(() => `${path}[${JSON.stringify(key)}]`, (params as Record<string, unknown>)[key]);
  }
}

export type { QueryResult, SqlParam, SqlParams };
