/**
 * preview1 fd_* functions: the standard streams of the use's context, files and the directories
 * granted to the guest.
 *
 * Errno conventions (POSIX where POSIX speaks, WASI rights otherwise):
 * - a read on something not opened for reading / a write on something not opened for writing: EBADF;
 * - seek/tell/pread/pwrite on a stream: ESPIPE; read or write on a directory: EISDIR;
 * - a change under a read-only preopen: EROFS;
 * - an operation the fd's rights do not allow: ENOTCAPABLE.
 * The kind of descriptor is checked before rights and before the mode, so a directory given to a
 * file-only call answers the same in every mode.
 *
 * Limits: every call that moves bytes or may copy a file into the overlay first checks the use's
 * deadline (`state.checkDeadline()`); what goes to stdout and stderr counts against the context's
 * output limit before a sink sees it.
 */

import { ClockId, Errno, Fdflags, Filetype, Layout, Preopentype, Rights, Whence, type ErrnoValue } from './abi.js';
import type { FdEntry, FileEntry } from './fd-table.js';
import { writeFilestat } from './fs/filestat.js';
import { timeUpdates } from './calls-path.js';
import type { WasiState } from './state.js';

/**
 * The filetype reported for fds 0-2: UNKNOWN, what wasmtime reports for a pipe, not
 * CHARACTER_DEVICE. A CGI script's streams are pipes, and wasi-libc's isatty() takes a character
 * device without seek/tell rights for a terminal: stdout then becomes line-buffered (measured: one
 * fd_write per printf line instead of one per 1 KiB buffer) and interpreters such as Python turn
 * interactive.
 */
export const STREAM_FILETYPE = Filetype.UNKNOWN;

const ALL_FDFLAGS = Fdflags.APPEND | Fdflags.DSYNC | Fdflags.NONBLOCK | Fdflags.RSYNC | Fdflags.SYNC;
const MAX_ADVICE = 5;

/** The fd functions of preview1, closed over `state`. */
export function fdCalls(state: WasiState): WebAssembly.ModuleImports {
  const { memory, fds } = state;

  /** Reads into the iovecs at `iovsPtr` from `file` at `position`; returns bytes read or an errno as negative. */
  function readFileInto(file: FileEntry, iovsPtr: number, iovsLen: number, position: number): number {
    const view = memory.view;
    const bytes = memory.bytes;
    let total = 0;
    for (let i = 0; i < iovsLen; i++) {
      const buf = view.getUint32(iovsPtr + i * Layout.IOVEC_SIZE, true);
      const len = view.getUint32(iovsPtr + i * Layout.IOVEC_SIZE + 4, true);
      if (len === 0) continue;
      if (buf + len > bytes.length) return -Errno.FAULT;
      const n = file.file.read(bytes.subarray(buf, buf + len), position + total);
      total += n;
      if (n < len) break; // end of file
    }
    return total;
  }

  /** Writes the iovecs at `iovsPtr` to `file` at `position` (its end when undefined); returns bytes written or -errno. */
  function writeFileFrom(file: FileEntry, iovsPtr: number, iovsLen: number, position: number | undefined): number {
    const view = memory.view;
    const bytes = memory.bytes;
    let at = position ?? file.file.size();
    let total = 0;
    for (let i = 0; i < iovsLen; i++) {
      const buf = view.getUint32(iovsPtr + i * Layout.IOVEC_SIZE, true);
      const len = view.getUint32(iovsPtr + i * Layout.IOVEC_SIZE + 4, true);
      if (len === 0) continue;
      if (buf + len > bytes.length) return -Errno.FAULT;
      const n = file.file.write(bytes.subarray(buf, buf + len), at);
      at += n;
      total += n;
    }
    return total;
  }

  /** The fd's entry if it is a regular file holding `right`, else the errno why not. */
  function fileAt(fd: number, right: bigint): FileEntry | ErrnoValue {
    const entry = fds.get(fd >>> 0);
    if (entry === undefined) return Errno.BADF;
    if (entry.kind === 'stream') return Errno.SPIPE;
    if (entry.kind === 'directory') return Errno.ISDIR;
    if ((entry.rightsBase & right) === 0n) return Errno.NOTCAPABLE;
    return entry;
  }

  /**
   * The fd's entry for a read or write at an explicit offset (`fd_pread`, `fd_pwrite`), else the
   * errno why not, in the order the preview1 tests expect: no fd, not seekable, a directory, not
   * open for `access` (BADF, as for a plain read or write), no seek right, a bad offset.
   */
  function positionedFile(fd: number, access: bigint, offset: bigint): FileEntry | ErrnoValue {
    const entry = fds.get(fd >>> 0);
    if (entry === undefined) return Errno.BADF;
    if (entry.kind === 'stream') return Errno.SPIPE;
    if (entry.kind === 'directory') return Errno.ISDIR;
    if ((entry.rightsBase & access) === 0n) return Errno.BADF;
    if ((entry.rightsBase & Rights.FD_SEEK) === 0n) return Errno.NOTCAPABLE;
    if (offset < 0n || offset > BigInt(Number.MAX_SAFE_INTEGER)) return Errno.INVAL;
    return entry;
  }

  /**
   * `fd_pread` and `fd_pwrite`: `transfer` moves the iovecs' bytes at `offset` of a positioned file
   * (see {@link positionedFile}) and returns the count, or a negated errno; the count goes to `countPtr`.
   */
  function transferAt(
    fd: number,
    access: bigint,
    iovsPtr: number,
    iovsLen: number,
    offset: bigint,
    countPtr: number,
    transfer: (entry: FileEntry, iovsPtr: number, iovsLen: number, at: number) => number,
  ): number {
    try {
      state.checkDeadline();
      const entry = positionedFile(fd, access, offset);
      if (typeof entry === 'number') return entry;
      memory.refresh();
      const n = transfer(entry, iovsPtr >>> 0, iovsLen >>> 0, Number(offset));
      if (n < 0) return -n;
      memory.view.setUint32(countPtr >>> 0, n, true);
      return Errno.SUCCESS;
    } catch (error) {
      return state.fault(error);
    }
  }

  const now = (): bigint => state.clock.now(ClockId.REALTIME) ?? BigInt(Date.now()) * 1_000_000n;

  function readStdin(iovsPtr: number, iovsLen: number): number {
    const view = memory.view;
    const bytes = memory.bytes;
    const stdin = state.context.stdin;
    let total = 0;
    for (let i = 0; i < iovsLen && state.stdinPosition < stdin.length; i++) {
      const buf = view.getUint32(iovsPtr + i * Layout.IOVEC_SIZE, true);
      const len = view.getUint32(iovsPtr + i * Layout.IOVEC_SIZE + 4, true);
      if (len === 0) continue;
      if (buf + len > bytes.length) return -Errno.FAULT;
      const n = Math.min(len, stdin.length - state.stdinPosition);
      bytes.set(stdin.subarray(state.stdinPosition, state.stdinPosition + n), buf);
      state.stdinPosition += n;
      total += n;
    }
    return total;
  }

  function statOf(entry: FdEntry, ptr: number): ErrnoValue {
    if (entry.kind === 'stream') writeFilestat(memory.view, ptr, undefined, STREAM_FILETYPE);
    else if (entry.kind === 'file') writeFilestat(memory.view, ptr, entry.file.stat());
    else writeFilestat(memory.view, ptr, entry.fs.stat(entry.dir));
    return Errno.SUCCESS;
  }

  function syncCall(fd: number, right: bigint): number {
    try {
      const entry = fds.get(fd >>> 0);
      if (entry === undefined) return Errno.BADF;
      if (entry.kind === 'stream') return Errno.INVAL;
      if ((entry.rightsBase & right) === 0n) return Errno.NOTCAPABLE;
      if (entry.kind === 'file') entry.file.sync();
      return Errno.SUCCESS;
    } catch (error) {
      return state.fault(error);
    }
  }

  return {
    fd_write(fd: number, iovsPtr: number, iovsLen: number, nwrittenPtr: number): number {
      try {
        state.checkDeadline();
        const entry = fds.get(fd >>> 0);
        if (entry === undefined) return Errno.BADF;
        if (entry.kind === 'file') {
          if ((entry.rightsBase & Rights.FD_WRITE) === 0n) return Errno.BADF;
          memory.refresh();
          const append = (entry.flags & Fdflags.APPEND) !== 0;
          const n = writeFileFrom(entry, iovsPtr >>> 0, iovsLen >>> 0, append ? undefined : entry.position);
          if (n < 0) return -n;
          entry.position = append ? entry.file.size() : entry.position + n;
          memory.view.setUint32(nwrittenPtr >>> 0, n, true);
          return Errno.SUCCESS;
        }
        // A directory is never open for writing: EBADF, as write(2) answers.
        if (entry.kind === 'directory' || entry.stream === 0 || (entry.rightsBase & Rights.FD_WRITE) === 0n) return Errno.BADF;
        const sink = entry.stream === 1 ? state.context.stdout : state.context.stderr;
        memory.refresh();
        const view = memory.view;
        const bytes = memory.bytes;
        iovsPtr >>>= 0;
        iovsLen >>>= 0;
        // The whole call is counted against the output limit before any of it reaches the sink.
        let total = 0;
        for (let i = 0; i < iovsLen; i++) {
          const buf = view.getUint32(iovsPtr + i * Layout.IOVEC_SIZE, true);
          const len = view.getUint32(iovsPtr + i * Layout.IOVEC_SIZE + 4, true);
          if (len !== 0 && buf + len > bytes.length) return Errno.FAULT;
          total += len;
        }
        state.chargeOutput(total);
        for (let i = 0; i < iovsLen; i++) {
          const buf = view.getUint32(iovsPtr + i * Layout.IOVEC_SIZE, true);
          const len = view.getUint32(iovsPtr + i * Layout.IOVEC_SIZE + 4, true);
          if (len !== 0) sink(bytes.subarray(buf, buf + len));
        }
        view.setUint32(nwrittenPtr >>> 0, total, true);
        return Errno.SUCCESS;
      } catch (error) {
        return state.fault(error);
      }
    },

    fd_read(fd: number, iovsPtr: number, iovsLen: number, nreadPtr: number): number {
      try {
        state.checkDeadline();
        const entry = fds.get(fd >>> 0);
        if (entry === undefined) return Errno.BADF;
        if (entry.kind === 'directory') return Errno.ISDIR;
        if ((entry.rightsBase & Rights.FD_READ) === 0n) return Errno.BADF;
        if (entry.kind === 'stream' && entry.stream !== 0) return Errno.BADF;
        memory.refresh();
        let n: number;
        if (entry.kind === 'stream') {
          n = readStdin(iovsPtr >>> 0, iovsLen >>> 0);
        } else {
          n = readFileInto(entry, iovsPtr >>> 0, iovsLen >>> 0, entry.position);
          if (n > 0) entry.position += n;
        }
        if (n < 0) return -n;
        memory.view.setUint32(nreadPtr >>> 0, n, true);
        return Errno.SUCCESS;
      } catch (error) {
        return state.fault(error);
      }
    },

    fd_pread(fd: number, iovsPtr: number, iovsLen: number, offset: bigint, nreadPtr: number): number {
      return transferAt(fd, Rights.FD_READ, iovsPtr, iovsLen, offset, nreadPtr, readFileInto);
    },

    // POSIX: pwrite writes at the offset even on an append-mode fd (Linux alone ignores it).
    fd_pwrite(fd: number, iovsPtr: number, iovsLen: number, offset: bigint, nwrittenPtr: number): number {
      return transferAt(fd, Rights.FD_WRITE, iovsPtr, iovsLen, offset, nwrittenPtr, writeFileFrom);
    },

    fd_seek(fd: number, offset: bigint, whence: number, newOffsetPtr: number): number {
      try {
        const entry = fds.get(fd >>> 0);
        if (entry === undefined) return Errno.BADF;
        if (entry.kind === 'stream') return Errno.SPIPE;
        if (entry.kind === 'directory' || (entry.rightsBase & Rights.FD_SEEK) === 0n) return Errno.NOTCAPABLE;
        let base: bigint;
        switch (whence) {
          case Whence.SET:
            base = 0n;
            break;
          case Whence.CUR:
            base = BigInt(entry.position);
            break;
          case Whence.END:
            base = BigInt(entry.file.size());
            break;
          default:
            return Errno.INVAL;
        }
        const target = base + offset;
        if (target < 0n) return Errno.INVAL;
        if (target > BigInt(Number.MAX_SAFE_INTEGER)) return Errno.OVERFLOW;
        memory.refresh();
        memory.view.setBigUint64(newOffsetPtr >>> 0, target, true);
        entry.position = Number(target);
        return Errno.SUCCESS;
      } catch (error) {
        return state.fault(error);
      }
    },

    fd_tell(fd: number, offsetPtr: number): number {
      try {
        const entry = fds.get(fd >>> 0);
        if (entry === undefined) return Errno.BADF;
        if (entry.kind === 'stream') return Errno.SPIPE;
        if (entry.kind === 'directory' || (entry.rightsBase & Rights.FD_TELL) === 0n) return Errno.NOTCAPABLE;
        memory.refresh();
        memory.view.setBigUint64(offsetPtr >>> 0, BigInt(entry.position), true);
        return Errno.SUCCESS;
      } catch (error) {
        return state.fault(error);
      }
    },

    fd_close(fd: number): number {
      return fds.close(fd >>> 0);
    },

    fd_renumber(from: number, to: number): number {
      return fds.renumber(from >>> 0, to >>> 0);
    },

    fd_fdstat_get(fd: number, statPtr: number): number {
      try {
        const entry = fds.get(fd >>> 0);
        if (entry === undefined) return Errno.BADF;
        memory.refresh();
        const view = memory.view;
        statPtr >>>= 0;
        const filetype = entry.kind === 'stream' ? STREAM_FILETYPE : entry.kind === 'file' ? Filetype.REGULAR_FILE : Filetype.DIRECTORY;
        view.setBigUint64(statPtr, 0n, true); // filetype, padding and flags
        view.setUint8(statPtr, filetype);
        view.setUint16(statPtr + 2, entry.flags, true);
        view.setBigUint64(statPtr + 8, entry.rightsBase, true);
        view.setBigUint64(statPtr + 16, entry.rightsInheriting, true);
        return Errno.SUCCESS;
      } catch (error) {
        return state.fault(error);
      }
    },

    fd_fdstat_set_flags(fd: number, flags: number): number {
      const entry = fds.get(fd >>> 0);
      if (entry === undefined) return Errno.BADF;
      if ((entry.rightsBase & Rights.FD_FDSTAT_SET_FLAGS) === 0n) return Errno.NOTCAPABLE;
      if ((flags & ~ALL_FDFLAGS) !== 0) return Errno.INVAL;
      // Everything here is synchronous, so only APPEND changes behaviour (fd_write goes to the end);
      // the rest are remembered so fd_fdstat_get reports what the guest set, as fcntl(F_GETFL) would.
      entry.flags = flags & 0xffff;
      fds.touch();
      return Errno.SUCCESS;
    },

    fd_fdstat_set_rights(fd: number, rightsBase: bigint, rightsInheriting: bigint): number {
      const entry = fds.get(fd >>> 0);
      if (entry === undefined) return Errno.BADF;
      // Rights can only be dropped, never gained.
      if ((rightsBase & ~entry.rightsBase) !== 0n || (rightsInheriting & ~entry.rightsInheriting) !== 0n) {
        return Errno.NOTCAPABLE;
      }
      entry.rightsBase = rightsBase;
      entry.rightsInheriting = rightsInheriting;
      fds.touch();
      return Errno.SUCCESS;
    },

    fd_filestat_get(fd: number, statPtr: number): number {
      try {
        const entry = fds.get(fd >>> 0);
        if (entry === undefined) return Errno.BADF;
        memory.refresh();
        return statOf(entry, statPtr >>> 0);
      } catch (error) {
        return state.fault(error);
      }
    },

    fd_filestat_set_size(fd: number, size: bigint): number {
      try {
        // The descriptor's kind first: a directory is never truncated, whatever the mode or rights.
        const entry = fds.get(fd >>> 0);
        if (entry === undefined) return Errno.BADF;
        if (entry.kind === 'directory') return Errno.ISDIR;
        if (entry.kind === 'stream') return Errno.INVAL;
        if ((entry.rightsBase & Rights.FD_FILESTAT_SET_SIZE) === 0n) return Errno.NOTCAPABLE;
        if (size < 0n || size > BigInt(Number.MAX_SAFE_INTEGER)) return Errno.INVAL;
        state.checkDeadline();
        entry.file.truncate(Number(size));
        return Errno.SUCCESS;
      } catch (error) {
        return state.fault(error);
      }
    },

    fd_filestat_set_times(fd: number, atim: bigint, mtim: bigint, fstFlags: number): number {
      try {
        const entry = fds.get(fd >>> 0);
        if (entry === undefined) return Errno.BADF;
        if (entry.kind === 'stream') return Errno.NOTCAPABLE;
        if ((entry.rightsBase & Rights.FD_FILESTAT_SET_TIMES) === 0n) return Errno.NOTCAPABLE;
        const updates = timeUpdates(atim, mtim, fstFlags);
        state.checkDeadline(); // may copy a host file into the overlay
        if (entry.kind === 'file') entry.file.setTimes(updates[0], updates[1], now());
        else entry.fs.setTimes({ parent: undefined, name: '.', node: entry.dir, mustBeDirectory: true }, updates[0], updates[1]);
        return Errno.SUCCESS;
      } catch (error) {
        return state.fault(error);
      }
    },

    fd_advise(fd: number, offset: bigint, len: bigint, advice: number): number {
      const entry = fds.get(fd >>> 0);
      if (entry === undefined) return Errno.BADF;
      if (entry.kind === 'stream') return Errno.SPIPE;
      if (entry.kind === 'directory') return Errno.BADF;
      if (offset < 0n || len < 0n) return Errno.INVAL;
      return advice >>> 0 > MAX_ADVICE ? Errno.INVAL : Errno.SUCCESS; // advice is a hint
    },

    fd_allocate(fd: number, offset: bigint, len: bigint): number {
      try {
        const entry = fileAt(fd, Rights.FD_ALLOCATE);
        if (typeof entry === 'number') return entry === Errno.ISDIR ? Errno.BADF : entry;
        if (offset < 0n || len <= 0n) return Errno.INVAL;
        const end = offset + len;
        if (end > BigInt(Number.MAX_SAFE_INTEGER)) return Errno.FBIG;
        // Space is reserved by growing the file: there is no sparse allocation to ask for here.
        state.checkDeadline();
        if (Number(end) > entry.file.size()) entry.file.truncate(Number(end));
        return Errno.SUCCESS;
      } catch (error) {
        return state.fault(error);
      }
    },

    fd_datasync(fd: number): number {
      return syncCall(fd, Rights.FD_DATASYNC);
    },

    fd_sync(fd: number): number {
      return syncCall(fd, Rights.FD_SYNC);
    },

    fd_prestat_get(fd: number, prestatPtr: number): number {
      try {
        const entry = fds.get(fd >>> 0);
        // wasi-libc scans fds from 3 upwards until EBADF to find the preopens.
        if (entry === undefined || entry.kind !== 'directory' || entry.preopenName === undefined) return Errno.BADF;
        memory.refresh();
        const view = memory.view;
        prestatPtr >>>= 0;
        view.setUint32(prestatPtr, 0, true); // tag u8 + padding
        view.setUint8(prestatPtr, Preopentype.DIR);
        view.setUint32(prestatPtr + 4, entry.preopenName.length, true);
        return Errno.SUCCESS;
      } catch (error) {
        return state.fault(error);
      }
    },

    fd_prestat_dir_name(fd: number, pathPtr: number, pathLen: number): number {
      try {
        const entry = fds.get(fd >>> 0);
        if (entry === undefined || entry.kind !== 'directory' || entry.preopenName === undefined) return Errno.BADF;
        pathPtr >>>= 0;
        if (pathLen >>> 0 < entry.preopenName.length) return Errno.NAMETOOLONG;
        memory.refresh();
        if (!memory.contains(pathPtr, entry.preopenName.length)) return Errno.FAULT;
        memory.bytes.set(entry.preopenName, pathPtr);
        return Errno.SUCCESS;
      } catch (error) {
        return state.fault(error);
      }
    },

    fd_readdir(fd: number, bufPtr: number, bufLen: number, cookie: bigint, bufUsedPtr: number): number {
      try {
        const entry = fds.get(fd >>> 0);
        if (entry === undefined) return Errno.BADF;
        if (entry.kind !== 'directory') return Errno.NOTDIR;
        if ((entry.rightsBase & Rights.FD_READDIR) === 0n) return Errno.NOTCAPABLE;
        state.checkDeadline();
        if (entry.listing === undefined || cookie === 0n) {
          if (entry.listing !== undefined) entry.fs.forget(entry.listing);
          entry.listing = undefined;
          fds.touch();
          entry.listing = entry.fs.list(entry.dir);
        }
        bufPtr >>>= 0;
        bufLen >>>= 0;
        memory.refresh();
        if (!memory.contains(bufPtr, bufLen)) return Errno.FAULT;
        const out = memory.bytes.subarray(bufPtr, bufPtr + bufLen);
        // Each entry is a 24-byte dirent followed by its name. The last one may be cut short: a
        // full buffer tells the guest to call again from that entry's cookie.
        const header = new DataView(new ArrayBuffer(Layout.DIRENT_SIZE));
        const headerBytes = new Uint8Array(header.buffer);
        let used = 0;
        const listing = entry.listing.entries;
        for (let i = cookie > BigInt(listing.length) ? listing.length : Number(cookie); i < listing.length && used < bufLen; i++) {
          const item = listing[i] as (typeof listing)[number];
          header.setBigUint64(0, BigInt(i + 1), true);
          header.setBigUint64(8, item.ino, true);
          header.setUint32(16, item.name.length, true);
          header.setUint32(20, 0, true);
          header.setUint8(20, item.filetype);
          const headerPart = Math.min(Layout.DIRENT_SIZE, bufLen - used);
          out.set(headerBytes.subarray(0, headerPart), used);
          used += headerPart;
          const namePart = Math.min(item.name.length, bufLen - used);
          out.set(item.name.subarray(0, namePart), used);
          used += namePart;
        }
        memory.view.setUint32(bufUsedPtr >>> 0, used, true);
        return Errno.SUCCESS;
      } catch (error) {
        return state.fault(error);
      }
    },
  };
}
