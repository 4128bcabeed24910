/**
 * The overlay of one preopened directory in `overlay` mode: a writable layer of in-memory nodes
 * (`fs-node.ts`) over the host directory, holding every change a use makes and dropped by
 * {@link Overlay.reset} at the end of the use, so that each use starts from the host directory
 * exactly as it is. The host directory is never written.
 *
 * A host directory gets its MemDir (own entries over the host one, `lower`) only when something
 * beneath it is about to change or a directory fd is opened on it, and a host file is copied in
 * ("copied up") only when it is about to change: a use that only reads allocates nothing. A name
 * deleted while the host still has it is hidden by a WHITEOUT.
 *
 * Everything held is charged to the host's {@link OverlayBudget} (`overlay-budget.ts` lists the
 * costs) before it is made, so that past the limit the guest gets ENOSPC, as from a full disk, and
 * nothing has changed: each name (whiteouts too) while it exists, each node while a name or an open
 * descriptor refers to it. A file whose last name is removed while a descriptor holds it keeps its
 * bytes charged until that descriptor closes, as a kernel keeps an unlinked open file's blocks.
 *
 * The checks every mode shares (EROFS, EEXIST, ENOENT, …) are made by `preopen-fs.ts` before it
 * calls in here; what is left is what only the overlay can refuse (ENOTEMPTY, EINVAL for a
 * directory moved into itself, ESTALE, ENOSPC).
 */
import { closeSync, constants, openSync, readdirSync, readlinkSync, readSync, type BigIntStats } from 'node:fs';
import { Errno } from '../abi.js';
import { fail } from '../errno-error.js';
import { type HostNode, inoOf, isDirectory, lookupHost, MemDir, MemFile, MemLink, WHITEOUT, type DirNode, type FsNode } from './fs-node.js';
import {
  CopyOnWriteFile,
  MemFileHandle,
  openHostFile,
  type CopySource,
  type FileOrigin,
  type OpenFile,
  type TimeUpdate,
} from './open-file.js';
import { entryCost, NODE_OVERHEAD, type OverlayBudget } from './overlay-budget.js';
import type { Resolved } from './path-resolver.js';

/** Inode numbers of nodes created in the overlay start here, far above what file systems hand out. */
const FIRST_OVERLAY_INO = 1n << 48n;

/** The in-memory layer over one host directory; see the module comment. */
export class Overlay implements CopySource {
  /** The preopened directory itself: a MemDir over the host directory, for the host's lifetime. */
  readonly root: MemDir;
  readonly #dev: bigint;
  readonly #budget: OverlayBudget;
  readonly #now: () => bigint;
  readonly #rootTimes: readonly [bigint, bigint, bigint];
  #nextIno = FIRST_OVERLAY_INO;
  #touched = false;
  #copies = 0;

  /** `stats` is the lstat of the host directory at `hostPath`. */
  constructor(hostPath: string, stats: BigIntStats, budget: OverlayBudget, now: () => bigint) {
    this.#dev = stats.dev;
    this.#budget = budget;
    this.#now = now;
    this.#rootTimes = [stats.atimeNs, stats.mtimeNs, stats.ctimeNs];
    this.root = new MemDir(stats.ino, 0n, hostPath, undefined, stats);
  }

  /** Drops every change: the next use sees the host directory as it is. Cheap when nothing was touched. */
  reset(): void {
    if (!this.#touched) return;
    this.root.entries.clear();
    [this.root.atim, this.root.mtim, this.root.ctim] = this.#rootTimes;
    this.#nextIno = FIRST_OVERLAY_INO;
    this.#touched = false;
  }

  /**
   * The MemDir of directory `node`, made now along the chain of directories it was found through
   * if it has none yet. ENOENT when that chain no longer leads to it (deleted or replaced during
   * this use) or it was removed: nothing can be created there.
   */
  directory(node: DirNode | undefined): MemDir {
    if (node === undefined) return fail(Errno.NOENT);
    let dir: MemDir;
    if (node.kind === 'directory') {
      dir = node;
    } else {
      const parent = this.directory(node.parent);
      const entry = parent.entries.get(node.name);
      if (entry instanceof MemDir) {
        dir = entry;
      } else {
        if (entry !== undefined) fail(Errno.NOENT);
        this.#budget.charge(this.#nameCost(parent, node.name) + NODE_OVERHEAD);
        dir = new MemDir(node.stats.ino, 0n, node.path, parent, node.stats);
        parent.entries.set(node.name, dir);
        this.#touched = true;
      }
    }
    if (dir.removed) fail(Errno.NOENT);
    return dir;
  }

  // --- CopySource: what a CopyOnWriteFile asks ------------------------------------------------

  /** Bumped at every copy of a host file into the overlay (see CopySource). */
  get copies(): number {
    return this.#copies;
  }

  /** The overlay's copy of the host file `origin` names, if this use made one. */
  copyOf(origin: FileOrigin): OpenFile | undefined {
    const parent = this.#findDir(origin.parent as DirNode);
    const entry = parent?.entries.get(origin.name);
    return entry instanceof MemFile && entry.ino === inoOf(origin.node as HostNode) ? this.#handle(entry) : undefined;
  }

  /** Copies the host file `origin` names into the overlay, for a change made through an fd opened for reading. */
  copyUp(origin: FileOrigin): OpenFile {
    const parent = this.directory(origin.parent as DirNode);
    // Renamed or deleted in this use: the name no longer leads to the host file.
    if (parent.entries.get(origin.name) !== undefined) fail(Errno.STALE);
    return this.#handle(this.#copyUp(parent, origin.name, origin.node as HostNode, true) as MemFile);
  }

  // --- the changes, after the checks every mode shares ----------------------------------------

  /** A new empty file named by `at` (which names nothing yet). */
  createFile(at: Resolved): OpenFile {
    const parent = this.directory(at.parent);
    this.#budget.charge(this.#nameCost(parent, at.name) + NODE_OVERHEAD);
    const file = new MemFile(this.#ino(), this.#now());
    this.#insert(parent, at.name, file);
    return this.#handle(file);
  }

  /**
   * Opens the existing regular file `node` that `at` names: the overlay's own file, a copy of the
   * host file when the open changes it, else the host file read through a host fd until a change.
   */
  openFile(at: Resolved, node: FsNode, truncate: boolean, changes: boolean): OpenFile {
    if (node.kind === 'file') {
      const handle = this.#handle(node);
      if (truncate) handle.truncate(0);
      return handle;
    }
    if (node.kind !== 'host' || !node.stats.isFile()) fail(Errno.NOTSUP); // FIFOs, sockets, devices
    if (changes) return this.#handle(this.#copyUp(this.directory(at.parent), at.name, node, !truncate) as MemFile);
    const host = openHostFile(node, constants.O_RDONLY, true);
    return new CopyOnWriteFile(host, this, { parent: at.parent, name: at.name, node });
  }

  /** path_create_directory. */
  mkdir(at: Resolved): void {
    const parent = this.directory(at.parent);
    this.#budget.charge(this.#nameCost(parent, at.name) + NODE_OVERHEAD);
    this.#insert(parent, at.name, new MemDir(this.#ino(), this.#now(), undefined, parent));
  }

  /** path_remove_directory of the directory `at` names. */
  rmdir(at: Resolved): void {
    const node = at.node as DirNode;
    const parent = this.directory(at.parent);
    if (!this.#isEmpty(node)) fail(Errno.NOTEMPTY);
    this.#remove(parent, at.name);
    if (node.kind === 'directory') this.#removeDirectory(node);
  }

  /** path_unlink_file of the non-directory `at` names. */
  unlink(at: Resolved): void {
    this.#remove(this.directory(at.parent), at.name);
    this.#dropName(at.node as FsNode);
  }

  /** path_symlink: a link named by `at` holding `target`. */
  symlink(target: string, at: Resolved): void {
    const parent = this.directory(at.parent);
    this.#budget.charge(this.#nameCost(parent, at.name) + NODE_OVERHEAD + 2 * target.length);
    this.#insert(parent, at.name, new MemLink(this.#ino(), this.#now(), target));
  }

  /** path_link: a second name `to` for the non-directory `from` names. */
  link(from: Resolved, to: Resolved): void {
    const node = from.node as FsNode;
    const destination = this.directory(to.parent);
    const shared = (node.kind === 'host' ? this.#copyUp(this.directory(from.parent), from.name, node, true) : node) as MemFile | MemLink;
    this.#budget.charge(this.#nameCost(destination, to.name));
    shared.nlink++;
    this.#insert(destination, to.name, shared);
  }

  /** path_rename of what `from` names onto `to` (the kinds of both already checked). */
  rename(from: Resolved, to: Resolved): void {
    const node = from.node as FsNode;
    const target = to.node;
    const moving = isDirectory(node);
    const source = this.directory(from.parent);
    const destination = this.directory(to.parent);
    // A directory moves as its MemDir (made now for a host one), which keeps showing its host entries.
    const moved = moving ? this.directory(node as DirNode) : node.kind === 'host' ? undefined : node;
    if (moving) {
      for (let dir: MemDir | undefined = destination; dir !== undefined; dir = dir.parent) {
        if (dir === moved) fail(Errno.INVAL); // into itself
      }
    }
    if (target !== undefined && isDirectory(target) && !this.#isEmpty(target as DirNode)) fail(Errno.NOTEMPTY);
    const entry = moved ?? this.#copyUp(source, from.name, node as HostNode, true);
    // The one new name, paid for before anything visible changes. The source's name is in its
    // MemDir by now (the entry itself, or the copy just made), so removing it charges nothing.
    this.#budget.charge(this.#nameCost(destination, to.name));
    if (target !== undefined) {
      if (target.kind === 'directory') this.#removeDirectory(target);
      else this.#dropName(target);
    }
    this.#remove(source, from.name);
    this.#insert(destination, to.name, entry);
    if (entry.kind === 'directory') entry.parent = destination;
  }

  /** path_filestat_set_times and fd_filestat_set_times on a directory, for the node `at` names. */
  setTimes(at: Resolved, atim: TimeUpdate, mtim: TimeUpdate): void {
    const node = at.node as FsNode;
    const now = this.#now();
    if (node.kind === 'host') {
      const copy = node.isDirectory ? this.directory(node) : this.#copyUp(this.directory(at.parent), at.name, node, true);
      return this.setTimes({ ...at, node: copy }, atim, mtim);
    }
    this.#touched = true;
    if (atim !== undefined) node.atim = atim === 'now' ? now : atim;
    if (mtim !== undefined) node.mtim = mtim === 'now' ? now : mtim;
    node.ctim = now;
  }

  // --- internals -----------------------------------------------------------------------------

  /** The MemDir of directory `node` if it has one already (nothing is made). */
  #findDir(node: DirNode | undefined): MemDir | undefined {
    if (node === undefined || node.kind === 'directory') return node;
    const entry = this.#findDir(node.parent)?.entries.get(node.name);
    return entry instanceof MemDir ? entry : undefined;
  }

  #ino(): bigint {
    return this.#nextIno++;
  }

  #handle(file: MemFile): MemFileHandle {
    return new MemFileHandle(file, this.#budget, this.#dev, this.#now);
  }

  /** What giving `dir` the name `name` costs: a new name costs, one it has already (a whiteout, an entry replaced) nothing more. */
  #nameCost(dir: MemDir, name: string): number {
    return dir.entries.has(name) ? 0 : entryCost(name);
  }

  /** Puts `node` under `name` in `dir`; the caller has paid for the name ({@link #nameCost}). */
  #insert(dir: MemDir, name: string, node: MemFile | MemLink | MemDir): void {
    dir.entries.set(name, node);
    dir.mtim = dir.ctim = this.#now();
    this.#touched = true;
  }

  /**
   * Removes `name` from `dir`, hiding the host entry beneath when there is one: a whiteout is a
   * name too, charged when it is new (before anything changes), and a name deleted is given back.
   */
  #remove(dir: MemDir, name: string): void {
    const had = dir.entries.has(name);
    if (dir.lower !== undefined && lookupHost(dir.lower, name) !== undefined) {
      if (!had) this.#budget.charge(entryCost(name));
      dir.entries.set(name, WHITEOUT);
    } else if (had) {
      dir.entries.delete(name);
      this.#budget.release(entryCost(name));
    }
    dir.mtim = dir.ctim = this.#now();
    this.#touched = true;
  }

  /** One name of `node` is gone: its bytes are given back when no name and no descriptor is left. */
  #dropName(node: FsNode): void {
    if (node.kind !== 'file' && node.kind !== 'symlink') return; // host entries cost nothing here
    node.nlink--;
    this.#budget.releaseIfUnreferenced(node);
  }

  /**
   * Marks `dir` removed (nothing can be created in it again) and gives back what it cost. It is
   * empty (rmdir and rename check that first), so a descriptor still open on it holds no more than
   * the object itself, and descriptors are bounded apart.
   */
  #removeDirectory(dir: MemDir): void {
    dir.removed = true;
    this.#budget.release(NODE_OVERHEAD);
  }

  #isEmpty(dir: DirNode): boolean {
    if (dir.kind === 'host') return readdirSync(dir.path).length === 0;
    for (const entry of dir.entries.values()) if (entry !== WHITEOUT) return false;
    if (dir.lower === undefined) return true;
    for (const name of readdirSync(dir.lower)) if (!dir.entries.has(name)) return false;
    return true;
  }

  /**
   * Brings a host file or symlink into the overlay under `dir`/`name`, keeping its inode number and
   * times; `withContent` false skips reading a file that is about to be truncated.
   */
  #copyUp(dir: MemDir, name: string, node: HostNode, withContent: boolean): MemFile | MemLink {
    const stats = node.stats;
    let copy: MemFile | MemLink;
    if (stats.isSymbolicLink()) {
      const target = readlinkSync(node.path);
      this.#budget.charge(this.#nameCost(dir, name) + NODE_OVERHEAD + 2 * target.length);
      copy = new MemLink(stats.ino, 0n, target);
    } else if (stats.isFile()) {
      const size = withContent ? Number(stats.size) : 0;
      const cost = this.#nameCost(dir, name) + NODE_OVERHEAD + size;
      this.#budget.charge(cost);
      const file = new MemFile(stats.ino, 0n);
      try {
        if (withContent) file.size = readWhole(node, file);
      } catch (error) {
        this.#budget.release(cost);
        throw error;
      }
      copy = file;
    } else {
      return fail(Errno.NOTSUP);
    }
    copy.atim = stats.atimeNs;
    copy.mtim = stats.mtimeNs;
    copy.ctim = stats.ctimeNs;
    dir.entries.set(name, copy);
    this.#touched = true;
    this.#copies++;
    return copy;
  }
}

/** Reads the host file `node` into `file.data` (no symlink followed); returns the bytes read. */
function readWhole(node: HostNode, file: MemFile): number {
  const fd = openSync(node.path, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
  try {
    file.data = new Uint8Array(Number(node.stats.size));
    let total = 0;
    while (total < file.data.length) {
      const n = readSync(fd, file.data, total, file.data.length - total, total);
      if (n === 0) break;
      total += n;
    }
    return total;
  } finally {
    closeSync(fd);
  }
}
