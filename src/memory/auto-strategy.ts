/**
 * What `auto` means, decided here and nowhere else: the best strategy whose own self-check passed
 * on this host (see `self-check.ts`), with small memories copied where that is cheaper. The pool
 * resolves `auto` once, through {@link chooseStrategy}, and hands its slots the concrete strategy;
 * code that makes slots itself resolves through {@link resolveStrategy}. Slots never see `auto`:
 * the self-check creates slots, so a slot that resolved `auto` would depend on its own check.
 */
import type { MemoryImage } from './image.js';
import { parseStrategy, requireStrategy, type ResetStrategy } from './reset-strategy.js';
import { selfCheck, type SelfCheckReport } from './self-check.js';

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
    reason:
      `${noPagemap}, and madvise is unavailable (${check.strategies.madvise.reason}); ` +
      'copy compares the whole memory after each use, which for large memories costs more than a fresh instance',
  };
}

/**
 * The concrete strategy a slot over `image` uses for `requested`: `auto` through
 * {@link chooseStrategy} (`copy` for an image without a memfd, which cannot be mapped); a named
 * strategy only when it can work here, else `UnsupportedError` with the reason (see
 * `requireStrategy`). `requested` is validated as a user's option: anything else is an
 * `InvalidArgumentError` naming `options.strategy`.
 */
export function resolveStrategy(requested: ResetStrategy | 'auto', image: MemoryImage): ResetStrategy {
  parseStrategy(requested, 'options.strategy');
  // An image without a memfd (built with `memfd: false`) can only be copied back.
  if (requested === 'auto') return image.fd === undefined ? 'copy' : chooseStrategy(image.minimumBytes).strategy;
  return requireStrategy(requested, image);
}
