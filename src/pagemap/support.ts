/**
 * Does this process have a working `PAGEMAP_SCAN`? Probed once per process, with a null range
 * (start = end = 0) so that nothing is walked.
 *
 * Wasmtime probes with every category bit at once; a 6.7 kernel rejects `SOFT_DIRTY` (added in 6.8)
 * and so looks unsupported although the scan cowpool needs works. Here the probe uses only the
 * bits a reset needs, then tries each other bit alone to report exactly which ones are accepted.
 */
import { addressOf, errnoName, ioctl, nativeSupport, openReadOnly } from '../sys/index.js';
import { ARG_SIZE, Arg, PAGEMAP_SCAN, REGION_FIELDS } from './abi.js';
import { Category, type Categories } from './categories.js';

/** The outcome of the probe. */
export interface PagemapSupport {
  /** True when `PAGEMAP_SCAN` works with the categories a reset needs. */
  supported: boolean;
  /** Why not, when unsupported: the errno and what it means, e.g. `ENOTTY: kernel older than 6.7`. */
  reason?: string;
  /** The category bits this kernel accepts (0 when unsupported). */
  categories: Categories;
}

/**
 * The bits a cowpool reset scans with (a dirty page is private: not FILE, and PRESENT or SWAPPED);
 * the probe requires exactly these. Not WRITTEN, which newer kernels report only in uffd-wp ranges.
 */
export const RESET_CATEGORIES: Categories = Category.FILE | Category.PRESENT | Category.SWAPPED;

const PROC_PAGEMAP = '/proc/self/pagemap';

let fd: number | undefined;
let cached: PagemapSupport | undefined;

/**
 * The process's one `/proc/self/pagemap` descriptor, opened on first use and kept for the life of
 * the process (a worker thread adopts the main thread's, see {@link adoptPagemap}). A pagemap
 * descriptor reads the page tables of the process that opened it (every thread's: they share one
 * address space); Node never forks without exec, so it cannot end up scanning a parent's memory.
 */
export function pagemapDescriptor(): number {
  fd ??= openReadOnly(PROC_PAGEMAP);
  return fd;
}

/**
 * The process's pagemap descriptor and the probe's answer, as another thread receives them: a
 * worker thread scans with the descriptor the main thread opened instead of opening its own, which
 * it could not close if it were terminated (and which would cost one descriptor per thread).
 */
export interface SharedPagemap {
  /** The descriptor, or undefined when `PAGEMAP_SCAN` is unsupported here (then none was opened). */
  fd: number | undefined;
  support: PagemapSupport;
}

/** Probes (opening the descriptor when supported) and returns what a worker thread needs to adopt. */
export function sharePagemap(): SharedPagemap {
  const support = pagemapSupport();
  return { fd: support.supported ? pagemapDescriptor() : undefined, support };
}

/**
 * In a worker thread, before anything scans: uses the main thread's descriptor and probe answer
 * ({@link sharePagemap}). The descriptor stays the main thread's: this thread never closes it.
 */
export function adoptPagemap(shared: SharedPagemap): void {
  if (fd === undefined) fd = shared.fd;
  cached ??= shared.support;
}

/** Probes `PAGEMAP_SCAN` support once per thread and returns the cached answer after that. */
export function pagemapSupport(): PagemapSupport {
  cached ??= probe();
  return cached;
}

function probe(): PagemapSupport {
  const native = nativeSupport();
  if (!native.available) return { supported: false, reason: native.reason, categories: 0 };
  if (process.platform !== 'linux') {
    return { supported: false, reason: `PAGEMAP_SCAN is Linux-only; this is ${process.platform}`, categories: 0 };
  }
  let descriptor: number;
  try {
    descriptor = pagemapDescriptor();
  } catch (err) {
    const code = (err as { errno?: string }).errno ?? 'error';
    return {
      supported: false,
      reason: `${code}: cannot open ${PROC_PAGEMAP} (is /proc mounted and visible in this sandbox?)`,
      categories: 0,
    };
  }
  const base = tryMask(descriptor, RESET_CATEGORIES);
  if (base !== 0) return { supported: false, reason: explain(base), categories: 0 };
  let categories = RESET_CATEGORIES;
  for (const bit of Object.values(Category)) {
    if ((categories & bit) === 0 && tryMask(descriptor, bit) === 0) categories |= bit;
  }
  return { supported: true, categories };
}

/** Runs a null-range scan with `mask` as category and return mask; returns 0 or the negated errno. */
function tryMask(descriptor: number, mask: Categories): number {
  const arg = new BigUint64Array(ARG_SIZE / 8);
  const regions = new BigUint64Array(REGION_FIELDS);
  arg[Arg.size] = BigInt(ARG_SIZE);
  arg[Arg.vec] = addressOf(regions.buffer);
  arg[Arg.vecLen] = 1n;
  arg[Arg.maxPages] = 1n;
  arg[Arg.categoryMask] = BigInt(mask);
  arg[Arg.returnMask] = BigInt(mask);
  const result = ioctl(descriptor, PAGEMAP_SCAN, addressOf(arg.buffer));
  return result < 0 ? result : 0;
}

function explain(negatedErrno: number): string {
  const name = errnoName(-negatedErrno);
  switch (name) {
    case 'ENOTTY':
      return 'ENOTTY: this kernel has no PAGEMAP_SCAN ioctl (Linux 6.7 or later is needed)';
    case 'EINVAL':
      return 'EINVAL: the kernel rejected the scan arguments (a kernel without the categories cowpool needs)';
    case 'EPERM':
    case 'EACCES':
      return `${name}: PAGEMAP_SCAN was refused (a seccomp filter or sandbox)`;
    default:
      return `${name}: PAGEMAP_SCAN failed during the probe`;
  }
}
