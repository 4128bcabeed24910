/**
 * The values a SQLite sandbox exchanges with its caller, and how each crosses between JavaScript
 * and SQLite: what a parameter or a function's result may be and how it is stored, what a column
 * or a function's argument becomes, and the shapes of the results.
 *
 * Numbers follow sql.js: a JavaScript number that is a 32-bit integer goes in as an INTEGER, any
 * other as a REAL; an INTEGER comes out as a number, or as a bigint when it is beyond 2^53 (or
 * always, with `readBigInts`).
 */
import { ColumnType, SQLITE_OK, SQLITE_TRANSIENT, type SqliteExports } from './abi.js';
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

/** A row of a prepared statement's result: an array (`rowMode: 'array'`, the default) or an object by column name. */
export type SqlRow = SqlValue[] | Record<string, SqlValue>;

/** What running a prepared statement gives. */
export interface StatementResult<R = SqlRow> {
  /** The result's column names (empty for a statement that returns no rows). */
  columns: string[];
  /** Every row the statement returned, in order. */
  rows: R[];
  /** Rows the statement inserted, updated or deleted (0 for any other statement). */
  changes: number;
  /**
   * The rowid of the last row an INSERT of this use added (0 when none has); a bigint with
   * `readBigInts` or beyond 2^53.
   */
  lastInsertRowid: number | bigint;
}

/** How a use reads INTEGERs: as numbers (bigints beyond 2^53) or always as bigints. */
export interface ReadOptions {
  readonly readBigInts: boolean;
}

const UTF8 = new TextDecoder();

/** An INTEGER SQLite gave as the double `n`, with its exact text at hand when the double is not exact. */
export function integerValue(n: number, text: () => string, options: ReadOptions): number | bigint {
  if (Number.isSafeInteger(n)) return options.readBigInts ? BigInt(n) : n;
  return BigInt(text());
}

/** Column `i` of the current row of `stmt`. */
export function columnValue(x: SqliteExports, memory: WebAssembly.Memory, stmt: number, i: number, options: ReadOptions): SqlValue {
  switch (x.sqlite3_column_type(stmt, i)) {
    case ColumnType.integer:
      return integerValue(x.sqlite3_column_double(stmt, i), () => readCString(memory, x.sqlite3_column_text(stmt, i)), options);
    case ColumnType.float:
      return x.sqlite3_column_double(stmt, i);
    case ColumnType.text: {
      const ptr = x.sqlite3_column_text(stmt, i);
      return UTF8.decode(new Uint8Array(memory.buffer, ptr, x.sqlite3_column_bytes(stmt, i)));
    }
    case ColumnType.blob: {
      const n = x.sqlite3_column_bytes(stmt, i);
      return n === 0 ? new Uint8Array(0) : new Uint8Array(memory.buffer, x.sqlite3_column_blob(stmt, i), n).slice();
    }
    default:
      return null;
  }
}

/** The `sqlite3_value*` at `value` (a function's argument). */
export function argumentValue(x: SqliteExports, memory: WebAssembly.Memory, value: number, options: ReadOptions): SqlValue {
  switch (x.sqlite3_value_type(value)) {
    case ColumnType.integer:
      return integerValue(x.sqlite3_value_double(value), () => readCString(memory, x.sqlite3_value_text(value)), options);
    case ColumnType.float:
      return x.sqlite3_value_double(value);
    case ColumnType.text: {
      const ptr = x.sqlite3_value_text(value);
      return UTF8.decode(new Uint8Array(memory.buffer, ptr, x.sqlite3_value_bytes(value)));
    }
    case ColumnType.blob: {
      const n = x.sqlite3_value_bytes(value);
      return n === 0 ? new Uint8Array(0) : new Uint8Array(memory.buffer, x.sqlite3_value_blob(value), n).slice();
    }
    default:
      return null;
  }
}

const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;

/**
 * Sets `value` as the result of the function call `ctx`; returns a message when the value is not
 * one SQLite can store (the caller reports it as the function's error). Strings and bytes are
 * copied by SQLite and freed here at once, so that a function called for every row of a large
 * query does not fill the memory.
 */
export function setResult(x: SqliteExports, memory: WebAssembly.Memory, ctx: number, value: unknown): string | undefined {
  if (value === null || value === undefined) x.sqlite3_result_null(ctx);
  else if (typeof value === 'number') {
    if ((value | 0) === value && !Object.is(value, -0)) x.sqlite3_result_int(ctx, value);
    else x.sqlite3_result_double(ctx, value);
  } else if (typeof value === 'bigint') {
    if (value < INT64_MIN || value > INT64_MAX) return `${value}n is outside SQLite's 64-bit integers`;
    x.sqlite3_result_int64(ctx, value);
  } else if (typeof value === 'boolean') x.sqlite3_result_int(ctx, value ? 1 : 0);
  else if (typeof value === 'string') {
    const text = writeCString(memory, x.malloc, value);
    x.sqlite3_result_text(ctx, text.ptr, text.length, SQLITE_TRANSIENT);
    x.free(text.ptr);
  } else if (value instanceof Uint8Array) {
    const ptr = x.malloc(Math.max(1, value.length));
    if (ptr === 0) return `a result of ${value.length} bytes does not fit in the sandbox's memory`;
    new Uint8Array(memory.buffer, ptr, value.length).set(value);
    x.sqlite3_result_blob(ctx, ptr, value.length, SQLITE_TRANSIENT);
    x.free(ptr);
  } else {
    return `it returned ${describe(value)}; return a number, bigint, string, Uint8Array, boolean or null`;
  }
  return undefined;
}

/** `SQLITE_STATIC`: SQLite does not copy a bound value (its bytes live until the memory is reset). */
const STATIC = 0;

/**
 * Binds `params` to `stmt`; returns SQLite's result code of the first binding that failed, or
 * `SQLITE_OK`. A named parameter the statement does not use is skipped (the parameters of `exec`
 * apply to each of its statements).
 */
export function bindParams(
  x: SqliteExports,
  memory: WebAssembly.Memory,
  stmt: number,
  params: SqlParams,
  malloc: (size: number) => number,
): number {
  const one = (index: number, value: SqlParam): number => {
    if (value === null || value === undefined) return SQLITE_OK; // unbound parameters are NULL
    if (typeof value === 'boolean') return x.sqlite3_bind_int(stmt, index, value ? 1 : 0);
    if (typeof value === 'number') {
      return (value | 0) === value && !Object.is(value, -0)
        ? x.sqlite3_bind_int(stmt, index, value)
        : x.sqlite3_bind_double(stmt, index, value);
    }
    if (typeof value === 'bigint') {
      // Checked safe by the sandbox: an integer-valued double, stored as an INTEGER where the column's affinity says so.
      const n = Number(value);
      return (n | 0) === n ? x.sqlite3_bind_int(stmt, index, n) : x.sqlite3_bind_double(stmt, index, n);
    }
    if (typeof value === 'string') {
      const s = writeCString(memory, malloc, value);
      return x.sqlite3_bind_text(stmt, index, s.ptr, s.length, STATIC);
    }
    // A zero-length blob still needs a non-null pointer (null binds NULL).
    const ptr = malloc(Math.max(1, value.length));
    new Uint8Array(memory.buffer, ptr, value.length).set(value);
    return x.sqlite3_bind_blob(stmt, index, ptr, value.length, STATIC);
  };
  if (Array.isArray(params)) {
    for (let i = 0; i < params.length; i++) {
      const rc = one(i + 1, params[i] as SqlParam);
      if (rc !== SQLITE_OK) return rc;
    }
    return SQLITE_OK;
  }
  for (const [name, value] of Object.entries(params)) {
    const index = x.sqlite3_bind_parameter_index(stmt, writeCString(memory, malloc, name).ptr);
    if (index === 0) continue;
    const rc = one(index, value);
    if (rc !== SQLITE_OK) return rc;
  }
  return SQLITE_OK;
}

function describe(value: unknown): string {
  if (typeof value === 'object') return value === null ? 'null' : `an object (${Object.prototype.toString.call(value).slice(8, -1)})`;
  return `a ${typeof value}`;
}
