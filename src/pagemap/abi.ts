/**
 * The kernel ABI of `PAGEMAP_SCAN` (Linux 6.7+). Debian 12's headers predate it, so it is stated
 * here. `struct pm_scan_arg` is 12 little-endian u64 fields (96 bytes); `struct page_region` is
 * 3 u64 fields.
 */

/** `_IOWR('f', 16, struct pm_scan_arg)`. */
export const PAGEMAP_SCAN = 0xc0606610;

/** `sizeof(struct pm_scan_arg)`. */
export const ARG_SIZE = 96;

/** Index of each field of `struct pm_scan_arg` in a BigUint64Array. */
export const Arg = {
  size: 0,
  flags: 1,
  start: 2,
  end: 3,
  walkEnd: 4,
  vec: 5,
  vecLen: 6,
  maxPages: 7,
  categoryInverted: 8,
  categoryMask: 9,
  categoryAnyOf: 10,
  returnMask: 11,
} as const;

/** u64 fields per `struct page_region`: start, end, categories. */
export const REGION_FIELDS = 3;

/** `PM_SCAN_WP_MATCHING`: write-protect the matching pages (userfaultfd WP_ASYNC ranges). */
export const PM_SCAN_WP_MATCHING = 1 << 0;
/** `PM_SCAN_CHECK_WPASYNC`: fail with EPERM if part of the range is not registered for WP_ASYNC. */
export const PM_SCAN_CHECK_WPASYNC = 1 << 1;
