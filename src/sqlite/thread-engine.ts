/**
 * The engine of a `SqliteSandbox`'s worker threads (`threads` option): a pool of one database over
 * the image the sandbox made once (`pool/shared-parts.ts`: nothing initialized again, no new
 * memfd), with the user-defined functions imported from their module file on this thread (a
 * function cannot be posted; the image registered them already, in the same order), running each
 * use's request as the calling thread's pool would (`runner.ts`).
 */
import { InstancePool } from '../pool/instance-pool.js';
import { FROM_PREPARED } from '../pool/prepared-pool.js';
import { adoptParts, type SharedPoolParts } from '../pool/shared-parts.js';
import { PoolEngine } from '../sandbox/engine.js';
import { threadEngine, type ThreadRequest } from '../sandbox/threaded-engine.js';
import type { Engine } from '../threads/engine.js';
import { FunctionCalls } from './function-calls.js';
import { functionSpecs, importFunctions } from './functions.js';
import { preparedPoolOptions, type SqliteImage, type SqlitePoolOptions } from './image.js';
import type { UseState } from './imports.js';
import { SqliteRunner, type SqliteRequest, type SqliteResult } from './runner.js';

/** What each thread is built from: plain data (the functions' module as a URL). */
export interface SqliteThreadParts {
  readonly pool: SharedPoolParts;
  /** The pool's own options (sizing, not shaping: that is the prepared pool's). */
  readonly options: SqlitePoolOptions;
  readonly image: SqliteImage;
  /** The heap limit the image holds (`options.memoryLimit`). */
  readonly memoryLimit: number;
  /** The URL of the module whose exports are the user-defined functions, if any. */
  readonly functions: string | undefined;
}

/** See the module comment. */
export async function createEngine(parts: SqliteThreadParts): Promise<Engine<ThreadRequest<SqliteRequest>, SqliteResult>> {
  const functions = parts.functions === undefined ? undefined : new FunctionCalls(functionSpecs(await importFunctions(parts.functions)));
  const { prepared, ready } = adoptParts(parts.pool);
  const pool = await InstancePool[FROM_PREPARED]<WebAssembly.Exports, undefined, UseState>(
    prepared,
    { ...preparedPoolOptions(parts.options), max: 1, min: 1 },
    ready,
  );
  return threadEngine(new PoolEngine(pool, new SqliteRunner(parts.image, parts.memoryLimit, functions)));
}
