/**
 * `virtualizeMemorySize`: rewrites a module so that its code sees memory 0's size through a global
 * of its own instead of the memory itself. Every `memory.size 0` becomes a call that reads the
 * global; every `memory.grow 0` a call that grows the global, and the real memory only when the
 * global would pass it:
 *
 * ```wasm
 * (func $size (result i32) global.get $pages)
 * (func $grow (param $n i32) (result i32) (local $new i32)
 *   new = $pages + n; if new < $pages (wrapped): return -1
 *   if new > memory.size: if memory.grow(new - memory.size) == -1: return -1
 *   old = $pages; $pages = new; return old)
 * ```
 *
 * Why: V8 cannot shrink a memory, so a use that grows one costs its pooled slot. Many allocators
 * (Rust's, wasi-libc's `sbrk`) grow on every use from state that the reset brings back, however
 * large the memory already is. With the size virtualized, a pooled memory can be larger than the
 * module declares (`initialMemory`) while the guest sees exactly a fresh instance's sizes: its
 * grows are served from room the memory already has, and `$pages` is a plain mutable global that
 * the pool restores after each use like any other.
 *
 * What differs from a fresh instance, which is why it is opt-in: an access past the guest's size
 * but inside the real memory reads zeros instead of trapping, and JavaScript sees the real size
 * (`memory.buffer.byteLength`). A glue that grows the memory from JavaScript (emscripten's
 * `emscripten_resize_heap`) does not move `$pages`, so such guests must not use it.
 *
 * Like the rest of the rewriter, only appends (two types if missing, a global, two functions):
 * no existing index changes.
 */
import { InvalidArgumentError } from '../errors.js';
import { walkInstructions } from './instructions.js';
import { Op } from './opcodes.js';
import { SectionId } from './reader.js';
import { appendEntries, emitModule, type Replacement } from './rewrite.js';
import type { ModuleInfo } from './types.js';
import { ByteWriter } from './writer.js';

const I32 = 0x7f;
const FUNC_TYPE = 0x60;
const EMPTY_BLOCK_TYPE = 0x40;
const I = {
  localGet: 0x20,
  localSet: 0x21,
  i32Const: 0x41,
  i32Eq: 0x46,
  i32LtU: 0x49,
  i32GtU: 0x4b,
  i32Add: 0x6a,
  i32Sub: 0x6b,
  return: 0x0f,
} as const;

/** What {@link virtualizeMemorySize} did. */
export interface VirtualizedMemory {
  /** The rewritten module (the input itself when no code reads or grows memory 0). */
  readonly bytes: Uint8Array;
  /** Index of the size global, or undefined when nothing was rewritten. */
  readonly globalIndex?: number;
  /** `memory.size`/`memory.grow` instructions replaced. */
  readonly replaced: number;
}

/**
 * Virtualizes memory 0's size in the module `info` was read from (`bytes`); see the module comment.
 * @throws InvalidArgumentError when the module has no memory, or a 64-bit or shared one.
 */
export function virtualizeMemorySize(bytes: Uint8Array, info: ModuleInfo): VirtualizedMemory {
  const memoryImport = info.imports.find((i) => i.kind === 'memory');
  const memory = memoryImport?.kind === 'memory' ? memoryImport.memory : info.memories[0];
  if (memory === undefined) throw new InvalidArgumentError('virtualMemorySize: the module has no memory');
  if (memory.memory64 || memory.shared) {
    throw new InvalidArgumentError(
      `virtualMemorySize: memory 0 is ${memory.memory64 ? '64-bit' : 'shared'}; only a 32-bit unshared memory can be virtualized`,
    );
  }
  // Where each body reads or grows memory 0: [start, end) of the instruction, and which.
  const sites: { start: number; end: number; grow: boolean }[][] = [];
  let replaced = 0;
  for (const body of info.code) {
    const here: { start: number; end: number; grow: boolean }[] = [];
    let open: { start: number; grow: boolean } | undefined;
    walkInstructions(bytes, body.instructions, ({ opcode, offset, indices }) => {
      if (open !== undefined) here.push({ ...open, end: offset });
      open =
        (opcode === Op.memorySize || opcode === Op.memoryGrow) && indices[0] === 0
          ? { start: offset, grow: opcode === Op.memoryGrow }
          : undefined;
    });
    replaced += here.length;
    sites.push(here);
  }
  if (replaced === 0) return { bytes, replaced: 0 };

  const replace = new Map<number, Replacement>();
  const typeOf = (params: number, newTypes: Uint8Array[]): number => {
    const found = info.types.findIndex(
      (t) => t.params.length === params && t.params.every((p) => p === 'i32') && t.results.length === 1 && t.results[0] === 'i32',
    );
    if (found >= 0) return found;
    newTypes.push(new Uint8Array(params === 1 ? [FUNC_TYPE, 1, I32, 1, I32] : [FUNC_TYPE, 0, 1, I32]));
    return info.types.length + newTypes.length - 1;
  };
  const newTypes: Uint8Array[] = [];
  const growType = typeOf(1, newTypes);
  const sizeType = typeOf(0, newTypes);
  appendEntries(bytes, info, SectionId.type, info.types.length, newTypes, replace);

  const globalIndex = info.importedGlobalCount + info.globals.length;
  const globalEntry = new ByteWriter().u8(I32).u8(1).u8(I.i32Const).s32(memory.min).u8(Op.end).finish().slice();
  appendEntries(bytes, info, SectionId.global, info.globals.length, [globalEntry], replace);

  const growFunction = info.importedFunctionCount + info.functions.length;
  const sizeFunction = growFunction + 1;
  const u32 = (n: number) => new ByteWriter().u32(n).finish().slice();
  appendEntries(bytes, info, SectionId.function, info.functions.length, [u32(growType), u32(sizeType)], replace);

  const callGrow = new ByteWriter().u8(Op.call).u32(growFunction).finish().slice();
  const callSize = new ByteWriter().u8(Op.call).u32(sizeFunction).finish().slice();
  const code = new ByteWriter().u32(info.code.length + 2);
  info.code.forEach((body, i) => {
    const here = sites[i]!;
    const body_ = new ByteWriter();
    let from = body.range.start;
    for (const site of here) {
      body_.bytes(bytes.subarray(from, site.start)).bytes(site.grow ? callGrow : callSize);
      from = site.end;
    }
    body_.bytes(bytes.subarray(from, body.range.end));
    const encoded = body_.finish();
    code.u32(encoded.length).bytes(encoded);
  });
  const grow = growBody(globalIndex);
  code.u32(grow.length).bytes(grow);
  const size = new ByteWriter().u32(0).u8(Op.globalGet).u32(globalIndex).u8(Op.end).finish().slice();
  code.u32(size.length).bytes(size);
  replace.set(SectionId.code, code);
  return { bytes: emitModule(bytes, info, replace), globalIndex, replaced };
}

/** `$grow` (see the module comment): param 0 is n, local 1 the new size. */
function growBody(g: number): Uint8Array {
  const w = new ByteWriter().u32(1).u32(1).u8(I32);
  // new = $pages + n
  w.u8(Op.globalGet).u32(g).u8(I.localGet).u32(0).u8(I.i32Add).u8(I.localSet).u32(1);
  // if new < $pages (wrapped past 4 GiB): return -1
  w.u8(I.localGet).u32(1).u8(Op.globalGet).u32(g).u8(I.i32LtU);
  w.u8(Op.if).u8(EMPTY_BLOCK_TYPE).u8(I.i32Const).s32(-1).u8(I.return).u8(Op.end);
  // if new > memory.size: if memory.grow(new - memory.size) == -1: return -1
  w.u8(I.localGet).u32(1).u8(Op.memorySize).u8(0).u8(I.i32GtU);
  w.u8(Op.if).u8(EMPTY_BLOCK_TYPE);
  w.u8(I.localGet).u32(1).u8(Op.memorySize).u8(0).u8(I.i32Sub).u8(Op.memoryGrow).u8(0).u8(I.i32Const).s32(-1).u8(I.i32Eq);
  w.u8(Op.if).u8(EMPTY_BLOCK_TYPE).u8(I.i32Const).s32(-1).u8(I.return).u8(Op.end);
  w.u8(Op.end);
  // old = $pages; $pages = new; return old
  w.u8(Op.globalGet).u32(g).u8(I.localGet).u32(1).u8(Op.globalSet).u32(g).u8(Op.end);
  return w.finish().slice();
}
