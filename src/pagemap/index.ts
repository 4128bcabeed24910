/**
 * `cowpool/pagemap`: a typed binding of Linux's `PAGEMAP_SCAN` ioctl (Linux 6.7+), which reports
 * in one call which pages of a range are present, written, file-backed, swapped, the zero page, …
 *
 * ```ts
 * import { PageMap, Category, pagemapSupport } from 'cowpool/pagemap';
 * if (pagemapSupport().supported) {
 *   const memory = new WebAssembly.Memory({ initial: 1 });
 *   new Uint8Array(memory.buffer)[8192] = 1;
 *   const { regions } = PageMap.open().scan(memory.buffer, {
 *     categoryInverted: Category.PFNZERO,
 *     categoryMask: Category.PFNZERO,
 *     categoryAnyOf: Category.PRESENT | Category.SWAPPED,
 *     returnMask: 0,
 *   });
 *   // regions: [{ start: 8192, end: 12288, categories: 0 }]
 * }
 * ```
 */
export { Category, ALL_CATEGORIES, categoryNames, type Categories } from './categories.js';
export { pagemapSupport, RESET_CATEGORIES, type PagemapSupport } from './support.js';
export { kernelBehaviour, type KernelBehaviour } from './behaviour.js';
export {
  PageMap,
  PreparedScan,
  type RegionVisitor,
  type ScanOptions,
  type ScanRegion,
  type ScanResult,
  type ScanStop,
  type ScanSummary,
  type ScanTarget,
} from './pagemap.js';
