/**
 * The time sources behind clock_time_get, clock_res_get and poll_oneoff, behind one interface so a
 * server can cap how long a guest may sleep and tests can use a fake clock; and the deadline of a
 * use, which the WASI host reads from its owner (the pool) rather than keeping one of its own.
 */

import { ClockId } from './abi.js';

/** Where a {@link WasiHost} reads time and how it sleeps. All values are nanoseconds as bigint (u64). */
export interface WasiClock {
  /** Nanoseconds of `clockId` (0 realtime, 1 monotonic, 2 process cputime, 3 thread cputime), or undefined for an unknown id. */
  now(clockId: number): bigint | undefined;
  /** Resolution of `clockId` in nanoseconds, or undefined for an unknown id. */
  resolution(clockId: number): bigint | undefined;
  /**
   * Blocks the calling thread for `nanoseconds`. Guests call this synchronously (`sleep`, `nanosleep`,
   * `poll` with a timeout): the thread can do nothing else meanwhile.
   */
  sleep(nanoseconds: bigint): void;
}

/**
 * Where a WasiHost reads the deadline of the current use: the pool's `InstanceHost` is one (pass
 * it as `deadline` from `setup`), which keeps the pool the one owner of a use's deadline.
 */
export interface UseDeadline {
  /** When the current use must end, as a `performance.now()` timestamp; Infinity when it has none. */
  readonly deadline: number;
  /** Throws the error that ends the use (`GuestTimeoutError`) once the deadline has passed. */
  checkDeadline(): void;
}

// performance.timeOrigin + performance.now() is wall time in milliseconds with sub-millisecond
// precision; as a double near 1.7e12 it holds about 0.2 µs, so microseconds are honest.
const MICROSECOND = 1000n;
const REALTIME_RESOLUTION = MICROSECOND;
const MONOTONIC_RESOLUTION = 1n;
const CPU_RESOLUTION = MICROSECOND;

// One Int32Array over shared memory that nobody ever notifies: Atomics.wait on it is a plain,
// precise, synchronous sleep that also works on the main thread of Node.
let sleepCell: Int32Array | undefined;

/** Sleeps synchronously with Atomics.wait (no busy loop, no event loop turn). */
export function sleepSynchronously(nanoseconds: bigint): void {
  if (nanoseconds <= 0n) return;
  sleepCell ??= new Int32Array(new SharedArrayBuffer(4));
  Atomics.wait(sleepCell, 0, 0, Number(nanoseconds) / 1e6);
}

/** Process CPU time (user + system) in nanoseconds. */
function cpuTime(): bigint {
  const usage = process.cpuUsage();
  return BigInt(usage.user + usage.system) * MICROSECOND;
}

/**
 * The default clock: wall time from `performance`, monotonic time from `process.hrtime.bigint()`,
 * CPU time from `process.cpuUsage()` (Node has no per-thread CPU clock before v23, so thread time is
 * process time), sleep via `Atomics.wait`.
 */
export const systemClock: WasiClock = {
  now(clockId: number): bigint | undefined {
    switch (clockId) {
      case ClockId.REALTIME:
        return BigInt(Math.round((performance.timeOrigin + performance.now()) * 1000)) * MICROSECOND;
      case ClockId.MONOTONIC:
        return process.hrtime.bigint();
      case ClockId.PROCESS_CPUTIME_ID:
      case ClockId.THREAD_CPUTIME_ID:
        return cpuTime();
      default:
        return undefined;
    }
  },
  resolution(clockId: number): bigint | undefined {
    switch (clockId) {
      case ClockId.REALTIME:
        return REALTIME_RESOLUTION;
      case ClockId.MONOTONIC:
        return MONOTONIC_RESOLUTION;
      case ClockId.PROCESS_CPUTIME_ID:
      case ClockId.THREAD_CPUTIME_ID:
        return CPU_RESOLUTION;
      default:
        return undefined;
    }
  },
  sleep: sleepSynchronously,
};
