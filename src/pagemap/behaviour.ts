/**
 * Which of the kernel behaviours that differ between Linux hosts this one has, probed once per
 * process on a scratch mapping. cowpool's resets depend on none of them (see `memory/image.ts`);
 * they are measured so that the self-check, `cowpool inspect`, the benchmarks and the tests can say
 * what kind of host they ran on, and so that a test asserts a kernel's particular behaviour only
 * after asking which one it has.
 *
 * - The shared zero page: most kernels map it on a read fault of untouched anonymous memory
 *   (category PFNZERO, no memory used); some do not (`pvm_no_zero_page=1`, s390 KVM guests) and
 *   give each read its own private zeroed page.
 * - `PAGE_IS_WRITTEN` outside userfaultfd write-protect ranges: kernels up to 2026 report it for
 *   every present page there; newer ones narrow it to uffd-wp ranges and report it never. cowpool
 *   never scans for it.
 */
import { mmapAnonymous, munmap, PAGE_SIZE, viewAt } from '../sys/index.js';
import { Category } from './categories.js';
import { PageMap } from './pagemap.js';
import { pagemapSupport } from './support.js';

/** The outcome of {@link kernelBehaviour}; `undefined` where it could not be probed (no PAGEMAP_SCAN). */
export interface KernelBehaviour {
  /** True when a read of untouched anonymous memory maps the shared zero page. */
  zeroPage: boolean | undefined;
  /**
   * How `PAGE_IS_WRITTEN` is reported outside uffd-wp ranges: for every present page (a written
   * page and a page only read alike), or never.
   */
  writtenOutsideUffd: 'every-present-page' | 'never' | undefined;
  /** The behaviours in words, e.g. `shared zero page on read faults; WRITTEN reported for every present page`. */
  description: string;
}

let cached: KernelBehaviour | undefined;

/** Probes the behaviours once per process and returns the cached answer after that. */
export function kernelBehaviour(): KernelBehaviour {
  cached ??= probe();
  return cached;
}

function probe(): KernelBehaviour {
  const support = pagemapSupport();
  const needed = Category.PRESENT | Category.PFNZERO | Category.WRITTEN;
  if (support.supported && (support.categories & needed) !== needed) {
    return {
      zeroPage: undefined,
      writtenOutsideUffd: undefined,
      description: 'page behaviours unknown (this kernel lacks PFNZERO or WRITTEN)',
    };
  }
  if (!support.supported) {
    return {
      zeroPage: undefined,
      writtenOutsideUffd: undefined,
      description: `page behaviours unknown (PAGEMAP_SCAN unavailable: ${support.reason})`,
    };
  }
  const length = 2 * PAGE_SIZE;
  const address = mmapAnonymous(length);
  try {
    // SAFETY: a fresh private anonymous mapping of our own, two pages long, unmapped below.
    const bytes = new Uint8Array(viewAt(address, length));
    const sink = bytes[0]!;
    bytes[PAGE_SIZE] = sink + 1;
    const returnMask = Category.PRESENT | Category.PFNZERO | Category.WRITTEN;
    const { regions } = PageMap.open().scan({ address, length }, { categoryMask: Category.PRESENT, returnMask });
    const categoriesOf = (offset: number) => regions.find((r) => r.start <= offset && offset < r.end)?.categories ?? 0;
    const read = categoriesOf(0);
    const written = categoriesOf(PAGE_SIZE);
    const zeroPage = (read & Category.PFNZERO) !== 0;
    const writtenOutsideUffd = (written & Category.WRITTEN) !== 0 ? 'every-present-page' : 'never';
    return {
      zeroPage,
      writtenOutsideUffd,
      description:
        `${zeroPage ? 'shared zero page on read faults' : 'no shared zero page (a read fault makes a private page)'}; ` +
        `WRITTEN ${writtenOutsideUffd === 'never' ? 'never reported outside uffd-wp' : 'reported for every present page'}`,
    };
  } finally {
    munmap(address, length);
  }
}
