/**
 * `cowpool/sqlite`: SQL per request, each use on a pristine SQLite database (an existing database
 * file's, or one the setup SQL makes), with statements prepared once and functions that call the host.
 *
 * ```ts
 * import { SqliteSandbox } from 'cowpool/sqlite';
 * const db = await SqliteSandbox.create({
 *   setup: 'CREATE TABLE t(x); INSERT INTO t VALUES (1), (2)',
 *   statements: { add: 'INSERT INTO t VALUES (?)' },
 * });
 * await db.exec('INSERT INTO t VALUES (3); SELECT count(*) FROM t');   // [{ columns: ['count(*)'], values: [[3]] }]
 * await db.query('add', [4]);                                          // { columns: [], rows: [], changes: 1, lastInsertRowid: 3 }
 * await db.exec('SELECT count(*) FROM t');                             // [{ columns: ['count(*)'], values: [[2]] }]
 * ```
 *
 * SQLite comes from the npm package `sql.js` (an optional peer dependency; only its `.wasm` is used):
 * install it beside cowpool.
 */
export { SqliteSandbox, type BatchStep, type SqliteSandboxOptions, type SqliteSandboxStats, type SqliteUseOptions } from './sandbox.js';
export type { QueryResult, SqlParam, SqlParams, SqlRow, SqlValue, StatementResult } from './values.js';
export type {
  AggregateDefinition,
  ScalarDefinition,
  ScalarFunction,
  SqlFunctionDefinition,
  SqlFunctionFlags,
  SqlFunctionResult,
  SqlFunctions,
} from './functions.js';
export { SqliteError, SqliteMemoryLimitError } from './errors.js';
export { SQLJS_PACKAGE, SQLJS_VERSIONS } from './abi.js';
export { GuestTimeoutError, GuestTrapError, InvalidArgumentError, UnsupportedError } from '../errors.js';
export { AbortedError, PoolClosedError, QueueFullError, ThreadExitedError } from '../errors.js';
export type { SandboxDescription } from '../sandbox/engine.js';
