/**
 * One member of a pool: a memory slot, its host (imports and state, built once by `setup`), and
 * (for `reuse`) the instance kept across uses with the global and table values to restore after each.
 *
 * Whether a member is idle, leased or retired is the pool's to decide and record (`instance-pool.ts`
 * holds the one state machine); a member only does the work of each step: `begin` a use, `reset`
 * after it, `close` when retired.
 */
import { GuestTimeoutError, ImportMissingError } from '../errors.js';
import { type MemoryImage, MemorySlot, type MemorySlotOptions, type ResetReport } from '../memory/index.js';
import { hostControl, InstanceHost, isPromise, runSetup, type SetupHook } from './host.js';
import type { PreparedModule } from './prepare.js';

/** Where a member is in its life; only the pool's transitions change it. */
export type MemberState = 'idle' | 'leased' | 'retired';

const control = hostControl();

/** One pooled instance; see the module comment. */
export class PooledInstance<S, C> {
  readonly host: InstanceHost<S, C>;
  readonly slot: MemorySlot | undefined;
  /** Written only by the pool's transitions. */
  state: MemberState = 'idle';
  /** The current lease while `leased` (a token the pool compares, so a stale lease cannot release). */
  lease: object | undefined = undefined;
  /** `performance.now()` when it last became idle; written only by the pool's transitions. */
  idleSince = 0;
  readonly #prepared: PreparedModule;
  #imports: WebAssembly.Imports = {};
  #kept: WebAssembly.Instance | undefined;
  readonly #globals: { global: WebAssembly.Global; value: unknown }[] = [];
  readonly #tables: { table: WebAssembly.Table; entries: unknown[] }[] = [];
  #outgrown = false;
  readonly #interruption: Interruption | undefined;

  private constructor(prepared: PreparedModule, image: MemoryImage | undefined, slotOptions: MemorySlotOptions) {
    this.#prepared = prepared;
    this.slot = image ? MemorySlot.create(image, { ...slotOptions, maximumPages: prepared.memoryPages?.maximum }) : undefined;
    this.host = new InstanceHost<S, C>(this.slot?.memory);
    this.#interruption = prepared.interrupt ? new Interruption(prepared.interrupt, this.host) : undefined;
  }

  /**
   * A new member: its slot, then `setup` for its host, then (reuse) its instance. A promise when
   * `setup` is async. On failure nothing is left open (the slot is closed).
   */
  static create<S, C>(
    prepared: PreparedModule,
    image: MemoryImage | undefined,
    slotOptions: MemorySlotOptions,
    setup: SetupHook<S, C>,
  ): PooledInstance<S, C> | Promise<PooledInstance<S, C>> {
    const member = new PooledInstance<S, C>(prepared, image, slotOptions);
    const fail = (err: unknown): never => {
      member.close();
      throw err;
    };
    try {
      const made = runSetup(setup, member.host);
      if (isPromise(made)) return made.then((m) => member.#link(m.imports)).catch(fail);
      return member.#link(made.imports);
    } catch (err) {
      return fail(err);
    }
  }

  #link(given: WebAssembly.Imports): this {
    this.#imports = bindImports(this.#prepared.module, this.#prepared.memoryImport, given, this.slot?.memory);
    if (this.#prepared.mechanism === 'reuse') this.#keep(new WebAssembly.Instance(this.#prepared.module, this.#imports));
    return this;
  }

  /**
   * Starts a use: returns the instance to use (a new one for `reinstantiate`). When it throws (a
   * start function trapped, say), the use has begun all the same and must be reset.
   */
  begin(context: C | undefined, timeout: number): WebAssembly.Instance {
    this.slot?.lease();
    control.begin(this.host, context, timeout);
    // A kept instance is reused as is; otherwise instantiate on the reset memory, which runs the
    // start function and re-creates globals, tables and segments exactly as a fresh instance would.
    let instance = this.#kept;
    if (instance === undefined) {
      instance = new WebAssembly.Instance(this.#prepared.module, this.#imports);
      this.#interruption?.attach(instance);
    }
    this.#interruption?.refill();
    control.instance(this.host, instance);
    return instance;
  }

  /**
   * Ends a use: resets memory, restores globals and tables. Returns the memory reset's report
   * (`grew`: the pool must retire this member). Throws when the reset failed; the member's state
   * is then unknown and it must be retired.
   */
  reset(beforeReset: (() => void) | undefined): ResetReport | undefined {
    control.end(this.host);
    if (this.#kept === undefined) control.instance(this.host, undefined);
    beforeReset?.();
    // A table grown past its size (its reserve, with tableReserve) cannot shrink back: the member
    // is retired, and what it is about to lose is not worth resetting.
    if (this.#tables.some(({ table, entries }) => table.length !== entries.length)) {
      this.#outgrown = true;
      return undefined;
    }
    const report = this.slot?.reset();
    for (const g of this.#globals) g.global.value = g.value;
    for (const { table, entries } of this.#tables) {
      // Reading is cheaper than writing, and most entries are unchanged.
      for (let i = 0; i < entries.length; i++) if (table.get(i) !== entries[i]) table.set(i, entries[i]);
    }
    return report;
  }

  /** True once a use grew a restored table: the member cannot be made fresh again. */
  get outgrown(): boolean {
    return this.#outgrown;
  }

  /** Releases the slot (and with it the image's memfd, once no slot holds it). Idempotent. */
  close(): void {
    this.slot?.close();
    this.#kept = undefined;
  }

  #keep(instance: WebAssembly.Instance): void {
    this.#interruption?.attach(instance);
    this.#kept = instance;
    control.instance(this.host, instance);
    for (const { name, value } of this.#prepared.globalOverrides) (instance.exports[name] as WebAssembly.Global).value = value;
    for (const name of this.#prepared.restoreGlobals) {
      const global = instance.exports[name] as WebAssembly.Global;
      this.#globals.push({ global, value: global.value });
    }
    // Room to grow into, made before the entries are captured: every use then starts with it.
    for (const { name, reserve } of this.#prepared.reservedTables) (instance.exports[name] as WebAssembly.Table).grow(reserve);
    for (const name of this.#prepared.restoreTables) {
      const table = instance.exports[name] as WebAssembly.Table;
      const entries: unknown[] = [];
      for (let i = 0; i < table.length; i++) entries.push(table.get(i));
      this.#tables.push({ table, entries });
    }
  }
}

/**
 * The user's imports with the pool's memory added, checked against what the module imports so a
 * missing import fails with its name instead of V8's LinkError.
 */
export function bindImports(
  module: WebAssembly.Module,
  target: { module: string; name: string } | undefined,
  given: WebAssembly.Imports,
  memory: WebAssembly.Memory | undefined,
): WebAssembly.Imports {
  const imports: WebAssembly.Imports = {};
  for (const [name, namespace] of Object.entries(given ?? {})) imports[name] = { ...namespace };
  if (target && memory) imports[target.module] = { ...imports[target.module], [target.name]: memory };
  for (const wanted of WebAssembly.Module.imports(module)) {
    const namespace = imports[wanted.module];
    if (namespace === undefined || !Object.hasOwn(namespace, wanted.name)) {
      throw new ImportMissingError(wanted.module, wanted.name, wanted.kind);
    }
  }
  return imports;
}

/** Fuel a use burns (loop iterations and calls) between two checks of its deadline. */
const FUEL = 100_000;

/**
 * The host side of an interruptible module (see `module/fuel.ts`): the guest counts fuel down and,
 * when it runs out, calls `check` through its check table; `check` ends the use with
 * {@link GuestTimeoutError} once the deadline has passed, and otherwise refills the fuel.
 */
class Interruption {
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
