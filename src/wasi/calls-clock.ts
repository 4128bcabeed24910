/** preview1 clock_res_get and clock_time_get, answered by the host's WasiClock. */

import { Errno } from './abi.js';
import type { WasiState } from './state.js';

/** The clock functions of preview1, closed over `state`. */
export function clockCalls(state: WasiState): WebAssembly.ModuleImports {
  return {
    clock_res_get(clockId: number, resolutionPtr: number): number {
      try {
        const resolution = state.clock.resolution(clockId >>> 0);
        if (resolution === undefined) return Errno.INVAL;
        state.memory.refresh();
        state.memory.view.setBigUint64(resolutionPtr >>> 0, resolution, true);
        return Errno.SUCCESS;
      } catch (error) {
        return state.fault(error);
      }
    },
    // precision (an i64, so a bigint here) is a hint the host may ignore.
    clock_time_get(clockId: number, _precision: bigint, timePtr: number): number {
      try {
        const now = state.clock.now(clockId >>> 0);
        if (now === undefined) return Errno.INVAL;
        state.memory.refresh();
        state.memory.view.setBigUint64(timePtr >>> 0, now, true);
        return Errno.SUCCESS;
      } catch (error) {
        return state.fault(error);
      }
    },
  };
}
