/**
 * The one place that names, validates and chooses memory reset strategies. Options, the CLI and
 * slots all go through {@link parseStrategy} and {@link resolveStrategy}, so that the rule for
 * what `auto` means lives here and nowhere else: the best strategy whose own self-check passed on
 * this host (see `self-check.ts`).
 */
import { InvalidArgumentError, UnsupportedError } from '../errors.js';
import { pagemapSupport } from '../pagemap/index.js';
import { nativeSupport } from '../sys/index.js';
import type { MemoryImage } from './image.js';
import { selfCheck, type SelfCheckReport } from './self-check.js';

/** How a slot is brought back to its image. See `slot.ts`. */
export type ResetStrategy = 'pagemap' | 'madvise' | 'copy';

/** Every strategy, best first: the order `auto` tries them in. */
export const RESET_STRATEGIES: readonly ResetStrategy[] = ['pagemap', 'madvise', 'copy'];

/**
 * Validates a user-supplied strategy name (`auto` or one of {@link RESET_STRATEGIES}). `what` names
 * the option in the error, e.g. `options.strategy` or `--strategy`.
 */
export function parseStrategy(value: unknown, what: string): ResetStrategy | 'auto' {
  if (value === 'auto' || RESET_STRATEGIES.includes(value as ResetStrategy)) return value as ResetStrategy | 'auto';
  throw new InvalidArgumentError(`${what} must be 'auto', 'pagemap', 'madvise' or 'copy', not ${JSON.stringify(value)}`);
}

/**
 * Memories up to this size are reset by `copy` where the kernel has the shared zero page: comparing
 * and writing back 256 KiB costs about what one PAGEMAP_SCAN system call does under load, and needs
 * no mapping at all. Without the zero page, comparing would populate every untouched page, so larger
 * and smaller memories alike take the best native strategy.
 */
export const COPY_THRESHOLD = 256 * 1024;

/** The strategy `auto` resolves to, and why when it is not `pagemap`. */
export interface StrategyChoice {
  strategy: ResetStrategy;
  /** Why not `pagemap`, in words a user can act on. */
  reason?: string;
}

/**
 * The strategy `auto` resolves to here, for a memory of `memoryBytes` (initial size): the best
 * strategy whose own self-check passed on this kernel (`pagemap`, else `madvise`, else `copy`),
 * except that a memory of at most {@link COPY_THRESHOLD} is copied where that keeps untouched pages
 * unpopulated (a kernel with the zero page). `copy` is thus never chosen for a large memory while a
 * native strategy works: copying 16 MiB back costs more than a fresh instance. `check` is this
 * process's self-check; another report can be passed to see what `auto` would do on another host.
 */
export function chooseStrategy(memoryBytes = Infinity, check: SelfCheckReport = selfCheck()): StrategyChoice {
  const small = memoryBytes <= COPY_THRESHOLD;
  if (small && check.kernel.zeroPage !== false && check.strategies.copy.ok) {
    return {
      strategy: 'copy',
      reason: `the memory is ${memoryBytes / 1024} KiB: comparing and copying it back is cheaper than a system call`,
    };
  }
  if (check.strategies.pagemap.ok) return { strategy: 'pagemap' };
  const noPagemap = `pagemap is unavailable (${check.strategies.pagemap.reason})`;
  if (check.strategies.madvise.ok) {
    return {
      strategy: 'madvise',
      reason: `${noPagemap}; madvise discards the whole memory after each use, so each use pays a page fault per page it touches`,
    };
  }
  return {
    strategy: 'copy',
    reason: `${noPagemap}, and madvise is unavailable (${check.strategies.madvise.reason}); copy compares the whole memory after each use, which for large memories costs more than a fresh instance`,
  };
}

/**
 * The concrete strategy a slot over `image` uses for `requested`: `auto` through
 * {@link chooseStrategy}; a named strategy only when it can work here, else
 * {@link UnsupportedError} with the reason.
 */
export function resolveStrategy(requested: ResetStrategy | 'auto', image: MemoryImage): ResetStrategy {
  parseStrategy(requested, 'options.strategy');
  // An image without a memfd (built with `memfd: false`) can only be copied back.
  if (requested === 'auto') return image.fd === undefined ? 'copy' : chooseStrategy(image.minimumBytes).strategy;
  if (requested === 'copy') return requested;
  const native = nativeSupport();
  if (!native.available) throw new UnsupportedError(`the ${requested} reset`, native.reason);
  if (image.fd === undefined) {
    throw new UnsupportedError(`the ${requested} reset`, 'the image was built without a memfd (options.memfd: false)');
  }
  if (requested === 'pagemap') {
    const support = pagemapSupport();
    if (!support.supported) throw new UnsupportedError('PAGEMAP_SCAN', support.reason ?? 'unknown reason');
  }
  return requested;
}
