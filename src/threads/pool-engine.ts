/**
 * The engine of a `ThreadPool`'s worker threads: an `InstancePool` assembled from the prepared
 * pool and what the process made of it once (`pool/shared-parts.ts`: the compiled module, the
 * shared image, the resolved strategy) with the module file's `setup`, running the file's default
 * export for each use. A thread runs one use at a time, so its pool holds one instance.
 */
import { InstancePool } from '../pool/instance-pool.js';
import { FROM_PREPARED } from '../pool/prepared-pool.js';
import { adoptParts, type SharedPoolParts } from '../pool/shared-parts.js';
import type { UseFunction } from '../pool/types.js';
import type { Engine } from './engine.js';
import { publishedPoolStats } from './pool-stats.js';
import type { ThreadPoolPoolOptions } from './thread-pool-options.js';
import { loadUseModule } from './use-module.js';

/** What each thread is built from. */
export interface PoolEngineParts {
  pool: SharedPoolParts;
  /** The pool options that are data, as given to `ThreadPool.create`. */
  options: ThreadPoolPoolOptions;
  filename: string;
}

/** See the module comment. */
export async function createEngine(parts: PoolEngineParts): Promise<Engine> {
  const use = await loadUseModule(parts.filename);
  const { prepared, ready } = adoptParts(parts.pool);
  const options = { ...parts.options, setup: use.setup, max: 1, min: 1 };
  const pool = await InstancePool[FROM_PREPARED]<WebAssembly.Exports, unknown, unknown>(prepared, options, ready);
  const fn = use.run as UseFunction<WebAssembly.Exports, unknown, unknown, unknown>;
  // Without the fuel counter the pool cannot take a timeout: the thread's hard stop is the only one.
  const interruptible = prepared.plan.interruptible !== false;
  return {
    run: (input, { timeout }) => pool.run(fn, input, interruptible && timeout !== Infinity ? { timeout } : undefined),
    stats: () => publishedPoolStats(pool.stats()),
    describe: () => pool.describe(),
    close: () => pool.close(),
  };
}
