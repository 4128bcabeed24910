/**
 * `MemoryImage`: the initial contents of one linear memory of one module, built once and shared by
 * every slot that serves the module.
 *
 * The image lives twice: in a sealed memfd the size of the whole initial memory, which slots map
 * copy-on-write over their memory, so that untouched pages cost nothing and a discarded page shows
 * the image again; and, for the page-aligned span that holds non-zero bytes only, as bytes in JS
 * memory, from which dirty pages are restored in place without a page fault.
 *
 *     linear memory:  0 ........ start ============ start+length ........ minimum size
 *     memfd:            hole         image span (data)           hole
 *     JS bytes:                      image span
 *
 * Why the memfd covers the zeros too: a page only read must stay shared on every kernel, so that a
 * reset can treat "private" as "dirty". Over anonymous memory a read maps the shared zero page only
 * where the kernel has one; some do not (`pvm_no_zero_page=1`, s390 KVM guests) and give each read
 * its own private zeroed page, indistinguishable from a written one. A read of a memfd hole maps a
 * page-cache page (category FILE) instead, allocated once per image and shared by every slot, on
 * every kernel. The holes cost nothing until first read.
 */
import { ClosedError, InvalidArgumentError } from '../errors.js';
import { addSeals, close, ftruncate, memfdCreate, nativeSupport, PAGE_SIZE, pwrite, Seal } from '../sys/index.js';
import { dataRuns, type DataRun } from './data-pages.js';

/** Options of {@link MemoryImage.create}. */
export interface MemoryImageOptions {
  /** Put the image in a sealed memfd so slots can map it. Default: when native access is available. */
  memfd?: boolean;
  /** A name for the memfd, shown in /proc/PID/maps. */
  name?: string;
}

/** The initial contents of a linear memory; see the module comment. */
export class MemoryImage {
  /** Offset of the span in linear memory; a multiple of the page size. */
  readonly start: number;
  /** The span's bytes; its length is a multiple of the page size (0 when the memory starts all zero). */
  readonly bytes: Uint8Array;
  /** The memory's initial size in bytes; the span lies within it. */
  readonly minimumBytes: number;
  #fd: number | undefined;
  /** Where in {@link bytes} data lies. */
  readonly #runs: readonly DataRun[];
  /** The creator's reference plus one per slot. */
  #references = 1;
  #ownerReleased = false;
  #closed = false;

  private constructor(start: number, bytes: Uint8Array, minimumBytes: number, fd: number | undefined, runs: readonly DataRun[]) {
    this.start = start;
    this.bytes = bytes;
    this.minimumBytes = minimumBytes;
    this.#fd = fd;
    this.#runs = runs;
  }

  /**
   * Builds an image from the full initial contents of a memory (for instance a snapshot taken after
   * an initialization function). Only the page-aligned span of non-zero bytes is kept.
   */
  static fromContents(contents: Uint8Array, options: MemoryImageOptions = {}): MemoryImage {
    const { start, end } = nonZeroSpan(contents);
    return MemoryImage.create({ start, bytes: contents.slice(start, end) }, contents.length, options);
  }

  /**
   * Builds an image from a span: `bytes` placed at `start` in a memory of `minimumBytes`, zeros
   * elsewhere. The span is widened to whole pages of this host ({@link PAGE_SIZE}): a module's
   * image is rendered 4 KiB-aligned (`module/image.ts`, which knows no host), and arm64 kernels
   * may use 16 or 64 KiB pages. `runs`, when the caller knows them, say where in `bytes` data lies
   * (`data-pages.ts`): only those are copied and written; otherwise they are found by comparing.
   */
  static create(
    span: { start: number; bytes: Uint8Array; runs?: readonly DataRun[] | undefined },
    minimumBytes: number,
    options: MemoryImageOptions = {},
  ): MemoryImage {
    if (!Number.isSafeInteger(span.start) || span.start < 0) {
      throw new InvalidArgumentError(`image start ${span.start} is not a non-negative integer`);
    }
    const start = Math.floor(span.start / PAGE_SIZE) * PAGE_SIZE;
    const lead = span.start - start;
    const length = span.bytes.length === 0 ? 0 : Math.ceil((lead + span.bytes.length) / PAGE_SIZE) * PAGE_SIZE;
    if (start + length > minimumBytes) {
      throw new InvalidArgumentError(`image span [${start}, ${start + length}) does not fit in the memory's initial ${minimumBytes} bytes`);
    }
    // Only the data is copied and written: a new array reads as zeros without being written, and
    // a zero page left out of the memfd is a hole, which costs no memory.
    const runs = span.runs ?? dataRuns(span.bytes);
    const bytes = new Uint8Array(length);
    for (const r of runs) bytes.set(span.bytes.subarray(r.start, r.end), lead + r.start);
    const useMemfd = options.memfd ?? nativeSupport().available;
    const fd = useMemfd ? sealedMemfd(options.name ?? 'cowpool-image', minimumBytes, bytes, start, lead, runs) : undefined;
    return new MemoryImage(
      start,
      bytes,
      minimumBytes,
      fd,
      lead === 0 ? runs : runs.map((r) => ({ start: lead + r.start, end: lead + r.end })),
    );
  }

  /**
   * The same contents in a larger memory of `minimumBytes` (zeros after the old end), as a new image
   * with its own memfd when this one has one. For pools that give memories more room than the module
   * declares.
   */
  withMinimum(minimumBytes: number): MemoryImage {
    if (this.#closed) throw new ClosedError('MemoryImage');
    return MemoryImage.create({ start: this.start, bytes: this.bytes, runs: this.#runs }, minimumBytes, {
      memfd: this.#fd !== undefined,
      name: 'cowpool-image',
    });
  }

  /** Length of the span in bytes. */
  get length(): number {
    return this.bytes.length;
  }

  /**
   * The sealed memfd of the whole initial memory (`minimumBytes` long: the span's bytes at `start`,
   * holes elsewhere), or undefined when the image was built without one (no native access, or
   * `memfd: false`).
   */
  get fd(): number | undefined {
    if (this.#closed) throw new ClosedError('MemoryImage');
    return this.#fd;
  }

  /** True once the creator closed the image and every slot released it: the memfd is closed. */
  get closed(): boolean {
    return this.#closed;
  }

  /** Records one more user (a slot). Pair with {@link release}. */
  retain(): this {
    if (this.#closed) throw new ClosedError('MemoryImage');
    this.#references++;
    return this;
  }

  /** Drops one user; the memfd is closed when no user and no owner remain. */
  release(): void {
    if (this.#references === 0) return;
    if (--this.#references === 0) this.#closeFd();
  }

  /**
   * Drops the creator's reference. The memfd is closed once every slot using the image has released
   * it too; mappings already made stay valid either way (they hold the file).
   */
  close(): void {
    if (this.#ownerReleased) return;
    this.#ownerReleased = true;
    this.release();
  }

  #closeFd(): void {
    this.#closed = true;
    if (this.#fd !== undefined) close(this.#fd);
    this.#fd = undefined;
  }

  [Symbol.dispose](): void {
    this.close();
  }
}

/** A memfd of `size` bytes holding `bytes` at `start`, of which only the `runs` (offset by `lead`) hold data. */
function sealedMemfd(name: string, size: number, bytes: Uint8Array, start: number, lead: number, runs: readonly DataRun[]): number {
  const fd = memfdCreate(name);
  try {
    // ftruncate makes a sparse file: the zeros around the data are holes that take no memory until
    // a slot reads them, and then one page-cache page each, shared by every slot.
    ftruncate(fd, size);
    for (const r of runs) pwrite(fd, bytes.subarray(lead + r.start, lead + r.end), start + lead + r.start);
    // Sealed so that no one, cowpool included, can change the image under live mappings.
    addSeals(fd, Seal.SHRINK | Seal.GROW | Seal.WRITE | Seal.SEAL);
    return fd;
  } catch (err) {
    close(fd);
    throw err;
  }
}

/** The smallest page-aligned `[start, end)` holding every non-zero byte (`start === end` when none). */
export function nonZeroSpan(contents: Uint8Array): { start: number; end: number } {
  let first = -1;
  let last = -1;
  // Compare 8 bytes at a time where alignment allows: a 16 MiB snapshot is scanned in a few ms.
  const words = contents.byteOffset % 8 === 0 ? new BigUint64Array(contents.buffer, contents.byteOffset, contents.length >>> 3) : undefined;
  const isZeroAt = (i: number) => contents[i] === 0;
  if (words) {
    for (let w = 0; w < words.length; w++)
      if (words[w] !== 0n) {
        first = w * 8;
        break;
      }
    for (let w = words.length - 1; w >= 0; w--)
      if (words[w] !== 0n) {
        last = w * 8 + 7;
        break;
      }
    for (let i = words.length * 8; i < contents.length; i++)
      if (!isZeroAt(i)) {
        if (first < 0) first = i;
        last = i;
      }
  } else {
    for (let i = 0; i < contents.length; i++)
      if (!isZeroAt(i)) {
        if (first < 0) first = i;
        last = i;
      }
  }
  if (first < 0) return { start: 0, end: 0 };
  const start = Math.floor(first / PAGE_SIZE) * PAGE_SIZE;
  const end = Math.min(Math.ceil((last + 1) / PAGE_SIZE) * PAGE_SIZE, Math.ceil(contents.length / PAGE_SIZE) * PAGE_SIZE);
  return { start, end };
}
