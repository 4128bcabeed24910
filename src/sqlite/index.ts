/**
 * `cowpool/sqlite`: SQL per request, each use on a pristine in-memory SQLite database.
 *
 * ```ts
 * import { SqliteSandbox } from 'cowpool/sqlite';
 * const db = await SqliteSandbox.create({ setup: 'CREATE TABLE t(x); INSERT INTO t VALUES (1), (2)' });
 * await db.exec('INSERT INTO t VALUES (3); SELECT count(*) FROM t');   // [{ columns: ['count(*)'], values: [[3]] }]
 * await db.exec('SELECT count(*) FROM t');                             // [{ columns: ['count(*)'], values: [[2]] }]
 * ```
 *
 * SQLite comes from the npm package `sql.js` (an optional peer dependency; only its `.wasm` is used):
 * install it beside cowpool.
 */
export { SqliteSandbox, type SqliteSandboxOptions, type SqliteSandboxStats, type SqliteUseOptions } from './sandbox.js';
export type { QueryResult, SqlParam, SqlParams, SqlValue } from './session.js';
export { SqliteError, SqliteMemoryLimitError } from './errors.js';
export { SQLJS_PACKAGE, SQLJS_VERSIONS } from './abi.js';
export { GuestTimeoutError, GuestTrapError, InvalidArgumentError, UnsupportedError } from '../errors.js';
