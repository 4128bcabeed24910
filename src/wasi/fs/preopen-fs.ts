/**
 * One preopened directory as the guest sees it, in one of three modes:
 *
 *     overlay     (default) the host directory, writable: every change lands in an in-memory layer
 *                 (`overlay.ts`) that is dropped at the end of the use, so each use starts from the
 *                 host directory exactly as it is. The host directory is never written.
 *     readonly    the host directory; every change answers EROFS.
 *     persistent  the host directory, writable for real: changes reach it and outlive the use.
 *
 * This file owns what the modes share and where they part: each call makes the checks every mode
 * makes (EROFS, EEXIST, ENOENT, ENOTDIR, …, in the kernel's order), then hands the change to the
 * overlay or makes it on the host. Every call takes a path already resolved beneath the directory fd
 * it is relative to (`path-resolver.ts`, the same walk in every mode); host paths are built only
 * from what that walk found: real directory names.
 *
 * Limits stated plainly: the walk over host directories and the final host call are separate
 * steps, so a host process that swaps a directory for a symlink between them could race it (the
 * final component is opened with O_NOFOLLOW; in overlay mode the guest itself never writes to the
 * host, so only reads are exposed). Hard links on the host to files outside the directory cannot be
 * detected. A directory fd of a readonly or persistent preopen holds a path, not a host fd: if a
 * host process renames that directory, the fd follows the name, not the directory.
 */
import {
  constants,
  linkSync,
  lstatSync,
  lutimesSync,
  mkdirSync,
  openSync,
  readdirSync,
  renameSync,
  rmdirSync,
  symlinkSync,
  unlinkSync,
  utimesSync,
} from 'node:fs';
import { Errno, Filetype } from '../abi.js';
import { fail } from '../errno-error.js';
import { filetypeOf, hostFilestat, memFilestat, type Filestat } from './filestat.js';
import { HostNode, hostPath, inoOf, isDirectory, isSymlink, lookupHost, WHITEOUT, type DirNode, type FsNode } from './fs-node.js';
import { HostFile, openHostFile, seconds, type OpenFile, type TimeUpdate } from './open-file.js';
import { Overlay } from './overlay.js';
import { LISTED_OVERHEAD, type OverlayBudget } from './overlay-budget.js';
import type { Resolved } from './path-resolver.js';

/** How a preopened directory can be changed; see the module comment. */
export type PreopenMode = 'overlay' | 'readonly' | 'persistent';

/** Every mode, the default (`overlay`) first. */
export const PREOPEN_MODES: readonly PreopenMode[] = ['overlay', 'readonly', 'persistent'];

/** One entry for fd_readdir. */
export interface ListedEntry {
  readonly name: Uint8Array;
  readonly ino: bigint;
  readonly filetype: number;
}

/**
 * The entries of a directory as fd_readdir first read them, kept by the directory's fd so that
 * cookies stay stable while the guest iterates; charged to the use's budget while it is kept.
 */
export interface Listing {
  readonly entries: readonly ListedEntry[];
  /** What it was charged (see {@link PreopenFs.forget}). */
  readonly bytes: number;
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

/** A preopened directory in one mode; see the module comment. */
export class PreopenFs {
  readonly mode: PreopenMode;
  /** Real host path of the directory. */
  readonly hostPath: string;
  /** The directory itself, the node fd 3 (or 4, …) holds for every use. */
  readonly root: DirNode;
  readonly #dev: bigint;
  readonly #now: () => bigint;
  readonly #budget: OverlayBudget;
  /** The in-memory layer, in overlay mode only. */
  readonly #overlay: Overlay | undefined;

  constructor(hostPath: string, mode: PreopenMode, budget: OverlayBudget, now: () => bigint) {
    this.mode = mode;
    this.hostPath = hostPath;
    this.#now = now;
    this.#budget = budget;
    const stats = lstatSync(hostPath, { bigint: true });
    this.#dev = stats.dev;
    this.#overlay = mode === 'overlay' ? new Overlay(hostPath, stats, budget, now) : undefined;
    this.root = this.#overlay?.root ?? new HostNode(hostPath, stats);
  }

  /** Whether the guest may change this directory (overlay and persistent). */
  get writable(): boolean {
    return this.mode !== 'readonly';
  }

  /** Drops the overlay: the next use sees the host directory as it is. Cheap when nothing was touched. */
  reset(): void {
    this.#overlay?.reset();
  }

  /**
   * The node a directory fd should hold for `dir`: in overlay mode its MemDir (made now if need
   * be), so that the fd keeps naming the directory through renames and sees changes beneath it.
   */
  holdDirectory(dir: DirNode): DirNode {
    return this.#overlay ? this.#overlay.directory(dir) : dir;
  }

  // --- reading -------------------------------------------------------------------------------

  /** The filestat of `node` (a symlink's own, never what it points to). */
  stat(node: FsNode): Filestat {
    // A directory's times may have changed since it was looked up (entries created in it).
    if (node.kind === 'host') return hostFilestat(node.isDirectory ? lstatSync(node.path, { bigint: true }) : node.stats);
    return memFilestat(node, this.#dev);
  }

  /**
   * The entries of `dir` for fd_readdir: `.` and `..` first, then the merged view. A listing is
   * held by its fd until the fd closes or lists again ({@link forget}), so it is charged to the
   * use's budget like the overlay's own bytes, in every mode: otherwise a guest could hold one
   * copy of a large directory per descriptor. ENOMEM past the budget.
   */
  list(dir: DirNode): Listing {
    const entries = this.#entries(dir);
    let bytes = 0;
    for (const entry of entries) bytes += LISTED_OVERHEAD + entry.name.length;
    this.#budget.charge(bytes, Errno.NOMEM);
    return { entries, bytes };
  }

  /** Gives back what {@link list} charged for `listing`, which its fd no longer holds. */
  forget(listing: Listing): void {
    this.#budget.release(listing.bytes);
  }

  #entries(dir: DirNode): ListedEntry[] {
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
        const entry = lookupHost(lower, name);
        if (entry === undefined) continue; // vanished while listing
        listing.push({ name: encoder.encode(name), ino: entry.stats.ino, filetype: filetypeOf(entry.stats) });
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
      if (this.#overlay) return this.#overlay.createFile(at);
      const flags = constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW | accessFlags(request);
      return new HostFile(openSync(hostPath((at.parent as HostNode).path, at.name), flags, 0o666));
    }
    if (request.create && request.exclusive) fail(Errno.EXIST);
    if (isSymlink(node)) fail(Errno.LOOP); // O_NOFOLLOW on a symlink, as Linux answers
    if (changes && !this.writable) fail(Errno.ROFS);
    if (this.#overlay) return this.#overlay.openFile(at, node, request.truncate, changes);
    if (node.kind !== 'host' || !node.stats.isFile()) fail(Errno.NOTSUP); // FIFOs, sockets, devices
    return openHostFile(node, accessFlags(request) | (request.truncate ? constants.O_TRUNC : 0), this.mode === 'readonly');
  }

  // --- changing ------------------------------------------------------------------------------

  /** path_create_directory. */
  mkdir(at: Resolved): void {
    this.#mustWrite();
    if (at.parent === undefined || at.node !== undefined) fail(Errno.EXIST);
    if (this.#overlay) this.#overlay.mkdir(at);
    else mkdirSync(hostPath((at.parent as HostNode).path, at.name));
  }

  /** path_remove_directory. */
  rmdir(at: Resolved): void {
    this.#mustWrite();
    if (at.parent === undefined) fail(Errno.INVAL); // `.` or `x/..`
    if (at.node === undefined) fail(Errno.NOENT);
    if (!isDirectory(at.node)) fail(Errno.NOTDIR);
    if (this.#overlay) this.#overlay.rmdir(at);
    else rmdirSync((at.node as HostNode).path);
  }

  /** path_unlink_file. */
  unlink(at: Resolved): void {
    this.#mustWrite();
    if (at.parent === undefined) fail(Errno.ISDIR);
    const node = at.node;
    if (node === undefined) fail(Errno.NOENT);
    if (isDirectory(node)) fail(Errno.ISDIR);
    if (this.#overlay) this.#overlay.unlink(at);
    else unlinkSync((node as HostNode).path);
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
    if (this.#overlay) this.#overlay.symlink(target, at);
    else symlinkSync(target, hostPath((at.parent as HostNode).path, at.name));
  }

  /** path_link: a second name `to` for the file `from` names. */
  link(from: Resolved, to: Resolved): void {
    this.#mustWrite();
    const node = from.node;
    if (node === undefined) fail(Errno.NOENT);
    if (isDirectory(node)) fail(Errno.PERM);
    if (to.parent === undefined || to.node !== undefined) fail(Errno.EXIST);
    if (to.mustBeDirectory) fail(Errno.NOENT);
    if (this.#overlay) this.#overlay.link(from, to);
    else linkSync((node as HostNode).path, hostPath((to.parent as HostNode).path, to.name));
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
    if (this.#overlay) this.#overlay.rename(from, to);
    else renameSync(hostPath((from.parent as HostNode).path, from.name), hostPath((to.parent as HostNode).path, to.name));
  }

  /** path_filestat_set_times and fd_filestat_set_times on a directory. */
  setTimes(at: Resolved, atim: TimeUpdate, mtim: TimeUpdate): void {
    this.#mustWrite();
    const node = at.node;
    if (node === undefined) fail(Errno.NOENT);
    if (this.#overlay) return this.#overlay.setTimes(at, atim, mtim);
    // Outside overlay mode every node is a host entry.
    const host = node as HostNode;
    const now = this.#now();
    const a = seconds(atim, host.stats.atimeNs, now);
    const m = seconds(mtim, host.stats.mtimeNs, now);
    return host.stats.isSymbolicLink() ? lutimesSync(host.path, a, m) : utimesSync(host.path, a, m);
  }

  #mustWrite(): void {
    if (!this.writable) fail(Errno.ROFS);
  }
}

/** O_RDONLY, O_WRONLY or O_RDWR for a request. */
function accessFlags(request: OpenRequest): number {
  if (!request.write) return constants.O_RDONLY;
  return request.read ? constants.O_RDWR : constants.O_WRONLY;
}

/** Whether two nodes are the same file (one in-memory object, or one inode: overlay copies keep the host's). */
function sameNode(a: FsNode, b: FsNode): boolean {
  return a === b || inoOf(a) === inoOf(b);
}
