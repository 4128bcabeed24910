/**
 * QuickJS's heap accounting by the bytes the allocator really gives out, so that `memoryLimit`
 * bounds memory. QuickJS counts each allocation as its usable size plus 8 bytes of overhead, and
 * its default allocator asks `malloc_usable_size` for the usable size, which emscripten has not:
 * there `js_def_malloc_usable_size` is `return 0`, folded into `js_def_malloc`, `js_def_free` and
 * `js_def_realloc`, so every allocation counts 8 bytes whatever its size and the limit bounds the
 * number of allocations, not their bytes (2000 strings of 10 KB fit under 1 MiB).
 *
 * The allocator is dlmalloc (without footers): the word before a block holds its chunk's size
 * (header, payload, padding: what the block takes from the heap) with three flag bits, and
 * `chunk - 4` bytes are usable. The runtime calls its allocator through the function pointers of
 * `JSRuntime.mf` (table indices), beside the counters they keep:
 *
 *     JSRuntime  +0 js_malloc  +4 js_free  +8 js_realloc  +12 js_malloc_usable_size   (JSMallocFunctions)
 *               +16 malloc_count  +20 malloc_size  +24 malloc_limit  +28 opaque           (JSMallocState)
 *
 * The module is rewritten (the QuickJS initializer's rewrite, before the pool prepares it) with
 * four functions appended, in four new entries at the end of the function table
 * (`module/table-append.ts`); no existing index changes and the table is never written, so the
 * pool still keeps one instance per slot:
 *
 *     malloc(s, n)      = js_def_malloc with the chunk for its 0 + 8: refuse when size + n > limit,
 *                         else dlmalloc's malloc (the export), count += 1, size += chunk
 *     free(s, p)        = js_def_free likewise: count -= 1, size -= chunk, dlmalloc's free
 *     realloc(s, p, n)  = the old chunk taken out of malloc_size first (so that QuickJS's own check
 *                         reads "size now - old + new > limit"), the runtime's js_realloc, the new
 *                         chunk counted (or the old one back when it failed)
 *     usable(p)         = chunk - 4 (QuickJS then uses a block's slack: strings grow in place)
 *
 * `realloc` calls the runtime's own (dlmalloc's realloc is no export) through the table, by the
 * index kept in a small block that `opaque` points to (unused by QuickJS's default allocator),
 * whose second word counts the allocations the limit or the full heap refused, so that a use
 * that ends with `null` thrown (no room even for QuickJS's "out of memory" error) is known to
 * have run out of memory:
 *
 *     opaque → [ js_realloc, refusals ]
 *
 * {@link newAccountedRuntime} creates the runtime and swaps its `mf` for the wrappers. What the
 * runtime allocated in between was counted 8 bytes a block; its real size is summed by walking
 * dlmalloc's chunks between two marker blocks, and checked against QuickJS's count of blocks.
 */
import { UnsupportedError } from '../errors.js';
import { readModule, type ModuleInfo } from '../module/index.js';
import { TableAppend } from '../module/table-append.js';
import { ByteWriter } from '../module/writer.js';
import { EXPORTS, type QuickJSExports } from './abi.js';

/** Where the wrappers are in the rewritten module. */
export interface AccountedModule {
  /** The rewritten module. */
  readonly bytes: Uint8Array;
  /** Function-table index of the `malloc` wrapper; `free`, `realloc` and `usable` follow it. */
  readonly first: number;
}

/** Offsets in `JSRuntime` (wasm32; see the module comment). */
const MF = 0;
const MALLOC_STATE = 16;
/** `malloc_gc_threshold`, after the atom and class tables and four lists; checked by its first value. */
const GC_THRESHOLD = 108;
/** QuickJS's first `malloc_gc_threshold`, by which {@link GC_THRESHOLD} is checked. */
const FIRST_GC_THRESHOLD = 256 * 1024;
/** Offsets in `JSMallocState`. */
const COUNT = 0;
const SIZE = 4;
const LIMIT = 8;
const OPAQUE = 12;
/** Words of the block `opaque` points to. */
const ORIGINAL_REALLOC = 0;
const REFUSALS = 4;
const BLOCK_BYTES = 8;
/** Where `js_realloc` is in `JSRuntime.mf`. */
const MF_REALLOC = 8;
/** What QuickJS counts per block besides its usable size (`MALLOC_OVERHEAD`). */
const QUICKJS_OVERHEAD = 8;
/** dlmalloc: a chunk's header is the word before its block; its low bits are flags; CINUSE marks a block in use. */
const CHUNK_HEADER = 4;
const FLAG_BITS = 7;
const CINUSE = 2;
const MIN_CHUNK = 16;
/** `size_t` -1: no limit. */
const NO_LIMIT = -1;
/** Larger than any block the runtime frees while it is created (its tables are a few KiB). */
const ABOVE_BYTES = 256 * 1024;

const I32 = 0x7f;
const EMPTY = 0x40;
const IF = 0x04;
const ELSE = 0x05;
const END = 0x0b;
const RETURN = 0x0f;
const CALL = 0x10;
const CALL_INDIRECT = 0x11;
const SELECT = 0x1b;
const LOCAL_GET = 0x20;
const LOCAL_SET = 0x21;
const LOCAL_TEE = 0x22;
const I32_LOAD = 0x28;
const I32_STORE = 0x36;
const I32_CONST = 0x41;
const I32_EQZ = 0x45;
const I32_GT_U = 0x4b;
const I32_ADD = 0x6a;
const I32_SUB = 0x6b;
const I32_AND = 0x71;
/** log2 of a word's alignment, for memargs. */
const WORD_ALIGN = 2;

/** The wrappers' signatures, in table order. */
const SIGNATURES = [
  { params: 2, results: 1 }, // malloc(s, n) -> p
  { params: 2, results: 0 }, // free(s, p)
  { params: 3, results: 1 }, // realloc(s, p, n) -> p
  { params: 1, results: 1 }, // usable(p) -> bytes
] as const;

/**
 * `bytes` (which `info` describes) with the four wrappers appended; see the module comment.
 * Throws {@link UnsupportedError} for a module whose function table is not the one defined table
 * of quickjs-emscripten's build.
 */
export function addHeapAccounting(bytes: Uint8Array, info: ModuleInfo = readModule(bytes)): AccountedModule {
  const rewrite = new TableAppend(bytes, info, 'QuickJS');
  const [mallocType, freeType, reallocType, usableType] = SIGNATURES.map(({ params, results }) => rewrite.i32Type(params, results));
  rewrite.addFunction(mallocType!, mallocBody(exported(info, EXPORTS.malloc.name)));
  rewrite.addFunction(freeType!, freeBody(exported(info, EXPORTS.free.name)));
  rewrite.addFunction(reallocType!, reallocBody(reallocType!));
  rewrite.addFunction(usableType!, usableBody());
  return { bytes: rewrite.emit(), first: rewrite.first };
}

/** The function index of the export `name` (whose signature `checkAbi` checked). */
function exported(info: ModuleInfo, name: string): number {
  const found = info.exports.find((e) => e.name === name && e.kind === 'function');
  if (found === undefined) throw new UnsupportedError('QuickJS', `its module exports no function ${name}`);
  return found.index;
}

/** A function body: `locals` extra i32 locals, then the code and `end`. */
class Body {
  readonly #w = new ByteWriter();

  constructor(locals: number) {
    if (locals > 0) this.#w.u32(1).u32(locals).u8(I32);
    else this.#w.u32(0);
  }

  op(...bytes: number[]): this {
    for (const b of bytes) this.#w.u8(b);
    return this;
  }

  get(local: number): this {
    return this.op(LOCAL_GET).u32(local);
  }

  set(local: number): this {
    return this.op(LOCAL_SET).u32(local);
  }

  tee(local: number): this {
    return this.op(LOCAL_TEE).u32(local);
  }

  i32(n: number): this {
    this.#w.u8(I32_CONST).s32(n);
    return this;
  }

  u32(n: number): this {
    this.#w.u32(n);
    return this;
  }

  load(offset: number): this {
    return this.op(I32_LOAD, WORD_ALIGN).u32(offset);
  }

  store(offset: number): this {
    return this.op(I32_STORE, WORD_ALIGN).u32(offset);
  }

  /** The chunk size of the block in `local`: its header word without the flag bits. */
  chunk(local: number): this {
    return this.get(local).i32(CHUNK_HEADER).op(I32_SUB).load(0).i32(~FLAG_BITS).op(I32_AND);
  }

  /** `s->malloc_size += (what `delta` pushes)`, with `s` in local 0. */
  addToSize(delta: (b: this) => void): this {
    this.get(0).get(0).load(SIZE);
    delta(this);
    return this.op(I32_ADD).store(SIZE);
  }

  /** Pushes the original function's table index kept at `word` of the block `s->opaque` points to. */
  original(word: number): this {
    return this.get(0).load(OPAQUE).load(word);
  }

  /** `s->malloc_count += delta`. */
  addCount(delta: number): this {
    return this.get(0).get(0).load(COUNT).i32(delta).op(I32_ADD).store(COUNT);
  }

  /** `s->opaque[refusals]++`. */
  refused(): this {
    return this.get(0).load(OPAQUE).get(0).load(OPAQUE).load(REFUSALS).i32(1).op(I32_ADD).store(REFUSALS);
  }

  /** The body's bytes, size-prefixed, with the final `end`. */
  finish(): Uint8Array {
    const code = this.#w.u8(END).finish();
    return new ByteWriter().u32(code.length).bytes(code).finish().slice();
  }
}

/**
 * `malloc(s, n)`: locals s, n; q. What `js_def_malloc` does, with the block's chunk for its 0 + 8:
 * refuse past the limit, else allocate and count.
 */
function mallocBody(malloc: number): Uint8Array {
  const [s, n, q] = [0, 1, 2];
  return new Body(1)
    .get(s)
    .load(SIZE)
    .get(n)
    .op(I32_ADD)
    .get(s)
    .load(LIMIT)
    .op(I32_GT_U)
    .op(IF, EMPTY)
    .refused()
    .i32(0)
    .op(RETURN)
    .op(END)
    .get(n)
    .op(CALL)
    .u32(malloc)
    .tee(q)
    .op(IF, EMPTY)
    .addCount(1)
    .addToSize((b) => b.chunk(q))
    .op(ELSE)
    .refused()
    .op(END)
    .get(q)
    .finish();
}

/** `free(s, p)`: locals s, p. What `js_def_free` does, with the block's chunk for its 0 + 8. */
function freeBody(free: number): Uint8Array {
  const p = 1;
  return new Body(0)
    .get(p)
    .op(IF, EMPTY)
    .addCount(-1)
    .addToSize((b) => b.i32(0).chunk(p).op(I32_SUB))
    .get(p)
    .op(CALL)
    .u32(free)
    .op(END)
    .finish();
}

/**
 * `realloc(s, p, n)`: locals s, p, n; q, old. The original counts nothing for a block it resizes,
 * 8 for one it allocates (`p` null: through `js_def_malloc`) and -8 for one it frees (`n` zero).
 */
function reallocBody(type: number): Uint8Array {
  const [s, p, n, q, old] = [0, 1, 2, 3, 4];
  // `p ? 0 : 8` and `p ? 8 : 0`: what the original counted for the two ways a null or zero argument goes.
  const ifNull = (b: Body, value: number) => b.i32(0).i32(value).get(p).op(SELECT);
  const ifNotNull = (b: Body, value: number) => b.i32(value).i32(0).get(p).op(SELECT);
  return (
    new Body(2)
      .get(p)
      .op(IF, EMPTY)
      .chunk(p)
      .set(old)
      .addToSize((b) => b.i32(0).get(old).op(I32_SUB))
      .op(END)
      .get(s)
      .get(p)
      .get(n)
      .original(ORIGINAL_REALLOC)
      .op(CALL_INDIRECT)
      .u32(type)
      .u32(0)
      .tee(q)
      .op(IF, EMPTY)
      .addToSize((b) => ifNull(b.chunk(q), QUICKJS_OVERHEAD).op(I32_SUB))
      .op(ELSE)
      .get(n)
      .op(I32_EQZ)
      .op(IF, EMPTY)
      // Freed (the original took 8 off) or nothing done.
      .addToSize((b) => ifNotNull(b, QUICKJS_OVERHEAD))
      .op(ELSE)
      // Refused: the old block stays.
      .addToSize((b) => b.get(old))
      .refused()
      .op(END)
      .op(END)
      .get(q)
      .finish()
  );
}

/** `usable(p)`: the bytes of `p`'s block the caller may use. */
function usableBody(): Uint8Array {
  const p = 0;
  return new Body(0).get(p).op(IF, I32).chunk(p).i32(CHUNK_HEADER).op(I32_SUB).op(ELSE).i32(0).op(END).finish();
}

/**
 * `QTS_NewRuntime()` with the runtime's allocator swapped for the wrappers at table index
 * `first` (from {@link addHeapAccounting}); returns the `JSRuntime*`. Throws
 * {@link UnsupportedError} when the runtime's blocks cannot be found where dlmalloc put them.
 */
export function newAccountedRuntime(x: QuickJSExports, memory: WebAssembly.Memory, first: number): number {
  // Everything the runtime allocates lies between two markers when the heap has no free chunk below
  // the first: the second is too large for any chunk the runtime freed, so it comes from the top.
  const below = x.malloc(1);
  const rt = x.QTS_NewRuntime();
  const above = x.malloc(ABOVE_BYTES);
  const words = new Uint32Array(memory.buffer);
  const word = (at: number): number => words[at >>> 2]!;
  const state = rt + MALLOC_STATE;
  const count = word(state + COUNT);
  let blocks = 0;
  let bytes = 0;
  let chunk = below - 2 * CHUNK_HEADER + (word(below - CHUNK_HEADER) & ~FLAG_BITS);
  const end = above - 2 * CHUNK_HEADER;
  while (chunk < end) {
    const head = word(chunk + CHUNK_HEADER);
    const size = head & ~FLAG_BITS;
    if (size < MIN_CHUNK) break;
    if ((head & CINUSE) !== 0) {
      blocks++;
      bytes += size;
    }
    chunk += size;
  }
  if (rt === 0 || chunk !== end || blocks !== count) {
    throw new UnsupportedError(
      'QuickJS',
      `its heap is not laid out as dlmalloc's (found ${blocks} blocks of the runtime's ${count}), so its memory cannot be accounted`,
    );
  }
  if (word(rt + GC_THRESHOLD) !== FIRST_GC_THRESHOLD) {
    throw new UnsupportedError('QuickJS', 'its runtime is not laid out as cowpool expects (no GC threshold where there should be)');
  }
  const realloc = word(rt + MF + MF_REALLOC);
  x.free(below);
  x.free(above);
  const block = x.malloc(BLOCK_BYTES);
  // A view made now: the allocation may have grown the memory.
  const now = new Uint32Array(memory.buffer);
  now[(block + ORIGINAL_REALLOC) >>> 2] = realloc;
  now[(block + REFUSALS) >>> 2] = 0;
  for (let i = 0; i < SIGNATURES.length; i++) now[(rt + MF + 4 * i) >>> 2] = first + i;
  now[(state + SIZE) >>> 2] = bytes;
  now[(state + OPAQUE) >>> 2] = block;
  return rt;
}

/**
 * Sets the runtime at `rt` to refuse allocations past `limit` bytes (its whole heap; Infinity: no
 * limit), and to collect garbage when what a use allocated reaches half the room between the heap
 * it started with and the limit. QuickJS's own threshold (256 KiB, then 1.5 times what a
 * collection left) would collect in most uses now that blocks count their bytes, and a collection
 * writes to every object's header: pages to reset. Only cycles need the collector (reference
 * counting frees the rest), and a use's memory is reset anyway, so collecting late is right; before
 * the limit, so that cyclic garbage does not end a use that keeps little.
 */
export function limitHeap(x: QuickJSExports, memory: WebAssembly.Memory, rt: number, limit: number): void {
  if (!Number.isFinite(limit)) {
    x.QTS_RuntimeSetMemoryLimit(rt, NO_LIMIT);
    return;
  }
  x.QTS_RuntimeSetMemoryLimit(rt, limit);
  const words = new Uint32Array(memory.buffer);
  const used = words[(rt + MALLOC_STATE + SIZE) >>> 2]!;
  words[(rt + GC_THRESHOLD) >>> 2] = used + Math.max(0, Math.floor((limit - used) / 2));
}

/** How many allocations the limit or the full heap refused since the image (the runtime at `rt`). */
export function refusedAllocations(memory: WebAssembly.Memory, rt: number): number {
  const words = new Uint32Array(memory.buffer);
  return words[(words[(rt + MALLOC_STATE + OPAQUE) >>> 2]! + REFUSALS) >>> 2]!;
}

/** Forgets the allocations refused so far (the setup script's, before the image is taken). */
export function clearRefusals(memory: WebAssembly.Memory, rt: number): void {
  const words = new Uint32Array(memory.buffer);
  words[(words[(rt + MALLOC_STATE + OPAQUE) >>> 2]! + REFUSALS) >>> 2] = 0;
}

/** Bytes QuickJS counts as allocated now (the runtime at `rt`). */
export function accountedBytes(memory: WebAssembly.Memory, rt: number): number {
  return new Uint32Array(memory.buffer)[(rt + MALLOC_STATE + SIZE) >>> 2]!;
}
