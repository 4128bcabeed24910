/**
 * What `auto` means, decided here and nowhere else: the best strategy whose own self-check passed
 * on this host (see `self-check.ts`), with small memories copied where that is cheaper. The pool
 * resolves `auto` once, through {@link chooseStrategy}, and hands its slots the concrete strategy;
 * code that makes slots itself resolves through {@link resolveStrategy}. Slots never see `auto`:
 * the self-check creates slots, so a slot that resolved `auto` would depend on its own check.
 */
import type { MemoryImage } from './image.js';
import { parseStrategy, requireStrategy, type ResetStrategy } from './reset-strategy.js';
import { kernelBehaviour } from '../pagemap/index.js';
import { checkedStrategy, type SelfCheckReport } from './self-check.js';

/**
 * Memories up to this size are reset by `copy` where the kernel has the shared zero page. It was
 * 256 KiB, when a PAGEMAP_SCAN cost 3–4 µs of kernel time under HTTP load; with the image mapped
 * over the whole memory a scan costs about 1 µs, and comparing even 64 KiB costs more (2026-12-01,
 * this VM: a reset of `examples/hello.wasm`'s 128 KiB memory 1.0 µs by pagemap against 3.3 µs by
 * copy, 64 KiB 0.9 against 2.4; `cowpool serve` 3 µs less CPU per request with pagemap). So no
 * memory is copied while a native reset works; the constant stays for callers that read it.
 */
export const COPY_THRESHOLD = 0;

/** The strategy `auto` resolves to, and why when it is not `pagemap`. */
export interface StrategyChoice {
  strategy: ResetStrategy;
  /** Why not `pagemap`, in words a user can act on. */
  reason?: string;
}

/**
 * The strategy `auto` resolves to here, for a memory of `memoryBytes` (initial size): the best
 * strategy whose own self-check passed on this kernel (`pagemap`, else `madvise`, else `copy`),
 * except that a memory of at most {@link COPY_THRESHOLD} (none, now) is copied where that keeps
 * untouched pages unpopulated (a kernel with the zero page). `copy` is thus never chosen while a
 * native strategy works: copying 16 MiB back costs more than a fresh instance. This process's
 * strategies are checked only as far as the choice needs (`checkedStrategy`); `report`, another
 * host's self-check, shows what `auto` would do there.
 */
export function chooseStrategy(memoryBytes = Infinity, report?: SelfCheckReport): StrategyChoice {
  const check = (strategy: ResetStrategy) => (report ? report.strategies[strategy] : checkedStrategy(strategy));
  const small = memoryBytes <= COPY_THRESHOLD;
  if (small && (report?.kernel ?? kernelBehaviour()).zeroPage !== false && check('copy').ok) {
    return {
      strategy: 'copy',
      reason: `the memory is ${memoryBytes / 1024} KiB: comparing and copying it back is cheaper than a system call`,
    };
  }
  const pagemap = check('pagemap');
  if (pagemap.ok) return { strategy: 'pagemap' };
  const noPagemap = `pagemap is unavailable (${pagemap.reason})`;
  const madvise = check('madvise');
  if (madvise.ok) {
    return {
      strategy: 'madvise',
      reason: `${noPagemap}; madvise discards the whole memory after each use, so each use pays a page fault per page it touches`,
    };
  }
  return {
    strategy: 'copy',
    reason:
      `${noPagemap}, and madvise is unavailable (${madvise.reason}); ` +
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
