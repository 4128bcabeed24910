/**
 * `MemorySlot`: one pooled `WebAssembly.Memory` with a {@link MemoryImage} mapped copy-on-write over
 * it, and the resets that bring it back to the image after each use.
 *
 * V8 allocates the memory: an anonymous private mapping whose first `initial × 64 KiB` bytes are
 * read-write, followed by a PROT_NONE guard reservation (8–10 GiB) into which `memory.grow`
 * extends the read-write part in place. The slot replaces the whole initial part with a private
 * mapping of the image's memfd, which is exactly that long (data in the span, holes elsewhere):
 *
 *     base                                                          base+minimum    base+accessible
 *     | memfd, MAP_PRIVATE: holes · image span · holes               | grown (anon)  | PROT_NONE guard …
 *
 * A page only read maps the shared page-cache page (category FILE), on every kernel; a written
 * page becomes a private anonymous copy. So "dirty" is simply "private": not FILE, and PRESENT or
 * SWAPPED. Neither the shared zero page nor PAGE_IS_WRITTEN is needed (see `image.ts`). Resets:
 *
 * - `pagemap`: one PAGEMAP_SCAN finds the private pages; within the `keepResident` budget each run is
 *   restored in place from the image bytes (zeros outside the span): no page-table change, no fault
 *   on the next use. Everything from where the scan stopped is discarded with `madvise(MADV_DONTNEED)`.
 * - `madvise`: discard the whole initial part; the image shows through again.
 * - `copy`: write back the pages whose bytes differ from the image. Needs no mapping and no native
 *   call; pages never touched are only read, so they stay unpopulated where the kernel has a zero page.
 *
 * A memory that grew cannot shrink (V8), so it is never reset: `reset()` reports `grew`, does no
 * work on it (no restore, no `madvise`) and closes the slot. The pool then retires the member that
 * held it and makes a new one when one is needed; V8 frees the memory, mapping and all, when it
 * collects it.
 *
 * States: `clean` (bytes equal the image, size equals the minimum), `leased` (a guest may be using
 * it), `closed`. `lease()` needs `clean`, `reset()` needs `leased`.
 */
import { InternalError, InvalidArgumentError } from '../errors.js';
import { Category, PageMap, type PreparedScan, type RegionVisitor, type ScanOptions } from '../pagemap/index.js';
import { addressOf, madviseDontNeed, mmapFixedPrivateFile, offsetAddress, PAGE_SIZE, type Address } from '../sys/index.js';
import type { MemoryImage } from './image.js';
import { WASM_PAGE_SIZE } from '../module/wasm-page.js';
import { StickyPolicy } from './sticky.js';
import { requireStrategy, type ResetStrategy } from './reset-strategy.js';

/** Options of {@link MemorySlot.create}. */
export interface MemorySlotOptions {
  /**
   * Which reset to use: a concrete strategy, never `auto` (whoever creates the slot resolves that
   * first, through `auto-strategy.ts`).
   */
  strategy: ResetStrategy;
  /**
   * Bytes a `pagemap` reset may restore in place per use; dirty pages beyond it are discarded
   * instead. Rounded down to whole pages. Default {@link DEFAULT_KEEP_RESIDENT} (2 MiB).
   */
  keepResident?: number;
  /** The memory's maximum in 64 KiB pages, as the module declares it (none by default). */
  maximumPages?: number;
  /**
   * Let a `pagemap` slot drop its sticky set when it grows far beyond what uses write (see
   * `sticky.ts`). Default true; false keeps Wasmtime's behaviour, for comparison.
   */
  decommitSticky?: boolean;
}

/** Default `keepResident`: 2 MiB, 512 pages restored in place per use at most. */
export const DEFAULT_KEEP_RESIDENT = 2 * 1024 * 1024;

/** What one reset did. Times in nanoseconds, sizes in bytes. */
export interface ResetReport {
  /** The reset actually performed (a `pagemap` slot does a full `madvise` when it decommits). */
  strategy: ResetStrategy;
  /** Pages the scan reported as private (written since the last decommit); 0 for other resets. */
  dirtyPages: number;
  /** Bytes copied back from the image. */
  bytesRestored: number;
  /** Bytes set to zero in place. */
  bytesZeroed: number;
  /** Bytes a `copy` reset compared with the image and found unchanged (not written). */
  bytesUnchanged: number;
  /** Bytes handed to `madvise(MADV_DONTNEED)`. */
  bytesDecommitted: number;
  /** System calls made (ioctl and madvise). */
  syscalls: number;
  /** Wall-clock time of the reset. */
  nanoseconds: number;
  /**
   * True when the memory is larger than its initial size: it grew during the use and cannot shrink.
   * Nothing was reset, and the slot is closed: its memory is about to be thrown away.
   */
  grew: boolean;
}

/**
 * The scan that finds a slot's dirty pages: private copies (not the image's page-cache page FILE —
 * inverted so the mask requires the bit clear) whose contents exist, in RAM or swapped out. Wasmtime
 * requires PRESENT and so misses a written page that was swapped out, which would then leak into the
 * next use (its PR #14357). Exported for the self-check and the tests, which must scan as resets do.
 */
export const DIRTY_PAGES = {
  categoryInverted: Category.FILE,
  categoryMask: Category.FILE,
  categoryAnyOf: Category.PRESENT | Category.SWAPPED,
  // No category bits reported: adjacent dirty pages merge into the longest runs.
  returnMask: 0,
  maxRegions: 64,
} as const satisfies ScanOptions;

let pageMap: PageMap | undefined;

/** One pooled memory and its image; see the module comment. */
export class MemorySlot {
  /** The pooled memory. Its buffer object changes after `grow`; its address does not. */
  readonly memory: WebAssembly.Memory;
  readonly image: MemoryImage;
  /** The strategy this slot resets with. */
  readonly strategy: ResetStrategy;
  /** The budget of a `pagemap` reset, in pages. */
  readonly keepResidentPages: number;
  #state: 'clean' | 'leased' | 'closed' = 'clean';
  /** Whether pages a use wrote may be held privately, restored in place (not after a decommit). */
  #holding = false;
  #base: Address | undefined;
  #buffer: ArrayBuffer;
  #view: Uint8Array;
  readonly #sticky = new StickyPolicy();
  readonly #decommitSticky: boolean;
  readonly #scanOptions: ScanOptions;
  /**
   * The dirty-page scan over the initial part, prepared at the first scan. Only a memory of its
   * initial size is ever scanned: `reset()` closes one that grew before it gets here.
   */
  #scan: PreparedScan | undefined;
  readonly #visit: RegionVisitor = (start, end) => this.#restore(start, end, this.#report!);
  #report: ResetReport | undefined;
  /** The image's bytes as a `Buffer`, for the memcmp of a `copy` reset. */
  readonly #imageBuffer: Buffer;

  private constructor(
    memory: WebAssembly.Memory,
    image: MemoryImage,
    strategy: ResetStrategy,
    keepResident: number,
    decommitSticky: boolean,
  ) {
    this.#decommitSticky = decommitSticky;
    this.#scanOptions = { ...DIRTY_PAGES, maxPages: Math.floor(keepResident / PAGE_SIZE) };
    this.memory = memory;
    this.image = image;
    this.strategy = strategy;
    this.keepResidentPages = Math.floor(keepResident / PAGE_SIZE);
    this.#buffer = memory.buffer;
    this.#view = new Uint8Array(this.#buffer);
    this.#imageBuffer = Buffer.from(image.bytes.buffer, image.bytes.byteOffset, image.bytes.length);
  }

  /**
   * Creates a memory of the image's minimum size and maps the image over it. Throws
   * {@link UnsupportedError} when `strategy` cannot work here, with the reason.
   */
  static create(image: MemoryImage, options: MemorySlotOptions): MemorySlot {
    const strategy = requireStrategy(options.strategy, image);
    const keepResident = options.keepResident ?? DEFAULT_KEEP_RESIDENT;
    if (!Number.isSafeInteger(keepResident) || keepResident < 0) {
      throw new InvalidArgumentError(`options.keepResident must be a non-negative integer of bytes, not ${keepResident}`);
    }
    if (image.minimumBytes % WASM_PAGE_SIZE !== 0) {
      throw new InvalidArgumentError(`image minimum size ${image.minimumBytes} is not a multiple of 64 KiB`);
    }
    const descriptor: WebAssembly.MemoryDescriptor = { initial: image.minimumBytes / WASM_PAGE_SIZE };
    if (options.maximumPages !== undefined) descriptor.maximum = options.maximumPages;
    const memory = new WebAssembly.Memory(descriptor);
    const slot = new MemorySlot(memory, image.retain(), strategy, keepResident, options.decommitSticky ?? true);
    try {
      slot.#mapImage();
    } catch (err) {
      image.release();
      throw err;
    }
    return slot;
  }

  /** `clean`, `leased` or `closed`. */
  get state(): 'clean' | 'leased' | 'closed' {
    return this.#state;
  }

  /** Sticky-set bookkeeping of a `pagemap` slot: average pages written per use, and pages kept private. */
  get residency(): { writeSet: number; sticky: number } {
    return { writeSet: this.#sticky.writeSet, sticky: this.#sticky.sticky };
  }

  /** Marks the slot as in use. It must be clean. */
  lease(): void {
    if (this.#state !== 'clean') throw new InternalError(`lease() of a ${this.#state} slot`);
    this.#state = 'leased';
    this.#holding = true;
  }

  /**
   * Gives back the private pages a clean slot holds between uses (those a `pagemap` reset restored
   * in place): the image shows through again, as after a `madvise` reset, and the next use takes
   * page faults on what it touches. A `madvise` slot holds none, and a `copy` slot's memory is its
   * own, so only a `pagemap` slot has anything to give. Returns the bytes discarded, 0 for none.
   */
  trim(): number {
    if (this.#state !== 'clean' || this.strategy !== 'pagemap' || !this.#holding) return 0;
    this.#holding = false;
    const report = emptyReport('madvise');
    this.#decommit(0, report);
    this.#sticky.decommitted();
    return report.bytesDecommitted;
  }

  /**
   * Brings the memory back to the image. The slot must be leased and no guest may be running on it.
   * Returns what the reset did; `grew` tells the pool to retire the slot (V8 cannot shrink it).
   */
  reset(): ResetReport {
    if (this.#state !== 'leased') throw new InternalError(`reset() of a ${this.#state} slot`);
    const started = performance.now();
    this.#refreshView();
    const report = emptyReport(this.strategy);
    report.grew = this.#view.length > this.image.minimumBytes;
    if (report.grew) {
      // V8 cannot shrink the memory, so the pool retires this slot: resetting memory about to be
      // thrown away would be wasted work (a full reset of a grown memory costs milliseconds).
      this.close();
      return report;
    }
    if (this.strategy === 'copy') this.#resetByCopy(report);
    else if (this.strategy === 'madvise' || this.keepResidentPages === 0 || (this.#decommitSticky && this.#sticky.shouldDecommit())) {
      // Discard everything, and with it the sticky set: always for `madvise`; for `pagemap` when
      // there is no budget to restore in place, or when the sticky set outgrew what uses write.
      this.#decommit(0, report);
      report.strategy = 'madvise';
      this.#sticky.decommitted();
      this.#holding = false;
    } else this.#resetByScan(report);
    report.nanoseconds = Math.round((performance.now() - started) * 1e6);
    this.#state = 'clean';
    return report;
  }

  /** Stops using the slot. The memory itself is freed by V8 when nothing references it. */
  close(): void {
    if (this.#state === 'closed') return;
    this.#state = 'closed';
    this.image.release();
  }

  [Symbol.dispose](): void {
    this.close();
  }

  #refreshView(): void {
    const buffer = this.memory.buffer;
    if (buffer === this.#buffer) return;
    this.#buffer = buffer;
    this.#view = new Uint8Array(buffer);
    if (this.#base !== undefined && addressOf(buffer) !== this.#base) {
      // With guard regions V8 grows in place; a moved memory would leave the image mapped at the old
      // address, which is no longer ours. Refuse to go on rather than reset the wrong memory.
      throw new InternalError('the wasm memory moved on grow (V8 without guard regions?); retire this slot');
    }
  }

  #mapImage(): void {
    if (this.strategy === 'copy') {
      // The new memory is all zeros: writing back what differs writes only the image's non-zero
      // pages, where copying the whole span would populate its zero pages too.
      this.#resetByCopy(emptyReport('copy'));
      return;
    }
    this.#base = addressOf(this.#buffer);
    const fd = this.image.fd;
    if (fd === undefined) throw new InternalError(`a ${this.strategy} slot needs an image with a memfd`);
    if (this.image.minimumBytes > 0) {
      // SAFETY: [base, base+minimumBytes) is exactly this memory's initial read-write part (it was
      // created with image.minimumBytes), the memory is new so no guest runs on it, and the memfd is
      // exactly minimumBytes long, so no access through the mapping can pass its end (SIGBUS). V8
      // unmaps the whole reservation, this mapping included, when it frees the memory.
      mmapFixedPrivateFile(this.#base, this.image.minimumBytes, fd, 0);
    }
  }

  #resetByScan(report: ResetReport): void {
    const length = this.#view.length;
    if (this.#scan === undefined) {
      pageMap ??= PageMap.open();
      // SAFETY: [base, base + length) is this slot's memory, accessible while the slot lives.
      this.#scan = pageMap.prepare({ address: this.#base!, length }, this.#scanOptions);
    }
    this.#report = report;
    const summary = this.#scan.run(this.#visit);
    this.#report = undefined;
    report.syscalls += summary.calls;
    report.dirtyPages = summary.pages;
    this.#sticky.scanned(summary.pages);
    if (summary.walkEnd < length) this.#decommit(summary.walkEnd, report);
  }

  /** Copies the image's bytes over `[start, end)` and zeroes the parts outside the span. */
  #restore(start: number, end: number, report: ResetReport): void {
    const view = this.#view;
    const imageStart = this.image.start;
    const imageEnd = imageStart + this.image.length;
    const copyFrom = Math.max(start, imageStart);
    const copyTo = Math.min(end, imageEnd);
    if (copyFrom < copyTo) {
      view.set(this.image.bytes.subarray(copyFrom - imageStart, copyTo - imageStart), copyFrom);
      report.bytesRestored += copyTo - copyFrom;
      if (start < copyFrom) view.fill(0, start, copyFrom);
      if (copyTo < end) view.fill(0, copyTo, end);
      report.bytesZeroed += end - start - (copyTo - copyFrom);
    } else {
      view.fill(0, start, end);
      report.bytesZeroed += end - start;
    }
  }

  /** Discards `[from, accessible end)`; the image shows through again in its span, zeros elsewhere. */
  #decommit(from: number, report: ResetReport): void {
    const length = this.#view.length - from;
    // SAFETY: the range lies in this slot's memory (from is a scan offset within it, page-aligned),
    // the slot is leased to us and no guest runs during a reset; its contents are being thrown away.
    madviseDontNeed(offsetAddress(this.#base!, from), length);
    report.bytesDecommitted += length;
    report.syscalls++;
  }

  /**
   * Writes back only what differs from the image, a chunk at a time (memcmp through `Buffer`):
   * writing every page would populate the whole memory with private pages, where a fresh instance
   * populates only what it touches.
   */
  #resetByCopy(report: ResetReport): void {
    const memory = Buffer.from(this.#view.buffer, this.#view.byteOffset, this.#view.length);
    const imageStart = this.image.start;
    const imageEnd = imageStart + this.image.length;
    for (let chunk = 0; chunk < memory.length; chunk += COMPARE_CHUNK) {
      const chunkEnd = Math.min(chunk + COMPARE_CHUNK, memory.length);
      if (this.#unchanged(memory, chunk, chunkEnd, imageStart, imageEnd)) {
        report.bytesUnchanged += chunkEnd - chunk;
        continue;
      }
      for (let page = chunk; page < chunkEnd; page += PAGE_SIZE) {
        const pageEnd = Math.min(page + PAGE_SIZE, chunkEnd);
        if (this.#unchanged(memory, page, pageEnd, imageStart, imageEnd)) report.bytesUnchanged += pageEnd - page;
        else this.#restore(page, pageEnd, report);
      }
    }
  }

  /** True when `memory[start, end)` equals the image: its bytes inside the span, zeros outside. */
  #unchanged(memory: Buffer, start: number, end: number, imageStart: number, imageEnd: number): boolean {
    const spanFrom = Math.max(start, imageStart);
    const spanTo = Math.min(end, imageEnd);
    if (spanFrom < spanTo) {
      if (memory.compare(this.#imageBuffer, spanFrom - imageStart, spanTo - imageStart, spanFrom, spanTo) !== 0) return false;
      return isZero(memory, start, spanFrom) && isZero(memory, spanTo, end);
    }
    return isZero(memory, start, end);
  }
}

function emptyReport(strategy: ResetStrategy): ResetReport {
  return {
    strategy,
    dirtyPages: 0,
    bytesRestored: 0,
    bytesZeroed: 0,
    bytesUnchanged: 0,
    bytesDecommitted: 0,
    syscalls: 0,
    nanoseconds: 0,
    grew: false,
  };
}

/** Bytes compared at once by a `copy` reset before it looks at single pages. */
const COMPARE_CHUNK = 16 * PAGE_SIZE;
const ZEROS = Buffer.alloc(COMPARE_CHUNK);

function isZero(memory: Buffer, start: number, end: number): boolean {
  for (let at = start; at < end; at += COMPARE_CHUNK) {
    const to = Math.min(at + COMPARE_CHUNK, end);
    if (memory.compare(ZEROS, 0, to - at, at, to) !== 0) return false;
  }
  return true;
}
