// Resolution of a guest path beneath a directory the guest holds, without ever leaving it.
//
// The guest names files relative to a directory fd (wasi-libc turns `/data/x` into "preopen /data,
// path x"). A lexical check alone is not enough: a symlink inside the directory may point anywhere
// on the host. So the path is walked one component at a time, as the kernel would, with lstat on
// each step and symlinks expanded by hand; `..` pops the stack of real components and may not pop
// past the directory itself. Only then is the host path used.
//
//   root (real path of the dir fd)       stack of real components       queue of what is left
//   /srv/data                            ['sub']                        ['link', 'file']
//                     link -> ../other   ==> queue ['..', 'other', 'file']
//
// Limits stated plainly: the walk and the final open are separate steps, so a host process that
// swaps a directory for a symlink between them could race it. The final component is opened with
// O_NOFOLLOW, and the preopened directories are the operator's, not the guest's (the guest cannot
// create anything: this host is read-only). Hard links to files outside cannot be detected.

import { lstatSync, readlinkSync, type BigIntStats } from 'node:fs';
import { isAbsolute, relative, sep } from 'node:path';
import { Errno, type ErrnoValue } from './abi.js';
import { errnoFromHostError, isHostSystemError } from './host-errno.js';

/** The most symlinks one resolution expands before giving up with ELOOP (Linux's limit). */
const kMaxSymlinks = 40;
/** Longest guest path accepted, in UTF-16 code units (Linux PATH_MAX is 4096 bytes). */
const kMaxPathLength = 4096;

/** A path that resolved inside its directory. */
export interface ResolvedPath {
  /** Host path: the directory's real path joined with the real components beneath it. */
  readonly hostPath: string;
  /** lstat of the final component, or undefined when only the final component is missing. */
  readonly stats: BigIntStats | undefined;
}

/**
 * Resolves `guestPath` beneath the directory whose real host path is `root`.
 *
 * Returns an errno instead of throwing: ENOTCAPABLE for an absolute path, a `..` above `root` or a
 * symlink leading out of it; ENOENT when a directory on the way is missing (a missing final
 * component is reported as `stats: undefined` so callers can say EROFS or ENOENT as fits);
 * ENOTDIR, ELOOP, ENAMETOOLONG, EILSEQ (a NUL in the path) as the kernel would.
 *
 * @param followFinalSymlink whether a symlink as the last component is followed (LOOKUPFLAGS_SYMLINK_FOLLOW).
 */
export function resolveBeneath(root: string, guestPath: string, followFinalSymlink: boolean): ResolvedPath | ErrnoValue {
  if (guestPath.length === 0) return Errno.NOENT;
  if (guestPath.length > kMaxPathLength) return Errno.NAMETOOLONG;
  if (guestPath.includes('\0')) return Errno.ILSEQ;
  if (guestPath.startsWith('/')) return Errno.NOTCAPABLE;

  // A trailing slash (or `/.`), as in POSIX, demands that the final component be a directory.
  let mustBeDirectory = guestPath.endsWith('/') || guestPath.endsWith('/.') || guestPath === '.';
  const queue: string[] = [];
  pushComponents(queue, guestPath);
  const stack: string[] = [];
  let symlinks = 0;
  let stats: BigIntStats | undefined;

  while (queue.length > 0) {
    const component = queue.pop() as string;
    if (component === '..') {
      if (stack.length === 0) return Errno.NOTCAPABLE;
      stack.pop();
      stats = undefined;
      continue;
    }
    const candidate = joinHost(root, stack, component);
    const isLast = queue.length === 0;
    let entry: BigIntStats | undefined;
    try {
      entry = lstatSync(candidate, { bigint: true, throwIfNoEntry: false });
    } catch (error) {
      if (isHostSystemError(error)) return errnoFromHostError(error);
      throw error;
    }
    if (entry === undefined) {
      if (!isLast) return Errno.NOENT;
      return { hostPath: candidate, stats: undefined };
    }
    if (entry.isSymbolicLink() && (!isLast || followFinalSymlink || mustBeDirectory)) {
      if (++symlinks > kMaxSymlinks) return Errno.LOOP;
      let target: string;
      try {
        target = readlinkSync(candidate);
      } catch (error) {
        if (isHostSystemError(error)) return errnoFromHostError(error);
        throw error;
      }
      if (target.length === 0) return Errno.NOENT;
      if (target.endsWith('/') || target.endsWith('/.')) mustBeDirectory ||= isLast;
      if (target.startsWith('/')) {
        // An absolute link is a host path: acceptable only if it lands inside the root.
        const inside = relative(root, target);
        if (inside === '..' || inside.startsWith('..' + sep) || isAbsolute(inside)) return Errno.NOTCAPABLE;
        stack.length = 0;
        target = inside;
      }
      pushComponents(queue, target);
      stats = undefined;
      continue;
    }
    if (!isLast && !entry.isDirectory()) return Errno.NOTDIR;
    stack.push(component);
    stats = entry;
  }

  const hostPath = stack.length === 0 ? root : joinHost(root, stack.slice(0, -1), stack[stack.length - 1] as string);
  if (stats === undefined) {
    try {
      stats = lstatSync(hostPath, { bigint: true, throwIfNoEntry: false });
    } catch (error) {
      if (isHostSystemError(error)) return errnoFromHostError(error);
      throw error;
    }
  }
  if (stats !== undefined && mustBeDirectory && !stats.isDirectory()) return Errno.NOTDIR;
  return { hostPath, stats };
}

/** Pushes the components of `path` so that `queue.pop()` yields them in order; `''` and `.` name nothing. */
function pushComponents(queue: string[], path: string): void {
  const parts = path.split('/');
  for (let i = parts.length - 1; i >= 0; i--) {
    const part = parts[i] as string;
    if (part !== '' && part !== '.') queue.push(part);
  }
}

function joinHost(root: string, stack: readonly string[], last: string): string {
  const base = root.endsWith('/') ? root : root + '/';
  return stack.length === 0 ? base + last : base + stack.join('/') + '/' + last;
}
