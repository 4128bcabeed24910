/**
 * Starting a worker thread on a module of cowpool's. Built, every module is JavaScript and a worker
 * starts on it directly. Run from the TypeScript sources (cowpool's own tests and benchmarks, under
 * tsx), a worker cannot load a `.ts` file on Node 20: loader hooks registered with `--import` do not
 * reach worker threads there. The worker then starts on a two-line bootstrap that registers tsx in
 * the worker first. Only a `.ts` entry takes that path, so the built package never needs tsx.
 */
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { Worker, type WorkerOptions } from 'node:worker_threads';

/** Starts a worker thread running the module at `entry` (a `file:` URL). */
export function spawnWorker(entry: URL, options: WorkerOptions = {}): Worker {
  if (!entry.pathname.endsWith('.ts')) return new Worker(entry, options);
  const bootstrap = `import { register } from ${JSON.stringify(tsxEsmApi())}; register(); await import(${JSON.stringify(entry.href)});`;
  return new Worker(new URL(`data:text/javascript,${encodeURIComponent(bootstrap)}`), options);
}

/**
 * The URL of tsx's ES module API, resolved here, where tsx is installed (cowpool's dev
 * dependencies): a data: URL resolves no package. `require.resolve` gives its CommonJS twin, whose
 * `register` does not find its hooks from a data: URL, and the ES resolver is not in cowpool's
 * CommonJS build; tsx's own manifest names the ES module.
 */
function tsxEsmApi(): string {
  const require = createRequire(import.meta.url);
  const manifest = require('tsx/package.json') as { exports: Record<string, { import: { default: string } }> };
  return pathToFileURL(join(dirname(require.resolve('tsx/package.json')), manifest.exports['./esm/api']!.import.default)).href;
}

/** The URL of `name`, a module beside `base` (an `import.meta.url`), in the form the running code has (`.ts` or `.js`). */
export function siblingModule(name: string, base: string): URL {
  const extension = base.endsWith('.ts') ? '.ts' : '.js';
  return new URL(`./${name}${extension}`, base);
}
