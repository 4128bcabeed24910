/**
 * Every host file descriptor a WASI guest's file system opens, opened and closed here, so that each
 * is in this thread's fd ledger (`sys/fd-ledger.ts`) while it is open: on a worker thread that is
 * ended mid-use (a hard stop, an abort) no cleanup runs, and the thread that started it closes what
 * the ledger still holds. Recorded once open, forgotten before the close (the ledger's rule). On
 * the main thread there is no ledger and both are plain `openSync` and `closeSync`.
 */
import { closeSync, openSync } from 'node:fs';
import { forgetFd, recordFd } from '../../sys/fd-ledger.js';

/** `openSync(path, flags, mode)`, the descriptor recorded in this thread's ledger. */
export function openHostFd(path: string, flags: number, mode?: number): number {
  const fd = openSync(path, flags, mode);
  recordFd(fd);
  return fd;
}

/** `closeSync(fd)` of a descriptor {@link openHostFd} opened, forgotten by the ledger first. */
export function closeHostFd(fd: number): void {
  forgetFd(fd);
  closeSync(fd);
}
