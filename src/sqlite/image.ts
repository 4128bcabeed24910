/**
 * Pre-initialization of SQLite: run the constructors, open one `:memory:` database, run the setup
 * SQL, by a function the pool's pre-initialization runs (`pool/preinitialize/`), with cowpool's imports:
 *
 *   ctors, sqlite3_open(":memory:"), PRAGMA temp_store=MEMORY, the PRNG found, setup SQL,
 *   PRAGMA hard_heap_limit ── on a fresh memory that may grow ──► the pool's snapshot, from which
 *     - the memory image (sized to the snapshot and a use's memory limit),
 *     - the starting value of its mutable global (the stack pointer),
 *     - only the exports the host calls (no memory or table export: the pool keeps one instance per slot),
 *   and where the database and the PRNG are ({@link SqliteImage}), which every use needs.
 *
 * SQLite's PRNG (`sqlite3Prng`, ChaCha20) is left unseeded in the image, so that every use seeds
 * it from the host's `/dev/urandom` (crypto) the first time it needs randomness.
 */
import { InternalError, UnsupportedError } from '../errors.js';
import { candidateRanges } from '../memory/data-pages.js';
import { InstancePool, type PoolOptions } from '../pool/index.js';
import type { InternalPoolOptions } from '../pool/options.js';
import { INITIALIZER, type FunctionInitializer } from '../pool/preinitialize/initializer.js';
import { checkAbi, EXPORTS, SQLITE_OK, sqliteExports, type SqliteExports } from './abi.js';
import { writeCString } from '../emscripten/c-strings.js';
import { sqliteImports, UseState } from './imports.js';
import { runSql, type DatabaseLayout } from './session.js';

/** ChaCha20's constant words ("expand 32-byte k"), which start `sqlite3Prng.s` once it is seeded. */
const CHACHA = [0x61707865, 0x3320646e, 0x79622d32, 0x6b206574] as const;
/** {@link CHACHA} as it lies in (little-endian) memory. */
const CHACHA_BYTES = Buffer.from(new Uint32Array(CHACHA).buffer);
/** `struct sqlite3PrngType { u32 s[16]; u8 out[64]; u8 n; }`, up to its last member. */
const PRNG_BYTES = 16 * 4 + 64 + 1;

/** What every use needs to know of the state initialization left. */
export interface SqliteImage {
  /** Where the database is in every use's memory. */
  readonly layout: DatabaseLayout;
  /** Bytes up to the highest non-zero byte of the image. */
  readonly usedBytes: number;
  /** Address of SQLite's PRNG state, unseeded in the image. */
  readonly prng: number;
}

/** Options of {@link createInitializedPool}'s initialization. */
export interface ImageOptions {
  /** SQL run once after the database is opened; its effects are in every use. */
  readonly setup?: string;
  /**
   * Bytes SQLite's heap may hold in a use, the setup's data included (SQLite's `hard_heap_limit`,
   * which the setup SQL runs without). The memory is sized to hold that much and the allocator's
   * overhead.
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

/**
 * Opens the database once, runs the setup SQL, and returns the pool whose uses all start from that
 * state (with `pool` as its options), and what uses need to know of that state.
 */
export function createInitializedPool(
  wasm: Uint8Array,
  options: ImageOptions,
  pool: SqlitePoolOptions,
): { pool: InstancePool<WebAssembly.Exports, undefined, UseState>; image: SqliteImage } {
  const state = new UseState();
  let image: SqliteImage | undefined;
  const initializer: FunctionInitializer<Omit<SqliteImage, 'usedBytes'>> = {
    kind: 'function',
    name: 'the SQLite initialization',
    // The heap may grow while setting up; in a use it never does (the memory is sized for it).
    imports: (memory) => sqliteImports(memory!, () => state, true),
    run: (instance, memory) => initialize(sqliteExports(instance), memory!, options, state),
    keepExports: new Set(Object.values(EXPORTS).map((e) => e.name)),
    headroom: { bytes: heapRoom(options.memoryLimit), option: 'memoryLimit' },
    // What the setup leaves besides the module: the SQL, and the heap limit it sets last.
    key: JSON.stringify({ setup: options.setup ?? null, memoryLimit: options.memoryLimit }),
    validate: checkAbi,
    captured: ({ result, usedBytes }) => {
      image = { ...result, usedBytes };
    },
  };
  const poolOptions: InternalPoolOptions<undefined, UseState> = {
    ...pool,
    setup: (host) => ({ imports: sqliteImports(host.memory!, () => host.context) }),
    [INITIALIZER]: initializer,
  };
  const created = InstancePool.createSync<WebAssembly.Exports, undefined, UseState>(wasm, poolOptions);
  if (image === undefined) throw new InternalError('the pool did not run the SQLite initialization');
  return { pool: created, image };
}

/** Sets SQLite up in `memory` through `x`, with `state` as what the host's imports see. */
function initialize(x: SqliteExports, memory: WebAssembly.Memory, options: ImageOptions, state: UseState): Omit<SqliteImage, 'usedBytes'> {
  x.wasmCallCtors();
  const scratch = x.malloc(8);
  const name = writeCString(memory, x.malloc, ':memory:');
  if (scratch === 0 || x.sqlite3_open(name.ptr, scratch) !== SQLITE_OK) {
    throw new InternalError('SQLite could not open a :memory: database');
  }
  const layout: DatabaseLayout = { db: new Uint32Array(memory.buffer, scratch, 1)[0]!, scratch };
  // Sorts and temporary tables too large for the cache would otherwise ask for files, which there are none of.
  runSql(x, memory, layout, 'PRAGMA temp_store=MEMORY', undefined, Infinity);
  const prng = findPrng(x, memory, layout, state);
  // Setup runs as a use does (errors typed the same way), but its effects are kept: this is the image.
  if (options.setup !== undefined) runSql(x, memory, layout, options.setup, undefined, Infinity);
  // Past it an allocation fails as SQLITE_NOMEM, and the use ends (the memory itself never grows).
  runSql(x, memory, layout, `PRAGMA hard_heap_limit = ${options.memoryLimit}`, undefined, Infinity);
  new Uint8Array(memory.buffer, prng, PRNG_BYTES).fill(0);
  return { layout, prng };
}

/**
 * The address of `sqlite3Prng`. Found as a place where a `SELECT random()` left ChaCha20's
 * constants that was zero before it, then proved: zeroing its first word must make the next
 * `random()` reseed (read `/dev/urandom` again) and write the constants back there. Only the pages
 * that may hold data are copied and searched (`memory/data-pages.ts`): the rest of the memory is
 * zeros, and reading it would cost a page fault a page.
 */
function findPrng(x: SqliteExports, memory: WebAssembly.Memory, layout: DatabaseLayout, state: UseState): number {
  const wholeMemory = (buffer: ArrayBuffer) => [{ start: 0, end: buffer.byteLength }];
  // The initialization memory is a WebAssembly.Memory of its own: anonymous, as candidateRanges needs.
  const before = (candidateRanges(memory.buffer) ?? wholeMemory(memory.buffer)).map(({ start, end }) => ({
    start,
    words: new Uint32Array(memory.buffer.slice(start, end)),
  }));
  const wordBefore = (at: number) => {
    const range = before.find((r) => r.start <= at && at < r.start + r.words.byteLength);
    return range ? range.words[(at - range.start) / 4]! : 0;
  };
  runSql(x, memory, layout, 'SELECT random()', undefined, Infinity);
  for (const range of candidateRanges(memory.buffer) ?? wholeMemory(memory.buffer)) {
    // The constants are searched for natively (indexOf), not word by word in JavaScript.
    const haystack = Buffer.from(memory.buffer, range.start, range.end - range.start);
    for (let found = haystack.indexOf(CHACHA_BYTES); found >= 0; found = haystack.indexOf(CHACHA_BYTES, found + 1)) {
      const at = range.start + found;
      if (at % 4 !== 0 || wordBefore(at) !== 0) continue;
      const seeds = state.randomSeeds;
      new Uint32Array(memory.buffer)[at / 4] = 0;
      runSql(x, memory, layout, 'SELECT random()', undefined, Infinity);
      const words = new Uint32Array(memory.buffer);
      if (state.randomSeeds === seeds + 1 && words[at / 4] === CHACHA[0]) return at;
      words[at / 4] = CHACHA[0];
    }
  }
  throw new UnsupportedError(
    'SQLite',
    "cannot find where this build keeps its PRNG's state, so every use would draw the same random numbers",
  );
}
