/**
 * The imports cowpool builds for the QuickJS module in place of emscripten's glue: the twenty
 * functions the glue would provide, written so that nothing about the guest is kept on the JS side.
 * What a use needs from them (its deadline, whether it was stopped or ran out of heap, its host
 * calls) is in a {@link UseState} the pool hands over per use as the lease context; everything
 * QuickJS itself keeps is in the wasm memory and globals, which the pool resets after every use.
 *
 * Deliberate differences from emscripten's glue: the clock zone is UTC (a sandbox should not learn
 * the server's zone), the environment is empty, C-level timers (`setitimer`) are refused (the
 * guest's timers are JavaScript, `guest.ts`), and there are no files (writes to stdout and stderr
 * are dropped). Host functions (`host-calls.ts`) and modules (`modules.ts`) are the sandbox's.
 */
import { GuestTrapError } from '../errors.js';
import { discardingFdWrite, emptyEnvironImports, resizeHeapImport, utcTimeImports } from '../emscripten/runtime.js';
import { readCString } from '../emscripten/c-strings.js';
import { IMPORTS } from './abi.js';
import { hostCallImport } from './host-calls.js';
import { NO_HOST_FUNCTIONS, type HostFunctionTable } from './host-functions.js';
import { loadModuleImport, type ModuleLoader } from './modules.js';
import type { UseState } from './use-state.js';

/** What a sandbox gives its guest besides QuickJS: host functions and modules (fixed at create). */
export interface HostBindings {
  readonly functions: HostFunctionTable;
  readonly modules: ModuleLoader | undefined;
}

/** A sandbox without host functions or modules. */
export const NO_BINDINGS: HostBindings = { functions: NO_HOST_FUNCTIONS, modules: undefined };

/** Emscripten's limit for a wasm32 heap. */
const MAX_HEAP = 2 ** 31;
const ENOSYS = 52;
const ESPIPE = 70;

/**
 * The imports of one QuickJS instance on `wasmMemory`, whose current use's state `use()` returns
 * (the pool's `host.context`). With `fixedSize`, the heap never grows past the memory's size when
 * the imports are made: an allocation beyond it fails, which QuickJS reports as out of memory.
 * Pooled memories are sized for the memory limit, so that a use never grows one (a grown memory
 * cannot shrink, and its slot would be retired).
 */
export function quickjsImports(
  wasmMemory: WebAssembly.Memory,
  use: () => UseState | undefined,
  bindings: HostBindings,
  fixedSize = false,
): WebAssembly.Imports {
  const cap = fixedSize ? wasmMemory.buffer.byteLength : MAX_HEAP;
  const utc = utcTimeImports(() => wasmMemory);
  const environ = emptyEnvironImports(() => wasmMemory);
  const memory = (): WebAssembly.Memory => wasmMemory;
  const functions: Record<string, (...args: never[]) => unknown> = {
    [IMPORTS.assertFail.name]: (condition: number, file: number, line: number) => {
      throw new GuestTrapError(`QuickJS assertion failed: ${readCString(memory(), condition)} at ${readCString(memory(), file)}:${line}`);
    },
    [IMPORTS.abort.name]: () => {
      throw new GuestTrapError('QuickJS aborted');
    },
    [IMPORTS.procExit.name]: (code: number) => {
      throw new GuestTrapError(`QuickJS called exit(${code})`);
    },
    // The release build prints only from debug paths; the guest's `console` never comes here (it
    // buffers in the guest), so what QuickJS itself writes is accepted and dropped.
    [IMPORTS.fdWrite.name]: discardingFdWrite(memory),
    [IMPORTS.fdClose.name]: () => ENOSYS,
    [IMPORTS.fdSeek.name]: () => ESPIPE,
    [IMPORTS.environGet.name]: environ.environGet,
    [IMPORTS.environSizesGet.name]: environ.environSizesGet,
    // QuickJS's own normalization is used (the loader is enabled without the custom one).
    [IMPORTS.normalizeModule.name]: () => 0,
    [IMPORTS.loadModuleSource.name]: loadModuleImport(bindings.modules, wasmMemory, use),
    [IMPORTS.shouldInterrupt.name]: () => {
      const state = use();
      if (state === undefined || performance.now() < state.deadline) return 0;
      state.interrupted = true;
      return 1;
    },
    [IMPORTS.setitimer.name]: () => ENOSYS,
    [IMPORTS.resizeHeap.name]: resizeHeapImport(wasmMemory, cap, () => {
      const state = use();
      if (state) state.heapExhausted = true;
    }),
    [IMPORTS.keepaliveClear.name]: () => {},
    [IMPORTS.localtime.name]: utc.localtime,
    [IMPORTS.tzset.name]: utc.tzset,
    [IMPORTS.dateNow.name]: () => Date.now(),
    [IMPORTS.callFunction.name]: hostCallImport(bindings.functions, use),
    // The one host function lives as long as the image: nothing to free.
    [IMPORTS.freeHostRef.name]: () => {},
  };
  return { a: { ...functions, [IMPORTS.memory]: wasmMemory } };
}
