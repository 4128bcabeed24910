/**
 * Starting a worker thread on a module of cowpool's. Built, every module is JavaScript and a worker
 * starts on it directly. Run from the TypeScript sources (cowpool's own tests and benchmarks, under
 * tsx), a worker cannot load a `.ts` file on Node 20: loader hooks registered with `--import` do not
 * reach worker threads there. The worker then starts on a two-line bootstrap that registers tsx in
 * the worker first. Only a `.ts` entry takes that path, so the built package never needs tsx.
 */
import { Worker, type WorkerOptions } from 'node:worker_threads';

/** Starts a worker thread running the module at `entry` (a `file:` URL). */
export function spawnWorker(entry: URL, options: WorkerOptions = {}): Worker {
  if (!entry.pathname.endsWith('.ts')) return new Worker(entry, options);
  // Resolved here, where tsx is installed (cowpool's dev dependencies), not in the data: URL.
  const tsx = import.meta.resolve('tsx/esm/api');
  const bootstrap = `import { register } from ${JSON.stringify(tsx)}; register(); await import(${JSON.stringify(entry.href)});`;
  return new Worker(new URL(`data:text/javascript,${encodeURIComponent(bootstrap)}`), options);
}

/** The URL of `name`, a module beside `base` (an `import.meta.url`), in the form the running code has (`.ts` or `.js`). */
export function siblingModule(name: string, base: string): URL {
  const extension = base.endsWith('.ts') ? '.ts' : '.js';
  return new URL(`./${name}${extension}`, base);
}
