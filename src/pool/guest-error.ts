/**
 * How a failure inside a use reaches the caller: the one mapping of what V8 throws out of a guest
 * to cowpool's typed errors, applied wherever a use or its beginning can throw (`run`, `runSync`,
 * taking a member whose start function traps).
 */
import { GuestTimeoutError, GuestTrapError } from '../errors.js';

/**
 * Guest traps become {@link GuestTrapError}: wasm traps, and running out of stack, which V8 reports
 * as a `RangeError` rather than a trap (deep recursion in the guest). Everything else passes
 * through unchanged.
 */
export function guestError(err: unknown): unknown {
  if (err instanceof GuestTimeoutError) return err;
  if (err instanceof WebAssembly.RuntimeError) return new GuestTrapError(err.message, { cause: err });
  if (err instanceof RangeError && /call stack/i.test(err.message)) {
    return new GuestTrapError(`the stack ran out during the use (deep recursion in the guest): ${err.message}`, { cause: err });
  }
  return err;
}
