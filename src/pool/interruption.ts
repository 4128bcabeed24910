/**
 * The host side of an interruptible module (see `module/fuel.ts`): the guest counts fuel down and,
 * when it runs out, calls `check` through its check table; `check` ends the use with
 * {@link GuestTimeoutError} once the deadline has passed, and otherwise refills the fuel. One per
 * member, wired to each instance the member makes.
 */
import { GuestTimeoutError } from '../errors.js';
import type { InstanceHost } from './instance-host.js';

/** Fuel a use burns (loop iterations and calls) between two checks of its deadline. */
const FUEL = 100_000;

/** A member's deadline check; see the module comment. */
export class Interruption {
  readonly #exports: { fuelExport: string; tableExport: string };
  readonly #check: unknown;
  #fuel: WebAssembly.Global | undefined;

  constructor(exports: { fuelExport: string; tableExport: string }, host: InstanceHost<unknown, unknown>) {
    this.#exports = exports;
    const check = () => {
      if (performance.now() >= host.deadline) throw new GuestTimeoutError(host.timeout);
      this.#fuel!.value = FUEL;
    };
    this.#check = checkTrampoline(check);
  }

  /** Wires a new instance's check table to this host and takes its fuel counter. */
  attach(instance: WebAssembly.Instance): void {
    (instance.exports[this.#exports.tableExport] as WebAssembly.Table).set(0, this.#check);
    this.#fuel = instance.exports[this.#exports.fuelExport] as WebAssembly.Global;
  }

  /** Gives the starting use a full budget. */
  refill(): void {
    this.#fuel!.value = FUEL;
  }
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
