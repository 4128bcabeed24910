// preview1 path_* functions over the directories granted to the guest. Read-only: opening, stat and
// readlink work beneath a granted directory; everything that would change the file system answers
// EROFS. Resolution never leaves the directory (see path-resolver.ts).

import { constants, fstatSync, openSync, closeSync, readlinkSync, statSync } from 'node:fs';
import {
  Errno,
  Fdflags,
  Lookupflags,
  Oflags,
  READ_ONLY_DIRECTORY_RIGHTS,
  READ_ONLY_FILE_RIGHTS,
  Rights,
  WRITE_INTENT_RIGHTS,
  type ErrnoValue,
} from './abi.js';
import type { DirectoryEntry } from './fd-table.js';
import { writeFilestat } from './filestat.js';
import { resolveBeneath, type ResolvedPath } from './path-resolver.js';
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
   * The host path a guest path names under directory `dirFd` (which must hold `right`), resolved
   * without leaving the directory, or the errno for why not.
   */
  function resolveAt(
    dirFd: number,
    right: bigint,
    pathPtr: number,
    pathLen: number,
    follow: boolean,
  ): { dir: DirectoryEntry; resolved: ResolvedPath } | ErrnoValue {
    const dir = directoryAt(dirFd, right);
    if (typeof dir === 'number') return dir;
    const path = guestString(pathPtr, pathLen);
    if (typeof path === 'number') return path;
    const resolved = resolveBeneath(dir.hostPath, path, follow);
    return typeof resolved === 'number' ? resolved : { dir, resolved };
  }

  /** Any change to the file system: EROFS once the directory fd is valid. */
  function readOnly(fd: number): number {
    const dir = directoryAt(fd, 0n);
    return typeof dir === 'number' ? dir : Errno.ROFS;
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
      try {
        const at = resolveAt(dirFd, Rights.PATH_OPEN, pathPtr, pathLen, (lookupFlags & Lookupflags.SYMLINK_FOLLOW) !== 0);
        if (typeof at === 'number') return at;
        const { dir, resolved } = at;

        const wantsWrite =
          (oflags & (Oflags.CREAT | Oflags.TRUNC)) !== 0 ||
          (fdflags & Fdflags.APPEND) !== 0 ||
          (rightsBase & WRITE_INTENT_RIGHTS) !== 0n;
        const stats = resolved.stats;
        if (stats === undefined) return wantsWrite && (oflags & Oflags.CREAT) !== 0 ? Errno.ROFS : Errno.NOENT;
        if ((oflags & (Oflags.CREAT | Oflags.EXCL)) === (Oflags.CREAT | Oflags.EXCL)) return Errno.EXIST;
        if (stats.isSymbolicLink()) return Errno.LOOP; // O_NOFOLLOW on a symlink, as Linux answers
        if ((oflags & Oflags.DIRECTORY) !== 0 && !stats.isDirectory()) return Errno.NOTDIR;
        if (wantsWrite) return stats.isDirectory() ? Errno.ISDIR : Errno.ROFS;

        let fd: number | undefined;
        if (stats.isDirectory()) {
          fd = fds.add({
            kind: 'directory',
            hostPath: resolved.hostPath,
            preopenName: undefined,
            rightsBase: rightsBase & READ_ONLY_DIRECTORY_RIGHTS & dir.rightsInheriting,
            rightsInheriting: rightsInheriting & dir.rightsInheriting,
            flags: fdflags & 0xffff,
            listing: undefined,
          });
        } else if (stats.isFile()) {
          // O_NOFOLLOW: if the last component became a symlink since the walk, fail instead of following it.
          const hostFd = openSync(resolved.hostPath, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
          const opened = fstatSync(hostFd, { bigint: true });
          if (!opened.isFile() || opened.ino !== stats.ino || opened.dev !== stats.dev) {
            closeSync(hostFd);
            return Errno.AGAIN; // the file changed under us
          }
          fd = fds.add({
            kind: 'file',
            hostFd,
            hostPath: resolved.hostPath,
            stats: opened,
            position: 0,
            rightsBase: rightsBase & READ_ONLY_FILE_RIGHTS & dir.rightsInheriting,
            rightsInheriting: 0n,
            flags: fdflags & 0xffff,
          });
          if (fd === undefined) closeSync(hostFd);
        } else {
          // FIFOs, sockets and devices could block or reach outside the sandbox: not offered.
          return Errno.NOTSUP;
        }
        if (fd === undefined) return Errno.MFILE;
        memory.refresh();
        memory.view.setUint32(fdPtr >>> 0, fd, true);
        return Errno.SUCCESS;
      } catch (error) {
        return state.fault(error);
      }
    },

    path_filestat_get(dirFd: number, lookupFlags: number, pathPtr: number, pathLen: number, statPtr: number): number {
      try {
        const follow = (lookupFlags & Lookupflags.SYMLINK_FOLLOW) !== 0;
        const at = resolveAt(dirFd, Rights.PATH_FILESTAT_GET, pathPtr, pathLen, follow);
        if (typeof at === 'number') return at;
        const { resolved } = at;
        if (resolved.stats === undefined) return Errno.NOENT;
        // resolveBeneath returns lstat; a followed path has no symlink left, so this equals stat.
        const stats = resolved.stats.isSymbolicLink() && follow ? statSync(resolved.hostPath, { bigint: true }) : resolved.stats;
        memory.refresh();
        writeFilestat(memory.view, statPtr >>> 0, stats);
        return Errno.SUCCESS;
      } catch (error) {
        return state.fault(error);
      }
    },

    path_readlink(dirFd: number, pathPtr: number, pathLen: number, bufPtr: number, bufLen: number, usedPtr: number): number {
      try {
        const at = resolveAt(dirFd, Rights.PATH_READLINK, pathPtr, pathLen, false);
        if (typeof at === 'number') return at;
        const { resolved } = at;
        if (resolved.stats === undefined) return Errno.NOENT;
        if (!resolved.stats.isSymbolicLink()) return Errno.INVAL;
        const target = readlinkSync(resolved.hostPath, { encoding: 'buffer' });
        bufPtr >>>= 0;
        const n = Math.min(target.length, bufLen >>> 0); // truncated like readlink(2)
        memory.refresh();
        if (!memory.contains(bufPtr, n)) return Errno.FAULT;
        memory.bytes.set(target.subarray(0, n), bufPtr);
        memory.view.setUint32(usedPtr >>> 0, n, true);
        return Errno.SUCCESS;
      } catch (error) {
        return state.fault(error);
      }
    },

    path_create_directory(dirFd: number, _pathPtr: number, _pathLen: number): number {
      return readOnly(dirFd);
    },
    path_filestat_set_times(
      dirFd: number,
      _lookupFlags: number,
      _pathPtr: number,
      _pathLen: number,
      _atim: bigint,
      _mtim: bigint,
      _fstFlags: number,
    ): number {
      return readOnly(dirFd);
    },
    path_link(
      oldFd: number,
      _oldFlags: number,
      _oldPathPtr: number,
      _oldPathLen: number,
      newFd: number,
      _newPathPtr: number,
      _newPathLen: number,
    ): number {
      const old = readOnly(oldFd);
      return old === Errno.ROFS ? readOnly(newFd) : old;
    },
    path_remove_directory(dirFd: number, _pathPtr: number, _pathLen: number): number {
      return readOnly(dirFd);
    },
    path_rename(oldFd: number, _oldPathPtr: number, _oldPathLen: number, newFd: number, _newPathPtr: number, _newPathLen: number): number {
      const old = readOnly(oldFd);
      return old === Errno.ROFS ? readOnly(newFd) : old;
    },
    path_symlink(_oldPathPtr: number, _oldPathLen: number, dirFd: number, _newPathPtr: number, _newPathLen: number): number {
      return readOnly(dirFd);
    },
    path_unlink_file(dirFd: number, _pathPtr: number, _pathLen: number): number {
      return readOnly(dirFd);
    },
  };
}
