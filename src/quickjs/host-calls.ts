/**
 * The host's side of a guest calling a host function: the `callFunction` import QuickJS calls for
 * the one C function the image made (`guest.ts` explains the protocol), which reads the arguments,
 * calls the function with `this` set to the use ({@link HostCallContext}), and answers with a value,
 * an error, or a ticket for a promise; and the delivery of a promise's outcome, later, by the
 * use's event loop (`event-loop.ts`).
 *
 * Errors cross typed: what a host function throws is kept here (the use's {@link UseState}) and the
 * guest gets an Error with its name and message; if that error ends the use uncaught, the caller
 * gets a {@link HostFunctionError} whose `cause` is the host's own error. A result that cannot be
 * copied into the guest is an {@link UncloneableValueError} the same way: the guest sees a
 * TypeError it may catch.
 */
import { HostFunctionError, InvalidArgumentError, UncloneableValueError } from '../errors.js';
import { readCString } from '../emscripten/c-strings.js';
import { isPromise } from '../pool/sync-or-async.js';
import { callDispatcher, newString, readBuffer, stashBuffers, type Guest } from './guest-io.js';
import { HostCallContext, type HostFunctionTable } from './host-functions.js';
import type { Completion, HostFailure, UseState } from './use-state.js';
import { fromWire, toWire, WIRE_TAG } from './values.js';

/** The `callFunction` import for `table`'s functions; `use()` is the current use's state. */
export function hostCallImport(
  table: HostFunctionTable,
  use: () => UseState | undefined,
): (ctx: number, thisValue: number, argc: number, argv: number, hostRefId: number) => number {
  return (ctx, _thisValue, argc, argv) => {
    const state = use();
    const guest = state?.guest;
    if (state === undefined || guest === undefined) return 0;
    const { x, memory } = guest;
    const index = x.QTS_GetFloat64(ctx, x.QTS_ArgvGetJSValueConstPointer(argv, 0));
    if (index === 0) {
      state.eventful = true;
      return 0;
    }
    const name = table.names[index - 1]!;
    const fn = table.functions[index - 1]!;
    const json = readCString(memory, x.QTS_GetString(ctx, x.QTS_ArgvGetJSValueConstPointer(argv, 1)));
    const buffers: ArrayBuffer[] = [];
    for (let i = 2; i < argc; i++) buffers.push(readBuffer(guest, x.QTS_ArgvGetJSValueConstPointer(argv, i)));
    const args = fromWire(json, buffers) as unknown[];
    let result: unknown;
    try {
      result = fn.apply(new HostCallContext(name, state.context, () => (state.controller ??= new AbortController())), args);
    } catch (err) {
      return newString(guest, errorReply(state, name, err));
    }
    if (!isPromise(result)) return newString(guest, valueReply(guest, state, name, result));
    if (!state.waits) {
      result.then(undefined, () => {});
      const failure: HostFailure = () =>
        new InvalidArgumentError(
          state.setup
            ? `host function ${name} returned a promise while the setup script ran under createSync, which cannot wait for it; ` +
                'use create'
            : `host function ${name} returned a promise, which a Sync use (evalSync, callSync) cannot wait for; use eval or call`,
        );
      state.stop(failure);
      return newString(guest, reply(state.keepError(failure), 'Error', `host function ${name} is async: this use cannot wait for it`));
    }
    const ticket = ++state.tickets;
    state.pendingCalls++;
    result.then(
      (value) => complete(state, { ticket, name, ok: true, value }),
      (error: unknown) => complete(state, { ticket, name, ok: false, value: error }),
    );
    return newString(guest, `p${ticket}`);
  };
}

/** Hands an async host call's outcome to the guest (its promise settles); returns what the dispatcher returned. */
export function deliver(guest: Guest & { layout: { ops: { settle: number } } }, state: UseState, completion: Completion): number {
  state.pendingCalls--;
  const answer = completion.ok
    ? valueReply(guest, state, completion.name, completion.value)
    : errorReply(state, completion.name, completion.value);
  return callDispatcher(guest, guest.layout.ops.settle, newString(guest, `${completion.ticket} ${answer}`));
}

function complete(state: UseState, completion: Completion): void {
  if (state.ended) return;
  (state.completions ??= []).push(completion);
  state.wake?.();
}

/** `v<wire>` for `value` (its buffers stashed in the guest), or an error reply when it cannot cross. */
function valueReply(guest: Guest, state: UseState, name: string, value: unknown): string {
  // The common answers are JSON as they are.
  if (typeof value === 'string') return `v${JSON.stringify(value)}`;
  if ((typeof value === 'number' && Number.isFinite(value) && !Object.is(value, -0)) || typeof value === 'boolean' || value === null) {
    return `v${String(value)}`;
  }
  let wire;
  try {
    wire = toWire(value, `the result of host function ${name}`);
  } catch (err) {
    if (!(err instanceof UncloneableValueError)) return errorReply(state, name, err);
    const id = state.keepError((logs) => new UncloneableValueError(err.from, err.path, err.kind, err.message, logs));
    return reply(id, 'TypeError', err.message);
  }
  stashBuffers(guest, wire.buffers);
  return `v${wire.json}`;
}

/** `e<id> <wire>`: the guest's Error for what host function `name` threw, which the host keeps as `id`. */
function errorReply(state: UseState, name: string, thrown: unknown): string {
  const id = state.keepError((logs) => new HostFunctionError(name, thrown, logs));
  let errorName = 'Error';
  let message: string;
  try {
    if (thrown instanceof Error) {
      errorName = String(thrown.name);
      message = String(thrown.message);
    } else {
      message = String(thrown);
    }
  } catch {
    message = `host function ${name} threw`;
  }
  return reply(id, errorName, message);
}

function reply(id: number, name: string, message: string): string {
  return `e${id} ${JSON.stringify({ [WIRE_TAG]: 'e', n: name, m: message })}`;
}
