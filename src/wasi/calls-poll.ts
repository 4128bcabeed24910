/**
 * preview1 poll_oneoff: waiting for clocks and fds.
 *
 * Every fd this host offers is always ready (stdin is a buffer, stdout a sink, files are local), so
 * fd subscriptions fire at once and a poll that has any never sleeps. Without them, the poll sleeps
 * synchronously until the earliest clock deadline, which is how wasi-libc implements sleep(),
 * nanosleep() and poll() with a timeout. The use's own deadline cuts that sleep and ends the use.
 */

import { Errno, Eventrwflags, Eventtype, Layout, Rights, Subclockflags, type ErrnoValue } from './abi.js';
import type { WasiState } from './state.js';

/** What a write subscription on stdout/stderr reports as writable without blocking: a pipe's buffer. */
const WRITABLE_BYTES = 65536n;

/** The poll function of preview1, closed over `state`. */
export function pollCalls(state: WasiState): WebAssembly.ModuleImports {
  const { memory, fds } = state;

  function writeEvent(ptr: number, userdata: bigint, error: number, type: number, nbytes: bigint, flags: number): void {
    const view = memory.view;
    memory.bytes.fill(0, ptr, ptr + Layout.EVENT_SIZE);
    view.setBigUint64(ptr, userdata, true);
    view.setUint16(ptr + 8, error, true);
    view.setUint8(ptr + 10, type);
    view.setBigUint64(ptr + 16, nbytes, true);
    view.setUint16(ptr + 24, flags, true);
  }

  /** Readiness of `fd` for reading or writing: [errno, nbytes, eventrwflags]. */
  function fdReadiness(fd: number, type: number): [ErrnoValue, bigint, number] {
    const entry = fds.get(fd);
    if (entry === undefined) return [Errno.BADF, 0n, 0];
    if ((entry.rightsBase & Rights.POLL_FD_READWRITE) === 0n && entry.kind !== 'file') {
      return [Errno.NOTCAPABLE, 0n, 0];
    }
    const reading = type === Eventtype.FD_READ;
    if (entry.kind === 'stream') {
      if (reading !== (entry.stream === 0)) return [Errno.BADF, 0n, 0];
      if (!reading) return [Errno.SUCCESS, WRITABLE_BYTES, 0];
      const left = state.context.stdin.length - state.stdinPosition;
      return [Errno.SUCCESS, BigInt(left), left === 0 ? Eventrwflags.FD_READWRITE_HANGUP : 0];
    }
    if (entry.kind === 'file' && reading) {
      const size = BigInt(entry.file.size());
      const left = size - BigInt(entry.position);
      return [Errno.SUCCESS, left > 0n ? left : 0n, 0];
    }
    return [Errno.BADF, 0n, 0];
  }

  return {
    poll_oneoff(inPtr: number, outPtr: number, nsubscriptions: number, neventsPtr: number): number {
      try {
        inPtr >>>= 0;
        outPtr >>>= 0;
        const count = nsubscriptions >>> 0;
        if (count === 0) return Errno.INVAL; // would wait forever for nothing
        state.checkDeadline();
        memory.refresh();
        if (!memory.contains(inPtr, count * Layout.SUBSCRIPTION_SIZE) || !memory.contains(outPtr, count * Layout.EVENT_SIZE)) {
          return Errno.FAULT;
        }
        const view = memory.view;
        let events = 0;
        // Clock subscriptions, with the time left until each fires, in nanoseconds.
        const clocks: { userdata: bigint; left: bigint }[] = [];

        for (let i = 0; i < count; i++) {
          const sub = inPtr + i * Layout.SUBSCRIPTION_SIZE;
          const userdata = view.getBigUint64(sub, true);
          const tag = view.getUint8(sub + 8);
          if (tag === Eventtype.CLOCK) {
            const clockId = view.getUint32(sub + 16, true);
            const timeout = view.getBigUint64(sub + 24, true);
            const flags = view.getUint16(sub + 40, true);
            const now = state.clock.now(clockId);
            if (now === undefined) {
              writeEvent(outPtr + events++ * Layout.EVENT_SIZE, userdata, Errno.INVAL, tag, 0n, 0);
            } else {
              const absolute = (flags & Subclockflags.SUBSCRIPTION_CLOCK_ABSTIME) !== 0;
              clocks.push({ userdata, left: absolute ? timeout - now : timeout });
            }
          } else if (tag === Eventtype.FD_READ || tag === Eventtype.FD_WRITE) {
            const [error, nbytes, flags] = fdReadiness(view.getUint32(sub + 16, true), tag);
            writeEvent(outPtr + events++ * Layout.EVENT_SIZE, userdata, error, tag, nbytes, flags);
          } else {
            writeEvent(outPtr + events++ * Layout.EVENT_SIZE, userdata, Errno.INVAL, tag, 0n, 0);
          }
        }

        if (clocks.length > 0) {
          let earliest = (clocks[0] as (typeof clocks)[number]).left;
          for (const c of clocks) if (c.left < earliest) earliest = c.left;
          // Sleep only when nothing else is ready; then every clock due by the earliest deadline fires.
          const due = events === 0 ? earliest : 0n;
          if (due > 0n) {
            state.sleep(due); // cut at the use's deadline
            memory.refresh(); // a custom WasiClock.sleep runs arbitrary JS; cheap to be sure
          }
          for (const c of clocks) {
            if (c.left <= due) writeEvent(outPtr + events++ * Layout.EVENT_SIZE, c.userdata, Errno.SUCCESS, Eventtype.CLOCK, 0n, 0);
          }
        }
        memory.view.setUint32(neventsPtr >>> 0, events, true);
        return Errno.SUCCESS;
      } catch (error) {
        return state.fault(error);
      }
    },
  };
}
