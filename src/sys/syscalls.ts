/**
 * Checked wrappers around the few system calls cowpool needs. Each one either succeeds or throws a
 * {@link SyscallError} naming the call, the errno and what it means here. Raw addresses are the
 * branded {@link Address} type, made only by {@link addressOf} and the mapping calls, so that a
 * length can never be passed where an address belongs.
 *
 * File-descriptor calls that Node's `fs` already makes (`ftruncate`, `pwrite`, `close`) go through
 * `fs`: it is the supported path and needs no foreign call. The rest go through `native.ts`.
 */
import { closeSync, fstatSync, ftruncateSync, openSync, writeSync } from 'node:fs';
import { ClosedError, InvalidArgumentError, UnsupportedError } from '../errors.js';
import { syscallError, type Meanings } from './errno.js';
import { forgetFd, recordFd } from './fd-ledger.js';
import { libc, nativeLoadError, type LibC } from './native.js';

/** A raw virtual address in this process. Made only by `sys/`. */
export type Address = bigint & { readonly __brand: 'Address' };

const PROT_READ = 0x1;
const PROT_WRITE = 0x2;
const MAP_PRIVATE = 0x02;
const MAP_FIXED = 0x10;
const MAP_ANONYMOUS = 0x20;
const MAP_NORESERVE = 0x4000;
const MAP_FAILED = 0xffff_ffff_ffff_ffffn;
const MADV_DONTNEED = 4;
const MADV_PAGEOUT = 21;
const MFD_CLOEXEC = 0x1;
const MFD_ALLOW_SEALING = 0x2;
const F_ADD_SEALS = 1033;
const F_GET_SEALS = 1034;
const SC_PAGESIZE = 30;

/** memfd seals (`F_SEAL_*`), for {@link addSeals}. */
export const Seal = {
  SEAL: 0x1,
  SHRINK: 0x2,
  GROW: 0x4,
  WRITE: 0x8,
} as const;

/** Whether native calls are available in this process, and if not, why. */
export function nativeSupport(): { available: true } | { available: false; reason: string } {
  if (libc) return { available: true };
  return { available: false, reason: nativeLoadError?.message ?? 'native access is unavailable' };
}

function native(): LibC {
  if (libc) return libc;
  throw new UnsupportedError('native memory access', nativeLoadError?.message ?? 'koffi could not be loaded');
}

/** The kernel's page size in bytes (4096 on x86-64). */
export const PAGE_SIZE: number = libc ? libc.sysconf(SC_PAGESIZE) : 4096;

/**
 * The address of the first byte of `buffer`'s backing store (works for a `WebAssembly.Memory`'s
 * buffer). The address stays valid while the backing store lives; for a wasm memory with guard
 * regions V8 grows in place, so the address survives `grow` even though the buffer object changes.
 */
export function addressOf(buffer: ArrayBufferLike): Address {
  if (buffer.byteLength === 0 && isDetached(buffer)) throw new ClosedError('a detached ArrayBuffer');
  const address = native().address(buffer);
  if (address === 0n) throw new InvalidArgumentError('the buffer has no backing store (is it detached or empty?)');
  return address as Address;
}

/** True when `buffer` has been detached (transferred, or replaced by a wasm `memory.grow`). */
export function isDetached(buffer: ArrayBufferLike): boolean {
  const detached = (buffer as ArrayBuffer & { detached?: boolean }).detached;
  if (detached !== undefined) return detached;
  // Node 20 lacks ArrayBuffer.prototype.detached; a detached buffer refuses to make views.
  try {
    new Uint8Array(buffer, 0, 0);
    return false;
  } catch {
    return true;
  }
}

/** Rounds `bytes` up to a multiple of the page size. */
export function pageAlignUp(bytes: number): number {
  return Math.ceil(bytes / PAGE_SIZE) * PAGE_SIZE;
}

/** Offsets `address` by `bytes`. */
export function offsetAddress(address: Address, bytes: number): Address {
  return (address + BigInt(bytes)) as Address;
}

function checkRange(what: string, address: Address, length: number): void {
  if (address % BigInt(PAGE_SIZE) !== 0n) {
    throw new InvalidArgumentError(`${what}: address 0x${address.toString(16)} is not page-aligned`);
  }
  if (!Number.isSafeInteger(length) || length < 0 || length % PAGE_SIZE !== 0) {
    throw new InvalidArgumentError(`${what}: length ${length} is not a multiple of the ${PAGE_SIZE}-byte page size`);
  }
}

const mmapMeanings: Meanings = {
  EACCES: 'the file descriptor is not open for reading',
  EBADF: 'the image file descriptor is closed',
  EINVAL: 'address, length or offset is not page-aligned, or the length is zero',
  ENODEV: 'the file does not support mapping',
  ENOMEM: 'out of memory, address space, or the process mapping limit (vm.max_map_count)',
  EPERM: 'mapping was refused (a seccomp filter or a file seal)',
};

/** Maps `length` fresh anonymous, private, read-write bytes anywhere. For scratch memory and tests. */
export function mmapAnonymous(length: number): Address {
  checkRange('mmap', 0n as Address, length);
  const result = native().mmap(0n, length, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (result === MAP_FAILED) throw syscallError('mmap', native().errno(), mmapMeanings);
  return result as Address;
}

/**
 * Maps `length` bytes of file `fd` from `offset`, copy-on-write and read-write, exactly at `address`,
 * replacing whatever was mapped there.
 *
 * Safety: `[address, address + length)` must lie inside a mapping the caller owns (for cowpool: the
 * accessible part of a wasm memory that no guest is running on), and `offset + length` must not pass
 * the end of the file (an access past it raises SIGBUS, which V8's trap handler does not expect).
 */
export function mmapFixedPrivateFile(address: Address, length: number, fd: number, offset: number): void {
  checkRange('mmap', address, length);
  const result = native().mmap(address, length, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_FIXED, fd, offset);
  if (result === MAP_FAILED) throw syscallError('mmap', native().errno(), mmapMeanings);
  if (result !== address) {
    throw syscallError('mmap', 0, { default: `MAP_FIXED returned 0x${result.toString(16)}, not the address asked for` });
  }
}

/**
 * Replaces `[address, address + length)` with fresh anonymous zero pages, read-write.
 *
 * Safety: as for {@link mmapFixedPrivateFile}: the range must belong to the caller and be idle.
 */
export function mmapFixedAnonymous(address: Address, length: number): void {
  checkRange('mmap', address, length);
  const result = native().mmap(address, length, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_FIXED | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (result === MAP_FAILED) throw syscallError('mmap', native().errno(), mmapMeanings);
}

/** Unmaps `[address, address + length)`. Safety: nothing may use the range afterwards. */
export function munmap(address: Address, length: number): void {
  checkRange('munmap', address, length);
  if (native().munmap(address, length) !== 0) throw syscallError('munmap', native().errno());
}

/**
 * `madvise(MADV_DONTNEED)`: drops the private pages of the range. On an anonymous mapping the next
 * access reads zeros; on a private file mapping it reads the file again.
 *
 * Safety: the range must belong to the caller and no live data in it may be needed.
 */
export function madviseDontNeed(address: Address, length: number): void {
  checkRange('madvise', address, length);
  if (length === 0) return;
  if (native().madvise(address, length, MADV_DONTNEED) !== 0) {
    throw syscallError('madvise(MADV_DONTNEED)', native().errno(), {
      EINVAL: 'the range is not page-aligned or contains locked or special pages',
      ENOMEM: 'part of the range is not mapped',
    });
  }
}

/**
 * `madvise(MADV_PAGEOUT)` (Linux 5.4+): asks the kernel to reclaim the range now, writing private
 * pages out to swap. Contents are kept (a later access swaps them in); used by tests to prove that
 * a dirty page that is swapped out is still found and reset.
 */
export function madvisePageOut(address: Address, length: number): void {
  checkRange('madvise', address, length);
  if (length === 0) return;
  if (native().madvise(address, length, MADV_PAGEOUT) !== 0) {
    throw syscallError('madvise(MADV_PAGEOUT)', native().errno(), {
      EINVAL: 'this kernel has no MADV_PAGEOUT (Linux 5.4 or later is needed), or the range is not page-aligned',
      ENOMEM: 'part of the range is not mapped',
    });
  }
}

/**
 * Creates an anonymous memory file (close-on-exec, sealable) and returns its descriptor, recorded
 * in this thread's fd ledger (`fd-ledger.ts`) when it has one.
 */
export function memfdCreate(name: string): number {
  const fd = native().memfd_create(name, MFD_CLOEXEC | MFD_ALLOW_SEALING);
  if (fd < 0) {
    throw syscallError('memfd_create', native().errno(), {
      ENOSYS: 'this kernel has no memfd_create (Linux 3.17 or later is needed)',
      EMFILE: 'the process has too many open files',
      EPERM: 'memfd_create was refused (a seccomp filter)',
    });
  }
  recordFd(fd);
  return fd;
}

/** Adds `F_SEAL_*` seals (see {@link Seal}) to a memfd. */
export function addSeals(fd: number, seals: number): void {
  if (native().fcntl(fd, F_ADD_SEALS, seals) !== 0) {
    throw syscallError('fcntl(F_ADD_SEALS)', native().errno(), {
      EPERM: 'the file is already sealed against this, or has writable mappings',
      EBUSY: 'the file has writable shared mappings, so it cannot be sealed against writes',
      EINVAL: 'the file does not support sealing (not a memfd created with MFD_ALLOW_SEALING)',
    });
  }
}

/** The `F_SEAL_*` seals currently on a memfd. */
export function getSeals(fd: number): number {
  const seals = native().fcntl(fd, F_GET_SEALS, 0);
  if (seals < 0) throw syscallError('fcntl(F_GET_SEALS)', native().errno());
  return seals;
}

function fsCall<T>(syscall: string, call: () => T): T {
  try {
    return call();
  } catch (err) {
    const errno = (err as NodeJS.ErrnoException).errno;
    if (typeof errno === 'number') throw syscallError(syscall, -errno);
    throw err;
  }
}

/** Sets a file's size. */
export function ftruncate(fd: number, length: number): void {
  fsCall('ftruncate', () => ftruncateSync(fd, length));
}

/** Writes all of `bytes` at `position` of a file. */
export function pwrite(fd: number, bytes: Uint8Array, position: number): void {
  let done = 0;
  while (done < bytes.length) {
    done += fsCall('pwrite', () => writeSync(fd, bytes, done, bytes.length - done, position + done));
  }
}

/** A file's size in bytes (`fstat`). */
export function fileSize(fd: number): number {
  return fsCall('fstat', () => fstatSync(fd).size);
}

/**
 * Opens a file read-only (close-on-exec, as Node always does), recorded in this thread's fd ledger
 * when it has one.
 */
export function openReadOnly(path: string): number {
  const fd = fsCall(`open(${path})`, () => openSync(path, 'r'));
  recordFd(fd);
  return fd;
}

/** Closes a file descriptor (forgotten from this thread's fd ledger first, see `fd-ledger.ts`). */
export function close(fd: number): void {
  forgetFd(fd);
  fsCall('close', () => closeSync(fd));
}

/**
 * `ioctl(fd, request, arg)` with a pointer argument. Returns the kernel's non-negative result, or
 * the negated errno (so that the caller can decide whether a given errno is an error).
 *
 * Safety: `arg` must point at a live buffer of the size and layout `request` expects.
 */
export function ioctl(fd: number, request: number, arg: Address): number {
  const lib = native();
  const result = lib.ioctl(fd, request, arg);
  return result < 0 ? -lib.errno() : result;
}

/**
 * An ArrayBuffer over raw memory, without copying. For tests and for memory cowpool mapped itself.
 *
 * Safety: the range must stay mapped for as long as the view is used.
 */
export function viewAt(address: Address, length: number): ArrayBuffer {
  return native().view(address, length);
}
