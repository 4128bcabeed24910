/**
 * The initial contents of memory 0: what a fresh instantiation writes there before the start
 * function runs. `evaluateDataImage` resolves every active data segment's offset; `renderImage`
 * flattens the segments into one page-aligned span, the bytes a memory image (memfd) holds.
 *
 * ```
 * memory 0:  0 ........ start [ non-zero bytes, 4 KiB aligned ] start+length ........ minPages*64KiB
 *                  zero                image bytes                      zero
 * ```
 */

import { ImportMissingError, InvalidArgumentError, MalformedModuleError, ModuleNotPoolableError } from '../errors.js';
import { evaluateConstExpr } from './const-expr.js';
import { memoryCountProblem, memoryTypeProblems } from './memory-checks.js';
import type { MemoryType, ModuleInfo, ValType } from './types.js';
import { WASM_PAGE_SIZE } from './wasm-page.js';

/**
 * Alignment of a rendered image's span: 4 KiB, the smallest page any Linux host maps. This layer
 * knows no host; where pages are larger (16 or 64 KiB on some arm64 kernels), `MemoryImage.create`
 * widens the span to the host's pages, and a wasm page (64 KiB) is always a whole number of them.
 */
export const IMAGE_ALIGNMENT = 4096;

/** One active data segment placed in memory. */
export interface ImageSegment {
  /** Index of the data segment in the module. */
  readonly index: number;
  /** Byte offset in memory 0. */
  readonly offset: number;
  /** The payload, a view into the module bytes (not a copy). */
  readonly bytes: Uint8Array;
}

/** Memory 0's size limits and its active data segments in instantiation order. */
export interface DataImage {
  /** Initial size in 64 KiB pages. */
  readonly minPages: number;
  /** Maximum size in pages, if the memory declares one. */
  readonly maxPages?: number;
  /** Later segments overwrite earlier ones where they overlap. */
  readonly segments: readonly ImageSegment[];
}

/** The non-zero part of an image: memory holds `bytes` at `[start, start + bytes.length)`, zeros elsewhere. */
export interface RenderedImage {
  /** Offset of the span, a multiple of {@link IMAGE_ALIGNMENT}. */
  readonly start: number;
  /** The span's contents; its length is a multiple of {@link IMAGE_ALIGNMENT} (0 if memory starts all zero). */
  readonly bytes: Uint8Array;
}

/** Supplies the value of an imported global (by global index), or undefined if the pool has none. */
export type ImportedGlobalValue = (globalIndex: number) => number | bigint | undefined;

function memoryZero(info: ModuleInfo): MemoryType {
  const tooMany = memoryCountProblem(info.importedMemoryCount + info.memories.length);
  if (tooMany !== undefined) throw new ModuleNotPoolableError(tooMany);
  const imported = info.imports.find((imp) => imp.kind === 'memory');
  const mem = imported?.kind === 'memory' ? imported.memory : info.memories[0];
  if (mem === undefined) {
    throw new InvalidArgumentError('the module has no memory, so there is no data image to evaluate');
  }
  const problems = memoryTypeProblems(mem);
  if (problems.length > 0) throw new ModuleNotPoolableError(problems.join('; '));
  return mem;
}

/** Coerces a value the pool supplies to the representation constant expressions use for `type`. */
function asConstValue(value: number | bigint, type: ValType): number | bigint {
  switch (type) {
    case 'i32':
      return typeof value === 'bigint' ? Number(BigInt.asIntN(32, value)) : value | 0;
    case 'i64':
      if (typeof value === 'number' && !Number.isFinite(value)) {
        throw new InvalidArgumentError(`the value of an imported i64 global must be finite, got ${value}`);
      }
      return BigInt.asIntN(64, typeof value === 'bigint' ? value : BigInt(Math.trunc(value)));
    default:
      return Number(value);
  }
}

type GlobalResolver = (index: number, before?: number) => number | bigint;

/**
 * Resolves `global.get` in constant expressions: imports from the pool, defined globals by
 * evaluating their initializers. `before` bounds the globals an initializer may read.
 */
function globalResolver(info: ModuleInfo, importedGlobal: ImportedGlobalValue): GlobalResolver {
  const resolve: GlobalResolver = (index, before = Infinity) => {
    if (index < info.importedGlobalCount) {
      const imp = info.imports.find((i) => i.kind === 'global' && i.index === index);
      if (imp?.kind !== 'global') throw new InvalidArgumentError(`imported global ${index} not found`);
      const value = importedGlobal(index);
      if (value === undefined) throw new ImportMissingError(imp.module, imp.name, 'global');
      return asConstValue(value, imp.global.type);
    }
    const g = info.globals[index - info.importedGlobalCount];
    if (g === undefined) throw new InvalidArgumentError(`global.get ${index}: there is no global ${index}`);
    // A defined global's initializer may only read globals before it; this also rules out cycles.
    if (index >= before) {
      const reason = `global.get ${index} reads a global that is not defined before it`;
      throw new MalformedModuleError('global', g.init.range.start, reason);
    }
    return evaluateConstExpr(g.init, (inner) => resolve(inner, index));
  };
  return resolve;
}

/**
 * Evaluates memory 0's initial size and active data segments. `importedGlobal` gives the values of
 * imported globals that segment offsets read with `global.get`.
 *
 * @throws ModuleNotPoolableError if memory 0 is memory64, shared, one of several, or a segment does
 *   not fit in the initial memory (a fresh instantiation would fail too).
 * @throws ImportMissingError if an offset reads an imported global `importedGlobal` has no value for.
 * @throws InvalidArgumentError if the module has no memory.
 */
export function evaluateDataImage(info: ModuleInfo, bytes: Uint8Array, importedGlobal: ImportedGlobalValue): DataImage {
  const mem = memoryZero(info);
  const size = mem.min * WASM_PAGE_SIZE;
  const resolve = globalResolver(info, importedGlobal);
  const segments: ImageSegment[] = [];
  for (const [index, seg] of info.dataSegments.entries()) {
    if (seg.mode !== 'active' || seg.offset === undefined) continue;
    if (seg.memory !== 0) {
      throw new ModuleNotPoolableError(`data segment ${index} targets memory ${seg.memory}; cowpool pools modules with one memory`);
    }
    const value = evaluateConstExpr(seg.offset, (g) => resolve(g));
    if (typeof value !== 'number') throw new InvalidArgumentError(`data segment ${index}: offset is not an i32`);
    const offset = value >>> 0;
    const length = seg.data.end - seg.data.start;
    if (offset + length > size) {
      throw new ModuleNotPoolableError(
        `data segment ${index} (${length} bytes at offset ${offset}) ends ${offset + length - size} bytes past ` +
          `the end of memory 0's initial ${mem.min} page(s) (${size} bytes); instantiating the module would fail`,
      );
    }
    segments.push({ index, offset, bytes: bytes.subarray(seg.data.start, seg.data.end) });
  }
  return { minPages: mem.min, ...(mem.max !== undefined ? { maxPages: mem.max } : {}), segments };
}

/** First and one-past-last non-zero byte of `bytes`, or undefined if all are zero. */
function nonZeroExtent(bytes: Uint8Array): [number, number] | undefined {
  let first = 0;
  while (first < bytes.length && bytes[first] === 0) first++;
  if (first === bytes.length) return undefined;
  let last = bytes.length;
  while (bytes[last - 1] === 0) last--;
  return [first, last];
}

/**
 * Flattens an image into the smallest {@link IMAGE_ALIGNMENT}-aligned span holding every non-zero
 * byte. Only the span is allocated, not the whole memory.
 */
export function renderImage(image: DataImage): RenderedImage {
  // Bytes that end up non-zero lie within the union of the segments' own non-zero extents
  // (a later segment can only zero bytes, never make bytes outside its extent non-zero).
  let lo = Infinity;
  let hi = -Infinity;
  for (const seg of image.segments) {
    const extent = nonZeroExtent(seg.bytes);
    if (extent === undefined) continue;
    lo = Math.min(lo, seg.offset + extent[0]);
    hi = Math.max(hi, seg.offset + extent[1]);
  }
  if (lo >= hi) return { start: 0, bytes: new Uint8Array(0) };
  const start = Math.floor(lo / IMAGE_ALIGNMENT) * IMAGE_ALIGNMENT;
  const span = new Uint8Array(Math.ceil(hi / IMAGE_ALIGNMENT) * IMAGE_ALIGNMENT - start);
  for (const seg of image.segments) {
    const from = Math.max(seg.offset, start);
    const to = Math.min(seg.offset + seg.bytes.length, start + span.length);
    if (from < to) span.set(seg.bytes.subarray(from - seg.offset, to - seg.offset), from - start);
  }
  // Overlaps may have zeroed the ends: trim to the real extent, still aligned.
  const real = nonZeroExtent(span);
  if (real === undefined) return { start: 0, bytes: new Uint8Array(0) };
  const trimStart = Math.floor(real[0] / IMAGE_ALIGNMENT) * IMAGE_ALIGNMENT;
  const trimEnd = Math.ceil(real[1] / IMAGE_ALIGNMENT) * IMAGE_ALIGNMENT;
  const bytes = trimStart === 0 && trimEnd === span.length ? span : span.slice(trimStart, trimEnd);
  return { start: start + trimStart, bytes };
}
