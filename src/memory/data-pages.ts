/**
 * Which parts of a memory hold data: the runs of 4 KiB blocks that have a non-zero byte. An image
 * is made, written to its memfd, kept and stored from these alone, since most of a memory is
 * zeros: QuickJS's 16 MiB memory after setup holds a few hundred KiB of data around a 5 MiB stack
 * that is barely touched, and every zero page written to a memfd is a page of memory used.
 *
 * Finding them costs no byte loop. The kernel already knows which pages of an anonymous memory
 * were never written: a page that is not present (never touched), or that maps the shared zero
 * page (only read), holds zeros. One `PAGEMAP_SCAN` returns the others, the candidates (present
 * or swapped out, and not the zero page); only those are compared against zeros, 64 KiB and then
 * 4 KiB at a time, a native compare each. Without `PAGEMAP_SCAN` every block is compared.
 */
import { Category, PageMap, pagemapSupport } from '../pagemap/index.js';

/** A run `[start, end)` of 4 KiB blocks each holding a non-zero byte, in bytes; `end` may be a memory's (unaligned) end. */
export interface DataRun {
  readonly start: number;
  readonly end: number;
}

/** The unit of the search and of images' spans (`module/image.ts` renders images 4 KiB-aligned; host pages are multiples). */
export const DATA_BLOCK = 4096;
/** Compared first: a zero chunk answers for 16 blocks in one call. */
const CHUNK = 16 * DATA_BLOCK;
const ZEROS = Buffer.alloc(CHUNK);

/** A page that may hold data: present or swapped out, and not the shared zero page. */
const CANDIDATES = {
  categoryInverted: Category.PFNZERO,
  categoryMask: Category.PFNZERO,
  categoryAnyOf: Category.PRESENT | Category.SWAPPED,
  returnMask: 0,
  maxRegions: 256,
} as const;

/**
 * The runs of `bytes` that hold data, in ascending order, searched only within `within` (ascending
 * ranges, widened to whole blocks; default: all of `bytes`), which must hold every non-zero byte.
 */
export function dataRuns(bytes: Uint8Array, within: readonly DataRun[] = [{ start: 0, end: bytes.length }]): DataRun[] {
  const runs: { start: number; end: number }[] = [];
  let searched = 0;
  for (const range of within) {
    let at = Math.max(range.start - (range.start % DATA_BLOCK), searched);
    const end = Math.min(Math.ceil(range.end / DATA_BLOCK) * DATA_BLOCK, bytes.length);
    while (at < end) {
      const chunkEnd = Math.min(at + CHUNK, end);
      if (isZero(bytes, at, chunkEnd)) {
        at = chunkEnd;
        continue;
      }
      for (; at < chunkEnd; at += DATA_BLOCK) {
        const blockEnd = Math.min(at + DATA_BLOCK, chunkEnd);
        if (isZero(bytes, at, blockEnd)) continue;
        const last = runs[runs.length - 1];
        if (last !== undefined && last.end === at) last.end = blockEnd;
        else runs.push({ start: at, end: blockEnd });
      }
    }
    searched = Math.max(searched, end);
  }
  return runs;
}

/**
 * The ranges of `buffer` (whole pages) that may hold data, from one `PAGEMAP_SCAN`; undefined when
 * the kernel cannot say (no `PAGEMAP_SCAN`, or no zero-page category), and then every byte may.
 *
 * Only for anonymous memory (a `WebAssembly.Memory` of its own, never mapped over an image): there
 * a page that is not present is zero. A file mapping's absent pages hold the file's bytes.
 */
export function candidateRanges(buffer: ArrayBuffer): DataRun[] | undefined {
  const support = pagemapSupport();
  if (!support.supported || (support.categories & Category.PFNZERO) === 0 || buffer.byteLength === 0) return undefined;
  return PageMap.open()
    .scan(buffer, CANDIDATES)
    .regions.map(({ start, end }) => ({ start, end }));
}

/** The runs of a memory that hold data; see the module comment. `buffer` must be anonymous memory (see {@link candidateRanges}). */
export function memoryDataRuns(buffer: ArrayBuffer): DataRun[] {
  return dataRuns(new Uint8Array(buffer), candidateRanges(buffer));
}

/** Whether `bytes[from, to)` (at most a chunk) is all zero. */
function isZero(bytes: Uint8Array, from: number, to: number): boolean {
  return ZEROS.compare(bytes, from, to, 0, to - from) === 0;
}
