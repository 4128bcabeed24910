/**
 * The host memory one use may hold through its file system, and what each thing held costs. A
 * guest must not be able to take the host's memory by any route: one huge file, a million empty
 * ones, long names, hard links, files unlinked while a descriptor keeps them open, directory
 * listings read again and again through many descriptors. So every object the overlay keeps for a
 * use is charged while it is kept and given back when the last thing referring to it goes:
 *
 *     a name in a directory (a whiteout too)   ENTRY_OVERHEAD + 2 bytes per character, while the name exists
 *     a file, symlink or directory             NODE_OVERHEAD + its bytes (a file's buffer, as allocated,
 *                                              not its size), while a name or an open descriptor holds it
 *     a directory listing (fd_readdir)         LISTED_OVERHEAD + name bytes per entry, while its fd keeps it
 *
 * The overheads were measured on V8 (Node 20: about 330 bytes of heap per empty file or directory
 * besides its name, 90 per name) and rounded up. Past the limit the guest gets ENOSPC for a change
 * (a full disk) and ENOMEM for a listing; the next use has the whole budget again.
 *
 * What is not charged is bounded elsewhere: descriptors (at most `MAX_OPEN_FDS`, `fd-table.ts`),
 * the empty directories that removal leaves reachable only through such descriptors, and host
 * files, which stay on the host until a change copies them in (and are charged then).
 */

import { InternalError } from '../../errors.js';
import { Errno, type ErrnoValue } from '../abi.js';
import { fail } from '../errno-error.js';
import type { MemEntry, MemFile, MemLink } from './fs-node.js';

/** What each node (file, directory, symlink) costs besides its bytes: its objects on V8's heap. */
export const NODE_OVERHEAD = 384;

/** What each name in a directory (a whiteout too) costs besides its characters: a Map entry and a string. */
export const ENTRY_OVERHEAD = 128;

/** What each entry of a directory listing held for fd_readdir costs besides its name's bytes. */
export const LISTED_OVERHEAD = 128;

/** Default {@link OverlayBudget} limit: 64 MiB per use. */
export const DEFAULT_OVERLAY_LIMIT = 64 * 1024 * 1024;

/** What the name `name` costs in a directory (JavaScript strings take up to 2 bytes per character). */
export function entryCost(name: string): number {
  return ENTRY_OVERHEAD + 2 * name.length;
}

/** What `node` itself holds: its objects and its bytes (its names are charged apart: {@link entryCost}). */
export function nodeCost(node: MemEntry): number {
  if (node.kind === 'file') return NODE_OVERHEAD + node.data.length;
  if (node.kind === 'symlink') return NODE_OVERHEAD + 2 * node.target.length;
  return NODE_OVERHEAD;
}

/** Counts the bytes held by the file system of one host during one use. */
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

  /** Bytes that can still be taken. */
  get available(): number {
    return this.limit - this.#used;
  }

  /**
   * Takes `bytes`; throws `errno` (ENOSPC unless told otherwise), taking nothing, when that would
   * pass the limit. Call it before the change it pays for, so that a refused change changes nothing.
   */
  charge(bytes: number, errno: ErrnoValue = Errno.NOSPC): void {
    if (bytes <= 0) return;
    if (this.#used + bytes > this.limit) fail(errno);
    this.#used += bytes;
  }

  /** Gives back `bytes` taken earlier by {@link charge}. */
  release(bytes: number): void {
    if (bytes > this.#used) {
      // More given back than was taken: the accounting lost track, and the limit could be passed.
      throw new InternalError(`the overlay budget gave back ${bytes} bytes but held only ${this.#used}`);
    }
    this.#used -= bytes;
  }

  /**
   * Gives back what a file or symlink costs if nothing refers to it any more: no name and, for a
   * file, no open descriptor. Called where one of those goes (an unlink, a replacing rename, a close).
   */
  releaseIfUnreferenced(node: MemFile | MemLink): void {
    if (node.nlink > 0n || (node.kind === 'file' && node.handles > 0)) return;
    this.release(nodeCost(node));
  }

  /** Forgets everything (the use ended: everything it held was dropped). */
  reset(): void {
    this.#used = 0;
  }
}
