/**
 * Room in the SQLite module for user-defined functions: SQLite calls a function through a pointer,
 * an index into the module's function table, so each function the host defines needs an entry
 * there whose wasm function calls the host. sql.js's glue adds such entries at run time (emscripten's
 * `addFunction` grows the table); cowpool cannot, since a table a use may grow cannot be pooled and
 * one grown per instance would have to be restored entry by entry after every use. Instead the
 * module is rewritten once, before the pool prepares it:
 *
 *     table 0 (the function table)   [ 0 … 520 | call 0, final 0, call 1, final 1, … ]   ← one active element segment
 *                                                    │
 *     call i  (ctx, argc, argv)  = host(2i,     ctx, argc, argv) ─┐
 *     final i (ctx)              = host(2i + 1, ctx, 0, 0)      ──┴─► call_indirect through entry 0 of
 *                                                                    the new table `cowpool:sqlite-functions`
 *
 * The new functions and the new one-entry table are appended, so no existing index changes (as
 * the fuel instrumentation does, `module/fuel.ts`); table 0 only grows its minimum. Its entries
 * are then fixed at instantiation, and the module still never changes a table, so the pool keeps
 * one instance per slot. The host puts a wasm function wrapping its dispatcher into the new
 * table's entry at the start of each use (the pool restores the entry after the use: the table is
 * exported); `call i` serves a scalar function or an aggregate's step, `final i` an aggregate's end.
 */
import { UnsupportedError } from '../errors.js';
import { readModule, SectionId } from '../module/index.js';
import { appendEntries, emitModule, type Replacement } from '../module/rewrite.js';
import { ByteWriter } from '../module/writer.js';

/** The export of the table whose entry 0 is the host's dispatcher. */
export const FUNCTION_CALL_TABLE = 'cowpool:sqlite-functions';

/** Where the slots are. */
export interface FunctionSlots {
  /** The rewritten module. */
  readonly bytes: Uint8Array;
  /** The function-table index of slot 0's `call`; slot i's `call` is `first + 2i`, its `final` `first + 2i + 1`. */
  readonly first: number;
}

const FUNC_TYPE = 0x60;
const I32 = 0x7f;
const FUNC_REF = 0x70;
const LOCAL_GET = 0x20;
const I32_CONST = 0x41;
const CALL_INDIRECT = 0x11;
const END = 0x0b;

/**
 * `bytes` with `count` slots for host functions; see the module comment. Throws
 * {@link UnsupportedError} for a module whose function table is not the one defined table of sql.js's build.
 */
export function addFunctionSlots(bytes: Uint8Array, count: number): FunctionSlots {
  const info = readModule(bytes);
  const table = info.tables[0];
  if (info.importedTableCount !== 0 || info.tables.length !== 1 || table === undefined || table.element !== 'funcref' || table.table64) {
    throw new UnsupportedError('SQLite', 'its function table is not the one defined funcref table of the build cowpool hosts');
  }
  const types = [...info.types];
  const typeEntries: Uint8Array[] = [];
  const typeIndex = (params: number): number => {
    const found = types.findIndex((t) => t.results.length === 0 && t.params.length === params && t.params.every((p) => p === 'i32'));
    if (found >= 0) return found;
    types.push({ params: Array(params).fill('i32'), results: [] });
    typeEntries.push(new ByteWriter().u8(FUNC_TYPE).u32(params).bytes(new Uint8Array(params).fill(I32)).u32(0).finish().slice());
    return types.length - 1;
  };
  const callType = typeIndex(3);
  const finalType = typeIndex(1);
  const hostType = typeIndex(4);
  const hostTable = 1;
  const first = table.min;
  const firstFunction = info.importedFunctionCount + info.functions.length;

  const functions: Uint8Array[] = [];
  const bodies: Uint8Array[] = [];
  for (let i = 0; i < count; i++) {
    functions.push(new ByteWriter().u32(callType).finish().slice(), new ByteWriter().u32(finalType).finish().slice());
    bodies.push(body(2 * i, [0, 1, 2], hostType, hostTable), body(2 * i + 1, [0], hostType, hostTable));
  }
  const min = first + 2 * count;
  const max = table.max === undefined ? undefined : Math.max(table.max, min);
  const tables = new ByteWriter().u32(2).u8(FUNC_REF);
  if (max === undefined) tables.u8(0x00).u32(min);
  else tables.u8(0x01).u32(min).u32(max);
  // The host's table: exactly one entry, so that nothing can grow it.
  tables.u8(FUNC_REF).u8(0x01).u32(1).u32(1);
  const element = new ByteWriter()
    .u8(0x00)
    .u8(I32_CONST)
    .s32(first)
    .u8(END)
    .u32(2 * count);
  for (let j = 0; j < 2 * count; j++) element.u32(firstFunction + j);
  const exported = new ByteWriter().name(FUNCTION_CALL_TABLE).u8(0x01).u32(hostTable).finish().slice();

  const replace = new Map<number, Replacement>();
  appendEntries(bytes, info, SectionId.type, info.types.length, typeEntries, replace);
  appendEntries(bytes, info, SectionId.function, info.functions.length, functions, replace);
  replace.set(SectionId.table, tables);
  appendEntries(bytes, info, SectionId.export, info.exports.length, [exported], replace);
  appendEntries(bytes, info, SectionId.element, info.elements.length, [element.finish().slice()], replace);
  appendEntries(bytes, info, SectionId.code, info.code.length, bodies, replace);
  return { bytes: emitModule(bytes, info, replace), first };
}

/** A function body: `host(code, params…, 0…)` through entry 0 of the host table. */
function body(code: number, params: readonly number[], hostType: number, hostTable: number): Uint8Array {
  const w = new ByteWriter().u32(0).u8(I32_CONST).s32(code);
  for (const p of params) w.u8(LOCAL_GET).u32(p);
  for (let k = params.length; k < 3; k++) w.u8(I32_CONST).s32(0);
  w.u8(I32_CONST).s32(0).u8(CALL_INDIRECT).u32(hostType).u32(hostTable).u8(END);
  const code_ = w.finish();
  return new ByteWriter().u32(code_.length).bytes(code_).finish().slice();
}
