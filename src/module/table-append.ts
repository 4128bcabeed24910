/**
 * Functions appended to a module and placed at the end of its function table, so that the guest
 * can call them through pointers (function-table indices) while no existing index changes: the
 * rewrites that give a guest code of cowpool's to call by pointer (QuickJS's heap accounting,
 * `quickjs/heap-accounting.ts`; SQLite's slots for user-defined functions,
 * `sqlite/function-slots.ts`) both build on it.
 *
 *     table 0   [ 0 … min-1 | appended 0, appended 1, … ]    its minimum grows; one active element
 *                           ↑ first                          segment fills the new entries
 *
 * The new entries are fixed at instantiation and the module still never writes a table, so the
 * pool keeps one instance per slot. The module must define exactly one funcref table and import
 * none (the builds cowpool hosts); anything else is {@link UnsupportedError}, naming the guest.
 */
import { UnsupportedError } from '../errors.js';
import { SectionId } from './reader.js';
import { appendEntries, emitModule, type Replacement } from './rewrite.js';
import type { DefinedTable, ModuleInfo } from './types.js';
import { ByteWriter } from './writer.js';

const FUNC_TYPE = 0x60;
const I32 = 0x7f;
const FUNC_REF = 0x70;
const I32_CONST = 0x41;
const END = 0x0b;
const LIMITS_MIN = 0x00;
const LIMITS_MIN_MAX = 0x01;
const EXPORT_TABLE = 0x01;

/** A rewrite in the making; see the module comment. {@link emit} gives the module's bytes. */
export class TableAppend {
  /** The function-table index of the first appended function; the others follow it in order. */
  readonly first: number;
  readonly #bytes: Uint8Array;
  readonly #info: ModuleInfo;
  readonly #table: DefinedTable;
  /** The module's types and those appended, to find a signature among. */
  readonly #types: { params: readonly string[]; results: readonly string[] }[];
  readonly #typeEntries: Uint8Array[] = [];
  readonly #functions: Uint8Array[] = [];
  readonly #bodies: Uint8Array[] = [];
  readonly #tables: Uint8Array[] = [];
  readonly #exports: Uint8Array[] = [];

  /** Starts a rewrite of `bytes` (which `info` describes) for `guest`, the name its errors give. */
  constructor(bytes: Uint8Array, info: ModuleInfo, guest: string) {
    const table = info.tables[0];
    if (info.importedTableCount !== 0 || info.tables.length !== 1 || table === undefined || table.element !== 'funcref' || table.table64) {
      throw new UnsupportedError(guest, 'its function table is not the one defined funcref table of the build cowpool hosts');
    }
    this.#bytes = bytes;
    this.#info = info;
    this.#table = table;
    this.#types = [...info.types];
    this.first = table.min;
  }

  /** The index of the type `(i32 × params) → (i32 × results)`, appended when the module has none. */
  i32Type(params: number, results: number): number {
    const allI32 = (list: readonly string[], n: number) => list.length === n && list.every((t) => t === 'i32');
    const found = this.#types.findIndex((t) => allI32(t.params, params) && allI32(t.results, results));
    if (found >= 0) return found;
    this.#types.push({ params: Array<string>(params).fill('i32'), results: Array<string>(results).fill('i32') });
    const entry = new ByteWriter().u8(FUNC_TYPE).u32(params).bytes(new Uint8Array(params).fill(I32));
    this.#typeEntries.push(entry.u32(results).bytes(new Uint8Array(results).fill(I32)).finish().slice());
    return this.#types.length - 1;
  }

  /**
   * Appends a function of type `type` whose code-section entry is `body` (size-prefixed: locals,
   * code and `end`), at the next entry of the table. Returns that table index.
   */
  addFunction(type: number, body: Uint8Array): number {
    this.#functions.push(new ByteWriter().u32(type).finish().slice());
    this.#bodies.push(body);
    return this.first + this.#bodies.length - 1;
  }

  /**
   * Appends a funcref table of exactly `size` entries (it cannot grow), exported as `name`, for
   * the host to fill. Returns its table index.
   */
  addHostTable(size: number, name: string): number {
    const index = this.#info.tables.length + this.#tables.length;
    this.#tables.push(new ByteWriter().u8(FUNC_REF).u8(LIMITS_MIN_MAX).u32(size).u32(size).finish().slice());
    this.#exports.push(new ByteWriter().name(name).u8(EXPORT_TABLE).u32(index).finish().slice());
    return index;
  }

  /** The module rewritten: the types, functions, tables, exports and table entries appended. */
  emit(): Uint8Array {
    const info = this.#info;
    const count = this.#bodies.length;
    const min = this.first + count;
    const max = this.#table.max === undefined ? undefined : Math.max(this.#table.max, min);
    const tables = new ByteWriter().u32(1 + this.#tables.length).u8(FUNC_REF);
    if (max === undefined) tables.u8(LIMITS_MIN).u32(min);
    else tables.u8(LIMITS_MIN_MAX).u32(min).u32(max);
    for (const table of this.#tables) tables.bytes(table);
    const element = new ByteWriter().u8(0x00).u8(I32_CONST).s32(this.first).u8(END).u32(count);
    const firstFunction = info.importedFunctionCount + info.functions.length;
    for (let i = 0; i < count; i++) element.u32(firstFunction + i);

    const replace = new Map<number, Replacement>();
    appendEntries(this.#bytes, info, SectionId.type, info.types.length, this.#typeEntries, replace);
    appendEntries(this.#bytes, info, SectionId.function, info.functions.length, this.#functions, replace);
    replace.set(SectionId.table, tables);
    if (this.#exports.length > 0) appendEntries(this.#bytes, info, SectionId.export, info.exports.length, this.#exports, replace);
    appendEntries(this.#bytes, info, SectionId.element, info.elements.length, [element.finish().slice()], replace);
    appendEntries(this.#bytes, info, SectionId.code, info.code.length, this.#bodies, replace);
    return emitModule(this.#bytes, info, replace);
  }
}
