/**
 * The bytes one use may hold in its overlays: file contents plus a small charge per node, so that
 * neither one huge file nor a million empty ones can exhaust the host's memory. Past the limit the
 * guest gets ENOSPC, as from a full disk.
 */

import { Errno } from '../abi.js';
import { fail } from '../errno-error.js';

/** What each created node (file, directory, symlink, whiteout) costs besides its name and bytes. */
export const NODE_OVERHEAD = 128;

/** Default {@link OverlayBudget} limit: 64 MiB per use. */
export const DEFAULT_OVERLAY_LIMIT = 64 * 1024 * 1024;

/** Counts the bytes held by the overlays of one host during one use. */
export class OverlayBudget {
  readonly limit: number;
  #used = 0;

  constructor(limit: number) {
    this.limit = limit;
  }

  /** Bytes held now. */
  get used(): number {
    return this.#used;
  }

  /** Takes `bytes` (negative gives back); throws ENOSPC, taking nothing, when that would pass the limit. */
  charge(bytes: number): void {
    const next = this.#used + bytes;
    if (bytes > 0 && next > this.limit) fail(Errno.NOSPC);
    this.#used = next < 0 ? 0 : next;
  }

  /** Forgets everything (the overlays were dropped). */
  reset(): void {
    this.#used = 0;
  }
}
