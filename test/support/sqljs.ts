/**
 * sql.js itself (its glue and wasm, as its users load it), for tests and benchmarks that compare
 * with it or need a database file: sql.js ships no types, so the little used here is typed here.
 */
import { createRequire } from 'node:module';
import type { QueryResult } from '../../src/sqlite/index.ts';

/** A sql.js database. */
export interface SqlJsDatabase {
  exec(sql: string, params?: unknown[]): QueryResult[];
  run(sql: string, params?: unknown[]): void;
  export(): Uint8Array;
  close(): void;
}

/** sql.js's module: `new SQL.Database(bytes?)`. */
export interface SqlJs {
  Database: new (bytes?: Uint8Array) => SqlJsDatabase;
}

/** Loads sql.js (once per process, as an application would). */
export async function loadSqlJs(): Promise<SqlJs> {
  const init = createRequire(import.meta.url)('sql.js') as () => Promise<SqlJs>;
  return init();
}

/** The bytes of a database file made by running `sql` in sql.js. */
export async function databaseFile(sql: string): Promise<Uint8Array> {
  const SQL = await loadSqlJs();
  const db = new SQL.Database();
  db.exec(sql);
  const bytes = db.export();
  db.close();
  return bytes;
}
