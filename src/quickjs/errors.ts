/**
 * The error a QuickJS sandbox adds to cowpool's own (see `src/errors.ts` for the codes). Its memory
 * limit is cowpool's `GuestMemoryLimitError`, shared with the SQLite sandbox.
 */
import { ErrorCodes, GuestError, type ConsoleEntry } from '../errors.js';

/**
 * The guest's JavaScript threw (or rejected) and did not catch it. `message` is the guest's
 * `name: message`; `guestStack` is QuickJS's stack of the guest code, also appended to `stack`.
 */
export class QuickJSError extends GuestError {
  /** The thrown error's `name` (`TypeError`, …), or `Thrown` when the value was not an Error. */
  readonly guestName: string;
  /** The thrown error's `message`, or the thrown value as text. */
  readonly guestMessage: string;
  /** The guest's stack trace (QuickJS format), possibly empty. */
  readonly guestStack: string;
  /** What the guest logged before it threw. */
  readonly logs: ConsoleEntry[];

  constructor(guestName: string, guestMessage: string, guestStack: string, logs: ConsoleEntry[] = []) {
    super(ErrorCodes.GUEST_EXCEPTION, `${guestName}: ${guestMessage}`);
    this.guestName = guestName;
    this.guestMessage = guestMessage;
    this.guestStack = guestStack;
    this.logs = logs;
    // The guest's frames first (where it went wrong), then the host's (who asked).
    if (guestStack.trim() !== '') {
      const host = (this.stack ?? '').split('\n').slice(1);
      this.stack = [`${this.name}: ${this.message}`, guestStack.trimEnd(), ...host].join('\n');
    }
  }
}
