/**
 * The engine that prepares a `ThreadPool`'s module on a worker thread of its own: the first half of
 * the pool's pipeline (`pool/build.ts` `prepareModule`), which runs guest code (a start function,
 * an initializer) and so runs where a hard stop can end it (`createTimeout`). It sends back data
 * only, the rewritten module and the image's bytes; the calling thread makes the memfd.
 */
import { prepareModule } from '../pool/build.js';
import type { PoolOptions } from '../pool/options.js';
import { runnableOf, type ImageSpan, type RunnableModule } from '../pool/prepare.js';
import { driveAsync } from '../pool/sync-or-async.js';
import type { ModuleSource } from '../pool/types.js';
import type { Engine } from './engine.js';
import { loadUseModule } from './use-module.js';

/** What the preparing thread is built from: the module file (its `setup` gives the imports). */
export interface PrepareParts {
  filename: string;
}

/** The one use of a preparing thread. */
export interface PrepareInput {
  bytes: ModuleSource;
  /** The pool's options that are data (no `setup`: it comes from the module file). */
  options: Omit<PoolOptions, 'setup' | 'imports'>;
}

/** What preparation sends back. */
export interface PrepareOutput {
  module: RunnableModule;
  span: ImageSpan | undefined;
}

/** See the module comment. */
export async function createEngine(parts: PrepareParts): Promise<Engine<PrepareInput, PrepareOutput>> {
  const use = await loadUseModule(parts.filename);
  return {
    async run(input) {
      const { prepared, span } = await driveAsync(prepareModule(input.bytes, { ...input.options, setup: use.setup }));
      return { module: runnableOf(prepared), span };
    },
  };
}
