/**
 * `MemorySlot`: one pooled `WebAssembly.Memory` with a {@link MemoryImage} mapped copy-on-write over
 * it, and the resets that bring it back to the image after each use.
 *
 * V8 allocates the memory: an anonymous private mapping whose first `initial × 64 KiB` bytes are
 * read-write, followed by a PROT_NONE guard reservation (8–10 GiB) into which `memory.grow`
 * extends the read-write part in place. The slot replaces the image's span with a private mapping
 * of the image's memfd:
 *
 *     base                 base+start          base+start+length       base+minimum    base+accessible
 *     | anonymous zeros    | memfd, MAP_PRIVATE | anonymous zeros        | grown (anon)  | PROT_NONE guard …
 *
 * A page only read maps the shared page-cache page (category FILE) or the zero page (PFNZERO); a
 * written page becomes a private anonymous copy. Resets:
 *
 * - `pagemap`: one PAGEMAP_SCAN finds the private pages (present or swapped, neither FILE nor
 *   PFNZERO); within the `keepResident` budget each run is restored in place from the image bytes
 *   (zeros outside the span): no page-table change, no fault on the next use. Everything from where
 *   the scan stopped is discarded with `madvise(MADV_DONTNEED)`.
 * - `madvise`: discard the whole accessible part; the image shows through again, zeros elsewhere.
 * - `copy`: copy the image back and zero the rest. Needs no mapping and no native call.
 *
 * States: `clean` (bytes equal the image, size equals the minimum unless it grew and was kept),
 * `leased` (a guest may be using it), `closed`. `lease()` needs `clean`, `reset()` needs `leased`.
 */
import { ClosedError, InternalError, InvalidArgumentError, UnsupportedError } from '../errors.js';
import { Category, PageMap, pagemapSupport, type PreparedScan, type RegionVisitor, type ScanOptions } from '../pagemap/index.js';
import {
  addressOf,
  madviseDontNeed,
  mmapFixedPrivateFile,
  nativeSupport,
  offsetAddress,
  PAGE_SIZE,
  type Address,
} from '../sys/index.js';
import type { MemoryImage } from './image.js';
import { selfCheck } from './self-check.js';
import { StickyPolicy } from './sticky.js';
import { parseStrategy, type ResetStrategy } from './strategy.js';

export type { ResetStrategy } from './strategy.js';


/** Options of {@link MemorySlot.create}. */
export interface MemorySlotOptions {
  /** Which reset to use; `auto` (default) picks the fastest that works here (see {@link chooseStrategy}). */
  strategy?: ResetStrategy | 'auto';
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
  /** Bytes handed to `madvise(MADV_DONTNEED)`. */
  bytesDecommitted: number;
  /** System calls made (ioctl and madvise). */
  syscalls: number;
  /** Wall-clock time of the reset. */
  nanoseconds: number;
  /** True when the memory is larger than its initial size: it grew during the use and cannot shrink. */
  grew: boolean;
}

const WASM_PAGE = 65536;
const DIRTY_SCAN = {
  // A page is dirty when it is a private copy: neither the image's page-cache page (FILE) nor the
  // zero page (PFNZERO) — inverted so the mask requires both bits clear —
  categoryInverted: Category.FILE | Category.PFNZERO,
  categoryMask: Category.FILE | Category.PFNZERO,
  // — and its contents exist: in RAM, or swapped out. Wasmtime requires PRESENT and so misses a
  // written page that was swapped out, which would then leak into the next use (its PR #14357).
  categoryAnyOf: Category.PRESENT | Category.SWAPPED,
  // No category bits reported: adjacent dirty pages merge into the longest runs.
  returnMask: 0,
  maxRegions: 64,
};

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
  #base: Address | undefined;
  #buffer: ArrayBuffer;
  #view: Uint8Array;
  readonly #sticky = new StickyPolicy();
  readonly #decommitSticky: boolean;
  readonly #scanOptions: ScanOptions;
  /** The dirty-page scan over the accessible part, prepared again when the memory grows. */
  #scan: PreparedScan | undefined;
  #scanLength = 0;
  readonly #visit: RegionVisitor = (start, end) => this.#restore(start, end, this.#report!);
  #report: ResetReport | undefined;

  private constructor(
    memory: WebAssembly.Memory,
    image: MemoryImage,
    strategy: ResetStrategy,
    keepResident: number,
    decommitSticky: boolean,
  ) {
    this.#decommitSticky = decommitSticky;
    this.#scanOptions = { ...DIRTY_SCAN, maxPages: Math.floor(keepResident / PAGE_SIZE) };
    this.memory = memory;
    this.image = image;
    this.strategy = strategy;
    this.keepResidentPages = Math.floor(keepResident / PAGE_SIZE);
    this.#buffer = memory.buffer;
    this.#view = new Uint8Array(this.#buffer);
  }

  /**
   * Creates a memory of the image's minimum size and maps the image over it. Throws
   * {@link UnsupportedError} when a fixed `strategy` cannot work here, with the reason.
   */
  static create(image: MemoryImage, options: MemorySlotOptions = {}): MemorySlot {
    const strategy = resolveStrategy(options.strategy ?? 'auto', image);
    const keepResident = options.keepResident ?? DEFAULT_KEEP_RESIDENT;
    if (!Number.isSafeInteger(keepResident) || keepResident < 0) {
      throw new InvalidArgumentError(`options.keepResident must be a non-negative integer of bytes, not ${keepResident}`);
    }
    if (image.minimumBytes % WASM_PAGE !== 0) {
      throw new InvalidArgumentError(`image minimum size ${image.minimumBytes} is not a multiple of 64 KiB`);
    }
    const descriptor: WebAssembly.MemoryDescriptor = { initial: image.minimumBytes / WASM_PAGE };
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
  }

  /**
   * Brings the memory back to the image. The slot must be leased and no guest may be running on it.
   * Returns what the reset did; `grew` tells the pool to retire the slot (V8 cannot shrink it).
   */
  reset(): ResetReport {
    if (this.#state !== 'leased') throw new InternalError(`reset() of a ${this.#state} slot`);
    const started = performance.now();
    this.#refreshView();
    const report: ResetReport = {
      strategy: this.strategy,
      dirtyPages: 0,
      bytesRestored: 0,
      bytesZeroed: 0,
      bytesDecommitted: 0,
      syscalls: 0,
      nanoseconds: 0,
      grew: this.#view.length > this.image.minimumBytes,
    };
    if (this.strategy === 'copy') this.#resetByCopy(report);
    else if (
      report.grew ||
      this.strategy === 'madvise' ||
      this.keepResidentPages === 0 ||
      (this.#decommitSticky && this.#sticky.shouldDecommit())
    ) {
      // A grown memory is retired by its pool (V8 cannot shrink it), so restoring it in place would
      // be wasted work; discarding it returns its pages to the kernel before V8 frees it.
      this.#decommit(0, report);
      report.strategy = 'madvise';
      this.#sticky.decommitted();
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
      this.#copyImage();
      return;
    }
    this.#base = addressOf(this.#buffer);
    const fd = this.image.fd;
    if (fd !== undefined) {
      // SAFETY: [start, start+length) lies inside the memory's initial read-write part (MemoryImage
      // checks start+length <= minimumBytes and this memory has exactly minimumBytes), the memory is
      // new so no guest runs on it, and the memfd is exactly `length` bytes long, so no access can
      // pass its end (SIGBUS).
      mmapFixedPrivateFile(offsetAddress(this.#base, this.image.start), this.image.length, fd, 0);
    }
  }

  #resetByScan(report: ResetReport): void {
    const length = this.#view.length;
    if (this.#scan === undefined || this.#scanLength !== length) {
      pageMap ??= PageMap.open();
      // SAFETY: [base, base + length) is this slot's memory, accessible while the slot lives.
      this.#scan = pageMap.prepare({ address: this.#base!, length }, this.#scanOptions);
      this.#scanLength = length;
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

  #resetByCopy(report: ResetReport): void {
    this.#restore(0, this.#view.length, report);
  }

  #copyImage(): void {
    this.#view.set(this.image.bytes, this.image.start);
  }
}

/**
 * Memories up to this size are reset by copying: writing 256 KiB back costs about what one
 * PAGEMAP_SCAN system call does under load, and needs no mapping at all.
 */
export const COPY_THRESHOLD = 256 * 1024;

/**
 * The strategy `auto` resolves to here, for a memory of `memoryBytes` (initial size): `copy` for
 * a memory of at most {@link COPY_THRESHOLD}; otherwise `pagemap` when PAGEMAP_SCAN works and the
 * startup self-check passes, `madvise` when only the mapping works, `copy` when nothing native
 * does. Returns the reason for anything but `pagemap`.
 */
export function chooseStrategy(memoryBytes = Infinity): { strategy: ResetStrategy; reason?: string } {
  if (memoryBytes <= COPY_THRESHOLD) {
    return {
      strategy: 'copy',
      reason: `the memory is ${memoryBytes / 1024} KiB: copying it back is cheaper than a system call`,
    };
  }
  const native = nativeSupport();
  if (!native.available) return { strategy: 'copy', reason: native.reason };
  const check = selfCheck();
  if (!check.ok) return { strategy: 'copy', reason: `the mapping self-check failed: ${check.reason}` };
  const support = pagemapSupport();
  if (!support.supported) return { strategy: 'madvise', reason: `PAGEMAP_SCAN unavailable: ${support.reason}` };
  return { strategy: 'pagemap' };
}

function resolveStrategy(requested: ResetStrategy | 'auto', image: MemoryImage): ResetStrategy {
  parseStrategy(requested, 'options.strategy');
  if (requested === 'auto') return chooseStrategy(image.minimumBytes).strategy;
  if (requested === 'copy') return requested;
  const native = nativeSupport();
  if (!native.available) throw new UnsupportedError(`the ${requested} reset`, native.reason);
  if (image.length > 0 && image.fd === undefined) {
    throw new UnsupportedError(`the ${requested} reset`, 'the image was built without a memfd (options.memfd: false)');
  }
  if (requested === 'pagemap') {
    const support = pagemapSupport();
    if (!support.supported) throw new UnsupportedError('PAGEMAP_SCAN', support.reason ?? 'unknown reason');
  }
  return requested;
}
