/**
 * `cowpool/threads`: pooled instances of your own module on worker threads. Each use sends
 * structured-cloneable input to a thread, which runs it on a fresh-equivalent instance with the
 * code of a module file you name, and sends the result back; the calling thread's event loop never
 * waits for a guest, and a guest past its deadline is stopped with its thread.
 *
 * ```ts
 * import { ThreadPool } from 'cowpool/threads';
 * // use.mjs: export default (instance, input) => instance.exports.add(input.a, input.b);
 * const pool = await ThreadPool.create(await readFile('add.wasm'), { filename: './use.mjs', threads: 2, timeout: 100 });
 * await pool.run({ a: 1, b: 2 });   // 3
 * await pool.close();
 * ```
 */
export { ThreadPool, type ThreadPoolDescription, type ThreadPoolStats, type ThreadPoolUseOptions } from './thread-pool.js';
export type { ThreadPoolOptions, ThreadPoolPoolOptions } from './thread-pool-options.js';
export type { OnThreadsOptions, ThreadOptions, ThreadUseOptions } from './options.js';
export type { PoolThreadsDescription, PoolThreadStats } from './pool-threads.js';
export type { ThreadStats } from './dispatcher.js';
export type { ThreadUseFunction } from './use-module.js';
export {
  AbortedError,
  AcquireTimeoutError,
  GuestTimeoutError,
  GuestTrapError,
  InvalidArgumentError,
  PoolClosedError,
  QueueFullError,
  ThreadExitedError,
} from '../errors.js';
