/**
 * The engine that prepares a `ThreadPool`'s module on a worker thread of its own, on a cache miss:
 * the pool's preparation (`pool/preparation.ts`), which runs guest code (a start function, an
 * initializer) and so runs where a hard stop can end it (`createTimeout`). It sends back what
 * preparation makes, plain data and the compiled module (`pool/prepared-pool.ts`); the calling
 * thread stores it in the cache and makes the memfd.
 */
import { ModuleNotPoolableError } from '../errors.js';
import { fillOptions, type PoolOptions } from '../pool/options.js';
import { prepare, type Preparation } from '../pool/preparation.js';
import { isPortable } from '../pool/prepared-pool.js';
import { driveAsync } from '../pool/sync-or-async.js';
import type { Engine } from './engine.js';
import { loadUseModule } from './use-module.js';

/** What the preparing thread is built from: the module file (its `setup` gives the imports). */
export interface PrepareParts {
  filename: string;
}

/** The one use of a preparing thread. */
export interface PrepareInput {
  bytes: Uint8Array;
  /** The pool's options that are data (no `setup`: it comes from the module file). */
  options: Omit<PoolOptions, 'setup' | 'imports'>;
}

/** See the module comment. */
export async function createEngine(parts: PrepareParts): Promise<Engine<PrepareInput, Preparation>> {
  const use = await loadUseModule(parts.filename);
  return {
    async run(input) {
      const preparation = await driveAsync(prepare(input.bytes, fillOptions({ ...input.options, setup: use.setup })));
      const portable = isPortable(preparation.prepared);
      if (portable !== true) throw new ModuleNotPoolableError(`${portable}, so it cannot be pooled on threads`);
      return preparation;
    },
  };
}
