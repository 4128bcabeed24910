/** The errors a SQLite sandbox adds to cowpool's own (see `src/errors.ts` for the codes). */
import { ErrorCodes, GuestError, GuestMemoryLimitError } from '../errors.js';

/**
 * SQLite refused the SQL: a syntax error, a constraint, a missing table, a file it may not open
 * (`ATTACH` of a path: the sandbox has no file system), a user-defined function that threw (what
 * it threw is the `cause`). `message` is SQLite's own.
 */
export class SqliteError extends GuestError {
  /** SQLite's result code (`SQLITE_ERROR` = 1, `SQLITE_CONSTRAINT` = 19, `SQLITE_CANTOPEN` = 14, …). */
  readonly resultCode: number;
  /** SQLite's message (`sqlite3_errmsg`). */
  readonly sqliteMessage: string;

  constructor(resultCode: number, sqliteMessage: string, options?: { cause?: unknown }) {
    super(ErrorCodes.GUEST_EXCEPTION, `SQLite error ${resultCode}: ${sqliteMessage}`, options);
    this.resultCode = resultCode;
    this.sqliteMessage = sqliteMessage;
  }
}

/**
 * The SQL needed more memory than the sandbox's memory limit allows (`SQLITE_NOMEM`); the use was
 * stopped. cowpool's {@link GuestMemoryLimitError} (same code, `instanceof` matches), under the name
 * and wording of SQLite (see `src/errors.ts` for why the sandboxes share one error).
 */
export class SqliteMemoryLimitError extends GuestMemoryLimitError {
  constructor(limitBytes: number) {
    super(
      limitBytes,
      [],
      `SQLite ran out of memory at the sandbox's limit of ${limitBytes} bytes and the use was stopped; ` +
        'raise memoryLimit if the SQL needs more',
    );
  }
}
