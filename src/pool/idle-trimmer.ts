/**
 * `trimIdleAfter`: a member idle that long gives back the pages its uses wrote (which
 * `keepResident` kept so that the next use takes no page faults on them). One timer per pool, due
 * when the member idle longest is: the idle stack is ordered by idle time, so every member idle
 * before another is due no later than it.
 *
 * The trimmer owns the timer and decides which members are due; it trims their memory, which moves
 * no member. A member whose trim failed is handed back to the pool, whose transition retires it.
 */
import { debuglog } from 'node:util';

const debug = debuglog('cowpool');

/** What the trimmer sees of a member. */
export interface TrimmableMember {
  /** `performance.now()` when it last became idle. */
  readonly idleSince: number;
  /** Its memory, whose `trim()` returns the pages it gave back. */
  readonly slot: { trim(): number } | undefined;
}

/** The timer and the trimming; see the module comment. */
export class IdleTrimmer<M extends TrimmableMember> {
  /** `options.trimIdleAfter` in ms; Infinity never trims. */
  readonly #after: number;
  readonly #due: () => void;
  #timer: ReturnType<typeof setTimeout> | undefined;

  /** `due` is called when the timer fires; it calls {@link trimDue} if the pool is still open. */
  constructor(after: number, due: () => void) {
    this.#after = after;
    this.#due = due;
  }

  /** A member has just become idle: a timer is set if none is (an earlier one is due no later). */
  becameIdle(): void {
    if (this.#timer === undefined && Number.isFinite(this.#after)) this.#timer = setTimeout(this.#fire, this.#after).unref();
  }

  /**
   * Trims the members of `idle` (longest idle first) idle for `trimIdleAfter` or longer, then sets
   * the timer for the next one. Returns how many gave pages back, and those whose trim failed: their
   * memory's state is unknown, so the pool must retire them (from a timer, an exception would have
   * nowhere to go but the process).
   */
  trimDue(idle: readonly M[]): { trimmed: number; failed: M[] } {
    const cutoff = performance.now() - this.#after;
    const failed: M[] = [];
    let trimmed = 0;
    for (const member of idle) {
      if (member.idleSince > cutoff) {
        this.#timer = setTimeout(this.#fire, member.idleSince - cutoff).unref();
        break;
      }
      try {
        if ((member.slot?.trim() ?? 0) > 0) trimmed++;
      } catch (err) {
        debug('trim failed, retiring the instance: %s', (err as Error)?.stack ?? String(err));
        failed.push(member);
      }
    }
    return { trimmed, failed };
  }

  /** Stops the timer (the pool is closing). */
  stop(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  readonly #fire = (): void => {
    this.#timer = undefined;
    this.#due();
  };
}
