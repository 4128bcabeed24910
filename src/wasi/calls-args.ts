/**
 * preview1 args_* and environ_*: copy the use's argv/environ into guest memory.
 *
 * ABI: *_sizes_get(count_ptr, buf_size_ptr) writes two u32; *_get(ptrs_ptr, buf_ptr) writes one u32
 * pointer per string at ptrs_ptr and the NUL-terminated strings at buf_ptr.
 */

import { Errno } from './abi.js';
import type { EncodedStrings } from './context.js';
import type { WasiState } from './state.js';

/** The args and environ functions of preview1, closed over `state`. */
export function argsCalls(state: WasiState): WebAssembly.ModuleImports {
  function sizesGet(strings: EncodedStrings, countPtr: number, sizePtr: number): number {
    state.memory.refresh();
    const view = state.memory.view;
    view.setUint32(countPtr >>> 0, strings.offsets.length, true);
    view.setUint32(sizePtr >>> 0, strings.bytes.length, true);
    return Errno.SUCCESS;
  }

  function stringsGet(strings: EncodedStrings, ptrsPtr: number, bufPtr: number): number {
    ptrsPtr >>>= 0;
    bufPtr >>>= 0;
    const memory = state.memory;
    memory.refresh();
    if (!memory.contains(bufPtr, strings.bytes.length) || !memory.contains(ptrsPtr, strings.offsets.length * 4)) {
      return Errno.FAULT;
    }
    const view = memory.view;
    const offsets = strings.offsets;
    for (let i = 0; i < offsets.length; i++) view.setUint32(ptrsPtr + i * 4, bufPtr + (offsets[i] as number), true);
    memory.bytes.set(strings.bytes, bufPtr);
    return Errno.SUCCESS;
  }

  return {
    args_sizes_get(countPtr: number, sizePtr: number): number {
      try {
        return sizesGet(state.args, countPtr, sizePtr);
      } catch (error) {
        return state.fault(error);
      }
    },
    args_get(argvPtr: number, bufPtr: number): number {
      try {
        return stringsGet(state.args, argvPtr, bufPtr);
      } catch (error) {
        return state.fault(error);
      }
    },
    environ_sizes_get(countPtr: number, sizePtr: number): number {
      try {
        return sizesGet(state.env, countPtr, sizePtr);
      } catch (error) {
        return state.fault(error);
      }
    },
    environ_get(environPtr: number, bufPtr: number): number {
      try {
        return stringsGet(state.env, environPtr, bufPtr);
      } catch (error) {
        return state.fault(error);
      }
    },
  };
}
