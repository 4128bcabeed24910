/**
 * proc_exit must stop the guest at once, from inside a host call, with wasm frames below it. The only
 * way to unwind those frames from JS is to throw; runCommand catches this and turns it into the exit
 * code. It never reaches cowpool's callers unless they call `_start` themselves.
 */

/**
 * Thrown by `proc_exit` to unwind the guest; {@link WasiHost.runCommand} catches it and returns
 * {@link WasiExit.exitCode}. Not a {@link CowpoolError}: it is control flow, not a failure.
 */
export class WasiExit extends Error {
  /** The status the guest passed to `proc_exit` (an unsigned 32-bit value). */
  readonly exitCode: number;

  constructor(exitCode: number) {
    // An exit is control flow taken on most non-zero exits: skip the stack trace, which would cost
    // more than the rest of the exit path together.
    const limit = Error.stackTraceLimit;
    Error.stackTraceLimit = 0;
    super(`guest exited with status ${exitCode}`);
    Error.stackTraceLimit = limit;
    this.name = 'WasiExit';
    this.exitCode = exitCode;
  }
}
