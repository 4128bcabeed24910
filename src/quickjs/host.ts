/**
 * cowpool's own host for the QuickJS module: the twenty imports emscripten's glue would provide,
 * written so that nothing about the guest is kept on the JS side. What a use needs from the host (its
 * deadline, whether it was stopped or ran out of heap) is in a {@link UseState} the pool hands over per use as the
 * lease context; everything QuickJS itself keeps is in the wasm memory and globals, which the pool
 * resets after every use.
 *
 * Deliberate differences from emscripten's glue: the clock zone is UTC (a sandbox should not learn
 * the server's zone), the environment is empty, there are no timers (`setitimer` is refused), no
 * module loader and no files (writes to stdout and stderr are dropped).
 */
import { GuestTrapError, InvalidArgumentError } from '../errors.js';
import { IMPORTS } from './abi.js';

/** What the host knows about the current use. A new one per use; nothing in it outlives the use. */
export class UseState {
  /** `performance.now()` after which QuickJS's interrupt handler stops the guest. */
  deadline = Infinity;
  /** True once the interrupt handler has stopped the guest for its deadline. */
  interrupted = false;
  /** True once the heap asked to grow past the memory and was refused (the memory is full). */
  heapExhausted = false;
}

const kUtf8 = new TextDecoder();
const kEncoder = new TextEncoder();

/** Reads the NUL-terminated UTF-8 string at `ptr`. */
export function readCString(memory: WebAssembly.Memory, ptr: number): string {
  const bytes = new Uint8Array(memory.buffer);
  const end = bytes.indexOf(0, ptr);
  return kUtf8.decode(bytes.subarray(ptr, end < 0 ? bytes.length : end));
}

/**
 * Copies `text` into guest memory allocated with `malloc`, NUL-terminated, and returns its address and
 * its length in bytes (without the NUL). Nothing is freed: the use's memory is reset afterwards.
 */
export function writeCString(memory: WebAssembly.Memory, malloc: (size: number) => number, text: string): { ptr: number; length: number } {
  // UTF-8 takes at most 3 bytes per UTF-16 unit: asking for that much spares a short string a
  // second pass; a long one is measured first rather than reserving three times its size.
  const room = (text.length < 4096 ? text.length * 3 : Buffer.byteLength(text)) + 1;
  const ptr = malloc(room);
  if (ptr === 0) {
    throw new InvalidArgumentError(`a string of ${room} bytes does not fit in the sandbox's memory; pass less, or raise memoryLimit`);
  }
  const bytes = new Uint8Array(memory.buffer, ptr, room);
  const { written } = kEncoder.encodeInto(text, bytes);
  bytes[written] = 0;
  return { ptr, length: written };
}

const WASM_PAGE = 65536;
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
export function quickjsImports(wasmMemory: WebAssembly.Memory, use: () => UseState | undefined, fixedSize = false): WebAssembly.Imports {
  const cap = fixedSize ? wasmMemory.buffer.byteLength : MAX_HEAP;
  const memory = (): WebAssembly.Memory => wasmMemory;
  const view = () => new DataView(memory().buffer);
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
    [IMPORTS.fdWrite.name]: (_fd: number, iov: number, iovcnt: number, written: number) => {
      const dv = view();
      let total = 0;
      for (let i = 0; i < iovcnt; i++) total += dv.getUint32(iov + 8 * i + 4, true);
      dv.setUint32(written, total, true);
      return 0;
    },
    [IMPORTS.fdClose.name]: () => ENOSYS,
    [IMPORTS.fdSeek.name]: () => ESPIPE,
    [IMPORTS.environGet.name]: () => 0,
    [IMPORTS.environSizesGet.name]: (count: number, size: number) => {
      const dv = view();
      dv.setUint32(count, 0, true);
      dv.setUint32(size, 0, true);
      return 0;
    },
    // No module loader is enabled, so QuickJS never asks; answer "not found" if it did.
    [IMPORTS.normalizeModule.name]: () => 0,
    [IMPORTS.loadModuleSource.name]: () => 0,
    [IMPORTS.shouldInterrupt.name]: () => {
      const state = use();
      if (state === undefined || performance.now() < state.deadline) return 0;
      state.interrupted = true;
      return 1;
    },
    [IMPORTS.setitimer.name]: () => ENOSYS,
    [IMPORTS.resizeHeap.name]: (requested: number) => {
      const wanted = requested >>> 0;
      const current = memory().buffer.byteLength;
      if (wanted > cap) {
        const state = use();
        if (state) state.heapExhausted = true;
        return 0;
      }
      // Grow by at least a fifth, as emscripten does, so that a growing heap does not grow per malloc.
      const target = Math.min(cap, Math.max(wanted, current + Math.ceil(current / 5)));
      try {
        memory().grow(Math.ceil((target - current) / WASM_PAGE));
        return 1;
      } catch {
        return 0;
      }
    },
    [IMPORTS.keepaliveClear.name]: () => {},
    [IMPORTS.localtime.name]: (time: bigint, tm: number) => writeTm(view(), Number(time), tm),
    [IMPORTS.tzset.name]: (timezone: number, daylight: number, stdName: number, dstName: number) => {
      const dv = view();
      dv.setInt32(timezone, 0, true);
      dv.setInt32(daylight, 0, true);
      const bytes = new Uint8Array(memory().buffer);
      bytes.set(kEncoder.encode('UTC\0'), stdName);
      bytes.set(kEncoder.encode('UTC\0'), dstName);
    },
    [IMPORTS.dateNow.name]: () => Date.now(),
    // No host functions are ever created, so QuickJS never calls back into the host.
    [IMPORTS.callFunction.name]: () => 0,
    [IMPORTS.freeHostRef.name]: () => {},
  };
  return { a: { ...functions, [IMPORTS.memory]: wasmMemory } };
}

/** Fills a `struct tm` for `seconds` since the epoch, in UTC. */
function writeTm(dv: DataView, seconds: number, tm: number): void {
  const date = new Date(seconds * 1000);
  const fields = [
    date.getUTCSeconds(),
    date.getUTCMinutes(),
    date.getUTCHours(),
    date.getUTCDate(),
    date.getUTCMonth(),
    date.getUTCFullYear() - 1900,
    date.getUTCDay(),
    Math.floor((date.getTime() - Date.UTC(date.getUTCFullYear(), 0, 1)) / 86_400_000),
    0, // tm_isdst
    0, // tm_gmtoff
  ];
  for (let i = 0; i < fields.length; i++) dv.setInt32(tm + 4 * i, fields[i]!, true);
}
