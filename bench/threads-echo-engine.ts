/**
 * The engine of bench/threads-transport.ts's dispatcher rows: each use answers its input, so that
 * what is measured is the thread layer's hop (the dispatcher, its window, the worker's loop and the
 * stats board it publishes after each use), not an engine's work.
 */
import type { Engine } from '../src/threads/engine.ts';

/** An engine that echoes; its stats count uses, as a pool's would be published. */
export function createEngine(): Engine {
  const counts = { uses: 0 };
  return {
    run(input) {
      counts.uses++;
      return input;
    },
    stats: () => counts,
  };
}
