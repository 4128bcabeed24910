/**
 * Everything the preview1 functions read or change, in one object they all close over. The imports
 * are built once around this object; a new use only replaces the context and resets counters.
 *
 * It also enforces the limits of a use that host calls meet: the deadline (read from its owner, a
 * {@link UseDeadline} such as the pool's InstanceHost) and the output limit of the context.
 */

import { GuestOutputLimitError } from '../errors.js';
import { Errno, type ErrnoValue } from './abi.js';
import { ErrnoError } from './errno-error.js';
import type { UseDeadline, WasiClock } from './clock.js';
import { encodeStrings, environmentStrings, type EncodedStrings, type WasiContext } from './context.js';
import { FdTable, type Preopen } from './fd-table.js';
import { GuestMemory } from './guest-memory.js';
import type { OverlayBudget } from './fs/overlay-budget.js';
import { errnoFromHostError, isHostSystemError } from './fs/host-errno.js';
import type { RandomSource } from './random.js';

const discard = (_chunk: Uint8Array): void => {};

/** What a host call sees between uses: no arguments, no environment, no input, output dropped. */
export const IDLE_CONTEXT: WasiContext = Object.freeze({
  args: Object.freeze([]) as readonly string[],
  env: Object.freeze([]) as readonly string[],
  stdin: new Uint8Array(0),
  stdout: discard,
  stderr: discard,
});

/** Shared state of one WASI host (internal). */
export class WasiState {
  readonly memory = new GuestMemory();
  readonly fds: FdTable;
  readonly clock: WasiClock;
  readonly random: RandomSource;
  context: WasiContext = IDLE_CONTEXT;
  /** Bytes of `context.stdin` already read. */
  stdinPosition = 0;
  #args: EncodedStrings | undefined;
  #env: EncodedStrings | undefined;
  /** Bytes written to stdout and stderr in this use, and how many the context allows. */
  #output = 0;
  #outputLimit = Infinity;

  readonly #preopens: readonly Preopen[];
  readonly #budget: OverlayBudget;
  readonly #deadline: UseDeadline | undefined;

  constructor(
    preopens: readonly Preopen[],
    budget: OverlayBudget,
    clock: WasiClock,
    random: RandomSource,
    deadline: UseDeadline | undefined,
  ) {
    this.fds = new FdTable(preopens);
    this.#preopens = preopens;
    this.#budget = budget;
    this.clock = clock;
    this.random = random;
    this.#deadline = deadline;
  }

  /**
   * Ends the use once it is past its deadline (the owner's error, GuestTimeoutError). Every host
   * call that can take time or produce output calls this first: the fuel counter alone checks the
   * deadline only every so many loop iterations, and one iteration may write megabytes. Costs one
   * property read without a deadline, and a `performance.now()` with one.
   */
  checkDeadline(): void {
    const owner = this.#deadline;
    if (owner !== undefined && owner.deadline !== Infinity) owner.checkDeadline();
  }

  /**
   * Sleeps for `nanoseconds` through the clock, but never past the use's deadline: a sleep blocks
   * the thread, so it is cut there and the use ends as a loop would.
   */
  sleep(nanoseconds: bigint): void {
    const deadline = this.#deadline?.deadline ?? Infinity;
    if (deadline !== Infinity) {
      const left = BigInt(Math.max(0, Math.ceil((deadline - performance.now()) * 1e6)));
      if (left < nanoseconds) {
        this.clock.sleep(left);
        this.checkDeadline();
        return;
      }
    }
    this.clock.sleep(nanoseconds);
  }

  /**
   * Counts `bytes` about to go to stdout or stderr; ends the use with {@link GuestOutputLimitError}
   * (before the sinks see any of them) when they would take the use past its output limit.
   */
  chargeOutput(bytes: number): void {
    const total = this.#output + bytes;
    if (total > this.#outputLimit) throw new GuestOutputLimitError(this.#outputLimit);
    this.#output = total;
  }

  /** Bytes the overlays hold in the current use. */
  get overlayBytes(): number {
    return this.#budget.used;
  }

  /** Drops every overlay: what the use wrote vanishes, the host directories show through again. */
  #dropOverlays(): void {
    for (const preopen of this.#preopens) preopen.fs.reset();
    this.#budget.reset();
  }

  /** Installs `context` for a new use. The context has been validated by the caller. */
  begin(context: WasiContext): void {
    this.context = context;
    this.stdinPosition = 0;
    this.#args = undefined;
    this.#env = undefined;
    this.#output = 0;
    this.#outputLimit = context.outputLimit ?? Infinity;
    this.fds.reset();
    this.#dropOverlays();
  }

  /**
   * Ends a use: closes everything the guest opened, drops the overlays (nothing the use held
   * outlives it) and stops routing output to the use's sinks.
   */
  end(): void {
    this.fds.reset();
    this.#dropOverlays();
    this.context = IDLE_CONTEXT;
    this.#args = undefined;
    this.#env = undefined;
  }

  /** argv, encoded at first use within a use. */
  get args(): EncodedStrings {
    return (this.#args ??= encodeStrings(this.context.args));
  }

  /** environ, encoded at first use within a use. */
  get env(): EncodedStrings {
    return (this.#env ??= encodeStrings(environmentStrings(this.context.env)));
  }

  /**
   * Turns an exception raised inside a host call into the errno the guest gets: a RangeError is an
   * access outside guest memory (EFAULT), a failed host system call maps to its errno. Anything else
   * (WasiExit, an error thrown by an output sink on purpose) propagates and ends the run.
   */
  fault(error: unknown): ErrnoValue {
    if (error instanceof ErrnoError) return error.errno;
    if (error instanceof RangeError) return Errno.FAULT;
    if (isHostSystemError(error)) return errnoFromHostError(error);
    throw error;
  }
}
