/**
 * Path resolution: what a guest path names beneath a directory, walked one component at a time and
 * never leaving it, in every mode of a preopen. `..` above the start directory, absolute paths and
 * symlinks leading out answer ENOTCAPABLE, loops ELOOP; symlinks are expanded here, by hand, so the
 * host never follows one for the guest. Host paths are built only from what the walk found: real
 * directory names. The limits of doing this above the kernel are stated in `preopen-fs.ts`.
 *
 * Also here: {@link lookup}, one name in one directory (an overlay directory's own entries over the
 * host directory beneath it), and {@link resolveBeneath}, the same walk over a host directory for
 * callers that want a host path.
 */
import { lstatSync, readlinkSync, type BigIntStats } from 'node:fs';
import { isAbsolute, relative, sep } from 'node:path';
import { Errno, type ErrnoValue } from '../abi.js';
import { fail } from '../errno-error.js';
import { HostNode, hostPath, isDirectory, isSymlink, lookupHost, WHITEOUT, type DirNode, type FsNode } from './fs-node.js';

/** The most symlinks one resolution expands before giving up with ELOOP (Linux's limit). */
const MAX_SYMLINKS = 40;
/** Longest guest path accepted, in UTF-16 code units (Linux PATH_MAX is 4096 bytes). */
const MAX_PATH_LENGTH = 4096;

/** A guest path resolved beneath a directory fd. */
export interface Resolved {
  /** The directory holding the final component; undefined when the path names the start directory itself (`.`). */
  readonly parent: DirNode | undefined;
  /** The final component (`.` when {@link parent} is undefined). */
  readonly name: string;
  /** What the final component names, or undefined when it does not exist (yet). */
  readonly node: FsNode | undefined;
  /** The path ended in `/` (or a symlink to `dir/`): it must name a directory. */
  readonly mustBeDirectory: boolean;
}

/** The entry `name` of `dir`, or undefined. Nothing is allocated in the overlay for a lookup. */
export function lookup(dir: DirNode, name: string): FsNode | undefined {
  if (dir.kind === 'host') return lookupHost(dir.path, name, dir);
  const own = dir.entries.get(name);
  if (own === WHITEOUT) return undefined;
  if (own !== undefined) return own;
  return dir.lower === undefined ? undefined : lookupHost(dir.lower, name, dir);
}

/** The target of a symlink node; EINVAL for anything else. */
export function readlink(node: FsNode): string {
  if (node.kind === 'symlink') return node.target;
  if (node.kind === 'host') return readlinkSync(node.path);
  return fail(Errno.INVAL);
}

/**
 * Resolves `path` beneath `start` (never above it). Returns an errno instead of throwing:
 * ENOTCAPABLE for an absolute path, a `..` above `start` or a symlink leading out of it; ENOENT
 * when a directory on the way is missing (a missing final component is `node: undefined`);
 * ENOTDIR, ELOOP, ENAMETOOLONG, EILSEQ (a NUL) as the kernel would.
 *
 * @param followFinal whether a symlink as the last component is followed (LOOKUPFLAGS_SYMLINK_FOLLOW).
 */
export function resolvePath(start: DirNode, path: string, followFinal: boolean): Resolved | ErrnoValue {
  if (path.length === 0) return Errno.NOENT;
  if (path.length > MAX_PATH_LENGTH) return Errno.NAMETOOLONG;
  if (path.includes('\0')) return Errno.ILSEQ;
  if (path.startsWith('/')) return Errno.NOTCAPABLE;

  // A trailing slash (or `/.`, `/..`), as in POSIX, demands that the final component be a directory.
  let mustBeDirectory = /(^|\/)(\.|\.\.)?$/.test(path) || path.endsWith('/.');
  const queue: string[] = [];
  pushComponents(queue, path);
  const stack: DirNode[] = [start];
  let symlinks = 0;
  let parent: DirNode | undefined;
  let name = '.';
  let node: FsNode | undefined = start;

  while (queue.length > 0) {
    const component = queue.pop() as string;
    const isLast = queue.length === 0;
    const top = stack[stack.length - 1] as DirNode;
    if (component === '..') {
      if (stack.length === 1) return Errno.NOTCAPABLE;
      stack.pop();
      parent = undefined;
      name = '.';
      node = stack[stack.length - 1];
      continue;
    }
    const child = lookup(top, component);
    if (child === undefined) {
      if (!isLast) return Errno.NOENT;
      return { parent: top, name: component, node: undefined, mustBeDirectory };
    }
    if (isSymlink(child) && (!isLast || followFinal || mustBeDirectory)) {
      if (++symlinks > MAX_SYMLINKS) return Errno.LOOP;
      let target = readlink(child);
      if (target.length === 0) return Errno.NOENT;
      if (isLast && (target.endsWith('/') || target.endsWith('/.'))) mustBeDirectory = true;
      if (target.startsWith('/')) {
        // An absolute link is a host path: acceptable only if it lands inside the start directory.
        const base = start.kind === 'host' ? start.path : start.lower;
        if (child.kind !== 'host' || base === undefined) return Errno.NOTCAPABLE;
        const inside = relative(base, target);
        if (inside === '..' || inside.startsWith('..' + sep) || isAbsolute(inside)) return Errno.NOTCAPABLE;
        stack.length = 1;
        target = inside === '' ? '.' : inside;
      }
      pushComponents(queue, target);
      if (queue.length === 0) {
        // The link pointed at `.` of where it lives: the directory on top of the stack.
        parent = undefined;
        name = '.';
        node = stack[stack.length - 1];
      }
      continue;
    }
    if (!isLast) {
      if (!isDirectory(child)) return Errno.NOTDIR;
      stack.push(child as DirNode);
      continue;
    }
    parent = top;
    name = component;
    node = child;
  }
  if (node !== undefined && mustBeDirectory && !isDirectory(node)) return Errno.NOTDIR;
  return { parent, name, node, mustBeDirectory };
}

/** A path that resolved inside its directory. */
export interface ResolvedPath {
  /** Host path: the directory's real path joined with the real components beneath it. */
  readonly hostPath: string;
  /** lstat of the final component, or undefined when only the final component is missing. */
  readonly stats: BigIntStats | undefined;
}

/**
 * Resolves `guestPath` beneath the host directory whose real path is `root`, as
 * {@link resolvePath} does (same errnos; a missing final component is `stats: undefined`).
 *
 * @param followFinalSymlink whether a symlink as the last component is followed (LOOKUPFLAGS_SYMLINK_FOLLOW).
 */
export function resolveBeneath(root: string, guestPath: string, followFinalSymlink: boolean): ResolvedPath | ErrnoValue {
  const at = resolvePath(new HostNode(root, lstatSync(root, { bigint: true })), guestPath, followFinalSymlink);
  if (typeof at === 'number') return at;
  // Beneath a host directory every node is a host entry: no overlay is involved.
  if (at.node !== undefined) {
    const node = at.node as HostNode;
    return { hostPath: node.path, stats: node.stats };
  }
  return { hostPath: hostPath((at.parent as HostNode).path, at.name), stats: undefined };
}

/** Pushes the components of `path` so that `queue.pop()` yields them in order; `''` and `.` name nothing. */
function pushComponents(queue: string[], path: string): void {
  const parts = path.split('/');
  for (let i = parts.length - 1; i >= 0; i--) {
    const part = parts[i] as string;
    if (part !== '' && part !== '.') queue.push(part);
  }
}
