/**
 * cowpool's own host for the SQLite module: the forty imports emscripten's glue would provide
 * (its syscalls over MEMFS, its clock, its heap growth), written for a database that lives only in
 * memory, so that nothing about the guest is kept on the JS side and nothing can persist:
 *
 * - no file system: every path-based call fails with an errno (`ENOENT` to look, `EACCES` to open
 *   or create), so SQLite's `ATTACH '/x.db'` and friends fail with `SQLITE_CANTOPEN`;
 * - one exception, `/dev/urandom`, which is how SQLite's unix VFS seeds its PRNG: it reads
 *   `crypto.getRandomValues` (opening it gives a fixed descriptor; nothing is kept open);
 * - clock in UTC (a sandbox should not learn the server's zone), an empty environment, no timers;
 * - the heap never grows past the memory's size when the imports are made (`emscripten_resize_heap`
 *   is refused): an allocation beyond it fails, which SQLite reports as `SQLITE_NOMEM`;
 * - writes to stdout and stderr are dropped; `abort`, `exit` and failed assertions are
 *   {@link GuestTrapError}.
 */
import { GuestTrapError } from '../errors.js';
import { discardingFdWrite, emptyEnvironImports, resizeHeapImport, utcTimeImports } from '../hosting/emscripten-runtime.js';
import { readCString } from '../hosting/strings.js';
import { IMPORTS, MEMORY_EXPORT } from './abi.js';

/** What the host knows about the current use. A new one per use; nothing in it outlives the use. */
export class UseState {
  /** True once the heap asked to grow past the memory and was refused (the memory is full). */
  heapExhausted = false;
  /** How many times SQLite opened `/dev/urandom` (reseeded its PRNG). */
  randomSeeds = 0;
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
/** `__WASI_FILETYPE_CHARACTER_DEVICE`. */
const CHARACTER_DEVICE = 2;

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
  const noFile = () => -EBADF;
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
      // Read-only (O_ACCMODE == 0) /dev/urandom is the one thing there is.
      if ((flags & 3) === 0 && path(name) === URANDOM) {
        const state = use();
        if (state) state.randomSeeds++;
        return URANDOM_FD;
      }
      return -EACCES;
    },
    [IMPORTS.fdRead.name]: (fd: number, iov: number, iovcnt: number, read: number) => {
      if (fd !== URANDOM_FD) return EBADF;
      const dv = view();
      let total = 0;
      for (let i = 0; i < iovcnt; i++) {
        const ptr = dv.getUint32(iov + 8 * i, true);
        const len = dv.getUint32(iov + 8 * i + 4, true);
        // getRandomValues fills at most 64 KiB per call.
        for (let at = 0; at < len; at += 65536)
          crypto.getRandomValues(new Uint8Array(wasmMemory.buffer, ptr + at, Math.min(65536, len - at)));
        total += len;
      }
      dv.setUint32(read, total, true);
      return 0;
    },
    [IMPORTS.fdWrite.name]: discardingFdWrite(() => wasmMemory),
    [IMPORTS.fdClose.name]: (fd: number) => (fd === URANDOM_FD ? 0 : EBADF),
    [IMPORTS.fdSeek.name]: () => ESPIPE,
    [IMPORTS.fdSync.name]: () => EBADF,
    [IMPORTS.fdFdstatGet.name]: (fd: number, stat: number) => {
      if (fd > 2 && fd !== URANDOM_FD) return EBADF;
      new Uint8Array(wasmMemory.buffer, stat, 24).fill(0)[0] = CHARACTER_DEVICE;
      return 0;
    },
    [IMPORTS.sysFcntl64.name]: (fd: number) => (fd === URANDOM_FD ? 0 : -EBADF),
    [IMPORTS.sysFstat64.name]: noFile,
    [IMPORTS.sysFchown32.name]: noFile,
    [IMPORTS.sysFchmod.name]: noFile,
    [IMPORTS.sysFtruncate64.name]: noFile,
    [IMPORTS.sysStat64.name]: noPath,
    [IMPORTS.sysLstat64.name]: noPath,
    [IMPORTS.sysNewfstatat.name]: noPath,
    [IMPORTS.sysFaccessat.name]: noPath,
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
