/**
 * The one place that names, validates and chooses memory reset strategies. Options, the CLI and
 * slots all go through {@link parseStrategy} and {@link resolveStrategy}, so that the rule for
 * what `auto` means lives here and nowhere else.
 */
import { InvalidArgumentError } from '../errors.js';

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
