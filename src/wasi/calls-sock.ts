/**
 * preview1 sock_*: this host never hands a guest a socket (a CGI guest talks HTTP through its
 * standard streams), so every fd it holds is "not a socket".
 */

import { Errno } from './abi.js';
import type { WasiState } from './state.js';

/** The socket functions of preview1: EBADF for a closed fd, ENOTSOCK for any open one. */
export function sockCalls(state: WasiState): WebAssembly.ModuleImports {
  const notASocket = (fd: number): number => (state.fds.get(fd >>> 0) === undefined ? Errno.BADF : Errno.NOTSOCK);
  return {
    sock_accept: (fd: number, _flags: number, _fdPtr: number): number => notASocket(fd),
    sock_recv: (fd: number, _riDataPtr: number, _riDataLen: number, _riFlags: number, _roDataLenPtr: number, _roFlagsPtr: number): number =>
      notASocket(fd),
    sock_send: (fd: number, _siDataPtr: number, _siDataLen: number, _siFlags: number, _soDataLenPtr: number): number => notASocket(fd),
    sock_shutdown: (fd: number, _how: number): number => notASocket(fd),
  };
}
