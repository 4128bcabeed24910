/**
 * What the host knows about one use of a QuickJS context while it runs: its deadline and how it
 * was stopped, the use's context for host functions, the host calls still pending and their
 * answers, and the errors the host side keeps for the guest's exceptions to point to. The pool
 * hands it to the imports as the lease context; a new one per use, and nothing in it outlives the
 * use (a host call that settles after its use ended finds the state ended and is dropped).
 */
import type { ConsoleEntry } from '../errors.js';
import type { QuickJSExports } from './abi.js';
import type { ContextLayout } from './layout.js';

/** What the host needs to call into the guest during a use: its exports, memory and layout. */
export interface GuestAccess {
  readonly x: QuickJSExports;
  readonly memory: WebAssembly.Memory;
  readonly layout: ContextLayout;
}

/** An async host call's outcome, waiting for the use's event loop to hand it to the guest. */
export interface Completion {
  readonly ticket: number;
  readonly name: string;
  readonly ok: boolean;
  readonly value: unknown;
}

/** The error a host-side failure ends a use with, made once the use's logs are known. */
export type HostFailure = (logs: ConsoleEntry[]) => Error;

/** See the module comment. */
export class UseState {
  /** `performance.now()` after which QuickJS's interrupt handler stops the guest. */
  deadline = Infinity;
  /** True once the interrupt handler has stopped the guest for its deadline. */
  interrupted = false;
  /** True once the heap asked to grow past the memory and was refused (the memory is full). */
  heapExhausted = false;
  /** What host functions see as `this.context`. */
  context: unknown = undefined;
  /** True when the use may wait for host promises (`eval`, `call`); a Sync use may not. */
  waits = false;
  /** True while the setup script runs (at create, synchronously). */
  setup = false;
  /** The guest, during the use (set when it starts). */
  guest: GuestAccess | undefined = undefined;
  /** True once the guest queued a timer or a microtask: the use then runs its event loop. */
  eventful = false;
  /** Set when the host side must end the use whatever the guest does (a loader threw, say). */
  abort: HostFailure | undefined = undefined;
  /** What each host error the guest was given stands for, by id (the guest's errors point here). */
  hostErrors: HostFailure[] | undefined = undefined;
  /** Async host calls not yet answered, and the last ticket handed out. */
  pendingCalls = 0;
  tickets = 0;
  /** Answers of async host calls, waiting for the event loop (made by the first). */
  completions: Completion[] | undefined = undefined;
  /** Wakes the event loop when an answer arrives. */
  wake: (() => void) | undefined = undefined;
  /** Made when a host function first asks for `this.signal`; aborted when the use ends. */
  controller: AbortController | undefined = undefined;
  /** True once the use has ended. */
  ended = false;

  /** Ends the use with `failure` at the guest's next interrupt check, whatever it catches. */
  stop(failure: HostFailure): void {
    this.abort ??= failure;
    this.deadline = -Infinity;
  }

  /** Keeps `failure` for the guest's error that stands for it, and returns its id. */
  keepError(failure: HostFailure): number {
    this.hostErrors ??= [];
    return this.hostErrors.push(failure) - 1;
  }

  /** Marks the use ended: pending host calls are dropped, and their `signal` aborted. */
  end(): void {
    if (this.ended) return;
    this.ended = true;
    this.guest = undefined;
    this.wake = undefined;
    this.controller?.abort(new Error('the use ended'));
  }
}
