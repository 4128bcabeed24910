// One preopened directory as the guest sees it, in one of three modes:
//
//   overlay     (default) the host directory, writable: every change lands in an in-memory layer
//               (fs-node.ts) that is dropped at the end of the use, so each use starts from the
//               host directory exactly as it is. The host directory is never written.
//   readonly    the host directory; every change answers EROFS.
//   persistent  the host directory, writable for real: changes reach it and outlive the use.
//
// Paths are resolved one component at a time beneath the directory fd they are relative to (see
// resolve()), in every mode: `..` above it, absolute paths and symlinks leading out answer
// ENOTCAPABLE, loops ELOOP. Only then are host paths built, from real directory names.
//
// Limits stated plainly: the walk over host directories and the final host call are separate
// steps, so a host process that swaps a directory for a symlink between them could race it (the
// final component is opened with O_NOFOLLOW; in overlay mode the guest itself never writes to the
// host, so only reads are exposed). Hard links on the host to files outside the directory cannot be
// detected. A directory fd of a readonly or persistent preopen holds a path, not a host fd: if a
// host process renames that directory, the fd follows the name, not the directory.

import {
  constants,
  fstatSync,
  linkSync,
  lstatSync,
  lutimesSync,
  mkdirSync,
  openSync,
  closeSync,
  readdirSync,
  readlinkSync,
  readSync,
  renameSync,
  rmdirSync,
  symlinkSync,
  unlinkSync,
  utimesSync,
  type BigIntStats,
} from 'node:fs';
import { isAbsolute, relative, sep } from 'node:path';
import { Errno, Filetype, type ErrnoValue } from '../abi.js';
import { filetypeOf } from './filestat.js';
import {
  fail,
  HostNode,
  hostFilestat,
  inoOf,
  isDirectory,
  isSymlink,
  MemDir,
  MemFile,
  MemLink,
  memFilestat,
  WHITEOUT,
  type DirNode,
  type Filestat,
  type FsNode,
} from './fs-node.js';
import {
  CopyOnWriteFile,
  HostFile,
  MemFileHandle,
  seconds,
  type CopySource,
  type FileOrigin,
  type OpenFile,
  type TimeUpdate,
} from './open-file.js';
import { NODE_OVERHEAD, type OverlayBudget } from './overlay-budget.js';

/** How a preopened directory can be changed; see the module comment. */
export type PreopenMode = 'overlay' | 'readonly' | 'persistent';

/** The most symlinks one resolution expands before giving up with ELOOP (Linux's limit). */
const kMaxSymlinks = 40;
/** Longest guest path accepted, in UTF-16 code units (Linux PATH_MAX is 4096 bytes). */
const kMaxPathLength = 4096;
/** Inode numbers of nodes created in the overlay start here, far above what file systems hand out. */
const kFirstOverlayIno = 1n << 48n;

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

/** One entry for fd_readdir. */
export interface ListedEntry {
  readonly name: Uint8Array;
  readonly ino: bigint;
  readonly filetype: number;
}

/** How {@link PreopenFs.openFile} opens a regular file. */
export interface OpenRequest {
  create: boolean;
  exclusive: boolean;
  truncate: boolean;
  read: boolean;
  write: boolean;
}

const encoder = new TextEncoder();
const lstat = (path: string): BigIntStats | undefined => lstatSync(path, { bigint: true, throwIfNoEntry: false });
const join = (dir: string, name: string): string => (dir.endsWith('/') ? dir + name : dir + '/' + name);

/** A preopened directory in one mode; see the module comment. */
export class PreopenFs implements CopySource {
  readonly mode: PreopenMode;
  /** Real host path of the directory. */
  readonly hostPath: string;
  /** The directory itself, the node fd 3 (or 4, …) holds for every use. */
  readonly root: DirNode;
  readonly #dev: bigint;
  readonly #budget: OverlayBudget;
  readonly #now: () => bigint;
  readonly #rootTimes: readonly [bigint, bigint, bigint];
  #nextIno = kFirstOverlayIno;
  #touched = false;
  #copies = 0;

  constructor(hostPath: string, mode: PreopenMode, budget: OverlayBudget, now: () => bigint) {
    this.mode = mode;
    this.hostPath = hostPath;
    this.#budget = budget;
    this.#now = now;
    const stats = lstatSync(hostPath, { bigint: true });
    this.#dev = stats.dev;
    this.#rootTimes = [stats.atimeNs, stats.mtimeNs, stats.ctimeNs];
    this.root = mode === 'overlay' ? new MemDir(stats.ino, 0n, hostPath, undefined, stats) : new HostNode(hostPath, stats);
  }

  /** Whether the guest may change this directory (overlay and persistent). */
  get writable(): boolean {
    return this.mode !== 'readonly';
  }

  /** Drops the overlay: the next use sees the host directory as it is. Cheap when nothing was touched. */
  reset(): void {
    if (!this.#touched || this.root.kind !== 'directory') return;
    this.root.entries.clear();
    [this.root.atim, this.root.mtim, this.root.ctim] = this.#rootTimes;
    this.#nextIno = kFirstOverlayIno;
    this.#touched = false;
  }

  // --- lookup and resolution -----------------------------------------------------------------

  /** The entry `name` of `dir`, or undefined. Nothing is allocated in the overlay for a lookup. */
  lookup(dir: DirNode, name: string): FsNode | undefined {
    let lower: string;
    if (dir.kind === 'host') {
      lower = dir.path;
    } else {
      const own = dir.entries.get(name);
      if (own === WHITEOUT) return undefined;
      if (own !== undefined) return own;
      if (dir.lower === undefined) return undefined;
      lower = dir.lower;
    }
    const path = join(lower, name);
    const stats = lstat(path);
    return stats === undefined ? undefined : new HostNode(path, stats, dir, name);
  }

  /**
   * The node a directory fd should hold for `dir`: in overlay mode its MemDir (made now if need
   * be), so that the fd keeps naming the directory through renames and sees changes beneath it.
   */
  holdDirectory(dir: DirNode): DirNode {
    return this.mode === 'overlay' ? this.#dir(dir) : dir;
  }

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
    const parent = this.#dir(origin.parent as DirNode);
    // Renamed or deleted in this use: the name no longer leads to the host file.
    if (parent.entries.get(origin.name) !== undefined) fail(Errno.STALE);
    return this.#handle(this.#copyUp(parent, origin.name, origin.node as HostNode, true) as MemFile);
  }

  /**
   * Resolves `path` beneath `start` (never above it). Returns an errno instead of throwing:
   * ENOTCAPABLE for an absolute path, a `..` above `start` or a symlink leading out of it; ENOENT
   * when a directory on the way is missing (a missing final component is `node: undefined`);
   * ENOTDIR, ELOOP, ENAMETOOLONG, EILSEQ (a NUL) as the kernel would.
   *
   * @param followFinal whether a symlink as the last component is followed (LOOKUPFLAGS_SYMLINK_FOLLOW).
   */
  resolve(start: DirNode, path: string, followFinal: boolean): Resolved | ErrnoValue {
    if (path.length === 0) return Errno.NOENT;
    if (path.length > kMaxPathLength) return Errno.NAMETOOLONG;
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
      const child = this.lookup(top, component);
      if (child === undefined) {
        if (!isLast) return Errno.NOENT;
        return { parent: top, name: component, node: undefined, mustBeDirectory };
      }
      if (isSymlink(child) && (!isLast || followFinal || mustBeDirectory)) {
        if (++symlinks > kMaxSymlinks) return Errno.LOOP;
        let target = this.readlink(child);
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

  /** The target of a symlink node. */
  readlink(node: FsNode): string {
    if (node.kind === 'symlink') return node.target;
    if (node.kind === 'host') return readlinkSync(node.path);
    return fail(Errno.INVAL);
  }

  // --- reading -------------------------------------------------------------------------------

  /** The filestat of `node`; `follow` stats what a host symlink points to (already inside, resolved). */
  stat(node: FsNode): Filestat {
    // A directory's times may have changed since it was looked up (entries created in it).
    if (node.kind === 'host') return hostFilestat(node.isDirectory ? lstatSync(node.path, { bigint: true }) : node.stats);
    return memFilestat(node, this.#dev);
  }

  /** The entries of `dir` for fd_readdir: `.` and `..` first, then the merged view. */
  list(dir: DirNode): ListedEntry[] {
    const self = dir.kind === 'host' ? dir.stats.ino : dir.ino;
    const listing: ListedEntry[] = [
      { name: encoder.encode('.'), ino: self, filetype: Filetype.DIRECTORY },
      // The parent may lie outside what the guest holds: report no inode for it.
      { name: encoder.encode('..'), ino: 0n, filetype: Filetype.DIRECTORY },
    ];
    const lower = dir.kind === 'host' ? dir.path : dir.lower;
    if (lower !== undefined) {
      for (const name of readdirSync(lower)) {
        if (dir.kind === 'directory' && dir.entries.has(name)) continue; // shadowed or deleted
        const stats = lstat(join(lower, name));
        if (stats === undefined) continue; // vanished while listing
        listing.push({ name: encoder.encode(name), ino: stats.ino, filetype: filetypeOf(stats) });
      }
    }
    if (dir.kind === 'directory') {
      for (const [name, entry] of dir.entries) {
        if (entry === WHITEOUT) continue;
        const filetype =
          entry.kind === 'file' ? Filetype.REGULAR_FILE : entry.kind === 'symlink' ? Filetype.SYMBOLIC_LINK : Filetype.DIRECTORY;
        listing.push({ name: encoder.encode(name), ino: entry.ino, filetype });
      }
    }
    return listing;
  }

  /** Opens the regular file `at` names (or creates it). Directories are the caller's business. */
  openFile(at: Resolved, request: OpenRequest): OpenFile {
    const node = at.node;
    const changes = request.write || request.truncate;
    if (node === undefined) {
      if (!request.create) fail(Errno.NOENT);
      if (!this.writable) fail(Errno.ROFS);
      if (at.mustBeDirectory) fail(Errno.ISDIR);
      if (this.mode !== 'overlay') {
        const flags = constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW | accessFlags(request);
        return new HostFile(openSync(join((at.parent as HostNode).path, at.name), flags, 0o666));
      }
      const parent = this.#dir(at.parent);
      this.#budget.charge(NODE_OVERHEAD + at.name.length);
      const file = new MemFile(this.#ino(), this.#now());
      this.#insert(parent, at.name, file);
      return this.#handle(file);
    }
    if (request.create && request.exclusive) fail(Errno.EXIST);
    if (isSymlink(node)) fail(Errno.LOOP); // O_NOFOLLOW on a symlink, as Linux answers
    if (changes && !this.writable) fail(Errno.ROFS);
    if (node.kind === 'file') {
      const handle = this.#handle(node);
      if (request.truncate) handle.truncate(0);
      return handle;
    }
    if (node.kind !== 'host' || !node.stats.isFile()) fail(Errno.NOTSUP); // FIFOs, sockets, devices
    if (this.mode === 'overlay' && changes) {
      const file = this.#copyUp(this.#dir(at.parent), at.name, node, !request.truncate) as MemFile;
      return this.#handle(file);
    }
    const flags = (this.mode === 'overlay' ? constants.O_RDONLY : accessFlags(request)) | (request.truncate ? constants.O_TRUNC : 0);
    const fd = openSync(node.path, flags | constants.O_NOFOLLOW | constants.O_NONBLOCK);
    const opened = fstatSync(fd, { bigint: true });
    if (!opened.isFile() || opened.ino !== node.stats.ino || opened.dev !== node.stats.dev) {
      closeSync(fd);
      fail(Errno.AGAIN); // the file changed under us
    }
    const host = new HostFile(fd, this.mode !== 'persistent');
    if (this.mode !== 'overlay') return host;
    return new CopyOnWriteFile(host, this, { parent: at.parent, name: at.name, node });
  }

  // --- changing ------------------------------------------------------------------------------

  /** path_create_directory. */
  mkdir(at: Resolved): void {
    this.#mustWrite();
    if (at.parent === undefined || at.node !== undefined) fail(Errno.EXIST);
    if (this.mode !== 'overlay') {
      mkdirSync(join((at.parent as HostNode).path, at.name));
      return;
    }
    const parent = this.#dir(at.parent);
    this.#budget.charge(NODE_OVERHEAD + at.name.length);
    this.#insert(parent, at.name, new MemDir(this.#ino(), this.#now(), undefined, parent));
  }

  /** path_remove_directory. */
  rmdir(at: Resolved): void {
    this.#mustWrite();
    if (at.parent === undefined) fail(Errno.INVAL); // `.` or `x/..`
    if (at.node === undefined) fail(Errno.NOENT);
    if (!isDirectory(at.node)) fail(Errno.NOTDIR);
    if (this.mode !== 'overlay') {
      rmdirSync((at.node as HostNode).path);
      return;
    }
    const parent = this.#dir(at.parent);
    if (!this.#isEmpty(at.node as DirNode)) fail(Errno.NOTEMPTY);
    this.#remove(parent, at.name);
    if (at.node.kind === 'directory') at.node.removed = true;
  }

  /** path_unlink_file. */
  unlink(at: Resolved): void {
    this.#mustWrite();
    if (at.parent === undefined) fail(Errno.ISDIR);
    const node = at.node;
    if (node === undefined) fail(Errno.NOENT);
    if (isDirectory(node)) fail(Errno.ISDIR);
    if (this.mode !== 'overlay') {
      unlinkSync((node as HostNode).path);
      return;
    }
    this.#remove(this.#dir(at.parent), at.name);
    this.#release(node);
  }

  /** path_symlink: a link named by `at` holding `target` (not resolved now: a link may dangle). */
  symlink(target: string, at: Resolved): void {
    this.#mustWrite();
    if (at.parent === undefined || at.node !== undefined) fail(Errno.EXIST);
    if (at.mustBeDirectory) fail(Errno.NOENT);
    if (target.length === 0) fail(Errno.NOENT);
    // An absolute target names a host path, outside what the guest holds (and a persistent link
    // outlives the use, where other programs may follow it).
    if (target.startsWith('/')) fail(Errno.NOTCAPABLE);
    if (this.mode !== 'overlay') {
      symlinkSync(target, join((at.parent as HostNode).path, at.name));
      return;
    }
    const parent = this.#dir(at.parent);
    this.#budget.charge(NODE_OVERHEAD + at.name.length + target.length);
    this.#insert(parent, at.name, new MemLink(this.#ino(), this.#now(), target));
  }

  /** path_link: a second name `to` for the file `from` names. */
  link(from: Resolved, to: Resolved): void {
    this.#mustWrite();
    const node = from.node;
    if (node === undefined) fail(Errno.NOENT);
    if (isDirectory(node)) fail(Errno.PERM);
    if (to.parent === undefined || to.node !== undefined) fail(Errno.EXIST);
    if (to.mustBeDirectory) fail(Errno.NOENT);
    if (this.mode !== 'overlay') {
      linkSync((node as HostNode).path, join((to.parent as HostNode).path, to.name));
      return;
    }
    const destination = this.#dir(to.parent);
    const shared = node.kind === 'host' ? this.#copyUp(this.#dir(from.parent), from.name, node, true) : node;
    this.#budget.charge(NODE_OVERHEAD + to.name.length);
    if (shared.kind === 'file') shared.nlink++;
    this.#insert(destination, to.name, shared as MemFile | MemLink);
  }

  /** path_rename. */
  rename(from: Resolved, to: Resolved): void {
    this.#mustWrite();
    if (from.parent === undefined || to.parent === undefined) fail(Errno.BUSY); // `.` cannot move or be replaced
    const node = from.node;
    if (node === undefined) fail(Errno.NOENT);
    const moving = isDirectory(node);
    if (!moving && (to.mustBeDirectory || from.mustBeDirectory)) fail(Errno.NOTDIR);
    const target = to.node;
    if (target !== undefined) {
      if (sameNode(target, node)) return; // two names of one file: nothing to do, as rename(2)
      const replacing = isDirectory(target);
      if (moving && !replacing) fail(Errno.NOTDIR);
      if (!moving && replacing) fail(Errno.ISDIR);
    }
    if (this.mode !== 'overlay') {
      renameSync(join((from.parent as HostNode).path, from.name), join((to.parent as HostNode).path, to.name));
      return;
    }
    const source = this.#dir(from.parent);
    const destination = this.#dir(to.parent);
    // A directory moves as its MemDir (made now for a host one), which keeps showing its host entries.
    const moved = moving ? this.#dir(node as DirNode) : node.kind === 'host' ? undefined : node;
    if (moving) {
      for (let dir: MemDir | undefined = destination; dir !== undefined; dir = dir.parent) {
        if (dir === moved) fail(Errno.INVAL); // into itself
      }
    }
    if (target !== undefined && isDirectory(target) && !this.#isEmpty(target as DirNode)) fail(Errno.NOTEMPTY);
    const entry = moved ?? this.#copyUp(source, from.name, node as HostNode, true);
    this.#budget.charge(NODE_OVERHEAD + to.name.length);
    if (target !== undefined) {
      if (target.kind === 'directory') target.removed = true;
      else if (target.kind !== 'host' || !target.isDirectory) this.#release(target);
    }
    this.#remove(source, from.name);
    this.#insert(destination, to.name, entry);
    if (entry.kind === 'directory') entry.parent = destination;
  }

  /** path_filestat_set_times and fd_filestat_set_times on a directory. */
  setTimes(at: Resolved, atim: TimeUpdate, mtim: TimeUpdate): void {
    this.#mustWrite();
    const node = at.node;
    if (node === undefined) fail(Errno.NOENT);
    const now = this.#now();
    if (node.kind === 'host') {
      if (this.mode !== 'overlay') {
        const a = seconds(atim, node.stats.atimeNs, now);
        const m = seconds(mtim, node.stats.mtimeNs, now);
        return node.stats.isSymbolicLink() ? lutimesSync(node.path, a, m) : utimesSync(node.path, a, m);
      }
      const copy = node.isDirectory ? this.#dir(node) : this.#copyUp(this.#dir(at.parent), at.name, node, true);
      return this.setTimes({ ...at, node: copy }, atim, mtim);
    }
    this.#touched = true;
    if (atim !== undefined) node.atim = atim === 'now' ? now : atim;
    if (mtim !== undefined) node.mtim = mtim === 'now' ? now : mtim;
    node.ctim = now;
  }

  // --- internals -----------------------------------------------------------------------------

  #mustWrite(): void {
    if (!this.writable) fail(Errno.ROFS);
  }

  /**
   * The MemDir of directory `node` (overlay mode), made now along the chain of directories it was
   * found through if it has none yet. ENOENT when that chain no longer leads to it (deleted or
   * replaced during this use) or it was removed: nothing can be created there.
   */
  #dir(node: DirNode | undefined): MemDir {
    if (node === undefined) return fail(Errno.NOENT);
    let dir: MemDir;
    if (node.kind === 'directory') {
      dir = node;
    } else {
      const parent = this.#dir(node.parent);
      const entry = parent.entries.get(node.name);
      if (entry instanceof MemDir) {
        dir = entry;
      } else {
        if (entry !== undefined) fail(Errno.NOENT);
        dir = new MemDir(node.stats.ino, 0n, node.path, parent, node.stats);
        parent.entries.set(node.name, dir);
        this.#touched = true;
      }
    }
    if (dir.removed) fail(Errno.NOENT);
    return dir;
  }

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

  #insert(dir: MemDir, name: string, node: MemFile | MemLink | MemDir): void {
    dir.entries.set(name, node);
    dir.mtim = dir.ctim = this.#now();
    this.#touched = true;
  }

  /** Removes `name` from `dir`, hiding the host entry beneath when there is one. */
  #remove(dir: MemDir, name: string): void {
    if (dir.lower !== undefined && lstat(join(dir.lower, name)) !== undefined) dir.entries.set(name, WHITEOUT);
    else dir.entries.delete(name);
    dir.mtim = dir.ctim = this.#now();
    this.#touched = true;
  }

  /** One name of `node` is gone: give its bytes back when it was the last. */
  #release(node: FsNode): void {
    if (node.kind !== 'file') return;
    node.nlink--;
    if (node.nlink <= 0n) this.#budget.charge(-(node.size + NODE_OVERHEAD));
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
      this.#budget.charge(NODE_OVERHEAD + name.length + target.length);
      copy = new MemLink(stats.ino, 0n, target);
    } else if (stats.isFile()) {
      const size = withContent ? Number(stats.size) : 0;
      this.#budget.charge(NODE_OVERHEAD + name.length + size);
      const file = new MemFile(stats.ino, 0n);
      if (withContent) file.size = readWhole(node, file);
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

/** O_RDONLY, O_WRONLY or O_RDWR for a request. */
function accessFlags(request: OpenRequest): number {
  if (!request.write) return constants.O_RDONLY;
  return request.read ? constants.O_RDWR : constants.O_WRONLY;
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

/** Whether two nodes are the same file (one in-memory object, or one inode: overlay copies keep the host's). */
function sameNode(a: FsNode, b: FsNode): boolean {
  return a === b || inoOf(a) === inoOf(b);
}

/** Pushes the components of `path` so that `queue.pop()` yields them in order; `''` and `.` name nothing. */
function pushComponents(queue: string[], path: string): void {
  const parts = path.split('/');
  for (let i = parts.length - 1; i >= 0; i--) {
    const part = parts[i] as string;
    if (part !== '' && part !== '.') queue.push(part);
  }
}
