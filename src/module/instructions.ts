/**
 * A walker over one function body's instructions. It decodes each opcode and its immediates (see
 * `opcodes.ts`), tracks block nesting so it knows which `end` closes the function, and checks the
 * body is consumed exactly. The analysis uses it to find `memory.grow`, `global.set`, calls and the
 * other instructions that decide how an instance can be reset.
 */

import type { ByteRange } from './bytes.js';
import { ByteReader } from './bytes.js';
import { formatOpcode, Imm, Op, prefixedImmediates, singleByteImmediates } from './opcodes.js';
import { readHeapType, readValType, skipBlockType } from './valtypes.js';

/**
 * The instruction being visited. The walker reuses one object: read it inside the callback, and
 * copy what you keep.
 */
export interface Instruction {
  /** The opcode; for 0xFC/0xFD/0xFE instructions, `prefix << 16 | subopcode` (see `Op`). */
  opcode: number;
  /** Absolute byte offset of the instruction's first byte. */
  offset: number;
  /** Absolute byte offset just past its immediates: where the next instruction (or a `loop`'s body) starts. */
  end: number;
  /**
   * Index immediates in binary order: the function of `call`, `[type, table]` of
   * `call_indirect`, the global of `global.set`, `[data, memory]` of `memory.init`, `[dst, src]` of
   * `table.copy`, the memory of a load or store, the labels of `br_table`, and so on. Empty for
   * instructions without index immediates (and for `try_table`, whose catch clauses are skipped).
   */
  readonly indices: number[];
}

/** Called once per instruction (or per instruction of interest), the function's final `end` included. */
export type InstructionVisitor = (instruction: Instruction) => void;

/**
 * Which instructions a visitor wants, by their first byte (a prefix: 0xFC for every 0xFC
 * instruction): a walk that visits a few kinds decodes the others without calling back.
 */
export function firstBytes(...opcodes: number[]): Uint8Array {
  const wanted = new Uint8Array(256);
  for (const opcode of opcodes) wanted[opcode > 0xff ? opcode >>> 16 : opcode] = 1;
  return wanted;
}

/** Reads a memarg; returns its memory index. */
function readMemarg(r: ByteReader): number {
  const flags = r.u32();
  // Bit 6 of the alignment field announces an explicit memory index (multi-memory).
  const memory = (flags & 0x40) !== 0 ? r.u32() : 0;
  r.u64();
  return memory;
}

function skipCatchClauses(r: ByteReader): void {
  const n = r.count(2);
  for (let i = 0; i < n; i++) {
    const at = r.pos;
    const kind = r.u8();
    if (kind > 3) r.fail(`unknown try_table catch kind ${kind}`, at);
    if (kind < 2) r.u32(); // catch and catch_ref name a tag; catch_all(_ref) do not
    r.u32();
  }
}

/**
 * Walks the instructions in `range` (a {@link FunctionBody}'s `instructions`), calling `visit` for
 * each, or (with `only`, from {@link firstBytes}) for each whose first byte it marks. Every
 * instruction is decoded and checked either way. Returns the number of instructions.
 *
 * The loop is the module layer's hot path (a module's every instruction, 200 000 for QuickJS, on
 * a cold start mostly before V8 has optimized it): the common immediate, a one-byte index, is read
 * inline, and the callback is skipped for instructions no one asked about.
 *
 * @throws MalformedModuleError (section `code`) for an unknown opcode, a bad immediate, a body that
 *   ends before its final `end`, or bytes after it.
 */
export function walkInstructions(bytes: Uint8Array, range: ByteRange, visit?: InstructionVisitor, only?: Uint8Array): number {
  const r = new ByteReader(bytes, range.start, range.end, 'code');
  const limit = range.end;
  const ins: Instruction = { opcode: 0, offset: 0, end: 0, indices: [] };
  const { indices } = ins;
  let depth = 0;
  let count = 0;
  for (;;) {
    const offset = r.pos;
    if (offset >= limit) r.fail('function body ends before its final end (0x0b)');
    let opcode = bytes[offset]!;
    r.pos = offset + 1;
    let kind: number;
    const subTable = opcode >= 0xfc ? prefixedImmediates.get(opcode) : undefined;
    if (subTable !== undefined) {
      const sub = r.u32();
      kind = sub < subTable.length ? (subTable[sub] ?? Imm.unknown) : Imm.unknown;
      opcode = opcode * 0x10000 + Math.min(sub, 0xffff);
      if (kind === Imm.unknown) r.fail(`unknown opcode ${formatOpcode(opcode >>> 16)} 0x${sub.toString(16)}`, offset);
    } else {
      kind = singleByteImmediates[opcode]!;
      if (kind === Imm.unknown) {
        if (opcode === 0xfb) r.fail(`unsupported: GC proposal instruction 0xfb 0x${r.u32().toString(16)}`, offset);
        r.fail(`unknown opcode ${formatOpcode(opcode)}`, offset);
      }
    }
    // The indices are written in place and the length set only when it changes: most instructions
    // have as many as the one before, and setting an array's length is not free.
    let n = 0;
    switch (kind) {
      case Imm.none:
        break;
      case Imm.block:
        skipBlockType(r);
        break;
      case Imm.index: {
        const b = r.pos < limit ? bytes[r.pos]! : 0x80;
        if (b < 0x80) {
          r.pos++;
          indices[n++] = b;
        } else indices[n++] = r.u32();
        break;
      }
      case Imm.index2:
        indices[n++] = r.u32();
        indices[n++] = r.u32();
        break;
      case Imm.brTable: {
        const labels = r.count();
        for (let i = 0; i <= labels; i++) indices[n++] = r.u32();
        break;
      }
      case Imm.memarg: {
        // The common memarg: an alignment below 0x40 (memory 0) and an offset, one byte each.
        const at = r.pos;
        if (at + 1 < limit && bytes[at]! < 0x40 && bytes[at + 1]! < 0x80) {
          r.pos = at + 2;
          indices[n++] = 0;
        } else indices[n++] = readMemarg(r);
        break;
      }
      case Imm.i32:
        // A constant in [-64, 64) is one byte.
        if (r.pos < limit && bytes[r.pos]! < 0x80) r.pos++;
        else r.s32();
        break;
      case Imm.i64:
        r.skipS64();
        break;
      case Imm.f32:
        r.skip(4);
        break;
      case Imm.f64:
        r.skip(8);
        break;
      case Imm.bytes16:
        r.skip(16);
        break;
      case Imm.lane:
        r.u8();
        break;
      case Imm.memargLane:
        indices[n++] = readMemarg(r);
        r.u8();
        break;
      case Imm.valTypes: {
        const n = r.count();
        for (let i = 0; i < n; i++) readValType(r);
        break;
      }
      case Imm.heapType:
        readHeapType(r);
        break;
      case Imm.tryTable:
        skipBlockType(r);
        skipCatchClauses(r);
        break;
      case Imm.byte: {
        const at = r.pos;
        if (r.u8() !== 0) r.fail(`${formatOpcode(opcode)} expects a 0x00 byte`, at);
        break;
      }
    }
    count++;
    if (visit !== undefined && (only === undefined || only[bytes[offset]!] === 1)) {
      if (indices.length !== n) indices.length = n;
      ins.opcode = opcode;
      ins.offset = offset;
      ins.end = r.pos;
      visit(ins);
    }
    if (opcode === Op.end || opcode === Op.delegate) {
      // `delegate` closes a legacy `try` the way `end` closes other blocks.
      if (depth === 0) {
        if (opcode === Op.delegate) r.fail('delegate outside a try block', offset);
        if (!r.atEnd()) r.fail(`${r.remaining()} byte(s) after the function's final end`);
        return count;
      }
      depth--;
    } else if (kind === Imm.block || kind === Imm.tryTable) {
      depth++;
    }
  }
}
