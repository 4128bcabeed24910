/** preview1 proc_exit, proc_raise, sched_yield and random_get. */

import { Errno } from './abi.js';
import type { WasiState } from './state.js';
import { WasiExit } from './wasi-exit.js';

/**
 * random_get fills large buffers this many bytes at a time and checks the use's deadline in
 * between: a guest may ask for gigabytes in one call (about 1.6 ms per MiB, measured here).
 */
const RANDOM_CHUNK = 1 << 20;

/** The process and randomness functions of preview1, closed over `state`. */
export function processCalls(state: WasiState): WebAssembly.ModuleImports {
  return {
    proc_exit(code: number): never {
      throw new WasiExit(code >>> 0);
    },
    // Signals have no meaning for a sandboxed guest; wasi-libc's raise() reports the errno.
    proc_raise(_signal: number): number {
      return Errno.NOSYS;
    },
    // One guest per thread and nothing to yield to: a no-op that succeeds.
    sched_yield(): number {
      return Errno.SUCCESS;
    },
    random_get(bufPtr: number, length: number): number {
      try {
        bufPtr >>>= 0;
        length >>>= 0;
        const memory = state.memory;
        memory.refresh();
        if (!memory.contains(bufPtr, length)) return Errno.FAULT;
        const bytes = memory.bytes;
        for (let at = 0; at < length; at += RANDOM_CHUNK) {
          state.checkDeadline();
          state.random(bytes.subarray(bufPtr + at, bufPtr + Math.min(length, at + RANDOM_CHUNK)));
        }
        return Errno.SUCCESS;
      } catch (error) {
        return state.fault(error);
      }
    },
  };
}
