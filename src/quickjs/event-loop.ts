/**
 * Settling a use's result: an exception is the outcome; a value is run through QuickJS's job queue
 * (promise reactions); a promise still pending then is waited for by the use's event loop, which
 * hands the guest the answers of its async host calls and runs its timers in order, each followed
 * by the jobs it queued, until the promise settles or the deadline passes.
 *
 * The loop only runs for a use that needs it: a pending async host call, or a timer or microtask
 * the guest queued (the guest notes the first, `guest.ts`). Everything else settles as before, in
 * one pass over the job queue. A use ends when its result has settled: timers still set then never
 * run (the memory they live in is reset), as a Cloudflare Worker's do once it has answered.
 *
 * A Sync use waits by sleeping the thread (`Atomics.wait`) until its next timer is due: it cannot
 * wait for a host promise, and a host function that returns one there ends it (`host-calls.ts`).
 * An async use awaits the next answer, the next timer or its deadline, whichever comes first.
 */
import { isPromise } from '../pool/sync-or-async.js';
import { PromiseState } from './abi.js';
import { writeCString } from '../emscripten/c-strings.js';
import { callDispatcher, type Guest } from './guest-io.js';
import { deliver } from './host-calls.js';
import type { ContextLayout } from './layout.js';
import type { UseState } from './use-state.js';

/** A settled result: the value (`JSValue*`), or what was thrown (`JSValue*`; `undefined`'s at a deadline). */
export type Settled = { value: number } | { thrown: number };

/** The guest as a use sees it: with its whole layout. */
export type UseGuest = Guest & { readonly layout: ContextLayout };

/**
 * Settles `value` (a `JSValue*` that may be an exception or a promise); see the module comment.
 * Synchronous unless the use waits (`state.waits`) and has to.
 */
export function settle(guest: UseGuest, state: UseState, value: number): Settled | Promise<Settled> {
  const { x, layout } = guest;
  const { ctx } = layout;
  const exception = x.QTS_ResolveException(ctx, value);
  if (exception !== 0) return { thrown: exception };
  const stopped = drainJobs(guest, state);
  if (stopped !== undefined) return stopped;
  const outcome = promiseOutcome(guest, value);
  if (outcome !== undefined) return checked(guest, state, outcome);
  if (!state.eventful && state.pendingCalls === 0) return neverSettles(guest, 'no timer is set and no host call is pending');
  return drive(eventLoop(guest, state, value), state);
}

/** Runs the pending jobs; returns what stopped them (an exception, the deadline), or undefined when none are left. */
function drainJobs(guest: UseGuest, state: UseState): Settled | undefined {
  const { x, layout } = guest;
  const lastContext = layout.scratch + 12;
  while (x.QTS_IsJobPending(layout.rt) !== 0) {
    if (performance.now() >= state.deadline) return timedOut(guest, state);
    const ran = x.QTS_ExecutePendingJob(layout.rt, 1, lastContext);
    const thrown = x.QTS_ResolveException(layout.ctx, ran);
    if (thrown !== 0) return { thrown };
  }
  return undefined;
}

/** What `value` settled to: itself when it is no promise, undefined while it is pending. */
function promiseOutcome(guest: UseGuest, value: number): Settled | undefined {
  const { x, layout } = guest;
  switch (x.QTS_PromiseState(layout.ctx, value)) {
    case PromiseState.notAPromise:
      return { value };
    case PromiseState.fulfilled:
      return { value: x.QTS_PromiseResult(layout.ctx, value) };
    case PromiseState.rejected:
      return { thrown: x.QTS_PromiseResult(layout.ctx, value) };
    default:
      return undefined;
  }
}

/** `outcome`, unless a microtask callback of an eventful use threw: then that is the outcome. */
function checked(guest: UseGuest, state: UseState, outcome: Settled): Settled {
  if (!state.eventful || 'thrown' in outcome) return outcome;
  const thrown = guest.x.QTS_ResolveException(guest.layout.ctx, callDispatcher(guest, guest.layout.ops.check));
  return thrown !== 0 ? { thrown } : outcome;
}

/**
 * The event loop of a use whose result is the pending promise `promise`: yields how long to wait
 * (ms), returns the outcome. Each turn hands over the host answers that arrived, then runs one due
 * timer, each followed by the jobs it queued.
 */
function* eventLoop(guest: UseGuest, state: UseState, promise: number): Generator<number, Settled> {
  const { x, layout } = guest;
  for (;;) {
    const answers = state.completions;
    while (answers !== undefined && answers.length > 0) {
      const thrown = x.QTS_ResolveException(layout.ctx, deliver(guest, state, answers.shift()!));
      if (thrown !== 0) return { thrown };
      const stopped = drainJobs(guest, state);
      if (stopped !== undefined) return stopped;
    }
    const outcome = promiseOutcome(guest, promise);
    if (outcome !== undefined) return checked(guest, state, outcome);
    const ticked = callDispatcher(guest, layout.ops.tick);
    const thrown = x.QTS_ResolveException(layout.ctx, ticked);
    if (thrown !== 0) return { thrown };
    const next = x.QTS_GetFloat64(layout.ctx, ticked);
    if (next === 0) {
      const stopped = drainJobs(guest, state);
      if (stopped !== undefined) return stopped;
      continue;
    }
    if (next < 0 && state.pendingCalls === 0) return neverSettles(guest, 'no timer is set and no host call is pending');
    const left = state.deadline - performance.now();
    // A timer due after the deadline cannot help: the use would only wait to fail.
    if (left <= 0 || (state.pendingCalls === 0 && next >= left)) return timedOut(guest, state);
    yield next < 0 ? left : Math.min(next, left);
    if (performance.now() >= state.deadline) return timedOut(guest, state);
  }
}

/** Runs `loop` to its end: sleeping the thread in a Sync use, awaiting in an async one. */
function drive(loop: Generator<number, Settled>, state: UseState): Settled | Promise<Settled> {
  for (;;) {
    const step = loop.next();
    if (step.done) return step.value;
    if (state.waits) return driveAsync(loop, state, step.value);
    sleepSync(step.value);
  }
}

async function driveAsync(loop: Generator<number, Settled>, state: UseState, first: number): Promise<Settled> {
  let wait = first;
  for (;;) {
    await nextEvent(state, wait);
    const step = loop.next();
    if (step.done) return step.value;
    wait = step.value;
  }
}

/** Resolves after `ms`, or as soon as a host answer arrives. */
function nextEvent(state: UseState, ms: number): Promise<void> {
  return new Promise<void>((resolve) => {
    // setTimeout treats more than 2^31 - 1 ms as 1 ms: a longer wait is only the answer's.
    const timer = ms < 2 ** 31 ? setTimeout(done, Math.max(0, ms)) : undefined;
    state.wake = done;
    function done() {
      clearTimeout(timer);
      state.wake = undefined;
      resolve();
    }
  });
}

const SLEEPER = new Int32Array(new SharedArrayBuffer(4));

function sleepSync(ms: number): void {
  if (ms > 0) Atomics.wait(SLEEPER, 0, 0, ms);
}

/** The deadline passed: the guest's error describes nothing (`undefined`), the state says why. */
function timedOut(guest: UseGuest, state: UseState): Settled {
  state.interrupted = true;
  return { thrown: guest.layout.undefinedValue };
}

function neverSettles(guest: UseGuest, why: string): Settled {
  const { x, memory, layout } = guest;
  const message = `the result is a promise that never settles: ${why}, so nothing is left to settle it`;
  const code = writeCString(memory, x.malloc, `new Error(${JSON.stringify(message)})`);
  return { thrown: x.QTS_Eval(layout.ctx, code.ptr, code.length, layout.defaultFilename, 0, 0) };
}

/** `value` then `f`, waiting for `value` only if it is a promise. */
export function then<T, U>(value: T | Promise<T>, f: (v: T) => U | Promise<U>): U | Promise<U> {
  return isPromise(value) ? value.then(f) : f(value);
}
