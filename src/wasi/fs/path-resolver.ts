// Resolution of a guest path beneath a host directory, for callers that want host paths: the walk
// itself is PreopenFs.resolve (one component at a time, symlinks expanded by hand, never leaving the
// directory); this wraps it over a read-only view of `root`.

import type { BigIntStats } from 'node:fs';
import type { ErrnoValue } from '../abi.js';
import { OverlayBudget } from './overlay-budget.js';
import { PreopenFs } from './preopen-fs.js';

/** A path that resolved inside its directory. */
export interface ResolvedPath {
  /** Host path: the directory's real path joined with the real components beneath it. */
  readonly hostPath: string;
  /** lstat of the final component, or undefined when only the final component is missing. */
  readonly stats: BigIntStats | undefined;
}

const kNoBudget = new OverlayBudget(0);
const kNoClock = (): bigint => 0n;

/**
 * Resolves `guestPath` beneath the directory whose real host path is `root`.
 *
 * Returns an errno instead of throwing: ENOTCAPABLE for an absolute path, a `..` above `root` or a
 * symlink leading out of it; ENOENT when a directory on the way is missing (a missing final
 * component is reported as `stats: undefined`); ENOTDIR, ELOOP, ENAMETOOLONG, EILSEQ (a NUL in the
 * path) as the kernel would.
 *
 * @param followFinalSymlink whether a symlink as the last component is followed (LOOKUPFLAGS_SYMLINK_FOLLOW).
 */
export function resolveBeneath(root: string, guestPath: string, followFinalSymlink: boolean): ResolvedPath | ErrnoValue {
  const fs = new PreopenFs(root, 'readonly', kNoBudget, kNoClock);
  const at = fs.resolve(fs.root, guestPath, followFinalSymlink);
  if (typeof at === 'number') return at;
  if (at.node !== undefined) {
    const node = at.node as { path: string; stats: BigIntStats };
    return { hostPath: node.path, stats: node.stats };
  }
  const parent = at.parent as { path: string };
  return { hostPath: parent.path.endsWith('/') ? parent.path + at.name : `${parent.path}/${at.name}`, stats: undefined };
}
