/**
 * Failures of host file-system calls (the `fs` errors Node throws wherever the file layer reaches
 * the host: host files, listings, copies into the overlay, changes in persistent mode), mapped to
 * the WASI errno a guest expects for them. `WasiState.fault` applies it to what a host call throws.
 */

import { Errno, type ErrnoValue } from '../abi.js';

const ERRNO_BY_CODE: Readonly<Record<string, ErrnoValue>> = {
  EACCES: Errno.ACCES,
  EBADF: Errno.BADF,
  EEXIST: Errno.EXIST,
  EFBIG: Errno.FBIG,
  EINVAL: Errno.INVAL,
  EIO: Errno.IO,
  EISDIR: Errno.ISDIR,
  ELOOP: Errno.LOOP,
  EMFILE: Errno.MFILE,
  ENAMETOOLONG: Errno.NAMETOOLONG,
  ENFILE: Errno.NFILE,
  ENOENT: Errno.NOENT,
  ENOMEM: Errno.NOMEM,
  ENOSPC: Errno.NOSPC,
  ENOTDIR: Errno.NOTDIR,
  ENOTEMPTY: Errno.NOTEMPTY,
  ENOTSUP: Errno.NOTSUP,
  ENXIO: Errno.NXIO,
  EOVERFLOW: Errno.OVERFLOW,
  EPERM: Errno.PERM,
  EROFS: Errno.ROFS,
  ESPIPE: Errno.SPIPE,
  EAGAIN: Errno.AGAIN,
  ETXTBSY: Errno.TXTBSY,
};

/** Whether `error` is a failed Node system call (an `fs` error with `syscall` and `code`). */
export function isHostSystemError(error: unknown): error is NodeJS.ErrnoException & { code: string } {
  return (
    error instanceof Error &&
    typeof (error as NodeJS.ErrnoException).syscall === 'string' &&
    typeof (error as NodeJS.ErrnoException).code === 'string'
  );
}

/** The WASI errno for a failed host system call; EIO for anything without a closer match. */
export function errnoFromHostError(error: NodeJS.ErrnoException): ErrnoValue {
  return (error.code !== undefined ? ERRNO_BY_CODE[error.code] : undefined) ?? Errno.IO;
}
