/**
 * A pool's parts (`build.ts`) as another thread receives them: structured-cloneable data, so that
 * every worker thread builds its own pool from the module prepared once and the image made once per
 * process, with no analysis, no rewrite, no new image and no new memfd:
 *
 *     main thread:    build / prepareModule + assemble ──► PoolParts ──shareParts──► SharedPoolParts
 *     worker thread:  SharedPoolParts ──adoptParts(setup)──► PoolParts ──► InstancePool (its own members)
 *
 * What is not data stays behind and the worker supplies it: `setup` (code: a worker imports it from
 * a module file) and the test hooks. The compiled module is posted (V8 shares its code), the image
 * is shared (`MemoryImage.share`: the memfd's number and the bytes in shared memory), and the reset
 * strategy was resolved once, so a worker does not run the self-check again.
 */
import { MemoryImage, type SharedMemoryImage } from '../memory/index.js';
import type { PoolParts } from './build.js';
import type { SetupHook } from './instance-host.js';
import type { FilledOptions } from './options.js';
import { runnableOf, type Interruptible, type RunnableModule } from './prepare.js';

/** The options of a pool that are data, as {@link SharedPoolParts} carries them. */
export type SharedPoolOptions = Pick<
  FilledOptions<unknown, unknown>,
  'max' | 'min' | 'keepResident' | 'trimIdleAfter' | 'strategy' | 'acquireTimeout' | 'initialMemory' | 'virtualMemorySize' | 'guardExports'
> & { readonly interruptible: Interruptible };

/** A pool's parts as data; see the module comment. */
export interface SharedPoolParts {
  readonly options: SharedPoolOptions;
  readonly module: RunnableModule;
  /** Valid while the sharing thread keeps the image open (until every adopting thread has exited). */
  readonly image: SharedMemoryImage | undefined;
  readonly strategy: PoolParts<unknown, unknown>['strategy'];
}

/** `parts` as data another thread can receive. The image stays the caller's: keep it open until that thread has exited. */
export function shareParts<S, C>(parts: PoolParts<S, C>): SharedPoolParts {
  const o = parts.options;
  return {
    options: {
      max: o.max,
      min: o.min,
      keepResident: o.keepResident,
      trimIdleAfter: o.trimIdleAfter,
      strategy: o.strategy,
      acquireTimeout: o.acquireTimeout,
      initialMemory: o.initialMemory,
      virtualMemorySize: o.virtualMemorySize,
      guardExports: o.guardExports,
      interruptible: o.plan.interruptible,
    },
    module: runnableOf(parts.prepared),
    image: parts.image?.share(),
    strategy: { ...parts.strategy },
  };
}

/**
 * The parts of a pool on this thread from `shared`, with `setup` for its members and `overrides`
 * of the data options (a thread's own `max` and `min`). The image is adopted: this thread never
 * closes its memfd.
 */
export function adoptParts<S, C>(
  shared: SharedPoolParts,
  setup: SetupHook<S, C>,
  overrides: Partial<Pick<SharedPoolOptions, 'max' | 'min'>> = {},
): PoolParts<S, C> {
  const { interruptible, ...data } = shared.options;
  return {
    options: {
      ...data,
      ...overrides,
      setup,
      // The plan was carried out where the module was prepared; after that a pool reads only whether
      // its module is interruptible (for describe()).
      plan: {
        mechanism: shared.module.mechanism,
        interruptible,
        initialize: undefined,
        keepExports: undefined,
        tableReserve: 0,
        createTimeout: Infinity,
      },
      testHooks: {},
    },
    prepared: shared.module,
    image: shared.image ? MemoryImage.adopt(shared.image) : undefined,
    strategy: shared.strategy,
  };
}
