/**
 * One use of a QuickJS context, from the host's side: run the request (evaluate code, or call a
 * function the setup script defined), settle a promise result by running QuickJS's job queue, and
 * bring the result or the exception out as JSON through the guest's dispatcher (`guest.ts`).
 *
 * Nothing allocated here is freed: every use ends with the memory reset to the image.
 */
import { GuestMemoryLimitError, GuestTimeoutError, type ConsoleEntry } from '../errors.js';
import { PromiseState, type QuickJSExports } from './abi.js';
import { QuickJSError } from './errors.js';
import { GuestOp, type GuestOutcome } from './guest.js';
import { readCString, writeCString } from '../emscripten/c-strings.js';
import type { UseState } from './imports.js';

/** Addresses in the image that every use starts from (constants: the image is the same for all). */
export interface ContextLayout {
  /** `JSRuntime*`. */
  readonly rt: number;
  /** `JSContext*`. */
  readonly ctx: number;
  /** `JSValue*` of the dispatcher function (`guest.ts`). */
  readonly dispatcher: number;
  /** `JSValueConst*` of `undefined`. */
  readonly undefinedValue: number;
  /** Address of the context's `Math.random` state, which every use seeds afresh. */
  readonly randomState: number;
  /** `JSValue*` of the dispatcher's operation names (`GuestOp`), made once. */
  readonly ops: { readonly [K in keyof typeof GuestOp]: number };
  /** Room for the dispatcher's argument pointers and `ExecutePendingJob`'s out-parameter. */
  readonly scratch: number;
  /** The C string `eval.js`, the default file name. */
  readonly defaultFilename: number;
  /** `JSValue*` of the guest's array of logged lines, which only its console can reach. */
  readonly logs: number;
}

/** Bytes of {@link ContextLayout.scratch}: three argument pointers and one out-parameter. */
export const SCRATCH_BYTES = 16;
/** The file name of evaluated code unless a use names it. */
export const DEFAULT_FILENAME = 'eval.js';

/** Creates the strings, the scratch space and the handle on the logs of a {@link ContextLayout} (at image time). */
export function createLayoutExtras(
  x: QuickJSExports,
  memory: WebAssembly.Memory,
  layout: Pick<ContextLayout, 'ctx' | 'dispatcher' | 'undefinedValue'>,
): Pick<ContextLayout, 'ops' | 'scratch' | 'defaultFilename' | 'logs'> {
  const { ctx } = layout;
  const ops = {
    call: newString(x, memory, ctx, GuestOp.call),
    ok: newString(x, memory, ctx, GuestOp.ok),
    fail: newString(x, memory, ctx, GuestOp.fail),
    drain: newString(x, memory, ctx, GuestOp.drain),
    logs: newString(x, memory, ctx, GuestOp.logs),
  };
  const scratch = x.malloc(SCRATCH_BYTES);
  const logs = callDispatcher(x, memory, { ...layout, scratch }, ops.logs);
  return { ops, scratch, defaultFilename: writeCString(memory, x.malloc, DEFAULT_FILENAME).ptr, logs };
}

/** What a use runs. */
export type Request =
  | { readonly kind: 'eval'; readonly code: string; readonly filename: string }
  | { readonly kind: 'call'; readonly name: string; readonly argsJson: string };

/** Limits of one use. */
export interface UseLimits {
  /** Bytes QuickJS may have allocated at once (its whole heap), or Infinity. */
  readonly memoryLimit: number;
  /** Milliseconds, or Infinity. */
  readonly timeout: number;
}

/** A use's outcome: the JSON-compatible value and what the guest logged. */
export interface UseResult {
  value: unknown;
  logs: ConsoleEntry[];
}

const SEEDS = new BigUint64Array(256);
let seedsLeft = 0;

/** A non-zero 64-bit seed from the system's random source (drawn 256 at a time). */
function randomSeed(): bigint {
  for (;;) {
    if (seedsLeft === 0) {
      crypto.getRandomValues(SEEDS);
      seedsLeft = SEEDS.length;
    }
    const seed = SEEDS[--seedsLeft]!;
    if (seed !== 0n) return seed; // xorshift's one stuck state
  }
}

/** How long a guest that ran out of time or memory may take to describe its error. */
const DESCRIBE_GRACE_MS = 50;
/** `size_t` -1: no limit. */
const NO_LIMIT = -1;

/** Runs `request` in the context at `layout` and returns its result, or throws a typed error. */
export function runRequest(
  x: QuickJSExports,
  memory: WebAssembly.Memory,
  layout: ContextLayout,
  state: UseState,
  request: Request,
  limits: UseLimits,
): UseResult {
  const { rt, ctx } = layout;
  new DataView(memory.buffer).setBigUint64(layout.randomState, randomSeed(), true);
  x.QTS_RuntimeSetMemoryLimit(rt, Number.isFinite(limits.memoryLimit) ? limits.memoryLimit : NO_LIMIT);
  state.deadline = performance.now() + limits.timeout;
  let value: number;
  if (request.kind === 'eval') {
    const code = writeCString(memory, x.malloc, request.code);
    const filename = request.filename === DEFAULT_FILENAME ? layout.defaultFilename : writeCString(memory, x.malloc, request.filename).ptr;
    value = x.QTS_Eval(ctx, code.ptr, code.length, filename, 0, 0);
  } else {
    value = callDispatcher(
      x,
      memory,
      layout,
      layout.ops.call,
      newString(x, memory, ctx, request.name),
      newString(x, memory, ctx, request.argsJson),
    );
  }
  const settled = settle(x, memory, layout, state, value);
  if ('thrown' in settled) throw failure(x, memory, layout, state, settled.thrown, limits);
  const plain = primitiveResult(x, memory, layout, settled.value);
  if (plain !== NOT_PLAIN) return { value: plain, logs: [] };
  const finished = callDispatcher(x, memory, layout, layout.ops.ok, settled.value);
  const thrown = x.QTS_ResolveException(ctx, finished);
  if (thrown !== 0) throw failure(x, memory, layout, state, thrown, limits);
  const outcome = readOutcome(readCString(memory, x.QTS_GetString(ctx, finished)));
  return { value: outcome.value, logs: entries(outcome.logs) };
}

const NOT_PLAIN = Symbol('not plain');

/**
 * The result as the dispatcher's JSON would carry it, read directly when nothing was logged and it
 * is a number, a boolean or `undefined`: that case skips a guest call, two copies and a parse.
 * Anything else is {@link NOT_PLAIN}, for the dispatcher: objects, a use that logged, and strings,
 * which a C string cannot carry exactly (it ends at a NUL, and UTF-8 has no lone surrogates).
 */
function primitiveResult(x: QuickJSExports, memory: WebAssembly.Memory, layout: ContextLayout, value: number): unknown {
  const { ctx } = layout;
  const out = layout.scratch + 12;
  if (x.QTS_GetLength(ctx, out, layout.logs) !== 0 || new Uint32Array(memory.buffer, out, 1)[0] !== 0) return NOT_PLAIN;
  const type = x.QTS_Typeof(ctx, value);
  const bytes = new Uint8Array(memory.buffer, type, 2);
  switch (bytes[0]) {
    case 0x6e: {
      // number: as JSON has it (NaN and the infinities are null, -0 is 0)
      const n = x.QTS_GetFloat64(ctx, value);
      return Number.isFinite(n) ? n + 0 : null;
    }
    case 0x75: // undefined: no value
      return undefined;
    case 0x62: // boolean (not bigint)
      return bytes[1] === 0x6f ? x.QTS_GetFloat64(ctx, value) !== 0 : NOT_PLAIN;
    default:
      return NOT_PLAIN;
  }
}

/** Returns the lines logged so far and forgets them (used after the setup script). */
export function drainLogs(x: QuickJSExports, memory: WebAssembly.Memory, layout: ContextLayout): ConsoleEntry[] {
  const out = callDispatcher(x, memory, layout, layout.ops.drain);
  if (x.QTS_ResolveException(layout.ctx, out) !== 0) return [];
  return entries(readOutcome(`{"logs":${readCString(memory, x.QTS_GetString(layout.ctx, out))}}`).logs);
}

/**
 * Waits for `value` if it is a promise, running QuickJS's job queue (the sandbox has no timers or
 * I/O, so the queue is all there is), then runs the jobs still pending so that a use's `then`
 * callbacks happen within it.
 */
function settle(
  x: QuickJSExports,
  memory: WebAssembly.Memory,
  layout: ContextLayout,
  state: UseState,
  value: number,
): { value: number } | { thrown: number } {
  const { rt, ctx } = layout;
  const exception = x.QTS_ResolveException(ctx, value);
  if (exception !== 0) return { thrown: exception };
  const lastContext = layout.scratch + 12;
  while (x.QTS_IsJobPending(rt) !== 0) {
    if (performance.now() >= state.deadline) {
      state.interrupted = true;
      return { thrown: x.QTS_GetUndefined() };
    }
    const ran = x.QTS_ExecutePendingJob(rt, 1, lastContext);
    const thrown = x.QTS_ResolveException(ctx, ran);
    if (thrown !== 0) return { thrown };
  }
  switch (x.QTS_PromiseState(ctx, value)) {
    case PromiseState.notAPromise:
      return { value };
    case PromiseState.fulfilled:
      return { value: x.QTS_PromiseResult(ctx, value) };
    case PromiseState.rejected:
      return { thrown: x.QTS_PromiseResult(ctx, value) };
    default: {
      const message = 'the result is a promise that never settles: the sandbox has no timers or I/O, so nothing is left to settle it';
      const error = x.QTS_Eval(ctx, ...evalArgs(x, memory, `new Error(${JSON.stringify(message)})`), 0, 0);
      return { thrown: error };
    }
  }
}

function evalArgs(x: QuickJSExports, memory: WebAssembly.Memory, code: string): [number, number, number] {
  const source = writeCString(memory, x.malloc, code);
  return [source.ptr, source.length, writeCString(memory, x.malloc, '<cowpool>').ptr];
}

/** The typed error for an exception the guest did not catch. */
function failure(
  x: QuickJSExports,
  memory: WebAssembly.Memory,
  layout: ContextLayout,
  state: UseState,
  thrown: number,
  limits: UseLimits,
): Error {
  // Describing the error runs guest code (getters, toJSON): give it room to finish even when the
  // use ran out of memory or time, but not much.
  const timedOut = state.interrupted;
  x.QTS_RuntimeSetMemoryLimit(layout.rt, NO_LIMIT);
  state.deadline = performance.now() + DESCRIBE_GRACE_MS;
  const described = callDispatcher(x, memory, layout, layout.ops.fail, thrown);
  const undescribed = x.QTS_ResolveException(layout.ctx, described) !== 0;
  const outcome: GuestOutcome = undescribed
    ? { logs: [], error: { thrown: '[an exception the sandbox could not describe]' } }
    : readOutcome(readCString(memory, x.QTS_GetString(layout.ctx, described)));
  const logs = entries(outcome.logs);
  if (timedOut) return Object.assign(new GuestTimeoutError(limits.timeout), { logs });
  const error = outcome.error ?? { thrown: 'undefined' };
  const outOfMemory = 'name' in error && error.name === 'InternalError' && error.message === 'out of memory';
  // A full heap may leave no room to describe the error, or even to make it: QuickJS then throws
  // `null` instead of its "out of memory" InternalError (`JS_ThrowError2`). A string grown in place
  // (`s += …`) fills the heap to the last byte before an allocation fails, so that is how such a
  // storm ends; by the time the error is described here, the string is freed and there is room again.
  const nullOnFullHeap = state.heapExhausted && 'thrown' in error && error.thrown === 'null';
  if (outOfMemory || (state.heapExhausted && undescribed) || nullOnFullHeap) return new GuestMemoryLimitError(limits.memoryLimit, logs);
  if ('thrown' in error) return new QuickJSError('Thrown', error.thrown, '', logs);
  return new QuickJSError(error.name, error.message, error.stack, logs);
}

/** Calls the dispatcher with `op` and up to two arguments (`JSValue*`s). */
function callDispatcher(
  x: QuickJSExports,
  memory: WebAssembly.Memory,
  layout: Pick<ContextLayout, 'ctx' | 'dispatcher' | 'undefinedValue' | 'scratch'>,
  op: number,
  a = 0,
  b = 0,
): number {
  const argv = layout.scratch;
  const words = new Uint32Array(memory.buffer, argv, 3);
  words[0] = op;
  words[1] = a;
  words[2] = b;
  const argc = b !== 0 ? 3 : a !== 0 ? 2 : 1;
  return x.QTS_Call(layout.ctx, layout.dispatcher, layout.undefinedValue, argc, argv);
}

function newString(x: QuickJSExports, memory: WebAssembly.Memory, ctx: number, text: string): number {
  return x.QTS_NewString(ctx, writeCString(memory, x.malloc, text).ptr);
}

const LEVELS = new Set<unknown>(['log', 'info', 'warn', 'error', 'debug']);

/**
 * Parses what the dispatcher returned. It is the guest's output, so it is checked rather than
 * trusted: a shape the dispatcher does not produce reads as no value and no lines.
 */
function readOutcome(text: string): GuestOutcome {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    return { logs: [], error: { thrown: text } };
  }
  if (typeof parsed !== 'object' || parsed === null) return { logs: [] };
  const { logs, value, error } = parsed as Record<string, unknown>;
  const outcome: GuestOutcome = { logs: Array.isArray(logs) ? logs : [], value };
  if (typeof error === 'object' && error !== null) {
    const e = error as Record<string, unknown>;
    outcome.error =
      typeof e.name === 'string' && typeof e.message === 'string'
        ? { name: e.name, message: e.message, stack: typeof e.stack === 'string' ? e.stack : '' }
        : { thrown: typeof e.thrown === 'string' ? e.thrown : 'undefined' };
  }
  return outcome;
}

function entries(logs: readonly unknown[]): ConsoleEntry[] {
  const out: ConsoleEntry[] = [];
  for (const entry of logs) {
    if (Array.isArray(entry) && LEVELS.has(entry[0]) && typeof entry[1] === 'string') {
      out.push({ level: entry[0] as ConsoleEntry['level'], text: entry[1] });
    }
  }
  return out;
}
