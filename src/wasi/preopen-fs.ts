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
// Limits stated plainly: in readonly and persistent modes the walk and the final host call are
// separate steps, so a host process that swaps a directory for a symlink between them could race
// it (the final component is opened with O_NOFOLLOW). Hard links on the host to files outside the
// directory cannot be detected.

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
import { Errno, Filetype, type ErrnoValue } from './abi.js';
import { filetypeOf } from './filestat.js';
import {
  fail,
  HostNode,
  hostFilestat,
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
import { CopyOnWriteFile, HostFile, MemFileHandle, seconds, type OpenFile, type TimeUpdate } from './open-file.js';
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
export class PreopenFs {
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

  /** The entry `name` of `dir`, or undefined. In overlay mode, host directories become MemDirs on the way. */
  lookup(dir: DirNode, name: string): FsNode | undefined {
    if (dir.kind === 'host') {
      const path = join(dir.path, name);
      const stats = lstat(path);
      return stats === undefined ? undefined : new HostNode(path, stats);
    }
    const own = dir.entries.get(name);
    if (own === WHITEOUT) return undefined;
    if (own !== undefined) return own;
    if (dir.lower === undefined) return undefined;
    const path = join(dir.lower, name);
    const stats = lstat(path);
    if (stats === undefined) return undefined;
    if (!stats.isDirectory()) return new HostNode(path, stats);
    // Remember the directory, so fds on it and changes beneath it share one node for the use.
    const merged = new MemDir(stats.ino, 0n, path, dir, stats);
    dir.entries.set(name, merged);
    this.#touched = true;
    return merged;
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
      const parent = at.parent as DirNode;
      if (parent.kind === 'host') {
        const flags = constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW | accessFlags(request);
        return new HostFile(openSync(join(parent.path, at.name), flags, 0o666));
      }
      this.#writableDir(parent);
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
      const file = this.#copyUp(at.parent as MemDir, at.name, node, !request.truncate) as MemFile;
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
    const parent = at.parent as MemDir;
    // The overlay's copy of this very file, once this use made one (under this name).
    const copy = () => {
      const entry = parent.entries.get(at.name);
      return entry instanceof MemFile && entry.ino === node.stats.ino ? this.#handle(entry) : undefined;
    };
    const copyUp = () => {
      const entry = parent.entries.get(at.name);
      // Renamed or deleted in this use: the name no longer leads to the host file.
      if (entry !== undefined) fail(Errno.STALE);
      return this.#handle(this.#copyUp(parent, at.name, node, true) as MemFile);
    };
    return new CopyOnWriteFile(host, copy, copyUp);
  }

  // --- changing ------------------------------------------------------------------------------

  /** path_create_directory. */
  mkdir(at: Resolved): void {
    this.#mustWrite();
    if (at.parent === undefined || at.node !== undefined) fail(Errno.EXIST);
    if (at.parent.kind === 'host') {
      mkdirSync(join(at.parent.path, at.name));
      return;
    }
    this.#writableDir(at.parent);
    this.#budget.charge(NODE_OVERHEAD + at.name.length);
    this.#insert(at.parent, at.name, new MemDir(this.#ino(), this.#now(), undefined, at.parent));
  }

  /** path_remove_directory. */
  rmdir(at: Resolved): void {
    this.#mustWrite();
    if (at.parent === undefined) fail(Errno.INVAL); // `.` or `x/..`
    if (at.node === undefined) fail(Errno.NOENT);
    if (!isDirectory(at.node)) fail(Errno.NOTDIR);
    if (at.parent.kind === 'host') {
      rmdirSync((at.node as HostNode).path);
      return;
    }
    const dir = at.node as MemDir;
    if (!this.#isEmpty(dir)) fail(Errno.NOTEMPTY);
    this.#remove(at.parent, at.name);
    dir.removed = true;
  }

  /** path_unlink_file. */
  unlink(at: Resolved): void {
    this.#mustWrite();
    if (at.parent === undefined) fail(Errno.ISDIR);
    const node = at.node;
    if (node === undefined) fail(Errno.NOENT);
    if (isDirectory(node)) fail(Errno.ISDIR);
    if (node.kind === 'host' && at.parent.kind === 'host') {
      unlinkSync(node.path);
      return;
    }
    this.#remove(at.parent as MemDir, at.name);
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
    if (at.parent.kind === 'host') {
      symlinkSync(target, join(at.parent.path, at.name));
      return;
    }
    this.#writableDir(at.parent);
    this.#budget.charge(NODE_OVERHEAD + at.name.length + target.length);
    this.#insert(at.parent, at.name, new MemLink(this.#ino(), this.#now(), target));
  }

  /** path_link: a second name `to` for the file `from` names. */
  link(from: Resolved, to: Resolved): void {
    this.#mustWrite();
    const node = from.node;
    if (node === undefined) fail(Errno.NOENT);
    if (isDirectory(node)) fail(Errno.PERM);
    if (to.parent === undefined || to.node !== undefined) fail(Errno.EXIST);
    if (to.mustBeDirectory) fail(Errno.NOENT);
    if (to.parent.kind === 'host') {
      linkSync((node as HostNode).path, join(to.parent.path, to.name));
      return;
    }
    this.#writableDir(to.parent);
    const shared = node.kind === 'host' ? this.#copyUp(from.parent as MemDir, from.name, node, true) : node;
    this.#budget.charge(NODE_OVERHEAD + to.name.length);
    if (shared.kind === 'file') shared.nlink++;
    this.#insert(to.parent, to.name, shared as MemFile | MemLink);
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
    if (from.parent.kind === 'host') {
      renameSync(join(from.parent.path, from.name), join((to.parent as HostNode).path, to.name));
      return;
    }
    const source = from.parent;
    const destination = to.parent as MemDir;
    this.#writableDir(destination);
    if (moving) {
      for (let dir: MemDir | undefined = destination; dir !== undefined; dir = dir.parent) {
        if (dir === node) fail(Errno.INVAL); // into itself
      }
    }
    if (target !== undefined && isDirectory(target) && !this.#isEmpty(target as MemDir)) fail(Errno.NOTEMPTY);
    const moved = node.kind === 'host' ? this.#copyUp(source, from.name, node, true) : node;
    this.#budget.charge(NODE_OVERHEAD + to.name.length);
    if (target !== undefined) {
      if (target.kind === 'directory') target.removed = true;
      else this.#release(target);
    }
    this.#remove(source, from.name);
    this.#insert(destination, to.name, moved);
    if (moved.kind === 'directory') moved.parent = destination;
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
      const copy = this.#copyUp(at.parent as MemDir, at.name, node, true);
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

  /** Nothing can be created in a directory removed during this use. */
  #writableDir(dir: MemDir): void {
    if (dir.removed) fail(Errno.NOENT);
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

  #isEmpty(dir: MemDir): boolean {
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

/** Whether two nodes are the same file (one in-memory object, or one host inode). */
function sameNode(a: FsNode, b: FsNode): boolean {
  if (a === b) return true;
  return a.kind === 'host' && b.kind === 'host' && a.stats.ino === b.stats.ino && a.stats.dev === b.stats.dev;
}

/** Pushes the components of `path` so that `queue.pop()` yields them in order; `''` and `.` name nothing. */
function pushComponents(queue: string[], path: string): void {
  const parts = path.split('/');
  for (let i = parts.length - 1; i >= 0; i--) {
    const part = parts[i] as string;
    if (part !== '' && part !== '.') queue.push(part);
  }
}
