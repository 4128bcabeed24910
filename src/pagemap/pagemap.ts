/**
 * `PageMap`: the `PAGEMAP_SCAN` ioctl on `/proc/self/pagemap`, as a typed call over an ArrayBuffer
 * (a `WebAssembly.Memory`'s buffer, say) or a raw address range.
 *
 * The kernel walks `[start, end)` and writes runs of pages that match the category filter into a
 * region buffer. A walk stops for one of three reasons, all reported in {@link ScanResult.stop}:
 * the range is done; the page budget (`maxPages`) is used up; or the region buffer is full. In the
 * last case Wasmtime gives up (its PR #14357); here the scan resumes from `walk_end` by default
 * until the range or the budget is done, so a caller never mistakes "buffer full" for "clean".
 *
 * How the kernel selects a page (`pagemap_scan_is_interesting_page`):
 *
 *     c = categories(page) ^ categoryInverted
 *     selected = (c & categoryMask) == categoryMask && (categoryAnyOf == 0 || (c & categoryAnyOf) != 0)
 *
 * and each reported run carries `categories(page) & returnMask`; adjacent pages merge into one run
 * only when those reported bits are equal, so `returnMask: 0` yields the fewest, longest runs.
 */
import { ClosedError, InvalidArgumentError } from '../errors.js';
import { addressOf, errnoName, ioctl, isDetached, PAGE_SIZE, type Address } from '../sys/index.js';
import { syscallError } from '../sys/errno.js';
import { ARG_SIZE, Arg, PAGEMAP_SCAN, PM_SCAN_CHECK_WPASYNC, PM_SCAN_WP_MATCHING, REGION_FIELDS } from './abi.js';
import { ALL_CATEGORIES, categoryNames, type Categories } from './categories.js';
import { pagemapDescriptor, pagemapSupport } from './support.js';
import { UnsupportedError } from '../errors.js';

/** What to scan: an ArrayBuffer (offsets relative to its first byte) or a raw range of this process. */
export type ScanTarget = ArrayBuffer | { address: bigint; length: number };

/** Options of {@link PageMap.scan}. Offsets and lengths are in bytes. */
export interface ScanOptions {
  /** Where to start, relative to the target; page-aligned. Default 0. */
  offset?: number;
  /** How much to scan; rounded up to whole pages, within the target. Default: to the target's end. */
  length?: number;
  /** Bits that must all be set (after inversion) for a page to match. Default 0. */
  categoryMask?: Categories;
  /** Bits to invert before matching, to require a bit to be clear. Default 0. */
  categoryInverted?: Categories;
  /** Bits of which at least one must be set (after inversion). Default 0 (no condition). */
  categoryAnyOf?: Categories;
  /**
   * Bits to report for each region. Default: every category this kernel supports. Use 0 to merge
   * all adjacent matching pages into the longest runs.
   */
  returnMask?: Categories;
  /** Stop after this many matching pages (0 or undefined: no limit). */
  maxPages?: number;
  /** Write-protect matching pages (`PM_SCAN_WP_MATCHING`); for userfaultfd WP_ASYNC ranges. */
  writeProtect?: boolean;
  /** Fail with EPERM if the range is not registered with userfaultfd WP_ASYNC (`PM_SCAN_CHECK_WPASYNC`). */
  checkWpAsync?: boolean;
  /** Regions the kernel may return per ioctl. Default 64. */
  maxRegions?: number;
  /** When the region buffer fills, continue from `walkEnd` until the range or budget is done. Default true. */
  resume?: boolean;
}

/** One run of matching pages, as byte offsets relative to the target. */
export interface ScanRegion {
  start: number;
  end: number;
  /** The run's categories, masked by `returnMask`. */
  categories: Categories;
}

/** Why a scan stopped. */
export type ScanStop =
  /** The whole range was walked. */
  | 'complete'
  /** `maxPages` matching pages were found; pages from `walkEnd` on were not examined. */
  | 'max-pages'
  /** The region buffer filled and `resume` was false; pages from `walkEnd` on were not examined. */
  | 'max-regions';

/** The outcome of a scan. */
export interface ScanResult {
  regions: ScanRegion[];
  /** Offset (relative to the target) where the walk ended: the range's end when `stop` is `complete`. */
  walkEnd: number;
  stop: ScanStop;
  /** Matching pages found in all regions. */
  pages: number;
  /** ioctl calls made (more than one when the scan resumed). */
  calls: number;
}

/** Receives each region of {@link PageMap.scanEach}; offsets in bytes relative to the target. */
export type RegionVisitor = (start: number, end: number, categories: Categories) => void;

/** What {@link PageMap.scanEach} returns besides the visited regions. */
export interface ScanSummary {
  walkEnd: number;
  stop: ScanStop;
  pages: number;
  calls: number;
}

const DEFAULT_MAX_REGIONS = 64;

/**
 * The `PAGEMAP_SCAN` ioctl over the process's `/proc/self/pagemap` descriptor. Cheap to create;
 * every instance shares the one descriptor. An instance owns its argument and region buffers, so
 * a scan allocates nothing per region beyond the result it returns.
 */
export class PageMap {
  readonly #fd: number;
  readonly #supported: Categories;
  #own: ScanBuffers;
  #closed = false;

  private constructor(fd: number, supported: Categories) {
    this.#fd = fd;
    this.#supported = supported;
    this.#own = newBuffers(DEFAULT_MAX_REGIONS);
  }

  /**
   * Opens the page map. Throws {@link UnsupportedError} (with the probe's reason) when this kernel
   * or sandbox has no usable `PAGEMAP_SCAN`; see {@link pagemapSupport} to ask without throwing.
   */
  static open(): PageMap {
    const support = pagemapSupport();
    if (!support.supported) throw new UnsupportedError('PAGEMAP_SCAN', support.reason ?? 'unknown reason');
    return new PageMap(pagemapDescriptor(), support.categories);
  }

  /** Category bits this kernel accepts. */
  get supportedCategories(): Categories {
    return this.#supported;
  }

  /** Scans `target` and returns the matching runs of pages. See {@link ScanOptions}. */
  scan(target: ScanTarget, options: ScanOptions = {}): ScanResult {
    const regions: ScanRegion[] = [];
    const summary = this.scanEach(target, options, (start, end, categories) => {
      const last = regions[regions.length - 1];
      // Runs split across two ioctl calls (on resume) are joined, as one call would have reported them.
      if (last !== undefined && last.end === start && last.categories === categories) last.end = end;
      else regions.push({ start, end, categories });
    });
    return { regions, ...summary };
  }

  /**
   * Like {@link scan} but hands each run to `visit` instead of building a list, and reuses this
   * instance's buffers. A run that straddles two ioctl calls (after a resume) may be visited as two
   * adjacent runs. For the same scan over and over, {@link prepare} validates only once.
   */
  scanEach(target: ScanTarget, options: ScanOptions, visit: RegionVisitor): ScanSummary {
    const maxRegions = checkCount('maxRegions', options.maxRegions ?? DEFAULT_MAX_REGIONS, 1);
    return this.#prepare(target, options, this.#buffers(maxRegions)).run(visit);
  }

  /**
   * Validates `target` and `options` once and returns a scan that can be run again and again, with
   * its own argument and region buffers: for hot loops, such as a reset scanning the same memory
   * after every use. The target must stay mapped, at the same address and length, while it is used.
   */
  prepare(target: ScanTarget, options: ScanOptions = {}): PreparedScan {
    const maxRegions = checkCount('maxRegions', options.maxRegions ?? DEFAULT_MAX_REGIONS, 1);
    return this.#prepare(target, options, newBuffers(maxRegions));
  }

  #prepare(target: ScanTarget, options: ScanOptions, buffers: ScanBuffers): PreparedScan {
    if (this.#closed) throw new ClosedError('PageMap');
    const { base, length: targetLength } = resolveTarget(target);
    const offset = options.offset ?? 0;
    checkOffset(offset, targetLength);
    return new PreparedScan(this.#fd, buffers, {
      base,
      offset,
      end: rangeEnd(offset, options.length, targetLength),
      categoryMask: this.#checkCategories('categoryMask', options.categoryMask ?? 0),
      categoryInverted: this.#checkCategories('categoryInverted', options.categoryInverted ?? 0),
      categoryAnyOf: this.#checkCategories('categoryAnyOf', options.categoryAnyOf ?? 0),
      returnMask: this.#checkCategories('returnMask', options.returnMask ?? this.#supported),
      maxPages: checkCount('maxPages', options.maxPages ?? 0, 0),
      maxRegions: checkCount('maxRegions', options.maxRegions ?? DEFAULT_MAX_REGIONS, 1),
      resume: options.resume ?? true,
      flags: (options.writeProtect ? PM_SCAN_WP_MATCHING : 0) | (options.checkWpAsync ? PM_SCAN_CHECK_WPASYNC : 0),
    });
  }

  /** This instance's own buffers, grown to hold `maxRegions` regions. */
  #buffers(maxRegions: number): ScanBuffers {
    if (this.#own.regions.length < maxRegions * REGION_FIELDS * 2) this.#own = newBuffers(maxRegions);
    return this.#own;
  }

  /** Stops this instance from scanning. The shared descriptor stays open for the rest of the process. */
  close(): void {
    this.#closed = true;
  }

  [Symbol.dispose](): void {
    this.close();
  }

  #checkCategories(name: string, bits: Categories): Categories {
    if (!Number.isInteger(bits) || bits < 0 || (bits & ~ALL_CATEGORIES) !== 0) {
      throw new InvalidArgumentError(`options.${name}: ${bits} has bits that are not PAGEMAP_SCAN categories`);
    }
    const unsupported = bits & ~this.#supported;
    if (unsupported !== 0) {
      throw new InvalidArgumentError(
        `options.${name}: this kernel does not support the categories ${categoryNames(unsupported).join(', ')}`,
      );
    }
    return bits;
  }
}

/**
 * The argument struct and region buffer of a scan. They are read and written as u32 halves through
 * Uint32Arrays, with addresses as plain numbers (exact below 2^53; user-space addresses are below
 * 2^47), so that a scan makes no BigInt allocations.
 */
interface ScanBuffers {
  arg: Uint32Array;
  argAddress: Address;
  regions: Uint32Array;
  regionsAddress: Address;
}

function newBuffers(maxRegions: number): ScanBuffers {
  const arg = new Uint32Array(ARG_SIZE / 4);
  const regions = new Uint32Array(maxRegions * REGION_FIELDS * 2);
  return { arg, argAddress: addressOf(arg.buffer), regions, regionsAddress: addressOf(regions.buffer) };
}

/** A validated scan's parameters. */
interface ScanPlan {
  base: number;
  offset: number;
  end: number;
  categoryMask: Categories;
  categoryInverted: Categories;
  categoryAnyOf: Categories;
  returnMask: Categories;
  maxPages: number;
  maxRegions: number;
  resume: boolean;
  flags: number;
}

/** A scan validated once by {@link PageMap.prepare}, to run as often as needed. */
export class PreparedScan {
  readonly #fd: number;
  readonly #buffers: ScanBuffers;
  readonly #plan: ScanPlan;

  /** @internal */
  constructor(fd: number, buffers: ScanBuffers, plan: ScanPlan) {
    this.#fd = fd;
    this.#buffers = buffers;
    this.#plan = plan;
  }

  /** Runs the scan, handing each run of matching pages to `visit` (offsets relative to the target). */
  run(visit: RegionVisitor): ScanSummary {
    const { arg, argAddress, regions, regionsAddress } = this.#buffers;
    const { base, end, maxPages, maxRegions, resume, flags } = this.#plan;
    // Written on every run: buffers may be shared with other scans of the same PageMap.
    setU64(arg, Arg.size, ARG_SIZE);
    setU64(arg, Arg.flags, flags);
    setU64(arg, Arg.end, base + end);
    setU64(arg, Arg.vec, Number(regionsAddress));
    setU64(arg, Arg.vecLen, maxRegions);
    setU64(arg, Arg.categoryInverted, this.#plan.categoryInverted);
    setU64(arg, Arg.categoryMask, this.#plan.categoryMask);
    setU64(arg, Arg.categoryAnyOf, this.#plan.categoryAnyOf);
    setU64(arg, Arg.returnMask, this.#plan.returnMask);

    let cursor = this.#plan.offset;
    let pages = 0;
    let calls = 0;
    for (;;) {
      if (cursor >= end) return { walkEnd: end, stop: 'complete', pages, calls };
      if (maxPages !== 0 && pages >= maxPages) return { walkEnd: cursor, stop: 'max-pages', pages, calls };
      setU64(arg, Arg.start, base + cursor);
      setU64(arg, Arg.walkEnd, 0);
      setU64(arg, Arg.maxPages, maxPages === 0 ? 0 : maxPages - pages);
      // SAFETY: arg and regions are buffers made for this scan, sized for ARG_SIZE and maxRegions
      // regions; the kernel writes only walk_end and at most vec_len regions.
      const count = ioctl(this.#fd, PAGEMAP_SCAN, argAddress);
      calls++;
      if (count < 0) throw scanError(-count, flags);
      for (let i = 0; i < count; i++) {
        const field = i * REGION_FIELDS;
        const start = getU64(regions, field) - base;
        const stop = getU64(regions, field + 1) - base;
        pages += (stop - start) / PAGE_SIZE;
        visit(start, stop, getU64(regions, field + 2));
      }
      const walkEnd = getU64(arg, Arg.walkEnd) - base;
      if (walkEnd >= end) return { walkEnd: end, stop: 'complete', pages, calls };
      if (count < maxRegions || (maxPages !== 0 && pages >= maxPages)) {
        return { walkEnd, stop: 'max-pages', pages, calls };
      }
      if (!resume) return { walkEnd, stop: 'max-regions', pages, calls };
      cursor = walkEnd;
    }
  }
}

/** The target's base address (as a number: user-space addresses are below 2^47) and length. */
function resolveTarget(target: ScanTarget): { base: number; length: number } {
  if (target instanceof ArrayBuffer) {
    if (isDetached(target)) {
      throw new InvalidArgumentError('the ArrayBuffer is detached (after memory.grow, read memory.buffer again)');
    }
    if (target.byteLength === 0) return { base: 0, length: 0 };
    return { base: Number(addressOf(target)), length: target.byteLength };
  }
  if (typeof target !== 'object' || target === null || typeof target.address !== 'bigint') {
    throw new InvalidArgumentError('target must be an ArrayBuffer or { address: bigint, length: number }');
  }
  const base = Number(target.address);
  if (base % PAGE_SIZE !== 0) {
    throw new InvalidArgumentError(`target.address 0x${target.address.toString(16)} is not page-aligned`);
  }
  checkCount('target.length', target.length, 0);
  return { base, length: target.length };
}

/** Writes u64 field `index` of a little-endian struct viewed as u32 halves. */
function setU64(words: Uint32Array, index: number, value: number): void {
  words[index * 2] = value % 0x1_0000_0000;
  words[index * 2 + 1] = Math.floor(value / 0x1_0000_0000);
}

/** Reads u64 field `index` of a little-endian struct viewed as u32 halves. */
function getU64(words: Uint32Array, index: number): number {
  return words[index * 2]! + words[index * 2 + 1]! * 0x1_0000_0000;
}

function checkOffset(offset: number, targetLength: number): void {
  if (!Number.isSafeInteger(offset) || offset < 0 || offset % PAGE_SIZE !== 0) {
    throw new InvalidArgumentError(`options.offset ${offset} is not a non-negative multiple of the ${PAGE_SIZE}-byte page size`);
  }
  if (offset > targetLength) {
    throw new InvalidArgumentError(`options.offset ${offset} is past the end of the ${targetLength}-byte target`);
  }
}

function rangeEnd(offset: number, length: number | undefined, targetLength: number): number {
  const limit = Math.ceil(targetLength / PAGE_SIZE) * PAGE_SIZE;
  if (length === undefined) return limit;
  checkCount('options.length', length, 0);
  const end = Math.ceil((offset + length) / PAGE_SIZE) * PAGE_SIZE;
  if (offset + length > targetLength) {
    throw new InvalidArgumentError(
      `options.offset + options.length = ${offset + length} is past the end of the ${targetLength}-byte target`,
    );
  }
  return Math.min(end, limit);
}

function checkCount(name: string, value: number, min: number): number {
  if (!Number.isSafeInteger(value) || value < min) {
    throw new InvalidArgumentError(`${name} must be an integer of at least ${min}, not ${String(value)}`);
  }
  return value;
}

function scanError(errno: number, flags: number) {
  const name = errnoName(errno);
  return syscallError('ioctl(PAGEMAP_SCAN)', errno, {
    EPERM:
      (flags & PM_SCAN_CHECK_WPASYNC) !== 0
        ? 'checkWpAsync: part of the range is not registered with userfaultfd WP_ASYNC'
        : 'the scan was refused (a seccomp filter or sandbox)',
    EINVAL: 'the kernel rejected the scan arguments (unaligned start, or an unsupported flag)',
    EFAULT: 'the range or the region buffer is not mapped',
    ENOTTY: 'this kernel has no PAGEMAP_SCAN ioctl (Linux 6.7 or later is needed)',
    default: `unexpected ${name}`,
  });
}
