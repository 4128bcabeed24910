/**
 * One use of the SQLite database, from the host's side: run SQL (every statement of it, through
 * `sqlite3_prepare_v2` / bind / step / column / finalize, rows in sql.js's shape), run a statement
 * the image holds prepared (bind and step only), and export the database (SQLite's backup API into
 * a host file, `host-files.ts`).
 *
 * Nothing allocated here is freed: every use ends with the memory reset to the image.
 */
import { readCString, writeCString } from '../emscripten/c-strings.js';
import { SQLITE_DONE, SQLITE_NOMEM, SQLITE_OK, SQLITE_ROW, type SqliteExports } from './abi.js';
import { SqliteError, SqliteMemoryLimitError } from './errors.js';
import { EXPORT_PATH, HostFile, HostFiles } from './host-files.js';
import type { UseState } from './imports.js';
import {
  bindParams,
  columnValue,
  type QueryResult,
  type ReadOptions,
  type SqlParams,
  type SqlRow,
  type SqlValue,
  type StatementResult,
} from './values.js';

/** Addresses in the image that every use starts from. */
export interface DatabaseLayout {
  /** `sqlite3*` of the database. */
  readonly db: number;
  /** Room for `prepare_v2`'s two out-parameters. */
  readonly scratch: number;
}

/** Where the connection keeps what a statement reports (`probes.ts` finds them), and the heap limit. */
export interface ConnectionCounters {
  /** `db->nChange` (i64): rows the last INSERT, UPDATE or DELETE changed. */
  readonly changes: number;
  /** `db->lastRowid` (i64). */
  readonly lastRowid: number;
}

/** A statement the image holds prepared. */
export interface PreparedStatement {
  readonly name: string;
  /** `sqlite3_stmt*`. */
  readonly stmt: number;
  /** Its result's column names when it was prepared (a use whose schema changes them reads them again). */
  readonly columns: readonly string[];
}

/** How a use's rows come out. */
export interface RowOptions extends ReadOptions {
  readonly rowMode: 'array' | 'object';
}

/** One use of the database; see the module comment. */
export class Session {
  readonly #x: SqliteExports;
  readonly #memory: WebAssembly.Memory;
  readonly #layout: DatabaseLayout;
  readonly #memoryLimit: number;
  readonly #state: UseState | undefined;
  /** Prepared statements this use has stepped, which must be reset before they run again. */
  readonly #stepped = new Set<number>();

  constructor(x: SqliteExports, memory: WebAssembly.Memory, layout: DatabaseLayout, memoryLimit: number, state: UseState | undefined) {
    this.#x = x;
    this.#memory = memory;
    this.#layout = layout;
    this.#memoryLimit = memoryLimit;
    this.#state = state;
  }

  /** `malloc`, or the use's memory-limit error. */
  readonly malloc = (size: number): number => {
    const ptr = this.#x.malloc(size);
    if (ptr === 0) throw new SqliteMemoryLimitError(this.#memoryLimit);
    return ptr;
  };

  /** The error for SQLite's result code `rc` on connection `db`: what a user function threw is its cause. */
  fail(rc: number, db = this.#layout.db): Error {
    if ((rc & 0xff) === SQLITE_NOMEM) return new SqliteMemoryLimitError(this.#memoryLimit);
    const cause = this.#state?.functionError;
    const message = readCString(this.#memory, this.#x.sqlite3_errmsg(db));
    return cause === undefined ? new SqliteError(rc, message) : new SqliteError(rc, message, { cause });
  }

  /** Runs every statement of `sql` with `params` bound to each; returns the rows of those that returned any. */
  exec(sql: string, params: SqlParams | undefined, read: ReadOptions, db = this.#layout.db): QueryResult[] {
    const x = this.#x;
    const memory = this.#memory;
    const { scratch } = this.#layout;
    const text = writeCString(memory, this.malloc, sql);
    const end = text.ptr + text.length;
    const results: QueryResult[] = [];
    let at = text.ptr;
    while (at < end) {
      const rc = x.sqlite3_prepare_v2(db, at, end - at, scratch, scratch + 4);
      if (rc !== SQLITE_OK) throw this.fail(rc, db);
      const words = new Uint32Array(memory.buffer, scratch, 2);
      const stmt = words[0]!;
      const tail = words[1]!;
      if (tail <= at) break;
      at = tail;
      if (stmt === 0) continue; // only whitespace or a comment
      if (params !== undefined) {
        const bound = bindParams(x, memory, stmt, params, this.malloc);
        if (bound !== SQLITE_OK) throw this.fail(bound, db);
      }
      let result: QueryResult | undefined;
      let step: number;
      while ((step = x.sqlite3_step(stmt)) === SQLITE_ROW) {
        const count = x.sqlite3_column_count(stmt);
        if (result === undefined) {
          result = { columns: this.#columnNames(stmt, count), values: [] };
          results.push(result);
        }
        const row: SqlValue[] = [];
        for (let i = 0; i < count; i++) row.push(columnValue(x, memory, stmt, i, read));
        result.values.push(row);
      }
      if (step !== SQLITE_DONE) throw this.fail(step, db);
      // Finalizing ends the statement, so that later ones (a DROP of the table it read) are not locked out.
      x.sqlite3_finalize(stmt);
    }
    return results;
  }

  /** Binds `params` to the prepared `statement`, steps it to the end, and reports what it did. */
  run(statement: PreparedStatement, params: SqlParams | undefined, rows: RowOptions, counters: ConnectionCounters): StatementResult {
    const x = this.#x;
    const memory = this.#memory;
    const { stmt } = statement;
    if (this.#stepped.has(stmt)) {
      x.sqlite3_reset(stmt);
      x.sqlite3_clear_bindings(stmt);
    }
    this.#stepped.add(stmt);
    if (params !== undefined) {
      const bound = bindParams(x, memory, stmt, params, this.malloc);
      if (bound !== SQLITE_OK) throw this.fail(bound);
    }
    const words = new DataView(memory.buffer);
    // What the statement reports is its own: a SELECT changes nothing, whatever ran before it.
    words.setBigInt64(counters.changes, 0n, true);
    let columns = statement.columns;
    const out: SqlRow[] = [];
    let step: number;
    while ((step = x.sqlite3_step(stmt)) === SQLITE_ROW) {
      const count = x.sqlite3_column_count(stmt);
      if (count !== columns.length) columns = this.#columnNames(stmt, count); // the schema changed in this use
      if (rows.rowMode === 'object') {
        const row: Record<string, SqlValue> = {};
        for (let i = 0; i < count; i++) row[columns[i]!] = columnValue(x, memory, stmt, i, rows);
        out.push(row);
      } else {
        const row: SqlValue[] = [];
        for (let i = 0; i < count; i++) row.push(columnValue(x, memory, stmt, i, rows));
        out.push(row);
      }
    }
    if (step !== SQLITE_DONE) throw this.fail(step);
    const after = new DataView(memory.buffer);
    const rowid = after.getBigInt64(counters.lastRowid, true);
    const safe = rowid >= BigInt(Number.MIN_SAFE_INTEGER) && rowid <= BigInt(Number.MAX_SAFE_INTEGER);
    return {
      columns: [...columns],
      rows: out,
      changes: Number(after.getBigInt64(counters.changes, true)),
      lastInsertRowid: rows.readBigInts || !safe ? rowid : Number(rowid),
    };
  }

  /**
   * The database as a file's bytes: SQLite's backup API copies it into a host file, written as a
   * rollback-journal database (no journal is written: the copy is new).
   */
  exportDatabase(read: ReadOptions): Uint8Array {
    const x = this.#x;
    const memory = this.#memory;
    const state = this.#state!;
    state.files ??= new HostFiles();
    const file = state.files.add(new HostFile(EXPORT_PATH, 2, new Uint8Array(0), { writable: true }));
    const { scratch } = this.#layout;
    const rc = x.sqlite3_open(writeCString(memory, this.malloc, EXPORT_PATH).ptr, scratch);
    const dest = new Uint32Array(memory.buffer, scratch, 1)[0]!;
    try {
      if (rc !== SQLITE_OK) throw this.fail(rc, dest);
      this.exec('PRAGMA journal_mode = OFF', undefined, read, dest);
      const main = writeCString(memory, this.malloc, 'main').ptr;
      const backup = x.sqlite3_backup_init(dest, main, this.#layout.db, main);
      if (backup === 0) throw this.fail(1, dest);
      const step = x.sqlite3_backup_step(backup, -1);
      const finished = x.sqlite3_backup_finish(backup);
      if (step !== SQLITE_DONE) throw this.fail(step, dest);
      if (finished !== SQLITE_OK) throw this.fail(finished, dest);
    } finally {
      if (dest !== 0) x.sqlite3_close_v2(dest);
    }
    return file.contents().slice();
  }

  #columnNames(stmt: number, count: number): string[] {
    const columns: string[] = [];
    for (let i = 0; i < count; i++) columns.push(readCString(this.#memory, this.#x.sqlite3_column_name(stmt, i)));
    return columns;
  }
}
