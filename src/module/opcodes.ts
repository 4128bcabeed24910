/**
 * The immediate operands of every opcode the walker knows, as lookup tables: what toolchains emit
 * today (MVP, sign extension, saturating truncation, bulk memory, reference types, multi-value,
 * tail calls, legacy and new exception handling, SIMD with relaxed SIMD, threads), plus the few
 * typed-function-reference instructions. GC (0xFB) instructions are deliberately absent.
 *
 * The tables are checked against wabt's decoder opcode by opcode in `test/module-opcodes.test.ts`.
 */

/** Kinds of immediates; 0 means "no such opcode". */
export const Imm = {
  unknown: 0,
  none: 1,
  /** Block type (0x40, a value type, or an s33 type index). Opens a block. */
  block: 2,
  /** One u32 index (function, type, local, global, table, memory, label, tag, data, elem). */
  index: 3,
  /** Two u32 indices. */
  index2: 4,
  /** br_table: a vector of labels then the default label. */
  brTable: 5,
  /** Memory access: align flags (bit 6: a memory index follows), optional memory index, u64 offset. */
  memarg: 6,
  i32: 7,
  i64: 8,
  /** 4 bytes. */
  f32: 9,
  /** 8 bytes. */
  f64: 10,
  /** 16 bytes: v128.const, i8x16.shuffle lanes. */
  bytes16: 11,
  /** One lane index byte. */
  lane: 12,
  /** A memarg then a lane index byte. */
  memargLane: 13,
  /** A vector of value types (typed select). */
  valTypes: 14,
  /** A heap type (ref.null). */
  heapType: 15,
  /** try_table: block type then a vector of catch clauses. Opens a block. */
  tryTable: 16,
  /** One reserved byte (atomic.fence). */
  byte: 17,
} as const;

/** One of the {@link Imm} values. */
export type ImmKind = (typeof Imm)[keyof typeof Imm];

/** Opcodes the analysis and tests name. Prefixed ones are `prefix << 16 | subopcode`. */
export const Op = {
  unreachable: 0x00,
  block: 0x02,
  loop: 0x03,
  if: 0x04,
  else: 0x05,
  try: 0x06,
  catch: 0x07,
  throw: 0x08,
  rethrow: 0x09,
  throwRef: 0x0a,
  end: 0x0b,
  call: 0x10,
  callIndirect: 0x11,
  returnCall: 0x12,
  returnCallIndirect: 0x13,
  callRef: 0x14,
  returnCallRef: 0x15,
  delegate: 0x18,
  catchAll: 0x19,
  tryTable: 0x1f,
  globalGet: 0x23,
  globalSet: 0x24,
  tableGet: 0x25,
  tableSet: 0x26,
  memorySize: 0x3f,
  memoryGrow: 0x40,
  refNull: 0xd0,
  refFunc: 0xd2,
  memoryInit: 0xfc0008,
  dataDrop: 0xfc0009,
  memoryCopy: 0xfc000a,
  memoryFill: 0xfc000b,
  tableInit: 0xfc000c,
  elemDrop: 0xfc000d,
  tableCopy: 0xfc000e,
  tableGrow: 0xfc000f,
  tableSize: 0xfc0010,
  tableFill: 0xfc0011,
  atomicFence: 0xfe0003,
} as const;

function table(size: number, entries: ReadonlyArray<readonly [number, number, ImmKind]>): Uint8Array {
  const t = new Uint8Array(size);
  for (const [from, to, kind] of entries) t.fill(kind, from, to + 1);
  return t;
}

/** Immediates of single-byte opcodes. Prefix bytes (0xFC–0xFE) are looked up in {@link prefixedImmediates}. */
export const singleByteImmediates: Uint8Array = table(256, [
  [0x00, 0x01, Imm.none], // unreachable, nop
  [0x02, 0x04, Imm.block], // block, loop, if
  [0x05, 0x05, Imm.none], // else
  [0x06, 0x06, Imm.block], // try (legacy exceptions)
  [0x07, 0x08, Imm.index], // catch tag, throw tag
  [0x09, 0x09, Imm.index], // rethrow label
  [0x0a, 0x0b, Imm.none], // throw_ref, end
  [0x0c, 0x0d, Imm.index], // br, br_if
  [0x0e, 0x0e, Imm.brTable],
  [0x0f, 0x0f, Imm.none], // return
  [0x10, 0x10, Imm.index], // call
  [0x11, 0x11, Imm.index2], // call_indirect type table
  [0x12, 0x12, Imm.index], // return_call
  [0x13, 0x13, Imm.index2], // return_call_indirect type table
  [0x14, 0x15, Imm.index], // call_ref, return_call_ref (type)
  [0x18, 0x18, Imm.index], // delegate label
  [0x19, 0x19, Imm.none], // catch_all
  [0x1a, 0x1b, Imm.none], // drop, select
  [0x1c, 0x1c, Imm.valTypes], // select t*
  [0x1f, 0x1f, Imm.tryTable],
  [0x20, 0x22, Imm.index], // local.get/set/tee
  [0x23, 0x24, Imm.index], // global.get/set
  [0x25, 0x26, Imm.index], // table.get/set
  [0x28, 0x3e, Imm.memarg], // loads and stores
  [0x3f, 0x40, Imm.index], // memory.size/grow (memory index; 0x00 before multi-memory)
  [0x41, 0x41, Imm.i32],
  [0x42, 0x42, Imm.i64],
  [0x43, 0x43, Imm.f32],
  [0x44, 0x44, Imm.f64],
  [0x45, 0xc4, Imm.none], // numeric, sign extension (0xC0–0xC4)
  [0xd0, 0xd0, Imm.heapType], // ref.null
  [0xd1, 0xd1, Imm.none], // ref.is_null
  [0xd2, 0xd2, Imm.index], // ref.func
  [0xd3, 0xd4, Imm.none], // ref.eq, ref.as_non_null
  [0xd5, 0xd6, Imm.index], // br_on_null, br_on_non_null
]);

const MISC = table(18, [
  [0, 7, Imm.none], // saturating truncation
  [8, 8, Imm.index2], // memory.init data memory
  [9, 9, Imm.index], // data.drop
  [10, 10, Imm.index2], // memory.copy dst src
  [11, 11, Imm.index], // memory.fill
  [12, 12, Imm.index2], // table.init elem table
  [13, 13, Imm.index], // elem.drop
  [14, 14, Imm.index2], // table.copy dst src
  [15, 17, Imm.index], // table.grow, table.size, table.fill
]);

// SIMD sub-opcodes left unassigned by the final proposal (removed or never used).
const SIMD_GAPS = [0x9a, 0xa2, 0xa5, 0xa6, 0xaf, 0xb0, 0xb2, 0xb3, 0xb4, 0xbb, 0xc2, 0xc5, 0xc6, 0xcf, 0xd0, 0xd2, 0xd3, 0xd4, 0xe2, 0xee];

const SIMD = table(0x114, [
  [0x00, 0x0b, Imm.memarg], // v128.load*, v128.store
  [0x0c, 0x0d, Imm.bytes16], // v128.const, i8x16.shuffle
  [0x0e, 0x14, Imm.none], // swizzle, splats
  [0x15, 0x22, Imm.lane], // extract_lane / replace_lane
  [0x23, 0x53, Imm.none], // comparisons, bitwise
  [0x54, 0x5b, Imm.memargLane], // load*_lane, store*_lane
  [0x5c, 0x5d, Imm.memarg], // load32_zero, load64_zero
  [0x5e, 0xff, Imm.none], // arithmetic and conversions
  [0x100, 0x113, Imm.none], // relaxed SIMD
  ...SIMD_GAPS.map((op) => [op, op, Imm.unknown] as const),
]);

const ATOMICS = table(0x4f, [
  [0x00, 0x02, Imm.memarg], // memory.atomic.notify, wait32, wait64
  [0x03, 0x03, Imm.byte], // atomic.fence
  [0x10, 0x4e, Imm.memarg], // loads, stores, read-modify-write, cmpxchg
]);

/** Immediates of prefixed opcodes, by prefix byte, indexed by sub-opcode. */
export const prefixedImmediates: ReadonlyMap<number, Uint8Array> = new Map([
  [0xfc, MISC],
  [0xfd, SIMD],
  [0xfe, ATOMICS],
]);

/** The immediate kind of an opcode in {@link Op} numbering, or `Imm.unknown`. */
export function immediatesOf(opcode: number): ImmKind {
  if (opcode < 0x100) return (singleByteImmediates[opcode] ?? Imm.unknown) as ImmKind;
  const sub = prefixedImmediates.get(opcode >>> 16);
  return ((sub !== undefined ? sub[opcode & 0xffff] : undefined) ?? Imm.unknown) as ImmKind;
}

/** `0xfd 0x9a`-style spelling of an opcode for messages. */
export function formatOpcode(opcode: number): string {
  const hex = (n: number): string => `0x${n.toString(16).padStart(2, '0')}`;
  return opcode < 0x100 ? hex(opcode) : `${hex(opcode >>> 16)} ${hex(opcode & 0xffff)}`;
}
