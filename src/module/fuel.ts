/**
 * Fuel instrumentation: makes a guest interruptible on the JS thread. A guest that never returns
 * (an infinite loop, unbounded recursion) can only be stopped from the thread it runs on if it
 * calls out, so every defined function's entry and every `loop` header gets a countdown:
 *
 * ```wasm
 * global.get $fuel  i32.const 1  i32.sub  global.set $fuel
 * global.get $fuel  i32.const 0  i32.le_s
 * if  i32.const 0  call_indirect (type $void) (table $check)  end
 * ```
 *
 * When the counter runs out the guest calls the host's check, which either throws (the deadline
 * has passed; the JS exception unwinds the guest) or refills `$fuel` and returns. Every cycle of
 * control flow goes through a loop header or a function entry, so a guest cannot run more than
 * `fuel` steps without the host hearing of it.
 *
 * Design choices:
 *
 * - The check is reached through a new one-entry funcref table rather than a function import.
 *   Imported functions come first in the function index space, so an import would renumber every
 *   defined function, and every `call`, `ref.func`, element segment, export and name-section entry
 *   would need rewriting. A table (and the `$fuel` global, and the `[] -> []` type when the module
 *   lacks one) is appended at the end of its index space, so no existing index changes and every
 *   byte of the original code is copied as is; only the inserted sequences are new. The host puts
 *   a WebAssembly function wrapping its JS check into entry 0 of the exported table. An import
 *   would be no faster: the check is called once per `fuel` steps, and what every step pays (the
 *   countdown below) is the same either way.
 * - The test is `<= 0`, not `== 0`. A guest can catch the host's exception (a legacy `catch_all`
 *   catches JS exceptions) and keep looping; the check did not refill the counter, so it is now
 *   negative, and every later header calls the check again, which throws again. With `== 0` the
 *   guest would run on for 2^32 more steps before the counter came back to zero.
 * - `$fuel` is a defined (not imported) mutable i32 starting at 0 and exported, so the host sets
 *   the budget per call with `global.value = n`. Until the host does so (and fills the table),
 *   the first instrumented point traps on the table's null entry. That is a safe default, but a
 *   start function runs inside `new WebAssembly.Instance`, before the host can reach either
 *   export, so the rewrite exports it instead (`startExport`, see `rewrite.ts`) and the host calls
 *   it once the check is wired: a start function is guest code like any other, bounded by the
 *   same check. (An earlier version gave it a budget of 2^31 - 1 steps instead: seconds of
 *   unchecked guest code, then a trap on the null entry that read as the guest's.)
 * - The inserted `if` is closed right away and leaves the operand stack as it found it, so branch
 *   depths, block types and loop parameters are unaffected.
 *
 * Loops only (`calls: false`): function entries are left alone. Every unbounded run still passes a
 * loop header *or* recurses; recursion is bounded in depth by the wasm stack, but a loop-free call
 * tree can still be exponentially long (each function calling the next twice), so this is only for
 * a guest whose every step of untrusted work passes a loop: an interpreter such as QuickJS, whose
 * dispatch loop runs once per bytecode whatever the script does. It saves the check on every call,
 * which in an interpreter's many small C functions is about half the cost.
 *
 * Cost: eight instructions per loop iteration and per call (the `if` body runs once every `fuel`
 * steps). A global lives in memory for V8, so each step is a load, a store, a reload and a branch
 * that is almost never taken. That triples the time of a loop with an empty body (a 10^8-step
 * counting loop: 27 ms to 82 ms once optimized); on real code it is far less (SQLite queries run
 * 15–35% slower). Each point adds 20 or more bytes of code.
 *
 * Limits: fuel counts loop iterations and calls, not instructions, so one step can be long (a
 * `memory.fill` of the whole memory, a host import that blocks). The check must throw or refill:
 * if it returns with the counter still at or below zero, every later point calls it again.
 * Custom sections that refer to code offsets (DWARF, source maps) are copied as they are and no
 * longer match the instrumented code; the name section stays right.
 */

import { InternalError } from '../errors.js';
import type { ByteRange } from './bytes.js';
import type { ModuleInfo } from './types.js';
import { walkInstructions } from './instructions.js';
import { SectionId } from './reader.js';
import { Op } from './opcodes.js';
import { ByteWriter } from './writer.js';

// Opcodes of the inserted sequence that `Op` has no name for.
const I32_CONST = 0x41;
const I32_SUB = 0x6b;
const I32_LE_S = 0x4c;
const EMPTY_BLOCK_TYPE = 0x40;
const FUNC_TYPE = 0x60;
const FUNC_REF = 0x70;
const I32 = 0x7f;

/** What {@link instrumentFuel} adds to a module, ready for the rewriter to splice in. */
export interface FuelInstrumentation {
  /** Index of the `[] -> []` type the check is called with. */
  readonly typeIndex: number;
  /** A type section entry to append, or undefined when the module already has a `[] -> []` type. */
  readonly typeEntry: Uint8Array | undefined;
  /** Index of the `$fuel` global (after every existing global). */
  readonly globalIndex: number;
  /** The global section entry of `$fuel`: mutable i32, initially 0. */
  readonly globalEntry: Uint8Array;
  /** Index of the check table (after every existing table). */
  readonly tableIndex: number;
  /** The table section entry of the check table: funcref, exactly one entry. */
  readonly tableEntry: Uint8Array;
  /** The new code section contents, or undefined when the module defines no function. */
  readonly code: ByteWriter | undefined;
  /** How many sequences were inserted: defined functions plus `loop` instructions. */
  readonly points: number;
}

/** The inserted sequence, with the indices it refers to encoded once. */
function checkSequence(globalIndex: number, typeIndex: number, tableIndex: number): Uint8Array {
  return new ByteWriter()
    .u8(Op.globalGet)
    .u32(globalIndex)
    .u8(I32_CONST)
    .s32(1)
    .u8(I32_SUB)
    .u8(Op.globalSet)
    .u32(globalIndex)
    .u8(Op.globalGet)
    .u32(globalIndex)
    .u8(I32_CONST)
    .s32(0)
    .u8(I32_LE_S)
    .u8(Op.if)
    .u8(EMPTY_BLOCK_TYPE)
    .u8(I32_CONST)
    .s32(0)
    .u8(Op.callIndirect)
    .u32(typeIndex)
    .u32(tableIndex)
    .u8(Op.end)
    .finish()
    .slice();
}

/**
 * Instruments every defined function of the module `info` was read from (`bytes`): computes the
 * entries to append and re-encodes the code section. Only the sequences are inserted; every other
 * byte of each body, locals included, is copied unchanged. With `calls` false, only loop headers
 * are instrumented (see the module comment for when that is enough). `loopHeaders`, when given,
 * are the analysis's (`ModuleAnalysis.loopHeaders`, of these very bytes): the code is then not
 * decoded again.
 *
 * @throws MalformedModuleError (section `code`) if a body cannot be decoded.
 */
export function instrumentFuel(
  bytes: Uint8Array,
  info: ModuleInfo,
  calls = true,
  loopHeaders?: readonly (readonly number[])[],
): FuelInstrumentation {
  // Without GC type definitions every type is a plain func type, so one with no params and no
  // results is the same type as the one we would add (and call_indirect checks structurally).
  const existing = info.types.findIndex((t) => t.params.length === 0 && t.results.length === 0);
  const typeIndex = existing >= 0 ? existing : info.types.length;
  const typeEntry = existing >= 0 ? undefined : new Uint8Array([FUNC_TYPE, 0, 0]);
  const globalIndex = info.importedGlobalCount + info.globals.length;
  const globalEntry = new ByteWriter().u8(I32).u8(1).u8(I32_CONST).s32(0).u8(Op.end).finish().slice();
  const tableIndex = info.importedTableCount + info.tables.length;
  // Limits flag 1: a maximum follows. min = max = 1 so the host cannot be surprised by growth.
  const tableEntry = new Uint8Array([FUNC_REF, 0x01, 0x01, 0x01]);

  const sequence = checkSequence(globalIndex, typeIndex, tableIndex);
  let code: ByteWriter | undefined;
  if (info.code.length > 0) {
    if (loopHeaders !== undefined && loopHeaders.length !== info.code.length) {
      throw new InternalError(`fuel: ${loopHeaders.length} functions' loop headers for ${info.code.length} functions`);
    }
    const loops = loopHeaders ?? info.code.map((body) => findLoopHeaders(bytes, body.instructions));
    let points = calls ? info.code.length : 0;
    for (const headers of loops) points += headers.length;
    // Sized up front: the original code plus every inserted sequence (and the new body sizes'
    // LEBs, at most 5 bytes each), so the writer never grows.
    const section = info.sections.find((s) => s.id === SectionId.code)!;
    code = new ByteWriter(section.body.end - section.body.start + points * sequence.length + info.code.length * 5 + 5);
    code.u32(info.code.length);
    for (const [i, body] of info.code.entries()) {
      const headers = loops[i]!;
      const inserted = (calls ? 1 : 0) + headers.length;
      code.u32(body.range.end - body.range.start + inserted * sequence.length);
      let from = body.range.start;
      if (calls) {
        code.bytes(bytes.subarray(from, body.instructions.start)).bytes(sequence);
        from = body.instructions.start;
      }
      for (const offset of headers) {
        code.bytes(bytes.subarray(from, offset)).bytes(sequence);
        from = offset;
      }
      code.bytes(bytes.subarray(from, body.range.end));
    }
    return { typeIndex, typeEntry, globalIndex, globalEntry, tableIndex, tableEntry, code, points };
  }
  return { typeIndex, typeEntry, globalIndex, globalEntry, tableIndex, tableEntry, code, points: 0 };
}

/** The offsets of the first instruction inside each `loop` of a body (what the analysis records too). */
function findLoopHeaders(bytes: Uint8Array, range: ByteRange): number[] {
  const at: number[] = [];
  // A loop's block type ends where the next instruction starts (a loop has at least its `end`).
  let afterLoop = false;
  walkInstructions(bytes, range, (ins) => {
    if (afterLoop) at.push(ins.offset);
    afterLoop = ins.opcode === Op.loop;
  });
  return at;
}
