/**
 * The ABI of the SQLite build cowpool hosts: sql.js's `dist/sql-wasm.wasm` (SQLite compiled by
 * emscripten). Emscripten minifies import and export names, so this file is the one place that knows
 * which letter is which function; {@link checkAbi} compares the module's actual signatures with this
 * table and refuses a build whose ABI differs, instead of calling the wrong function.
 *
 * cowpool does not run sql.js's JavaScript (emscripten's glue, its MEMFS, its cwraps): every import
 * the module needs is implemented by `imports.ts`, and every piece of state lives in the wasm memory and
 * its one global, which the pool resets.
 */
import { abiProblems, exportsByRole, packageFile, refuseUnless, type AbiFunction } from '../emscripten/abi.js';
import type { ModuleInfo } from '../module/index.js';

/** The npm package the SQLite module comes from, and the versions whose ABI {@link IMPORTS} describes. */
export const SQLJS_PACKAGE = 'sql.js';
export const SQLJS_VERSIONS = '1.16.x';

/**
 * The module's imports (all in namespace `a`), by role: letter and wasm signature. Syscalls
 * (`sys*`) return a negative errno, WASI calls (`fd*`, `environ*`) a positive one.
 */
export const IMPORTS = {
  assertFail: { name: 'a', sig: ['iiii', ''] },
  sysFcntl64: { name: 'b', sig: ['iii', 'i'] },
  getNow: { name: 'c', sig: ['', 'F'] },
  dateNow: { name: 'd', sig: ['', 'F'] },
  fdClose: { name: 'e', sig: ['i', 'i'] },
  legacyExtensionWarning: { name: 'f', sig: ['i', ''] },
  sysFstat64: { name: 'g', sig: ['ii', 'i'] },
  sysFchown32: { name: 'h', sig: ['iii', 'i'] },
  sysChmod: { name: 'i', sig: ['ii', 'i'] },
  sysFchmod: { name: 'j', sig: ['ii', 'i'] },
  setitimer: { name: 'k', sig: ['iF', 'i'] },
  resizeHeap: { name: 'l', sig: ['i', 'i'] },
  fdFdstatGet: { name: 'm', sig: ['ii', 'i'] },
  sysUtimensat: { name: 'n', sig: ['iiii', 'i'] },
  sysUnlinkat: { name: 'o', sig: ['iii', 'i'] },
  getHeapMax: { name: 'p', sig: ['', 'i'] },
  fdWrite: { name: 'q', sig: ['iiii', 'i'] },
  sysRmdir: { name: 'r', sig: ['i', 'i'] },
  sysReadlinkat: { name: 's', sig: ['iiii', 'i'] },
  fdRead: { name: 't', sig: ['iiii', 'i'] },
  procExit: { name: 'u', sig: ['i', ''] },
  keepaliveClear: { name: 'v', sig: ['', ''] },
  abort: { name: 'w', sig: ['', ''] },
  sysOpenat: { name: 'x', sig: ['iiii', 'i'] },
  mmap: { name: 'y', sig: ['iiiiIii', 'i'] },
  munmap: { name: 'z', sig: ['iiiiiI', 'i'] },
  localtime: { name: 'A', sig: ['Ii', 'i'] },
  tzset: { name: 'B', sig: ['iiii', ''] },
  sysMkdirat: { name: 'C', sig: ['iii', 'i'] },
  sysFaccessat: { name: 'D', sig: ['iiii', 'i'] },
  fdSeek: { name: 'E', sig: ['iIii', 'i'] },
  sysGetuid: { name: 'F', sig: ['', 'i'] },
  environGet: { name: 'G', sig: ['ii', 'i'] },
  environSizesGet: { name: 'H', sig: ['ii', 'i'] },
  sysGetcwd: { name: 'I', sig: ['ii', 'i'] },
  sysFtruncate64: { name: 'J', sig: ['iI', 'i'] },
  fdSync: { name: 'K', sig: ['i', 'i'] },
  sysNewfstatat: { name: 'L', sig: ['iiii', 'i'] },
  sysLstat64: { name: 'M', sig: ['ii', 'i'] },
  sysStat64: { name: 'N', sig: ['ii', 'i'] },
} as const satisfies Record<string, AbiFunction>;

/** The export of the memory the module defines (cowpool imports the memory instead, under this name). */
export const MEMORY_EXPORT = 'O';

/** The exports cowpool calls, by C name: letter and wasm signature. */
export const EXPORTS = {
  wasmCallCtors: { name: 'P', sig: ['', ''] },
  malloc: { name: 'Ia', sig: ['i', 'i'] },
  sqlite3_open: { name: 'Ha', sig: ['ii', 'i'] },
  sqlite3_prepare_v2: { name: 'T', sig: ['iiiii', 'i'] },
  sqlite3_step: { name: 'U', sig: ['i', 'i'] },
  sqlite3_reset: { name: 'V', sig: ['i', 'i'] },
  sqlite3_finalize: { name: 'X', sig: ['i', 'i'] },
  sqlite3_errmsg: { name: '$', sig: ['i', 'i'] },
  sqlite3_column_count: { name: 'ra', sig: ['i', 'i'] },
  sqlite3_column_name: { name: 'Y', sig: ['ii', 'i'] },
  sqlite3_column_type: { name: '_', sig: ['ii', 'i'] },
  sqlite3_column_text: { name: 'Z', sig: ['ii', 'i'] },
  sqlite3_column_blob: { name: 'ta', sig: ['ii', 'i'] },
  sqlite3_column_bytes: { name: 'ua', sig: ['ii', 'i'] },
  sqlite3_column_double: { name: 'va', sig: ['ii', 'F'] },
  sqlite3_bind_blob: { name: 'wa', sig: ['iiiii', 'i'] },
  sqlite3_bind_double: { name: 'xa', sig: ['iiF', 'i'] },
  sqlite3_bind_int: { name: 'ya', sig: ['iii', 'i'] },
  sqlite3_bind_text: { name: 'za', sig: ['iiiii', 'i'] },
  sqlite3_bind_parameter_index: { name: 'Aa', sig: ['ii', 'i'] },
  sqlite3_changes: { name: 'Da', sig: ['i', 'i'] },
  free: { name: 'Ja', sig: ['i', ''] },
  sqlite3_clear_bindings: { name: 'da', sig: ['i', 'i'] },
  sqlite3_close_v2: { name: 'Ea', sig: ['i', 'i'] },
  sqlite3_backup_init: { name: 'aa', sig: ['iiii', 'i'] },
  sqlite3_backup_step: { name: 'ba', sig: ['ii', 'i'] },
  sqlite3_backup_finish: { name: 'ca', sig: ['i', 'i'] },
  sqlite3_create_function_v2: { name: 'Fa', sig: ['iiiiiiiii', 'i'] },
  sqlite3_aggregate_context: { name: 'qa', sig: ['ii', 'i'] },
  sqlite3_value_type: { name: 'ia', sig: ['i', 'i'] },
  sqlite3_value_double: { name: 'ga', sig: ['i', 'F'] },
  sqlite3_value_text: { name: 'S', sig: ['i', 'i'] },
  sqlite3_value_blob: { name: 'ea', sig: ['i', 'i'] },
  sqlite3_value_bytes: { name: 'fa', sig: ['i', 'i'] },
  sqlite3_result_null: { name: 'oa', sig: ['i', ''] },
  sqlite3_result_int: { name: 'ma', sig: ['ii', ''] },
  sqlite3_result_int64: { name: 'na', sig: ['iI', ''] },
  sqlite3_result_double: { name: 'ka', sig: ['iF', ''] },
  sqlite3_result_text: { name: 'pa', sig: ['iiii', ''] },
  sqlite3_result_blob: { name: 'ja', sig: ['iiii', ''] },
  sqlite3_result_error: { name: 'la', sig: ['iii', ''] },
} as const satisfies Record<string, AbiFunction>;

/** The exports as typed functions. */
export interface SqliteExports {
  wasmCallCtors(): void;
  malloc(size: number): number;
  sqlite3_open(filename: number, dbOut: number): number;
  sqlite3_prepare_v2(db: number, sql: number, nBytes: number, stmtOut: number, tailOut: number): number;
  sqlite3_step(stmt: number): number;
  sqlite3_reset(stmt: number): number;
  sqlite3_finalize(stmt: number): number;
  sqlite3_errmsg(db: number): number;
  sqlite3_column_count(stmt: number): number;
  sqlite3_column_name(stmt: number, i: number): number;
  sqlite3_column_type(stmt: number, i: number): number;
  sqlite3_column_text(stmt: number, i: number): number;
  sqlite3_column_blob(stmt: number, i: number): number;
  sqlite3_column_bytes(stmt: number, i: number): number;
  sqlite3_column_double(stmt: number, i: number): number;
  sqlite3_bind_blob(stmt: number, i: number, data: number, n: number, destructor: number): number;
  sqlite3_bind_double(stmt: number, i: number, value: number): number;
  sqlite3_bind_int(stmt: number, i: number, value: number): number;
  sqlite3_bind_text(stmt: number, i: number, text: number, n: number, destructor: number): number;
  sqlite3_bind_parameter_index(stmt: number, name: number): number;
  sqlite3_changes(db: number): number;
  free(ptr: number): void;
  sqlite3_clear_bindings(stmt: number): number;
  sqlite3_close_v2(db: number): number;
  sqlite3_backup_init(dest: number, destName: number, source: number, sourceName: number): number;
  sqlite3_backup_step(backup: number, pages: number): number;
  sqlite3_backup_finish(backup: number): number;
  sqlite3_create_function_v2(
    db: number,
    name: number,
    nArg: number,
    flags: number,
    app: number,
    xFunc: number,
    xStep: number,
    xFinal: number,
    xDestroy: number,
  ): number;
  sqlite3_aggregate_context(ctx: number, bytes: number): number;
  sqlite3_value_type(value: number): number;
  sqlite3_value_double(value: number): number;
  sqlite3_value_text(value: number): number;
  sqlite3_value_blob(value: number): number;
  sqlite3_value_bytes(value: number): number;
  sqlite3_result_null(ctx: number): void;
  sqlite3_result_int(ctx: number, value: number): void;
  sqlite3_result_int64(ctx: number, value: bigint): void;
  sqlite3_result_double(ctx: number, value: number): void;
  sqlite3_result_text(ctx: number, text: number, n: number, destructor: number): void;
  sqlite3_result_blob(ctx: number, data: number, n: number, destructor: number): void;
  sqlite3_result_error(ctx: number, message: number, n: number): void;
}

/** SQLite's result codes cowpool tells apart. */
export const SQLITE_OK = 0;
export const SQLITE_NOMEM = 7;
export const SQLITE_ROW = 100;
export const SQLITE_DONE = 101;
/** `sqlite3_create_function_v2`'s text encoding and flag. */
export const SQLITE_UTF8 = 1;
export const SQLITE_DETERMINISTIC = 0x800;
/** The destructor that makes SQLite copy a value it is given (so that the host may free it at once). */
export const SQLITE_TRANSIENT = -1;
/** `sqlite3_column_type`'s fundamental types. */
export const ColumnType = { integer: 1, float: 2, text: 3, blob: 4, null: 5 } as const;

/** The exports of `instance` under their C names (after {@link checkAbi} accepted its module). */
export function sqliteExports(instance: WebAssembly.Instance): SqliteExports {
  return exportsByRole<SqliteExports>(instance, EXPORTS);
}

/** The SQLite module's bytes from the installed sql.js package. */
export function loadSqliteWasm(): Uint8Array {
  return packageFile(SQLJS_PACKAGE, 'dist/sql-wasm.wasm', SQLJS_VERSIONS, 'SQLite', 'cowpool/sqlite');
}

/**
 * Throws {@link UnsupportedError} unless the module `info` describes has exactly the imports this
 * table lists and the exports it lists, with the same signatures, and defines its memory.
 */
export function checkAbi(info: ModuleInfo): void {
  const problems = abiProblems(info, { namespace: 'a', imports: IMPORTS, exports: EXPORTS });
  // An import this table does not know would be a function cowpool cannot provide.
  const known = new Set<string>(Object.values(IMPORTS).map((e) => e.name));
  for (const imp of info.imports)
    if (imp.module !== 'a' || !known.has(imp.name)) problems.push(`import ${imp.module}.${imp.name} is not one this build has`);
  if (info.memories.length !== 1 || !info.exports.some((e) => e.kind === 'memory' && e.name === MEMORY_EXPORT)) {
    problems.push(`the module does not define one memory exported as "${MEMORY_EXPORT}"`);
  }
  refuseUnless(
    problems,
    'SQLite',
    `this module is not the SQLite build cowpool/sqlite hosts (${SQLJS_PACKAGE} ${SQLJS_VERSIONS}, dist/sql-wasm.wasm)`,
  );
}
