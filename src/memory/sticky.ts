/**
 * When to let go of the "sticky" set.
 *
 * A page restored in place by a `pagemap` reset stays a private copy, so every later scan reports it
 * again whether or not a request wrote it: the scanned set is the union of every page written since
 * the last full decommit, and its restore cost grows with it. A full decommit (`madvise` of the whole
 * span) empties the set, at the price of a page fault for each page the next requests write.
 *
 * The rule: the scan that follows a full decommit sees exactly what one request wrote; those counts
 * feed an average `w` of the real write set. When the sticky set `s` grows past `2w + 16` pages, the
 * next reset decommits everything instead of scanning, so that per-request cost follows the real
 * working set and never more than about `w + 16` pages are copied for nothing. Every 1024 resets the
 * set is dropped anyway so that `w` follows a workload whose write set shrinks.
 */

const SLACK_PAGES = 16;
const REFRESH_EVERY = 1024;
const WEIGHT = 0.25;

/** Tracks the sticky set of one slot and decides when to decommit it. */
export class StickyPolicy {
  #writeSet = -1;
  #sticky = 0;
  #fresh = true;
  #sinceDecommit = 0;

  /** True when the next reset should decommit the whole memory instead of scanning it. */
  shouldDecommit(): boolean {
    if (this.#fresh) return false;
    if (this.#sinceDecommit >= REFRESH_EVERY) return true;
    return this.#writeSet >= 0 && this.#sticky > 2 * this.#writeSet + SLACK_PAGES;
  }

  /** Records a scan that found `pages` dirty pages, all of which now stay resident. */
  scanned(pages: number): void {
    if (this.#fresh) {
      this.#writeSet = this.#writeSet < 0 ? pages : this.#writeSet + WEIGHT * (pages - this.#writeSet);
      this.#fresh = false;
    }
    this.#sticky = pages;
    this.#sinceDecommit++;
  }

  /** Records a full decommit: no private page remains. */
  decommitted(): void {
    this.#sticky = 0;
    this.#fresh = true;
    this.#sinceDecommit = 0;
  }

  /** The average number of pages one use really writes, or -1 before the first measurement. */
  get writeSet(): number {
    return this.#writeSet;
  }

  /** Pages that stay private between uses (reported by every scan). */
  get sticky(): number {
    return this.#sticky;
  }
}
