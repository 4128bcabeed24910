/**
 * Pre-initialization of SQLite: run the constructors, open one `:memory:` database, run the setup
 * SQL, and hand the state that leaves to the pool as an ordinary module:
 *
 *   sql-wasm.wasm ─ its memory imported instead of defined; ctors, sqlite3_open(":memory:"),
 *        │          PRAGMA temp_store=MEMORY, setup SQL, PRAGMA hard_heap_limit (on a fresh
 *        │          memory, with cowpool's host)
 *        ▼
 *   snapshot module = that module, with
 *     - its mutable global (the stack pointer) starting from the value initialization left,
 *     - its data segments emptied and the snapshot's non-zero pages added as active segments,
 *     - the memory's initial size raised to hold the snapshot and a use's memory limit,
 *     - only the exports the host calls (no memory or table export: the pool keeps one instance per slot).
 *
 * SQLite's PRNG (`sqlite3Prng`, ChaCha20) is left unseeded in the image, so that every use seeds
 * it from the host's `/dev/urandom` (crypto) the first time it needs randomness.
 */
import { InternalError, UnsupportedError } from '../errors.js';
import { readModule, rewriteModule } from '../module/index.js';
import { inspectable, snapshotModule } from '../hosting/snapshot.js';
import { checkAbi, EXPORTS, SQLITE_OK, sqliteExports, type SqliteExports } from './abi.js';
import { writeCString } from '../hosting/strings.js';
import { MEMORY_IMPORT, sqliteImports, UseState } from './host.js';
import { runSql, type DatabaseLayout } from './session.js';

/** ChaCha20's constant words ("expand 32-byte k"), which start `sqlite3Prng.s` once it is seeded. */
const CHACHA = [0x61707865, 0x3320646e, 0x79622d32, 0x6b206574] as const;
/** `struct sqlite3PrngType { u32 s[16]; u8 out[64]; u8 n; }`, up to its last member. */
const PRNG_BYTES = 16 * 4 + 64 + 1;

/** What {@link buildSnapshot} produces. */
export interface Snapshot {
  /** The snapshot module's bytes, for the pool. */
  readonly bytes: Uint8Array;
  /** Where the database is in every use's memory. */
  readonly layout: DatabaseLayout;
  /** Bytes up to the highest non-zero byte of the snapshot. */
  readonly usedBytes: number;
  /** The memory's initial (and, in the pool, fixed) size in bytes. */
  readonly memoryBytes: number;
  /** Address of SQLite's PRNG state, unseeded in the image. */
  readonly prng: number;
}

/** Options of {@link buildSnapshot}. */
export interface SnapshotOptions {
  /** SQL run once after the database is opened; its effects are in every use. */
  readonly setup?: string;
  /**
   * Bytes SQLite's heap may hold in a use, the setup's data included (SQLite's `hard_heap_limit`,
   * which the setup SQL runs without). The memory is sized to hold that much and the allocator's
   * overhead.
   */
  readonly memoryLimit: number;
}

/**
 * Room above the limit for what SQLite does not count: the allocator's chunk headers and its
 * fragmentation, and the host's copies of a use's SQL and parameters.
 */
const heapRoom = (limit: number) => Math.ceil(limit * 1.5) + 2 * 2 ** 20;

/** Opens the database once, runs the setup SQL, and returns the module whose uses all start from that state. */
export function buildSnapshot(wasm: Uint8Array, options: SnapshotOptions): Snapshot {
  const original = readModule(wasm);
  checkAbi(original);
  const { min, max } = original.memories[0]!;
  // Import the memory rather than let the module define it: the pool supplies it, and so does this.
  const imported = rewriteModule(wasm, original, { importMemory: MEMORY_IMPORT });
  const info = readModule(imported);
  const memory = new WebAssembly.Memory({ initial: min, ...(max !== undefined ? { maximum: max } : {}) });
  const state = new UseState();
  const instance = new WebAssembly.Instance(
    new WebAssembly.Module(inspectable(imported, info)),
    sqliteImports(memory, () => state, true),
  );
  const x = sqliteExports(instance);
  x.wasmCallCtors();
  const scratch = x.malloc(8);
  const name = writeCString(memory, x.malloc, ':memory:');
  if (scratch === 0 || x.sqlite3_open(name.ptr, scratch) !== SQLITE_OK)
    throw new InternalError('SQLite could not open a :memory: database');
  const layout: DatabaseLayout = { db: new Uint32Array(memory.buffer, scratch, 1)[0]!, scratch };
  // Sorts and temporary tables too large for the cache would otherwise ask for files, which there are none of.
  runSql(x, memory, layout, 'PRAGMA temp_store=MEMORY', undefined, Infinity);
  const prng = findPrng(x, memory, layout, state);
  // Setup runs as a use does (errors typed the same way), but its effects are kept: this is the image.
  if (options.setup !== undefined) runSql(x, memory, layout, options.setup, undefined, Infinity);
  // Past it an allocation fails as SQLITE_NOMEM, and the use ends (the memory itself never grows).
  runSql(x, memory, layout, `PRAGMA hard_heap_limit = ${options.memoryLimit}`, undefined, Infinity);
  new Uint8Array(memory.buffer, prng, PRNG_BYTES).fill(0);

  const keepExports = new Set(Object.values(EXPORTS).map((e) => e.name));
  const headroom = heapRoom(options.memoryLimit);
  const { bytes, usedBytes, memoryBytes } = snapshotModule(imported, info, { instance, memory, headroom, keepExports, what: 'SQLite' });
  return { bytes, layout, usedBytes, memoryBytes, prng };
}

/**
 * The address of `sqlite3Prng`. Found as a place where a `SELECT random()` left ChaCha20's
 * constants that was zero before it, then proved: zeroing its first word must make the next
 * `random()` reseed (read `/dev/urandom` again) and write the constants back there.
 */
function findPrng(x: SqliteExports, memory: WebAssembly.Memory, layout: DatabaseLayout, state: UseState): number {
  const before = new Uint32Array(memory.buffer.slice(0));
  runSql(x, memory, layout, 'SELECT random()', undefined, Infinity);
  const after = new Uint32Array(memory.buffer);
  for (let i = 0; i + 3 < before.length; i++) {
    if (after[i] !== CHACHA[0] || after[i + 1] !== CHACHA[1] || after[i + 2] !== CHACHA[2] || after[i + 3] !== CHACHA[3]) continue;
    if (before[i] !== 0) continue;
    const seeds = state.randomSeeds;
    after[i] = 0;
    runSql(x, memory, layout, 'SELECT random()', undefined, Infinity);
    const words = new Uint32Array(memory.buffer);
    if (state.randomSeeds === seeds + 1 && words[i] === CHACHA[0]) return i * 4;
    words[i] = CHACHA[0];
  }
  throw new UnsupportedError(
    'SQLite',
    "cannot find where this build keeps its PRNG's state, so every use would draw the same random numbers",
  );
}
