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
 * The new functions and the new one-entry table are appended (`module/table-append.ts`), so no
 * existing index changes; table 0 only grows its minimum. Its entries are then fixed at
 * instantiation, and the module still never changes a table, so the pool keeps one instance per
 * slot. The host puts a wasm function wrapping its dispatcher into the new
 * table's entry at the start of each use (the pool restores the entry after the use: the table is
 * exported); `call i` serves a scalar function or an aggregate's step, `final i` an aggregate's end.
 */
import { readModule } from '../module/index.js';
import { TableAppend } from '../module/table-append.js';
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

const LOCAL_GET = 0x20;
const I32_CONST = 0x41;
const CALL_INDIRECT = 0x11;
const END = 0x0b;

/**
 * `bytes` with `count` slots for host functions; see the module comment. Throws
 * `UnsupportedError` for a module whose function table is not the one defined table of sql.js's build.
 */
export function addFunctionSlots(bytes: Uint8Array, count: number): FunctionSlots {
  const rewrite = new TableAppend(bytes, readModule(bytes), 'SQLite');
  const callType = rewrite.i32Type(3, 0);
  const finalType = rewrite.i32Type(1, 0);
  const hostType = rewrite.i32Type(4, 0);
  // The host's table: exactly one entry, so that nothing can grow it.
  const hostTable = rewrite.addHostTable(1, FUNCTION_CALL_TABLE);
  for (let i = 0; i < count; i++) {
    rewrite.addFunction(callType, body(2 * i, [0, 1, 2], hostType, hostTable));
    rewrite.addFunction(finalType, body(2 * i + 1, [0], hostType, hostTable));
  }
  return { bytes: rewrite.emit(), first: rewrite.first };
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
