/**
 * One use of the SQLite database, from the host's side: run every statement of the SQL through
 * `sqlite3_prepare_v2` / bind / step / column / finalize, and bring the rows out in sql.js's shape.
 *
 * Nothing allocated here is freed: every use ends with the memory reset to the image.
 */
import { ColumnType, SQLITE_DONE, SQLITE_NOMEM, SQLITE_OK, SQLITE_ROW, type SqliteExports } from './abi.js';
import { SqliteError, SqliteMemoryLimitError } from './errors.js';
import { readCString, writeCString } from '../emscripten/c-strings.js';

/** A value SQLite stores: INTEGER and REAL are numbers (a bigint when an INTEGER is not a safe integer), TEXT strings, BLOB bytes. */
export type SqlValue = number | bigint | string | Uint8Array | null;

/** What a parameter may be: a {@link SqlValue}, or a boolean (bound as 0 or 1). */
export type SqlParam = SqlValue | boolean;

/** Parameters: positional (`?`, `?1`) from an array, or named (`:a`, `@a`, `$a`, the prefix included in the key). */
export type SqlParams = readonly SqlParam[] | Readonly<Record<string, SqlParam>>;

/** The rows of one statement that returned any, as sql.js's `exec` gives them. */
export interface QueryResult {
  columns: string[];
  values: SqlValue[][];
}

/** Addresses in the image that every use starts from. */
export interface DatabaseLayout {
  /** `sqlite3*` of the database. */
  readonly db: number;
  /** Room for `prepare_v2`'s two out-parameters. */
  readonly scratch: number;
}

/** `SQLITE_STATIC`: SQLite does not copy a bound value (its bytes live until the memory is reset). */
const STATIC = 0;
const UTF8 = new TextDecoder();

/** Runs every statement of `sql` on the database at `layout` and returns the rows, or throws a typed error. */
export function runSql(
  x: SqliteExports,
  memory: WebAssembly.Memory,
  layout: DatabaseLayout,
  sql: string,
  params: SqlParams | undefined,
  memoryLimit: number,
): QueryResult[] {
  const { db, scratch } = layout;
  const fail = (rc: number): Error =>
    (rc & 0xff) === SQLITE_NOMEM ? new SqliteMemoryLimitError(memoryLimit) : new SqliteError(rc, readCString(memory, x.sqlite3_errmsg(db)));
  const malloc = (size: number): number => {
    const ptr = x.malloc(size);
    if (ptr === 0) throw new SqliteMemoryLimitError(memoryLimit);
    return ptr;
  };
  const text = writeCString(memory, malloc, sql);
  const end = text.ptr + text.length;
  const results: QueryResult[] = [];
  let at = text.ptr;
  while (at < end) {
    const rc = x.sqlite3_prepare_v2(db, at, end - at, scratch, scratch + 4);
    if (rc !== SQLITE_OK) throw fail(rc);
    const words = new Uint32Array(memory.buffer, scratch, 2);
    const stmt = words[0]!;
    const tail = words[1]!;
    if (tail <= at) break;
    at = tail;
    if (stmt === 0) continue; // only whitespace or a comment
    if (params !== undefined) bind(x, memory, stmt, params, malloc, fail);
    let result: QueryResult | undefined;
    let step: number;
    while ((step = x.sqlite3_step(stmt)) === SQLITE_ROW) {
      const count = x.sqlite3_column_count(stmt);
      if (result === undefined) {
        const columns: string[] = [];
        for (let i = 0; i < count; i++) columns.push(readCString(memory, x.sqlite3_column_name(stmt, i)));
        result = { columns, values: [] };
        results.push(result);
      }
      const row: SqlValue[] = [];
      for (let i = 0; i < count; i++) row.push(column(x, memory, stmt, i));
      result.values.push(row);
    }
    if (step !== SQLITE_DONE) throw fail(step);
    // Finalizing ends the statement, so that later ones (a DROP of the table it read) are not locked out.
    x.sqlite3_finalize(stmt);
  }
  return results;
}

function column(x: SqliteExports, memory: WebAssembly.Memory, stmt: number, i: number): SqlValue {
  switch (x.sqlite3_column_type(stmt, i)) {
    case ColumnType.integer: {
      const n = x.sqlite3_column_double(stmt, i);
      return Number.isSafeInteger(n) ? n : BigInt(readCString(memory, x.sqlite3_column_text(stmt, i)));
    }
    case ColumnType.float:
      return x.sqlite3_column_double(stmt, i);
    case ColumnType.text: {
      const ptr = x.sqlite3_column_text(stmt, i);
      const n = x.sqlite3_column_bytes(stmt, i);
      return UTF8.decode(new Uint8Array(memory.buffer, ptr, n));
    }
    case ColumnType.blob: {
      const ptr = x.sqlite3_column_blob(stmt, i);
      const n = x.sqlite3_column_bytes(stmt, i);
      return n === 0 ? new Uint8Array(0) : new Uint8Array(memory.buffer, ptr, n).slice();
    }
    default:
      return null;
  }
}

function bind(
  x: SqliteExports,
  memory: WebAssembly.Memory,
  stmt: number,
  params: SqlParams,
  malloc: (size: number) => number,
  fail: (rc: number) => Error,
): void {
  const one = (index: number, value: SqlParam): void => {
    if (value === null || value === undefined) return; // unbound parameters are NULL
    let rc: number;
    if (typeof value === 'boolean') rc = x.sqlite3_bind_int(stmt, index, value ? 1 : 0);
    else if (typeof value === 'number') {
      rc =
        (value | 0) === value && !Object.is(value, -0) ? x.sqlite3_bind_int(stmt, index, value) : x.sqlite3_bind_double(stmt, index, value);
    } else if (typeof value === 'bigint') {
      // Checked safe by the sandbox: an integer-valued double, stored as an INTEGER where the column's affinity says so.
      const n = Number(value);
      rc = (n | 0) === n ? x.sqlite3_bind_int(stmt, index, n) : x.sqlite3_bind_double(stmt, index, n);
    } else if (typeof value === 'string') {
      const s = writeCString(memory, malloc, value);
      rc = x.sqlite3_bind_text(stmt, index, s.ptr, s.length, STATIC);
    } else {
      // A zero-length blob still needs a non-null pointer (null binds NULL).
      const ptr = malloc(Math.max(1, value.length));
      new Uint8Array(memory.buffer, ptr, value.length).set(value);
      rc = x.sqlite3_bind_blob(stmt, index, ptr, value.length, STATIC);
    }
    if (rc !== SQLITE_OK) throw fail(rc);
  };
  if (Array.isArray(params)) {
    for (let i = 0; i < params.length; i++) one(i + 1, params[i] as SqlParam);
    return;
  }
  for (const [name, value] of Object.entries(params)) {
    const index = x.sqlite3_bind_parameter_index(stmt, writeCString(memory, malloc, name).ptr);
    // A name this statement does not use: the parameters apply to every statement of the SQL.
    if (index !== 0) one(index, value);
  }
}
