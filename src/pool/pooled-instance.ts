/**
 * One member of a pool: a memory slot, the imports bound to it, and (for `reuse`) the instance
 * kept across uses with the global and table values to restore after each.
 *
 * States: idle (memory equals the image, globals and tables as after instantiation), in use,
 * retired (memory grew, or a reset failed: never used again).
 */
import { GuestTimeoutError, ImportMissingError, InternalError } from '../errors.js';
import { MemoryImage, MemorySlot, type MemorySlotOptions, type ResetReport } from '../memory/index.js';
import type { PreparedModule } from './prepare.js';

/**
 * What host functions see of the pooled instance they are bound to. The imports function receives
 * it once per pooled instance; `context` changes with every use, so host functions read the current
 * request's context without re-instantiation.
 */
export class InstanceHost<C = unknown> {
  /** The current use's context (what `run` or `acquire` was given); undefined between uses. */
  context: C | undefined = undefined;
  /** The instance of the current use (for `reinstantiate`, a new one each use). */
  instance: WebAssembly.Instance | undefined = undefined;
  /** The pooled memory, or undefined when the module has no memory. */
  readonly memory: WebAssembly.Memory | undefined;
  /** Free for the imports function to keep per-instance state in (a WASI host, say). */
  data: unknown = undefined;
  /** When the current use must end (a `performance.now()` timestamp), or Infinity. */
  deadline = Infinity;
  /** The current use's timeout in ms, for the error that ends it. */
  timeout = Infinity;

  constructor(memory: WebAssembly.Memory | undefined) {
    this.memory = memory;
  }
}

/** Builds the imports of one pooled instance. */
export type ImportsFactory<C> = (host: InstanceHost<C>) => WebAssembly.Imports;

/** One pooled instance; see the module comment. */
export class PooledInstance<C> {
  readonly host: InstanceHost<C>;
  readonly slot: MemorySlot | undefined;
  readonly #prepared: PreparedModule;
  readonly #imports: WebAssembly.Imports;
  #kept: WebAssembly.Instance | undefined;
  readonly #globals: { global: WebAssembly.Global; value: unknown }[] = [];
  readonly #tables: { table: WebAssembly.Table; entries: unknown[] }[] = [];
  #inUse = false;
  readonly #interruption: Interruption | undefined;

  constructor(prepared: PreparedModule, image: MemoryImage | undefined, slotOptions: MemorySlotOptions, imports: ImportsFactory<C>) {
    this.#prepared = prepared;
    this.slot = image ? MemorySlot.create(image, { ...slotOptions, maximumPages: prepared.memoryPages?.maximum }) : undefined;
    this.host = new InstanceHost<C>(this.slot?.memory);
    this.#interruption = prepared.interrupt ? new Interruption(prepared.interrupt, this.host) : undefined;
    try {
      this.#imports = bindImports(prepared, imports(this.host), this.slot?.memory);
      if (prepared.mechanism === 'reuse') this.#keep(new WebAssembly.Instance(prepared.module, this.#imports));
    } catch (err) {
      this.slot?.close();
      throw err;
    }
  }

  /** Starts a use: returns the instance to use (a new one for `reinstantiate`). */
  begin(context: C | undefined, timeout: number): WebAssembly.Instance {
    if (this.#inUse) throw new InternalError('begin() of a pooled instance already in use');
    this.#inUse = true;
    this.slot?.lease();
    this.host.context = context;
    this.host.timeout = timeout;
    this.host.deadline = timeout === Infinity ? Infinity : performance.now() + timeout;
    // A kept instance is reused as is; otherwise instantiate on the reset memory, which runs the
    // start function and re-creates globals, tables and segments exactly as a fresh instance would.
    let instance = this.#kept;
    if (instance === undefined) {
      instance = new WebAssembly.Instance(this.#prepared.module, this.#imports);
      this.#interruption?.attach(instance);
    }
    this.#interruption?.refill();
    this.host.instance = instance;
    return instance;
  }

  /** Ends a use: resets memory, restores globals and tables. `retire` when the memory grew. */
  end(): { report: ResetReport | undefined; retire: boolean } {
    if (!this.#inUse) throw new InternalError('end() of a pooled instance not in use');
    this.host.context = undefined;
    this.host.deadline = Infinity;
    this.host.timeout = Infinity;
    if (this.#kept === undefined) this.host.instance = undefined;
    const report = this.slot?.reset();
    for (const g of this.#globals) g.global.value = g.value;
    for (const { table, entries } of this.#tables) {
      for (let i = 0; i < entries.length; i++) table.set(i, entries[i]);
    }
    this.#inUse = false;
    return { report, retire: report?.grew === true };
  }

  /** Stops using this member. */
  close(): void {
    this.slot?.close();
    this.#kept = undefined;
  }

  #keep(instance: WebAssembly.Instance): void {
    this.#interruption?.attach(instance);
    this.#kept = instance;
    this.host.instance = instance;
    for (const { name, value } of this.#prepared.globalOverrides) (instance.exports[name] as WebAssembly.Global).value = value;
    for (const name of this.#prepared.restoreGlobals) {
      const global = instance.exports[name] as WebAssembly.Global;
      this.#globals.push({ global, value: global.value });
    }
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
export function bindImports(prepared: PreparedModule, given: WebAssembly.Imports, memory: WebAssembly.Memory | undefined): WebAssembly.Imports {
  const imports: WebAssembly.Imports = {};
  for (const [name, namespace] of Object.entries(given ?? {})) imports[name] = { ...namespace };
  const target = prepared.memoryImport;
  if (target && memory) imports[target.module] = { ...imports[target.module], [target.name]: memory };
  for (const wanted of WebAssembly.Module.imports(prepared.module)) {
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

  constructor(exports: { fuelExport: string; tableExport: string }, host: InstanceHost<unknown>) {
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
const kTrampoline = new Uint8Array([
  0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00,
  0x01, 0x04, 0x01, 0x60, 0x00, 0x00,
  0x02, 0x0b, 0x01, 0x01, 0x68, 0x05, 0x63, 0x68, 0x65, 0x63, 0x6b, 0x00, 0x00,
  0x07, 0x09, 0x01, 0x05, 0x63, 0x68, 0x65, 0x63, 0x6b, 0x00, 0x00,
]);
let trampolineModule: WebAssembly.Module | undefined;

function checkTrampoline(check: () => void): unknown {
  trampolineModule ??= new WebAssembly.Module(kTrampoline);
  return new WebAssembly.Instance(trampolineModule, { h: { check } }).exports.check;
}
