/**
 * The imports cowpool builds for the SQLite module in place of emscripten's glue: the forty
 * functions the glue would provide (its syscalls over MEMFS, its clock, its heap growth), written for
 * a database that lives only in memory, so that nothing about the guest is kept on the JS side and
 * nothing can persist:
 *
 * - no file system: every path-based call fails with an errno (`ENOENT` to look, `EACCES` to open
 *   or create), so SQLite's `ATTACH '/x.db'` and friends fail with `SQLITE_CANTOPEN`; the exceptions
 *   are the current use's host files (`host-files.ts`: the database an image is made from, the file
 *   `export()` writes), which exist only for the cowpool code that opens them;
 * - one exception, `/dev/urandom`, which is how SQLite's unix VFS seeds its PRNG: it reads
 *   `crypto.getRandomValues` through the WASI host's `cryptoRandom` (opening it gives a fixed
 *   descriptor; nothing is kept open);
 * - clock in UTC (a sandbox should not learn the server's zone), an empty environment, no timers;
 * - the heap never grows past the memory's size when the imports are made (`emscripten_resize_heap`
 *   is refused): an allocation beyond it fails, which SQLite reports as `SQLITE_NOMEM`;
 * - writes to stdout and stderr are dropped; `abort`, `exit` and failed assertions are
 *   {@link GuestTrapError}.
 */
import { GuestTrapError } from '../errors.js';
import { discardingFdWrite, emptyEnvironImports, resizeHeapImport, utcTimeImports } from '../emscripten/runtime.js';
import { readCString } from '../emscripten/c-strings.js';
import { cryptoRandom } from '../wasi/random.js';
import { IMPORTS, MEMORY_EXPORT } from './abi.js';
import type { HostFiles, OpenHostFile } from './host-files.js';

/** What the imports know about the current use. A new one per use; nothing in it outlives the use. */
export class UseState {
  /** True once the heap asked to grow past the memory and was refused (the memory is full). */
  heapExhausted = false;
  /** How many times SQLite opened `/dev/urandom` (reseeded its PRNG). */
  randomSeeds = 0;
  /** The files SQLite may open during this use (none unless cowpool's own code gives some). */
  files: HostFiles | undefined = undefined;
  /** Each running aggregate's accumulator, by the address SQLite gives its group. */
  readonly aggregates = new Map<number, unknown>();
  /** What a user-defined function threw, which the use's error then carries as its cause. */
  functionError: unknown = undefined;
}

/** The name under which the rewritten module imports its memory (from namespace `a`). */
export const MEMORY_IMPORT = { module: 'a', name: MEMORY_EXPORT } as const;

// Emscripten numbers errno as WASI does.
const EACCES = 2;
const EBADF = 8;
const EINVAL = 28;
const ENODEV = 43;
const ENOENT = 44;
const ENOSYS = 52;
const ESPIPE = 70;
/** The descriptor `/dev/urandom` opens as (SQLite refuses 0 to 2). */
const URANDOM_FD = 3;
const URANDOM = '/dev/urandom';
/** `__WASI_FILETYPE_CHARACTER_DEVICE`, `__WASI_FILETYPE_REGULAR_FILE`. */
const CHARACTER_DEVICE = 2;
const REGULAR_FILE = 4;
/** `O_ACCMODE`, `O_TRUNC` (musl's numbering, which emscripten uses). */
const ACCESS_MODE = 3;
const TRUNCATE = 0o1000;
/** fcntl's commands (emscripten numbers them as musl's 64-bit ones): F_GETFD … F_SETLKW. */
const F_GETFL = 3;
const F_GETLK = 12;
/** `F_UNLCK`: what `F_GETLK` reports, since nothing else ever holds a lock. */
const UNLOCKED = 2;
/** `S_IFREG | 0644`, and without the write bits. */
const FILE_MODE = 0o100644;
const READ_ONLY_FILE_MODE = 0o100444;
/** `struct stat` as emscripten lays it out (wasm32). */
const STAT_BYTES = 96;

/**
 * The imports of one SQLite instance on `wasmMemory`, whose current use's state `use()` returns
 * (the pool's `host.context`). The heap is capped at the memory's size when the imports are made
 * (pooled memories are sized for the memory limit and never grow: a grown memory cannot shrink, and
 * its slot would be retired), unless `growable` (image time, where setup may need room).
 */
export function sqliteImports(wasmMemory: WebAssembly.Memory, use: () => UseState | undefined, growable = false): WebAssembly.Imports {
  const cap = growable ? 2 ** 31 : wasmMemory.buffer.byteLength;
  const utc = utcTimeImports(() => wasmMemory);
  const environ = emptyEnvironImports(() => wasmMemory);
  const view = () => new DataView(wasmMemory.buffer);
  const path = (ptr: number) => readCString(wasmMemory, ptr);
  const noPath = () => -ENOENT;
  const files = () => use()?.files;
  const hostFd = (fd: number): OpenHostFile | undefined => (fd >= URANDOM_FD + 1 ? files()?.fd(fd) : undefined);
  const atPath = (ptr: number) => files()?.at(path(ptr));
  const stat = (file: OpenHostFile['file'] | undefined, buf: number): number => {
    if (file === undefined) return -ENOENT;
    const dv = new DataView(wasmMemory.buffer, buf, STAT_BYTES);
    new Uint8Array(wasmMemory.buffer, buf, STAT_BYTES).fill(0);
    dv.setInt32(0, 1, true); // st_dev
    dv.setInt32(4, file.writable ? FILE_MODE : READ_ONLY_FILE_MODE, true);
    dv.setUint32(8, 1, true); // st_nlink: one (SQLite warns about a database with none or several)
    dv.setBigInt64(24, BigInt(file.size), true);
    dv.setInt32(32, 4096, true); // st_blksize
    dv.setInt32(36, Math.ceil(file.size / 512), true); // st_blocks
    dv.setBigInt64(88, BigInt(file.inode), true);
    return 0;
  };
  const transfer = (open: OpenHostFile, iov: number, iovcnt: number, done: number, write: boolean): number => {
    if (write && !open.file.writable) return EBADF;
    const dv = view();
    let total = 0;
    for (let i = 0; i < iovcnt; i++) {
      const bytes = new Uint8Array(wasmMemory.buffer, dv.getUint32(iov + 8 * i, true), dv.getUint32(iov + 8 * i + 4, true));
      if (write) open.file.write(open.position, bytes);
      const n = write ? bytes.length : open.file.read(open.position, bytes);
      open.position += n;
      total += n;
      if (n < bytes.length) break;
    }
    dv.setUint32(done, total, true);
    return 0;
  };
  const discard = discardingFdWrite(() => wasmMemory);
  const functions: Record<string, (...args: never[]) => unknown> = {
    [IMPORTS.assertFail.name]: (condition: number, file: number, line: number) => {
      throw new GuestTrapError(`SQLite assertion failed: ${path(condition)} at ${path(file)}:${line}`);
    },
    [IMPORTS.abort.name]: () => {
      throw new GuestTrapError('SQLite aborted');
    },
    [IMPORTS.procExit.name]: (code: number) => {
      throw new GuestTrapError(`SQLite called exit(${code})`);
    },
    [IMPORTS.legacyExtensionWarning.name]: () => {},
    [IMPORTS.keepaliveClear.name]: () => {},

    [IMPORTS.sysOpenat.name]: (_dirfd: number, name: number, flags: number) => {
      const file = atPath(name);
      if (file !== undefined) {
        // Asked for writing, a read-only file says EACCES, and SQLite opens it read-only instead.
        if ((flags & ACCESS_MODE) !== 0 && !file.writable) return -EACCES;
        if ((flags & TRUNCATE) !== 0) file.truncate(0);
        return files()!.open(file);
      }
      // Read-only (O_ACCMODE == 0) /dev/urandom is the one thing there is besides.
      if ((flags & ACCESS_MODE) === 0 && path(name) === URANDOM) {
        const state = use();
        if (state) state.randomSeeds++;
        return URANDOM_FD;
      }
      return -EACCES;
    },
    [IMPORTS.fdRead.name]: (fd: number, iov: number, iovcnt: number, read: number) => {
      const open = hostFd(fd);
      if (open !== undefined) return transfer(open, iov, iovcnt, read, false);
      if (fd !== URANDOM_FD) return EBADF;
      const dv = view();
      let total = 0;
      for (let i = 0; i < iovcnt; i++) {
        const ptr = dv.getUint32(iov + 8 * i, true);
        const len = dv.getUint32(iov + 8 * i + 4, true);
        cryptoRandom(new Uint8Array(wasmMemory.buffer, ptr, len));
        total += len;
      }
      dv.setUint32(read, total, true);
      return 0;
    },
    [IMPORTS.fdWrite.name]: (fd: number, iov: number, iovcnt: number, written: number) => {
      const open = hostFd(fd);
      return open !== undefined ? transfer(open, iov, iovcnt, written, true) : discard(fd, iov, iovcnt, written);
    },
    [IMPORTS.fdClose.name]: (fd: number) => (fd === URANDOM_FD || files()?.close(fd) ? 0 : EBADF),
    [IMPORTS.fdSeek.name]: (fd: number, offset: bigint, whence: number, newOffset: number) => {
      const open = hostFd(fd);
      if (open === undefined) return ESPIPE;
      const base = whence === 0 ? 0 : whence === 1 ? open.position : open.file.size;
      const position = base + Number(offset);
      if (!(position >= 0)) return EINVAL;
      open.position = position;
      view().setBigInt64(newOffset, BigInt(position), true);
      return 0;
    },
    [IMPORTS.fdSync.name]: (fd: number) => (hostFd(fd) !== undefined ? 0 : EBADF),
    [IMPORTS.fdFdstatGet.name]: (fd: number, stat: number) => {
      const open = hostFd(fd);
      if (fd > 2 && fd !== URANDOM_FD && open === undefined) return EBADF;
      new Uint8Array(wasmMemory.buffer, stat, 24).fill(0)[0] = open !== undefined ? REGULAR_FILE : CHARACTER_DEVICE;
      return 0;
    },
    [IMPORTS.sysFcntl64.name]: (fd: number, cmd: number, varargs: number) => {
      const open = hostFd(fd);
      if (open === undefined) return fd === URANDOM_FD ? 0 : -EBADF;
      // Locks always succeed: one process, one connection per file.
      if (cmd === F_GETLK) new DataView(wasmMemory.buffer).setInt16(view().getUint32(varargs, true), UNLOCKED, true);
      if (cmd === F_GETFL) return open.file.writable ? 2 : 0;
      return 0;
    },
    [IMPORTS.sysFstat64.name]: (fd: number, buf: number) => (hostFd(fd) ? stat(hostFd(fd)!.file, buf) : -EBADF),
    [IMPORTS.sysFchown32.name]: (fd: number) => (hostFd(fd) ? 0 : -EBADF),
    [IMPORTS.sysFchmod.name]: (fd: number) => (hostFd(fd) ? 0 : -EBADF),
    [IMPORTS.sysFtruncate64.name]: (fd: number, length: bigint) => {
      const open = hostFd(fd);
      if (open === undefined || !open.file.writable) return -EBADF;
      open.file.truncate(Number(length));
      return 0;
    },
    [IMPORTS.sysStat64.name]: (name: number, buf: number) => stat(atPath(name), buf),
    [IMPORTS.sysLstat64.name]: (name: number, buf: number) => stat(atPath(name), buf),
    [IMPORTS.sysNewfstatat.name]: (_dirfd: number, name: number, buf: number) => stat(atPath(name), buf),
    [IMPORTS.sysFaccessat.name]: (_dirfd: number, name: number) => (atPath(name) !== undefined ? 0 : -ENOENT),
    [IMPORTS.sysChmod.name]: noPath,
    [IMPORTS.sysUtimensat.name]: noPath,
    [IMPORTS.sysUnlinkat.name]: noPath,
    [IMPORTS.sysRmdir.name]: noPath,
    [IMPORTS.sysReadlinkat.name]: noPath,
    [IMPORTS.sysMkdirat.name]: () => -EACCES,
    [IMPORTS.sysGetcwd.name]: (buf: number, size: number) => {
      if (size < 2) return -EINVAL;
      new Uint8Array(wasmMemory.buffer, buf, 2).set([0x2f, 0]);
      return 2;
    },
    [IMPORTS.sysGetuid.name]: () => 0,
    [IMPORTS.mmap.name]: () => -ENODEV,
    [IMPORTS.munmap.name]: () => -EINVAL,

    [IMPORTS.environGet.name]: environ.environGet,
    [IMPORTS.environSizesGet.name]: environ.environSizesGet,
    [IMPORTS.getNow.name]: () => performance.now(),
    [IMPORTS.dateNow.name]: () => Date.now(),
    [IMPORTS.localtime.name]: utc.localtime,
    [IMPORTS.tzset.name]: utc.tzset,
    [IMPORTS.setitimer.name]: () => ENOSYS,

    [IMPORTS.getHeapMax.name]: () => cap,
    [IMPORTS.resizeHeap.name]: resizeHeapImport(wasmMemory, cap, () => {
      const state = use();
      if (state) state.heapExhausted = true;
    }),
  };
  return { a: { ...functions, [MEMORY_IMPORT.name]: wasmMemory } };
}
