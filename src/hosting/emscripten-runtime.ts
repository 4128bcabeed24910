/**
 * The parts of emscripten's runtime that cowpool's hosts of emscripten builds (QuickJS, SQLite)
 * implement alike: the clock's zone, always UTC (a sandbox should not learn the server's zone),
 * and heap growth within a cap.
 */

import { WASM_PAGE_SIZE } from '../module/wasm-page.js';

const ENCODER = new TextEncoder();

/** emscripten's `_localtime_js` and `_tzset_js` over `memory()`, in UTC. */
export function utcTimeImports(memory: () => WebAssembly.Memory): {
  localtime: (time: bigint, tm: number) => number;
  tzset: (timezone: number, daylight: number, stdName: number, dstName: number) => void;
} {
  return {
    localtime: (time, tm) => writeTm(new DataView(memory().buffer), Number(time), tm),
    tzset: (timezone, daylight, stdName, dstName) => {
      const dv = new DataView(memory().buffer);
      dv.setInt32(timezone, 0, true);
      dv.setInt32(daylight, 0, true);
      const bytes = new Uint8Array(memory().buffer);
      bytes.set(ENCODER.encode('UTC\0'), stdName);
      bytes.set(ENCODER.encode('UTC\0'), dstName);
    },
  };
}

/**
 * emscripten's `emscripten_resize_heap` for `memory`: grows it to the requested size, by at least a
 * fifth as emscripten does (so that a growing heap does not grow per malloc), never past `cap`
 * bytes. A request past the cap is refused (the guest's malloc then fails) after `refused()`.
 */
export function resizeHeapImport(memory: WebAssembly.Memory, cap: number, refused: () => void): (requested: number) => number {
  return (requested) => {
    const wanted = requested >>> 0;
    const current = memory.buffer.byteLength;
    if (wanted > cap) {
      refused();
      return 0;
    }
    const target = Math.min(cap, Math.max(wanted, current + Math.ceil(current / 5)));
    try {
      memory.grow(Math.ceil((target - current) / WASM_PAGE_SIZE));
      return 1;
    } catch {
      return 0;
    }
  };
}

/** Fills a `struct tm` for `seconds` since the epoch, in UTC; 1 when the time is out of range. */
function writeTm(dv: DataView, seconds: number, tm: number): number {
  const date = new Date(seconds * 1000);
  if (Number.isNaN(date.getTime())) return 1;
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
  return 0;
}

/** WASI's `fd_write` as a sink: every byte is accepted (reported written) and dropped. */
export function discardingFdWrite(memory: () => WebAssembly.Memory): (fd: number, iov: number, iovcnt: number, written: number) => number {
  return (_fd, iov, iovcnt, written) => {
    const dv = new DataView(memory().buffer);
    let total = 0;
    for (let i = 0; i < iovcnt; i++) total += dv.getUint32(iov + 8 * i + 4, true);
    dv.setUint32(written, total, true);
    return 0;
  };
}

/** WASI's `environ_get` and `environ_sizes_get` for an empty environment (a sandbox should not see the server's). */
export function emptyEnvironImports(memory: () => WebAssembly.Memory): {
  environGet: () => number;
  environSizesGet: (count: number, size: number) => number;
} {
  return {
    environGet: () => 0,
    environSizesGet: (count, size) => {
      const dv = new DataView(memory().buffer);
      dv.setUint32(count, 0, true);
      dv.setUint32(size, 0, true);
      return 0;
    },
  };
}
