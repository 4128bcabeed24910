/**
 * How a preview1 function gives up with an errno from deep inside: it throws an {@link ErrnoError},
 * and the host call's wrapper (`WasiState.fault`) returns its errno to the guest. The file-system
 * layer (`fs/`) and the path functions use it; failed host system calls are mapped separately
 * (`fs/host-errno.ts`).
 */
import type { ErrnoValue } from './abi.js';

/** An errno raised inside a host call; the call catches it and returns `errno`. */
export class ErrnoError extends Error {
  readonly errno: ErrnoValue;
  constructor(errno: ErrnoValue) {
    super(`WASI errno ${errno}`);
    this.errno = errno;
  }
}

/** Throws the errno `errno` (for use in expressions). */
export function fail(errno: ErrnoValue): never {
  throw new ErrnoError(errno);
}
