/**
 * One SQLite use as data, and what runs it on a pooled database: the kind-specific part of the
 * sandbox's engine (`sandbox/engine.ts`), the same on the calling thread and on a worker thread
 * (`thread-engine.ts`), since a request (SQL, parameters, statement numbers) and its result (rows)
 * are plain data.
 */
import type { InstanceHost } from '../pool/index.js';
import type { UseRunner } from '../sandbox/engine.js';
import { sqliteExports, type SqliteExports } from './abi.js';
import type { FunctionCalls } from './function-calls.js';
import type { SqliteImage } from './image.js';
import { UseState } from './imports.js';
import { Session, type RowOptions } from './session.js';
import type { QueryResult, SqlParams, StatementResult } from './values.js';

/** What a use reads and how (checked). */
export interface Limits extends RowOptions {
  readonly memoryLimit: number;
}

/** One use as data. */
export type SqliteRequest =
  | { readonly kind: 'exec'; readonly sql: string; readonly params: SqlParams | undefined; readonly limits: Limits }
  | {
      readonly kind: 'batch';
      readonly steps: readonly { readonly statement: number; readonly params: SqlParams | undefined }[];
      readonly limits: Limits;
    }
  | { readonly kind: 'export'; readonly sql: string | undefined; readonly params: SqlParams | undefined; readonly limits: Limits };

/** What a use gives back, by request kind. */
export type SqliteResult = QueryResult[] | StatementResult[] | Uint8Array;

/** Runs a {@link SqliteRequest} on a pooled database (the engine's kind-specific part). */
export class SqliteRunner implements UseRunner<SqliteRequest, SqliteResult, UseState> {
  readonly #image: SqliteImage;
  /** The heap limit the image holds. */
  readonly #memoryLimit: number;
  readonly #functions: FunctionCalls | undefined;
  readonly #exports = new WeakMap<WebAssembly.Instance, SqliteExports>();

  constructor(image: SqliteImage, memoryLimit: number, functions: FunctionCalls | undefined) {
    this.#image = image;
    this.#memoryLimit = memoryLimit;
    this.#functions = functions !== undefined && functions.count > 0 ? functions : undefined;
  }

  context(): UseState {
    return new UseState();
  }

  run(instance: WebAssembly.Instance, host: InstanceHost<undefined, UseState>, state: UseState, use: SqliteRequest): SqliteResult {
    let x = this.#exports.get(instance);
    if (x === undefined) {
      x = sqliteExports(instance);
      this.#exports.set(instance, x);
    }
    const memory = host.memory!;
    const { limits } = use;
    if (limits.memoryLimit !== this.#memoryLimit) {
      // What `PRAGMA hard_heap_limit` would set, without a statement: the soft threshold and the hard limit.
      const words = new BigInt64Array(memory.buffer, this.#image.heapLimit, 2);
      words[0] = words[1] = BigInt(limits.memoryLimit);
    }
    const session = new Session(x, memory, this.#image.layout, limits.memoryLimit, state);
    const body = (): SqliteResult => {
      switch (use.kind) {
        case 'exec':
          return session.exec(use.sql, use.params, limits);
        case 'batch':
          return use.steps.map((step) => session.run(this.#image.statements[step.statement]!, step.params, limits, this.#image.counters));
        case 'export':
          if (use.sql !== undefined) session.exec(use.sql, use.params, limits);
          return session.exportDatabase(limits);
      }
    };
    return this.#functions ? this.#functions.during(instance, { x, memory, state, read: limits }, body) : body();
  }
}
