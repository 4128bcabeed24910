/**
 * Decoding of value types, reference and heap types, block types and limits, shared by the section
 * readers and the instruction walker. GC-proposal reference types are decoded (so analysis can say
 * a module uses them) but GC type definitions are not: see the type section reader.
 */

import type { ByteReader } from './bytes.js';
import type { AbstractRefType, MemoryType, NumType, RefType, TableType, ValType } from './types.js';

// Single-byte encodings of the abstract heap types: [byte, heap type name, nullable shorthand].
// The same byte used as a value type is the shorthand.
const ABSTRACT: ReadonlyArray<readonly [number, string, AbstractRefType]> = [
  [0x70, 'func', 'funcref'],
  [0x6f, 'extern', 'externref'],
  [0x69, 'exn', 'exnref'],
  [0x6e, 'any', 'anyref'],
  [0x6d, 'eq', 'eqref'],
  [0x6c, 'i31', 'i31ref'],
  [0x6b, 'struct', 'structref'],
  [0x6a, 'array', 'arrayref'],
  [0x71, 'none', 'nullref'],
  [0x72, 'noextern', 'nullexternref'],
  [0x73, 'nofunc', 'nullfuncref'],
  [0x74, 'noexn', 'nullexnref'],
];
const HEAP_TYPES: ReadonlyMap<number, string> = new Map(ABSTRACT.map(([b, heap]) => [b, heap]));
const SHORTHANDS: ReadonlyMap<number, AbstractRefType> = new Map(ABSTRACT.map(([b, , ref]) => [b, ref]));
const SHORTHAND_OF_HEAP: ReadonlyMap<string, AbstractRefType> = new Map(ABSTRACT.map(([, h, ref]) => [h, ref]));

const NUM_TYPES: ReadonlyMap<number, ValType> = new Map([
  [0x7f, 'i32'],
  [0x7e, 'i64'],
  [0x7d, 'f32'],
  [0x7c, 'f64'],
  [0x7b, 'v128'],
]);

const REF_NULL = 0x63;
const REF = 0x64;

/** Reference types that exist without the GC proposal; any other one means the module uses GC. */
const PRE_GC_REF_TYPES: ReadonlySet<string> = new Set(['funcref', 'externref', 'exnref']);

/** True for `funcref`, `externref` and every other reference type. */
export function isRefType(type: ValType): type is RefType {
  return !isNumType(type) && type !== 'v128';
}

/** True for a reference type that only the GC proposal (or typed function references) defines. */
export function isGcRefType(type: ValType): boolean {
  return isRefType(type) && !PRE_GC_REF_TYPES.has(type);
}

/** True for `i32`, `i64`, `f32` and `f64`. */
export function isNumType(type: ValType): type is NumType {
  return type === 'i32' || type === 'i64' || type === 'f32' || type === 'f64';
}

/** A heap type: an abstract one by name (`func`, `extern`, …) or a type index. */
export function readHeapType(r: ByteReader): string | number {
  const start = r.pos;
  const value = r.s33();
  if (value >= 0) return value;
  // Abstract heap types are single-byte negative s33 values, i.e. bytes 0x40–0x7F.
  const name = value >= -64 ? HEAP_TYPES.get(value + 128) : undefined;
  if (name === undefined) r.fail(`unknown heap type ${value}`, start);
  return name;
}

/** A reference type, in shorthand or `0x63`/`0x64` form. */
export function readRefType(r: ByteReader): RefType {
  const start = r.pos;
  const type = readValType(r);
  if (!isRefType(type)) r.fail(`expected a reference type, found ${type}`, start);
  return type;
}

/** A value type. */
export function readValType(r: ByteReader): ValType {
  const start = r.pos;
  const b = r.u8();
  const simple = NUM_TYPES.get(b) ?? SHORTHANDS.get(b);
  if (simple !== undefined) return simple;
  if (b === REF_NULL || b === REF) {
    const heap = readHeapType(r);
    // `(ref null func)` is `funcref`: normalise so equal types compare equal.
    if (b === REF_NULL && typeof heap === 'string') return SHORTHAND_OF_HEAP.get(heap) ?? `(ref null ${heap})`;
    return b === REF_NULL ? `(ref null ${heap})` : `(ref ${heap})`;
  }
  return r.fail(`unknown value type 0x${b.toString(16)}`, start);
}

/** Skips a block type: `0x40` (empty), a value type, or a type index (s33 ≥ 0). */
export function skipBlockType(r: ByteReader): void {
  const b = r.peek();
  if (b === 0x40) {
    r.pos++;
    return;
  }
  // One byte with bit 6 set and no continuation is a negative s33: a value type code.
  if ((b & 0xc0) === 0x40) {
    readValType(r);
    return;
  }
  const start = r.pos;
  if (r.s33() < 0) r.fail('invalid block type', start);
}

/** Memory limits, including the shared, memory64 and custom-page-size flag bits. */
export function readMemoryType(r: ByteReader): MemoryType {
  const start = r.pos;
  const flags = r.u8();
  if (flags > 0x0f) r.fail(`unknown memory limits flags 0x${flags.toString(16)}`, start);
  const memory64 = (flags & 0x04) !== 0;
  const min = memory64 ? r.u64() : r.u32();
  const max = (flags & 0x01) !== 0 ? (memory64 ? r.u64() : r.u32()) : undefined;
  const pageSizeLog2 = (flags & 0x08) !== 0 ? r.u32() : undefined;
  return {
    min,
    ...(max !== undefined ? { max } : {}),
    shared: (flags & 0x02) !== 0,
    memory64,
    ...(pageSizeLog2 !== undefined ? { pageSizeLog2 } : {}),
  };
}

/** A table type: reference type then limits. */
export function readTableType(r: ByteReader): TableType {
  const element = readRefType(r);
  const start = r.pos;
  const flags = r.u8();
  if ((flags & ~0x05) !== 0) r.fail(`unknown table limits flags 0x${flags.toString(16)}`, start);
  const table64 = (flags & 0x04) !== 0;
  const min = table64 ? r.u64() : r.u32();
  const max = (flags & 0x01) !== 0 ? (table64 ? r.u64() : r.u32()) : undefined;
  return { element, min, ...(max !== undefined ? { max } : {}), table64 };
}
