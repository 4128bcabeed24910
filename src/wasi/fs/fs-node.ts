/**
 * The nodes a guest path can name. A preopen's tree is made of host entries (HostNode: a path and
 * its lstat, never cached beyond one call) and, in overlay mode, in-memory nodes that exist only for
 * one use: files, symlinks, and directories that merge their own entries over a host directory.
 *
 *     MemDir { lower: '/srv/data/sub', entries: { 'new.txt': MemFile, 'old.txt': WHITEOUT } }
 *       lookup('new.txt')  -> the MemFile
 *       lookup('old.txt')  -> missing (deleted in this use; the host file is untouched)
 *       lookup('other')    -> whatever /srv/data/sub/other is on the host
 *
 * The lookup itself is `path-resolver.ts`; the overlay that makes and changes in-memory nodes is
 * `overlay.ts`.
 */
import { lstatSync, type BigIntStats } from 'node:fs';

/** Marks a name deleted in this use while the host directory beneath still has it. */
export const WHITEOUT: unique symbol = Symbol('whiteout');

/** Times shared by every in-memory node. */
abstract class MemNode {
  readonly ino: bigint;
  atim: bigint;
  mtim: bigint;
  ctim: bigint;
  constructor(ino: bigint, now: bigint) {
    this.ino = ino;
    this.atim = now;
    this.mtim = now;
    this.ctim = now;
  }
}

/** The backing store of every empty file: nothing is written into a buffer of length 0. */
const NO_DATA = new Uint8Array(0);

/**
 * A regular file held in memory for one use. Shared by every fd and hard link naming it, and kept
 * (with its bytes charged, `overlay-budget.ts`) until the last of them goes: a file unlinked while
 * open still holds its bytes.
 */
export class MemFile extends MemNode {
  readonly kind = 'file' as const;
  /** Backing store, charged by its length; only the first {@link size} bytes are content. */
  data: Uint8Array = NO_DATA;
  size = 0;
  /** Names of this file (hard links); 0 once the last is removed. */
  nlink = 1n;
  /** Descriptors open on it (handles not yet closed). */
  handles = 0;
}

/** A symlink held in memory for one use; hard links may give it several names. */
export class MemLink extends MemNode {
  readonly kind = 'symlink' as const;
  readonly target: string;
  /** Names of this link; 0 once the last is removed. */
  nlink = 1n;
  constructor(ino: bigint, now: bigint, target: string) {
    super(ino, now);
    this.target = target;
  }
}

/**
 * A directory of the overlay: its own entries over an optional host directory (`lower`). A
 * directory the guest created has no lower one; a host directory gets a MemDir with `lower` set
 * when something beneath it changes or a directory fd is opened on it, so that changes have
 * somewhere to live and fds keep naming it wherever it is renamed.
 */
export class MemDir extends MemNode {
  readonly kind = 'directory' as const;
  readonly entries = new Map<string, MemEntry | typeof WHITEOUT>();
  readonly lower: string | undefined;
  /** The directory holding this one; undefined for the preopen's root. */
  parent: MemDir | undefined;
  /** Set by rmdir: nothing can be created in a removed directory. */
  removed = false;
  readonly #lowerSize: bigint;
  constructor(ino: bigint, now: bigint, lower: string | undefined, parent: MemDir | undefined, stats?: BigIntStats) {
    super(ino, now);
    this.lower = lower;
    this.parent = parent;
    this.#lowerSize = stats?.size ?? 4096n;
    if (stats !== undefined) {
      this.atim = stats.atimeNs;
      this.mtim = stats.mtimeNs;
      this.ctim = stats.ctimeNs;
    }
  }
  get size(): bigint {
    return this.#lowerSize;
  }
}

/** Any in-memory node. */
export type MemEntry = MemFile | MemLink | MemDir;

/**
 * An entry of the host directory tree, with the lstat taken when it was looked up, and where it was
 * looked up (`parent`/`name`): the overlay follows that chain to give a host directory a MemDir
 * only when something is about to change beneath it, so a use that only reads allocates none.
 */
export class HostNode {
  readonly kind = 'host' as const;
  readonly path: string;
  readonly stats: BigIntStats;
  /** The directory this entry was found in; undefined for a preopen's root. */
  readonly parent: DirNode | undefined;
  readonly name: string;
  constructor(path: string, stats: BigIntStats, parent?: DirNode, name = '') {
    this.path = path;
    this.stats = stats;
    this.parent = parent;
    this.name = name;
  }
  get isDirectory(): boolean {
    return this.stats.isDirectory();
  }
}

/** Whatever a name can resolve to. */
export type FsNode = MemEntry | HostNode;
/** A directory node (a HostNode only when its stats say directory). */
export type DirNode = MemDir | HostNode;

/** Whether `node` is a directory. */
export function isDirectory(node: FsNode): boolean {
  return node.kind === 'directory' || (node.kind === 'host' && node.stats.isDirectory());
}

/** The inode number of `node` (a host file keeps its own in the overlay). */
export function inoOf(node: FsNode): bigint {
  return node.kind === 'host' ? node.stats.ino : node.ino;
}

/** Whether `node` is a symlink. */
export function isSymlink(node: FsNode): boolean {
  return node.kind === 'symlink' || (node.kind === 'host' && node.stats.isSymbolicLink());
}

/** The host path `dir`/`name`, built from real directory names (never from a guest path). */
export function hostPath(dir: string, name: string): string {
  return dir.endsWith('/') ? dir + name : dir + '/' + name;
}

/**
 * The entry `name` of the host directory at `dir` (its lstat taken now, no symlink followed), found
 * through `parent`; undefined when there is none.
 */
export function lookupHost(dir: string, name: string, parent?: DirNode): HostNode | undefined {
  const path = hostPath(dir, name);
  const stats = lstatSync(path, { bigint: true, throwIfNoEntry: false });
  return stats === undefined ? undefined : new HostNode(path, stats, parent, name);
}
