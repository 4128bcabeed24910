/**
 * Timers for deadlines that may be far away or absent. Node's `setTimeout` takes at most 2^31 − 1
 * ms (about 24.8 days) and fires a longer one after 1 ms instead, with a warning: a use given a
 * month's deadline would be stopped at once. A deadline that far is treated as none.
 */

/** The longest delay `setTimeout` honours. */
const MAX_TIMER_MS = 2 ** 31 - 1;

/** `setTimeout(fn, ms)`, or undefined when `ms` is Infinity or beyond what a timer can wait. */
export function deadlineTimer(fn: () => void, ms: number): NodeJS.Timeout | undefined {
  return ms <= MAX_TIMER_MS ? setTimeout(fn, ms) : undefined;
}
