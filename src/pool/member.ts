/**
 * `Member`: one pooled instance of a pool, as the pool keeps it: a memory slot, its host (imports
 * and state, built once by `setup`), and (for `reuse`) the instance kept across uses with the
 * global and table values to restore after each.
 *
 * Whether a member is idle, leased or retired is the pool's to decide and record (`instance-pool.ts`
 * holds the one state machine); a member only does the work of each step: `begin` a use, `reset`
 * after it, `close` when retired.
 */
import { InternalError } from '../errors.js';
import { type MemoryImage, MemorySlot, type MemorySlotOptions, type ResetReport } from '../memory/index.js';
import { bindImports } from './bind-imports.js';
import { hostControl, InstanceHost, runSetup, type SetupHook } from './instance-host.js';
import { Interruption } from './interruption.js';
import type { PreparedModule } from './prepare.js';
import { isPromise } from './sync-or-async.js';

/** Where a member is in its life; only the pool's transitions change it. */
export type MemberState = 'idle' | 'leased' | 'retired';

const control = hostControl();

/** One pooled instance; see the module comment. */
export class Member<S, C> {
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
  ): Member<S, C> | Promise<Member<S, C>> {
    const member = new Member<S, C>(prepared, image, slotOptions);
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
    if (this.#prepared.mechanism === 'reuse') {
      // The analysis refuses `reuse` to a start function that would run again (pre-initialization
      // removes one that does not): a kept instance has none to run outside a use.
      if (this.#prepared.interrupt?.startExport !== undefined) throw new InternalError('a kept instance with a start function to run');
      this.#keep(new WebAssembly.Instance(this.#prepared.module, this.#imports));
    }
    return this;
  }

  /**
   * Starts a use: returns the instance to use (a new one for `reinstantiate`). When it throws (a
   * start function trapped or overran the use's timeout, say), the use has begun all the same and
   * must be reset.
   */
  begin(context: C | undefined, timeout: number): WebAssembly.Instance {
    this.slot?.lease();
    control.begin(this.host, context, timeout);
    // A kept instance is reused as is; otherwise instantiate on the reset memory, which runs the
    // start function and re-creates globals, tables and segments exactly as a fresh instance would.
    let instance = this.#kept;
    if (instance === undefined) {
      instance = new WebAssembly.Instance(this.#prepared.module, this.#imports);
      control.instance(this.host, instance);
      if (this.#interruption) {
        // An interruptible module's start function was left for us to run, under the use's deadline.
        this.#interruption.attach(instance);
        this.#interruption.runStart(instance, 'the start function', "the use's timeout");
      }
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
