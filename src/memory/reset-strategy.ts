/**
 * The reset strategies by name: the list, the check of a name a user typed, and whether a named
 * strategy can work for an image on this host. A slot takes one of these names and never `auto`:
 * what `auto` means is decided once, above the slot, by `auto-strategy.ts` (the one module that
 * reads the self-check, which itself creates slots).
 */
import { InvalidArgumentError, UnsupportedError } from '../errors.js';
import { pagemapSupport } from '../pagemap/index.js';
import { nativeSupport } from '../sys/index.js';
import type { MemoryImage } from './image.js';

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
 * Returns `strategy` when a slot over `image` can reset with it here. Throws
 * {@link InvalidArgumentError} for anything but a concrete strategy (`auto` included: resolve it
 * first with `resolveStrategy`), and {@link UnsupportedError} with the reason when it cannot work:
 * no native access, an image without a memfd, or no PAGEMAP_SCAN.
 */
export function requireStrategy(strategy: ResetStrategy, image: MemoryImage): ResetStrategy {
  if (!RESET_STRATEGIES.includes(strategy)) {
    throw new InvalidArgumentError(
      `options.strategy must be 'pagemap', 'madvise' or 'copy' (a slot takes a concrete strategy: ` +
        `resolve 'auto' with resolveStrategy first), not ${JSON.stringify(strategy)}`,
    );
  }
  if (strategy === 'copy') return strategy;
  const native = nativeSupport();
  if (!native.available) throw new UnsupportedError(`the ${strategy} reset`, native.reason);
  if (image.fd === undefined) {
    throw new UnsupportedError(`the ${strategy} reset`, 'the image was built without a memfd (options.memfd: false)');
  }
  if (strategy === 'pagemap') {
    const support = pagemapSupport();
    if (!support.supported) throw new UnsupportedError('PAGEMAP_SCAN', support.reason ?? 'unknown reason');
  }
  return strategy;
}
