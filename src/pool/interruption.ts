/**
 * The host side of an interruptible module (see `module/fuel.ts`): the guest counts fuel down and,
 * when it runs out, calls `check` through its check table; `check` ends the guest with
 * {@link GuestTimeoutError} once its deadline has passed (or with the reason its use was
 * interrupted for, see `InstanceHost.interrupt`), and otherwise refills the fuel.
 *
 * Whatever guest code runs is checked, not only a use's calls: the rewrite exports the start
 * function instead of letting it run inside `new WebAssembly.Instance` (where the table is still
 * empty), and {@link Interruption.runStart} calls it once the check is wired. The deadline is the
 * use's for a member's instance (its host's), and the create deadline for pre-initialization.
 */
import { GuestTimeoutError } from '../errors.js';

/** Fuel a guest burns (loop iterations and calls) between two checks of its deadline. */
const FUEL = 100_000;

/** Where an interruptible rewrite put its fuel counter, check table and (when there was one) start function. */
export interface InterruptExports {
  readonly fuelExport: string;
  readonly tableExport: string;
  /** Present when the module has a start function, which the host must call (see the module comment). */
  readonly startExport?: string;
}

/** When the guest the check guards must stop: a use's host, or pre-initialization's create deadline. */
export interface Deadline {
  /** A `performance.now()` timestamp; Infinity for none. */
  readonly deadline: number;
  /** The timeout it came from in ms, for the error. */
  readonly timeout: number;
  /** Why the guest was ended before its time (its deadline then lies in the past): the error to end it with. */
  readonly interrupted?: Error | undefined;
}

/** The deadline check of a member (or of pre-initialization's instance); see the module comment. */
export class Interruption {
  readonly #exports: InterruptExports;
  readonly #check: unknown;
  #fuel: WebAssembly.Global | undefined;

  constructor(exports: InterruptExports, clock: Deadline) {
    this.#exports = exports;
    const check = () => {
      if (performance.now() >= clock.deadline) throw clock.interrupted ?? new GuestTimeoutError(clock.timeout);
      this.#fuel!.value = FUEL;
    };
    this.#check = checkTrampoline(check);
  }

  /** Wires a new instance's check table to this check and takes its fuel counter. */
  attach(instance: WebAssembly.Instance): void {
    (instance.exports[this.#exports.tableExport] as WebAssembly.Table).set(0, this.#check);
    this.#fuel = instance.exports[this.#exports.fuelExport] as WebAssembly.Global;
  }

  /** Gives the guest about to run a full budget. */
  refill(): void {
    this.#fuel!.value = FUEL;
  }

  /**
   * Runs the start function of `instance` (attached), if the module has one, under the check. A
   * timeout says what did not return: `what` (the start function) within `limit` (the option).
   */
  runStart(instance: WebAssembly.Instance, what: string, limit: string): void {
    if (this.#exports.startExport === undefined) return;
    const start = instance.exports[this.#exports.startExport] as () => void;
    this.refill();
    try {
      start();
    } catch (err) {
      throw overran(err, what, limit);
    }
  }
}

/**
 * A {@link GuestTimeoutError} of guest code other than a use's own (a start function, an
 * initializer) made to say what did not return and which limit stopped it; any other error as is.
 */
export function overran(err: unknown, what: string, limit: string): unknown {
  if (!(err instanceof GuestTimeoutError)) return err;
  const ms = err.timeoutMs;
  return new GuestTimeoutError(ms, `${what} did not return within ${ms} ms (${limit}) and was stopped`);
}

/**
 * `(module (import "h" "check" (func)) (export "check" (func 0)))`: re-exporting an imported JS
 * function yields a wasm function object, which a funcref table accepts (a plain JS function is not).
 */
const TRAMPOLINE = new Uint8Array([
  0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, 0x01, 0x04, 0x01, 0x60, 0x00, 0x00, 0x02, 0x0b, 0x01, 0x01, 0x68, 0x05, 0x63, 0x68, 0x65,
  0x63, 0x6b, 0x00, 0x00, 0x07, 0x09, 0x01, 0x05, 0x63, 0x68, 0x65, 0x63, 0x6b, 0x00, 0x00,
]);
let trampolineModule: WebAssembly.Module | undefined;

function checkTrampoline(check: () => void): unknown {
  trampolineModule ??= new WebAssembly.Module(TRAMPOLINE);
  return new WebAssembly.Instance(trampolineModule, { h: { check } }).exports.check;
}
