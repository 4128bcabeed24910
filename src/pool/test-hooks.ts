/**
 * Fault injection for the pool's own tests, so that failure paths run for real (no mock of the
 * kernel or of V8): a pool created with `{ [TEST_HOOKS]: { … } }` calls these at the named steps.
 * Not exported from the package; symbol-keyed, so it is not an option a user can misspell into.
 */

/** The key of the test hooks in the pool options. */
export const TEST_HOOKS = Symbol('cowpool.pool.testHooks');

/** Hooks the pool calls, when given. */
export interface TestHooks {
  /** Called just before a pooled instance's memory is reset; throwing makes the reset fail. */
  beforeReset?: () => void;
}
