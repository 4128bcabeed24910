/**
 * Pre-initialization of SQLite: run the constructors, open one `:memory:` database, fill it, by a
 * function the pool's pre-initialization runs (`pool/preinitialize/`), with cowpool's imports:
 *
 *   ctors, sqlite3_open(":memory:"), PRAGMA temp_store=MEMORY, the probes (PRNG, heap limit,
 *   counters), the database copied in (backup API, from a host file), the functions registered,
 *   the setup SQL, the statements prepared, PRAGMA hard_heap_limit
 *     ── on a fresh memory that may grow ──► the pool's snapshot, from which
 *     - the memory image (sized to the snapshot and a use's memory limit),
 *     - the starting value of its mutable global (the stack pointer),
 *     - only the exports the host calls (no memory or table export: the pool keeps one instance per slot),
 *   and where the database, the PRNG, the counters and the statements are ({@link SqliteImage}),
 *   which every use needs: plain data.
 *
 * A database given as bytes ends up wholly in the image, in SQLite's page cache: a use that reads
 * it maps the image's pages, and one that writes pays only for the pages it writes.
 *
 * SQLite's PRNG (`sqlite3Prng`, ChaCha20) is left unseeded in the image, so that every use seeds
 * it from the host's `/dev/urandom` (crypto) the first time it needs randomness.
 */
import { createHash } from 'node:crypto';
import { InternalError, InvalidArgumentError } from '../errors.js';
import { readModule } from '../module/index.js';
import { InstancePool, type PoolOptions } from '../pool/index.js';
import { announce, preparedPool, type Prepared } from '../pool/build.js';
import type { InternalPoolOptions } from '../pool/options.js';
import { driveSync } from '../pool/sync-or-async.js';
import { INITIALIZER, type FunctionInitializer } from '../pool/preinitialize/initializer.js';
import { checkAbi, EXPORTS, SQLITE_DONE, SQLITE_OK, sqliteExports, type SqliteExports } from './abi.js';
import { readCString, writeCString } from '../emscripten/c-strings.js';
import { SqliteError } from './errors.js';
import type { FunctionCalls } from './function-calls.js';
import { addFunctionSlots, FUNCTION_CALL_TABLE } from './function-slots.js';
import { DATABASE_PATH, HostFile, HostFiles } from './host-files.js';
import { sqliteImports, UseState } from './imports.js';
import { findConnectionCounters, findHeapLimit, findPrng, PRNG_BYTES } from './probes.js';
import { Session, type ConnectionCounters, type DatabaseLayout, type PreparedStatement } from './session.js';

/** What every use needs to know of the state initialization left (plain data). */
export interface SqliteImage {
  /** Where the database is in every use's memory. */
  readonly layout: DatabaseLayout;
  /** Bytes up to the highest non-zero byte of the image. */
  readonly usedBytes: number;
  /** Address of SQLite's PRNG state, unseeded in the image. */
  readonly prng: number;
  /** Address of the heap limit: `mem0.alarmThreshold`, then `mem0.hardLimit` (i64 each). */
  readonly heapLimit: number;
  /** Where the connection's counters are. */
  readonly counters: ConnectionCounters;
  /** The prepared statements, in the order of `options.statements`. */
  readonly statements: readonly PreparedStatement[];
}

/** Options of {@link createInitializedPool}'s initialization. */
export interface ImageOptions {
  /** A database file's bytes to start from (copied into the in-memory database). */
  readonly database?: Uint8Array;
  /** SQL run once after the database is opened (and filled); its effects are in every use. */
  readonly setup?: string;
  /** Statements to prepare once, by name, after the setup. */
  readonly statements?: Readonly<Record<string, string>>;
  /** The user-defined functions, registered before the setup runs. */
  readonly functions?: FunctionCalls;
  /**
   * Bytes SQLite's heap may hold in a use, the database and the setup's data included (SQLite's
   * `hard_heap_limit`, which the setup SQL runs without). The memory is sized to hold that much and
   * the allocator's overhead.
   */
  readonly memoryLimit: number;
}

/** The pool's options a SQLite host may choose (the imports and the initialization are this module's). */
export type SqlitePoolOptions = Omit<PoolOptions<undefined, UseState>, 'setup' | 'imports' | 'initialize'>;

/**
 * Room above the limit for what SQLite does not count: the allocator's chunk headers and its
 * fragmentation, and the host's copies of a use's SQL and parameters.
 */
const heapRoom = (limit: number) => Math.ceil(limit * 1.5) + 2 * 2 ** 20;
/** What a use must be able to allocate above the database and the setup: less, and the limit is too low to use. */
const ROOM_CHECK_BYTES = 2 ** 18;
const NO_READ = { readBigInts: false } as const;

/**
 * Opens the database once, fills it, and returns the pool whose uses all start from that state
 * (with `pool` as its options), and what uses need to know of that state.
 */
export function createInitializedPool(
  wasm: Uint8Array,
  options: ImageOptions,
  pool: SqlitePoolOptions,
): { pool: InstancePool<WebAssembly.Exports, undefined, UseState>; image: SqliteImage } {
  const made = initializedPoolOptions(wasm, options, pool);
  const created = InstancePool.createSync<WebAssembly.Exports, undefined, UseState>(made.bytes, made.options);
  return { pool: created, image: made.image() };
}

/**
 * The database made once, as a prepared pool not yet assembled (`pool/build.ts`), and what uses
 * need to know of that state: what a sandbox on worker threads builds its threads' pools and the
 * calling thread's from.
 */
export function prepareInitializedPool(
  wasm: Uint8Array,
  options: ImageOptions,
  pool: SqlitePoolOptions,
): { made: Prepared<undefined, UseState>; image: SqliteImage } {
  const started = performance.now();
  const made = initializedPoolOptions(wasm, options, pool);
  const prepared = driveSync(preparedPool<undefined, UseState>(made.bytes, made.options));
  announce(prepared.cache, started);
  return { made: prepared, image: made.image() };
}

/**
 * The options of a pool of a prepared database (`pool` and the imports): a pool made from a
 * prepared pool (`InstancePool[FROM_PREPARED]`, a thread's or the calling thread's) runs no
 * initialization, only the uses. User-defined functions are not imports: the runner puts them in
 * each use's call table (`function-calls.ts`).
 */
export function preparedPoolOptions(pool: SqlitePoolOptions): PoolOptions<undefined, UseState> {
  return { ...pool, setup: (host) => ({ imports: sqliteImports(host.memory!, () => host.context) }) };
}

/**
 * The module to pool (with a slot per user-defined function) and the pool's options with SQLite's
 * initialization, and the image it made, once the pool is prepared.
 */
function initializedPoolOptions(
  wasm: Uint8Array,
  options: ImageOptions,
  pool: SqlitePoolOptions,
): { bytes: Uint8Array; options: InternalPoolOptions<undefined, UseState>; image: () => SqliteImage } {
  const functions = options.functions !== undefined && options.functions.count > 0 ? options.functions : undefined;
  // The slots are added to a module that must be sql.js's first; without them the pool checks it (and
  // a module from the cache passed that check when it was made).
  if (functions) checkAbi(readModule(wasm));
  const slots = functions ? addFunctionSlots(wasm, functions.count) : undefined;
  const state = new UseState();
  let image: SqliteImage | undefined;
  const keepExports = new Set<string>(Object.values(EXPORTS).map((e) => e.name));
  if (slots) keepExports.add(FUNCTION_CALL_TABLE);
  const initializer: FunctionInitializer<Omit<SqliteImage, 'usedBytes'>> = {
    kind: 'function',
    name: 'the SQLite initialization',
    // The heap may grow while setting up; in a use it never does (the memory is sized for it).
    imports: (memory) => sqliteImports(memory!, () => state, true),
    run: (instance, memory) => {
      const x = sqliteExports(instance);
      if (!functions || !slots) return initialize(x, memory!, options, state, undefined);
      try {
        return functions.during(instance, { x, memory: memory!, state, read: NO_READ }, () =>
          initialize(x, memory!, options, state, (db) => functions.register(x, memory!, db, slots.first)),
        );
      } finally {
        functions.detach(instance);
      }
    },
    keepExports,
    headroom: { bytes: heapRoom(options.memoryLimit), option: 'memoryLimit' },
    // What the initialization leaves besides the module: the database, the setup SQL, the statements,
    // the heap limit. User-defined functions are JavaScript the setup may call, which no key covers.
    ...(functions ? {} : { key: imageKey(options) }),
    ...(functions ? {} : { validate: checkAbi }),
    captured: ({ result, usedBytes }) => {
      image = { ...result, usedBytes };
    },
  };
  return {
    bytes: slots?.bytes ?? wasm,
    options: { ...preparedPoolOptions(pool), [INITIALIZER]: initializer },
    image: () => {
      if (image === undefined) throw new InternalError('the pool did not run the SQLite initialization');
      return image;
    },
  };
}

/** The cache key of an initialization without functions: everything in `options` that shapes the image. */
function imageKey(options: ImageOptions): string {
  return JSON.stringify({
    database: options.database ? createHash('sha256').update(options.database).digest('hex') : null,
    setup: options.setup ?? null,
    statements: options.statements ?? null,
    memoryLimit: options.memoryLimit,
  });
}

/** Sets SQLite up in `memory` through `x`, with `state` as what the host's imports see. */
function initialize(
  x: SqliteExports,
  memory: WebAssembly.Memory,
  options: ImageOptions,
  state: UseState,
  register: ((db: number) => void) | undefined,
): Omit<SqliteImage, 'usedBytes'> {
  x.wasmCallCtors();
  const scratch = x.malloc(8);
  const name = writeCString(memory, x.malloc, ':memory:');
  if (scratch === 0 || x.sqlite3_open(name.ptr, scratch) !== SQLITE_OK) {
    throw new InternalError('SQLite could not open a :memory: database');
  }
  const layout: DatabaseLayout = { db: new Uint32Array(memory.buffer, scratch, 1)[0]!, scratch };
  // Setup runs as a use does (errors typed the same way), but its effects are kept: this is the image.
  const session = new Session(x, memory, layout, Infinity, state);
  // Sorts and temporary tables too large for the cache would otherwise ask for files, which there are none of.
  session.exec('PRAGMA temp_store=MEMORY', undefined, NO_READ);
  const prng = findPrng(session, memory, state);
  const heapLimit = findHeapLimit(session, memory);
  const counters = findConnectionCounters(session, x, memory, layout.db);
  if (options.database !== undefined) copyDatabase(x, memory, session, layout, options.database, state);
  register?.(layout.db);
  if (options.setup !== undefined) session.exec(options.setup, undefined, NO_READ);
  const statements = Object.entries(options.statements ?? {}).map(([key, sql]) => prepare(x, memory, session, layout, key, sql));
  // Past it an allocation fails as SQLITE_NOMEM, and the use ends (the memory itself never grows).
  session.exec(`PRAGMA hard_heap_limit = ${options.memoryLimit}`, undefined, NO_READ);
  checkRoom(session, options);
  // What the setup changed and inserted is not a use's.
  const words = new DataView(memory.buffer);
  words.setBigInt64(counters.changes, 0n, true);
  words.setBigInt64(counters.lastRowid, 0n, true);
  new Uint8Array(memory.buffer, prng, PRNG_BYTES).fill(0);
  return { layout, prng, heapLimit, counters, statements };
}

/**
 * Copies the database file `bytes` into the in-memory database with SQLite's backup API: SQLite
 * opens it as a read-only host file (a WAL database is read as a rollback one: there is no -wal),
 * reads every page into the in-memory database's page cache, and closes it.
 */
function copyDatabase(
  x: SqliteExports,
  memory: WebAssembly.Memory,
  session: Session,
  layout: DatabaseLayout,
  bytes: Uint8Array,
  state: UseState,
): void {
  state.files = new HostFiles();
  state.files.add(new HostFile(DATABASE_PATH, 1, bytes, { writable: false, legacyHeader: true }));
  const { scratch } = layout;
  const rc = x.sqlite3_open(writeCString(memory, x.malloc, DATABASE_PATH).ptr, scratch);
  const source = new Uint32Array(memory.buffer, scratch, 1)[0]!;
  try {
    const refused = (code: number, db: number) => {
      const err = session.fail(code, db);
      return new InvalidArgumentError(`options.database: SQLite cannot read it as a database: ${err.message}`, { cause: err });
    };
    if (rc !== SQLITE_OK) throw refused(rc, source);
    const main = writeCString(memory, x.malloc, 'main').ptr;
    const backup = x.sqlite3_backup_init(layout.db, main, source, main);
    if (backup === 0) throw refused(1, layout.db);
    const step = x.sqlite3_backup_step(backup, -1);
    const finished = x.sqlite3_backup_finish(backup);
    if (step !== SQLITE_DONE) throw refused(step, layout.db);
    if (finished !== SQLITE_OK) throw refused(finished, layout.db);
  } finally {
    if (source !== 0) x.sqlite3_close_v2(source);
    state.files = undefined;
  }
}

/** Prepares `sql` (one statement) as the statement `name`, kept in the image. */
function prepare(
  x: SqliteExports,
  memory: WebAssembly.Memory,
  session: Session,
  layout: DatabaseLayout,
  name: string,
  sql: string,
): PreparedStatement {
  const path = `options.statements.${name}`;
  if (typeof sql !== 'string') throw new InvalidArgumentError(`${path} must be SQL (a string)`);
  const text = writeCString(memory, x.malloc, sql);
  const end = text.ptr + text.length;
  const { scratch } = layout;
  const compile = (from: number): { stmt: number; tail: number } => {
    const rc = x.sqlite3_prepare_v2(layout.db, from, end - from, scratch, scratch + 4);
    if (rc !== SQLITE_OK) {
      const err = session.fail(rc);
      throw new InvalidArgumentError(`${path} does not compile: ${err.message}`, { cause: err });
    }
    const words = new Uint32Array(memory.buffer, scratch, 2);
    return { stmt: words[0]!, tail: words[1]! };
  };
  const { stmt, tail } = compile(text.ptr);
  if (stmt === 0) throw new InvalidArgumentError(`${path} is empty: give it one SQL statement`);
  if (tail < end) {
    const rest = compile(tail);
    if (rest.stmt !== 0) throw new InvalidArgumentError(`${path} holds more than one statement; give each its own name`);
  }
  const columns: string[] = [];
  for (let i = 0; i < x.sqlite3_column_count(stmt); i++) {
    columns.push(readCString(memory, x.sqlite3_column_name(stmt, i)));
  }
  return { name, stmt, columns };
}

/** Refuses a memory limit the database and the setup leave no room under. */
function checkRoom(session: Session, options: ImageOptions): void {
  try {
    session.exec(`SELECT length(hex(zeroblob(${ROOM_CHECK_BYTES / 2})))`, undefined, NO_READ);
  } catch (err) {
    if (err instanceof SqliteError) throw err;
    const what = options.database !== undefined ? `the database (${options.database.length} bytes) and the setup` : 'the setup';
    throw new InvalidArgumentError(
      `options.memoryLimit (${options.memoryLimit} bytes) leaves no room: ${what} already hold nearly that much of SQLite's heap; ` +
        'raise memoryLimit',
      { cause: err },
    );
  }
}
