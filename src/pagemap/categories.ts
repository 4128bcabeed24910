/**
 * Page categories of the `PAGEMAP_SCAN` ioctl (`PAGE_IS_*` in the kernel's `uapi/linux/fs.h`).
 * A scan selects pages by these bits and reports, for each run of pages, which of the requested
 * bits they share.
 */

/** The `PAGE_IS_*` category bits. */
export const Category = {
  /**
   * The page is write-protected by userfaultfd in asynchronous mode (`UFFD_FEATURE_WP_ASYNC`), so a
   * write to it will be recorded. Only meaningful for ranges registered with userfaultfd WP.
   */
  WPALLOWED: 1 << 0,
  /**
   * The page was written since it was last write-protected through userfaultfd WP_ASYNC. Without
   * such a registration the kernel reports every present or swapped page as written.
   */
  WRITTEN: 1 << 1,
  /** The page maps a file's page-cache page (not anonymous memory): e.g. a read-only view of an image. */
  FILE: 1 << 2,
  /** The page is present in RAM (mapped by the page table). */
  PRESENT: 1 << 3,
  /** The page is swapped out (or is a migration entry): its contents exist but are not in RAM. */
  SWAPPED: 1 << 4,
  /** The page maps the kernel's shared zero page: it was read but never written. */
  PFNZERO: 1 << 5,
  /** The page is part of a transparent huge page or hugetlb page. */
  HUGE: 1 << 6,
  /** The page is soft-dirty (written since soft-dirty bits were last cleared). Linux 6.8 and later. */
  SOFT_DIRTY: 1 << 7,
  /** The page is a `MADV_GUARD_INSTALL` guard marker. Linux 6.15 and later. */
  GUARD: 1 << 8,
} as const;

/** A combination of {@link Category} bits. */
export type Categories = number;

/** Every category bit cowpool knows. A bit outside this set is rejected before the kernel sees it. */
export const ALL_CATEGORIES: Categories = Object.values(Category).reduce((a, b) => a | b, 0);

/** The names of the bits set in `categories`, e.g. `['WRITTEN', 'PRESENT']`. */
export function categoryNames(categories: Categories): string[] {
  return Object.entries(Category)
    .filter(([, bit]) => (categories & bit) !== 0)
    .map(([name]) => name);
}
