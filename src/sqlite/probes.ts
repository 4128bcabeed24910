/**
 * Where this SQLite build keeps the state a use must reach directly, found while the image is made
 * and proven before it is trusted (each probe changes the place through memory and checks that
 * SQLite then reports the change). sql.js exports no function for any of them, and running SQL
 * for each would cost a statement per use:
 *
 * - the PRNG's state (`sqlite3Prng`), left unseeded in the image so that every use seeds it afresh;
 * - the heap limit (`mem0.alarmThreshold` and `mem0.hardLimit`), which a use's own `memoryLimit` lowers;
 * - the connection's `nChange` and `lastRowid`, which a prepared statement's result reports.
 *
 * A build where a probe fails is refused with `UnsupportedError`, not guessed at.
 */
import { UnsupportedError } from '../errors.js';
import { candidateRanges } from '../memory/data-pages.js';
import type { SqliteExports } from './abi.js';
import type { UseState } from './imports.js';
import type { ConnectionCounters, Session } from './session.js';

/** ChaCha20's constant words ("expand 32-byte k"), which start `sqlite3Prng.s` once it is seeded. */
const CHACHA = [0x61707865, 0x3320646e, 0x79622d32, 0x6b206574] as const;
/** {@link CHACHA} as it lies in (little-endian) memory. */
const CHACHA_BYTES = bytesOf(new Uint32Array(CHACHA));
/** `struct sqlite3PrngType { u32 s[16]; u8 out[64]; u8 n; }`, up to its last member. */
export const PRNG_BYTES = 16 * 4 + 64 + 1;
/** Bytes of the `sqlite3` struct searched for its counters. */
const CONNECTION_SEARCH_BYTES = 2048;
const NO_READ = { readBigInts: false } as const;

/** The one value of a one-row, one-column SQL result. */
function only(session: Session, sql: string): unknown {
  return session.exec(sql, undefined, NO_READ)[0]?.values[0]?.[0];
}

/**
 * Where `pattern` lies in `memory` at offsets that are multiples of `align`, ascending. Only the
 * pages that may hold data are searched (`memory/data-pages.ts`: the initialization memory is
 * anonymous), natively (`indexOf`): the rest of a memory is zeros, which reading would fault in a
 * page at a time, and a word-by-word loop in JavaScript over 20 MiB is tens of milliseconds.
 */
function findAll(memory: WebAssembly.Memory, pattern: Uint8Array, align: number): number[] {
  const found: number[] = [];
  for (const range of candidateRanges(memory.buffer) ?? [{ start: 0, end: memory.buffer.byteLength }]) {
    const haystack = Buffer.from(memory.buffer, range.start, range.end - range.start);
    for (let at = haystack.indexOf(pattern); at >= 0; at = haystack.indexOf(pattern, at + 1)) {
      if ((range.start + at) % align === 0) found.push(range.start + at);
    }
  }
  return found;
}

/** The bytes of `words` as they lie in (little-endian) memory. */
function bytesOf(words: Uint32Array | BigInt64Array): Uint8Array {
  return new Uint8Array(words.buffer, words.byteOffset, words.byteLength);
}

/**
 * The address of `sqlite3Prng`. Found as a place where a `SELECT random()` left ChaCha20's
 * constants that was zero before it, then proved: zeroing its first word must make the next
 * `random()` reseed (read `/dev/urandom` again) and write the constants back there.
 */
export function findPrng(session: Session, memory: WebAssembly.Memory, state: UseState): number {
  // What was there before: only the pages that may hold data are copied; the others were zero.
  const before = (candidateRanges(memory.buffer) ?? [{ start: 0, end: memory.buffer.byteLength }]).map(({ start, end }) => ({
    start,
    end,
    words: new Uint32Array(memory.buffer.slice(start, end)),
  }));
  const wasZero = (at: number) => {
    const range = before.find((r) => r.start <= at && at < r.end);
    return range === undefined || range.words[(at - range.start) / 4] === 0;
  };
  only(session, 'SELECT random()');
  for (const at of findAll(memory, CHACHA_BYTES, 4)) {
    if (!wasZero(at)) continue;
    const seeds = state.randomSeeds;
    new Uint32Array(memory.buffer)[at / 4] = 0;
    only(session, 'SELECT random()');
    const words = new Uint32Array(memory.buffer);
    if (state.randomSeeds === seeds + 1 && words[at / 4] === CHACHA[0]) return at;
    words[at / 4] = CHACHA[0];
  }
  throw new UnsupportedError(
    'SQLite',
    "cannot find where this build keeps its PRNG's state, so every use would draw the same random numbers",
  );
}

/**
 * The address of `mem0.alarmThreshold`, with `mem0.hardLimit` the next i64. `PRAGMA
 * hard_heap_limit = n` with no soft limit sets both to n, so the pair is found as two adjacent
 * words equal to a distinctive n, then proved: a soft limit must change only the first, and values
 * written there must be what the pragmas report. Leaves no limit set.
 */
export function findHeapLimit(session: Session, memory: WebAssembly.Memory): number {
  const hard = 0x1f2e3d4c5bn;
  const soft = 0x0a1b2c3d4en;
  only(session, `PRAGMA hard_heap_limit = ${hard}`);
  const candidates = findAll(memory, bytesOf(new BigInt64Array([hard, hard])), 8).map((at) => at / 8);
  only(session, `PRAGMA soft_heap_limit = ${soft}`);
  for (const i of candidates) {
    const now = new BigInt64Array(memory.buffer);
    if (now[i] !== soft || now[i + 1] !== hard) continue;
    now[i] = 0x3456789n;
    now[i + 1] = 0x456789an;
    const reported = [only(session, 'PRAGMA soft_heap_limit'), only(session, 'PRAGMA hard_heap_limit')];
    if (reported[0] === 0x3456789 && reported[1] === 0x456789a) {
      // No limit again, written here: `PRAGMA hard_heap_limit` only ever lowers it.
      now[i] = now[i + 1] = 0n;
      return i * 8;
    }
    now[i] = soft;
    now[i + 1] = hard;
  }
  throw new UnsupportedError('SQLite', "cannot find where this build keeps its heap limit, so a use's own memoryLimit could not apply");
}

/**
 * Where the connection `db` keeps `nChange` and `lastRowid` (i64 words of the `sqlite3` struct).
 * Found by inserting rows into a temporary table with counts and rowids no other word holds, then
 * proved by writing values there that `changes()` and `last_insert_rowid()` must report. The
 * temporary table is dropped, and both are left at zero.
 */
export function findConnectionCounters(session: Session, x: SqliteExports, memory: WebAssembly.Memory, db: number): ConnectionCounters {
  const search = (value: bigint): number[] => {
    const words = new BigInt64Array(memory.buffer, db, CONNECTION_SEARCH_BYTES / 8);
    const found: number[] = [];
    for (let i = 0; i < words.length; i++) if (words[i] === value) found.push(db + i * 8);
    return found;
  };
  session.exec(
    'CREATE TEMP TABLE cowpool_probe(x); ' +
      'INSERT INTO cowpool_probe(rowid, x) WITH RECURSIVE c(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM c LIMIT 1237) ' +
      'SELECT n + 987654000, n FROM c',
    undefined,
    NO_READ,
  );
  const changes = search(1237n);
  const rowids = search(987655237n);
  session.exec('INSERT INTO cowpool_probe(rowid, x) VALUES (55443322, 1), (55443323, 2)', undefined, NO_READ);
  const change = changes.find((at) => new BigInt64Array(memory.buffer, at, 1)[0] === 2n && x.sqlite3_changes(db) === 2);
  const rowid = rowids.find((at) => new BigInt64Array(memory.buffer, at, 1)[0] === 55443323n);
  session.exec('DROP TABLE temp.cowpool_probe', undefined, NO_READ);
  if (change !== undefined && rowid !== undefined) {
    const words = (at: number) => new BigInt64Array(memory.buffer, at, 1);
    words(change)[0] = 7n;
    words(rowid)[0] = 8n;
    if (x.sqlite3_changes(db) === 7 && only(session, 'SELECT last_insert_rowid()') === 8) {
      words(change)[0] = 0n;
      words(rowid)[0] = 0n;
      return { changes: change, lastRowid: rowid };
    }
  }
  throw new UnsupportedError('SQLite', "cannot find where this build keeps a connection's changes and last rowid");
}
