/**
 * preview1 path_* functions over the directories granted to the guest. Each path is resolved
 * beneath the directory fd it is relative to, never leaving it (`fs/path-resolver.ts`); what a
 * change then does depends on the preopen's mode (overlay, readonly, persistent: see
 * `fs/preopen-fs.ts`).
 *
 * Order of checks, the same for every call: the directory fd (EBADF, ENOTDIR), its rights
 * (ENOTCAPABLE), the path (EFAULT, EILSEQ, then resolution errors), then the operation itself
 * (EROFS under a read-only preopen, EEXIST, ENOENT, …). Before all of them, the use's deadline.
 */

import {
  Errno,
  Fdflags,
  Fstflags,
  Lookupflags,
  Oflags,
  Rights,
  DIRECTORY_RIGHTS,
  FILE_RIGHTS,
  WRITE_INTENT_RIGHTS,
  type ErrnoValue,
} from './abi.js';
import type { DirectoryEntry } from './fd-table.js';
import { writeFilestat } from './fs/filestat.js';
import { fail } from './errno-error.js';
import { isDirectory, type DirNode } from './fs/fs-node.js';
import type { TimeUpdate } from './fs/open-file.js';
import { readlink, resolvePath, type Resolved } from './fs/path-resolver.js';
import type { WasiState } from './state.js';

const decoder = new TextDecoder('utf-8', { fatal: true });

/** The path functions of preview1, closed over `state`. */
export function pathCalls(state: WasiState): WebAssembly.ModuleImports {
  const { memory, fds } = state;

  /** The directory `fd` names (holding `right`, unless 0n), or the errno for why it cannot be used. */
  function directoryAt(fd: number, right: bigint): DirectoryEntry | ErrnoValue {
    const entry = fds.get(fd >>> 0);
    if (entry === undefined) return Errno.BADF;
    if (entry.kind !== 'directory') return Errno.NOTDIR;
    if (right !== 0n && (entry.rightsBase & right) === 0n) return Errno.NOTCAPABLE;
    return entry;
  }

  /** The guest string at [ptr, ptr+len), or EFAULT / EILSEQ (not UTF-8). */
  function guestString(ptr: number, len: number): string | ErrnoValue {
    ptr >>>= 0;
    len >>>= 0;
    memory.refresh();
    if (!memory.contains(ptr, len)) return Errno.FAULT;
    try {
      return decoder.decode(memory.bytes.subarray(ptr, ptr + len));
    } catch {
      return Errno.ILSEQ;
    }
  }

  /**
   * What a guest path names under directory `dirFd` (which must hold `right`), resolved without
   * leaving the directory; throws the errno for why not.
   */
  function resolveAt(
    dirFd: number,
    right: bigint,
    pathPtr: number,
    pathLen: number,
    follow: boolean,
  ): { dir: DirectoryEntry; at: Resolved } {
    const dir = directoryAt(dirFd, right);
    if (typeof dir === 'number') fail(dir);
    const path = guestString(pathPtr, pathLen);
    if (typeof path === 'number') fail(path);
    const at = resolvePath(dir.dir, path, follow);
    if (typeof at === 'number') fail(at);
    return { dir, at };
  }

  /**
   * Runs a call body, turning thrown errnos and host errors into the returned errno. Checks the
   * use's deadline first: every path call walks host directories, and some copy a host file into
   * the overlay.
   */
  function guarded(body: () => void): number {
    try {
      state.checkDeadline();
      body();
      return Errno.SUCCESS;
    } catch (error) {
      return state.fault(error);
    }
  }

  /** Two paths of one call (rename, link) must lie in the same preopen: EXDEV otherwise, as across mounts. */
  function sameFs(a: DirectoryEntry, b: DirectoryEntry): void {
    if (a.fs !== b.fs) fail(Errno.XDEV);
  }

  return {
    path_open(
      dirFd: number,
      lookupFlags: number,
      pathPtr: number,
      pathLen: number,
      oflags: number,
      rightsBase: bigint,
      rightsInheriting: bigint,
      fdflags: number,
      fdPtr: number,
    ): number {
      return guarded(() => {
        const dir = directoryAt(dirFd, Rights.PATH_OPEN);
        if (typeof dir === 'number') fail(dir);
        if ((oflags & Oflags.CREAT) !== 0 && (dir.rightsBase & Rights.PATH_CREATE_FILE) === 0n) fail(Errno.NOTCAPABLE);
        if ((oflags & Oflags.TRUNC) !== 0 && (dir.rightsBase & Rights.PATH_FILESTAT_SET_SIZE) === 0n) fail(Errno.NOTCAPABLE);
        const { at } = resolveAt(dirFd, Rights.PATH_OPEN, pathPtr, pathLen, (lookupFlags & Lookupflags.SYMLINK_FOLLOW) !== 0);
        const { fs } = dir;

        const write = (fdflags & Fdflags.APPEND) !== 0 || (rightsBase & WRITE_INTENT_RIGHTS) !== 0n;
        const node = at.node;
        let fd: number | undefined;
        if (node !== undefined && isDirectory(node)) {
          if ((oflags & (Oflags.CREAT | Oflags.EXCL)) === (Oflags.CREAT | Oflags.EXCL)) fail(Errno.EXIST);
          // A directory is opened for listing and lookups only: asking to write it or truncate it is
          // EISDIR. Other write-ish rights (FD_DATASYNC…) are simply not granted, as guests open
          // directories asking for every right their parent has.
          if ((oflags & Oflags.TRUNC) !== 0 || (fdflags & Fdflags.APPEND) !== 0 || (rightsBase & Rights.FD_WRITE) !== 0n) {
            fail(Errno.ISDIR);
          }
          fd = fds.add({
            kind: 'directory',
            fs,
            dir: fs.holdDirectory(node as DirNode),
            preopenName: undefined,
            rightsBase: rightsBase & DIRECTORY_RIGHTS & dir.rightsInheriting,
            rightsInheriting: rightsInheriting & dir.rightsInheriting,
            flags: fdflags & 0xffff,
            listing: undefined,
          });
        } else {
          if ((oflags & Oflags.DIRECTORY) !== 0) {
            if (node === undefined && (oflags & Oflags.CREAT) === 0) fail(Errno.NOENT);
            fail(node === undefined ? Errno.INVAL : Errno.NOTDIR);
          }
          const file = fs.openFile(at, {
            create: (oflags & Oflags.CREAT) !== 0,
            exclusive: (oflags & Oflags.EXCL) !== 0,
            truncate: (oflags & Oflags.TRUNC) !== 0,
            read: (rightsBase & Rights.FD_READ) !== 0n,
            write,
          });
          fd = fds.add({
            kind: 'file',
            file,
            position: 0,
            rightsBase: rightsBase & FILE_RIGHTS & dir.rightsInheriting,
            rightsInheriting: 0n,
            flags: fdflags & 0xffff,
          });
          if (fd === undefined) file.close();
        }
        if (fd === undefined) fail(Errno.MFILE);
        memory.refresh();
        memory.view.setUint32(fdPtr >>> 0, fd, true);
      });
    },

    path_filestat_get(dirFd: number, lookupFlags: number, pathPtr: number, pathLen: number, statPtr: number): number {
      return guarded(() => {
        const follow = (lookupFlags & Lookupflags.SYMLINK_FOLLOW) !== 0;
        const { dir, at } = resolveAt(dirFd, Rights.PATH_FILESTAT_GET, pathPtr, pathLen, follow);
        if (at.node === undefined) fail(Errno.NOENT);
        const stat = dir.fs.stat(at.node);
        memory.refresh();
        writeFilestat(memory.view, statPtr >>> 0, stat);
      });
    },

    path_readlink(dirFd: number, pathPtr: number, pathLen: number, bufPtr: number, bufLen: number, usedPtr: number): number {
      return guarded(() => {
        const { at } = resolveAt(dirFd, Rights.PATH_READLINK, pathPtr, pathLen, false);
        if (at.node === undefined) fail(Errno.NOENT);
        if (at.node.kind !== 'symlink' && !(at.node.kind === 'host' && at.node.stats.isSymbolicLink())) fail(Errno.INVAL);
        const target = Buffer.from(readlink(at.node));
        bufPtr >>>= 0;
        const n = Math.min(target.length, bufLen >>> 0); // truncated like readlink(2)
        memory.refresh();
        if (!memory.contains(bufPtr, n)) fail(Errno.FAULT);
        memory.bytes.set(target.subarray(0, n), bufPtr);
        memory.view.setUint32(usedPtr >>> 0, n, true);
      });
    },

    path_create_directory(dirFd: number, pathPtr: number, pathLen: number): number {
      return guarded(() => {
        const { dir, at } = resolveAt(dirFd, Rights.PATH_CREATE_DIRECTORY, pathPtr, pathLen, false);
        dir.fs.mkdir(at);
      });
    },

    path_filestat_set_times(
      dirFd: number,
      lookupFlags: number,
      pathPtr: number,
      pathLen: number,
      atim: bigint,
      mtim: bigint,
      fstFlags: number,
    ): number {
      return guarded(() => {
        const updates = timeUpdates(atim, mtim, fstFlags);
        const follow = (lookupFlags & Lookupflags.SYMLINK_FOLLOW) !== 0;
        const { dir, at } = resolveAt(dirFd, Rights.PATH_FILESTAT_SET_TIMES, pathPtr, pathLen, follow);
        dir.fs.setTimes(at, updates[0], updates[1]);
      });
    },

    path_link(
      oldFd: number,
      oldFlags: number,
      oldPathPtr: number,
      oldPathLen: number,
      newFd: number,
      newPathPtr: number,
      newPathLen: number,
    ): number {
      return guarded(() => {
        const from = resolveAt(oldFd, Rights.PATH_LINK_SOURCE, oldPathPtr, oldPathLen, (oldFlags & Lookupflags.SYMLINK_FOLLOW) !== 0);
        const to = resolveAt(newFd, Rights.PATH_LINK_TARGET, newPathPtr, newPathLen, false);
        sameFs(from.dir, to.dir);
        to.dir.fs.link(from.at, to.at);
      });
    },

    path_remove_directory(dirFd: number, pathPtr: number, pathLen: number): number {
      return guarded(() => {
        const { dir, at } = resolveAt(dirFd, Rights.PATH_REMOVE_DIRECTORY, pathPtr, pathLen, false);
        dir.fs.rmdir(at);
      });
    },

    path_rename(oldFd: number, oldPathPtr: number, oldPathLen: number, newFd: number, newPathPtr: number, newPathLen: number): number {
      return guarded(() => {
        const from = resolveAt(oldFd, Rights.PATH_RENAME_SOURCE, oldPathPtr, oldPathLen, false);
        const to = resolveAt(newFd, Rights.PATH_RENAME_TARGET, newPathPtr, newPathLen, false);
        sameFs(from.dir, to.dir);
        to.dir.fs.rename(from.at, to.at);
      });
    },

    path_symlink(oldPathPtr: number, oldPathLen: number, dirFd: number, newPathPtr: number, newPathLen: number): number {
      return guarded(() => {
        const target = guestString(oldPathPtr, oldPathLen);
        if (typeof target === 'number') fail(target);
        const { dir, at } = resolveAt(dirFd, Rights.PATH_SYMLINK, newPathPtr, newPathLen, false);
        dir.fs.symlink(target, at);
      });
    },

    path_unlink_file(dirFd: number, pathPtr: number, pathLen: number): number {
      return guarded(() => {
        const { dir, at } = resolveAt(dirFd, Rights.PATH_UNLINK_FILE, pathPtr, pathLen, false);
        dir.fs.unlink(at);
      });
    },
  };
}

/** The time updates fst_flags asks for; EINVAL when it asks for a time and "now" at once. */
export function timeUpdates(atim: bigint, mtim: bigint, fstFlags: number): [TimeUpdate, TimeUpdate] {
  if ((fstFlags & ~0xf) !== 0) fail(Errno.INVAL);
  if ((fstFlags & Fstflags.ATIM) !== 0 && (fstFlags & Fstflags.ATIM_NOW) !== 0) fail(Errno.INVAL);
  if ((fstFlags & Fstflags.MTIM) !== 0 && (fstFlags & Fstflags.MTIM_NOW) !== 0) fail(Errno.INVAL);
  const a: TimeUpdate = (fstFlags & Fstflags.ATIM_NOW) !== 0 ? 'now' : (fstFlags & Fstflags.ATIM) !== 0 ? atim : undefined;
  const m: TimeUpdate = (fstFlags & Fstflags.MTIM_NOW) !== 0 ? 'now' : (fstFlags & Fstflags.MTIM) !== 0 ? mtim : undefined;
  return [a, m];
}
