/**
 * One use of a QuickJS context, from the host's side: run the request (evaluate a script or a
 * module, or call a function of the setup script), settle its result (`event-loop.ts`), and bring
 * the result or the exception out through the guest's dispatcher (`guest.ts`), the value in the
 * wire format (`values.ts`), the exception as the typed error that says whose fault it was.
 *
 * Nothing allocated here is freed: every use ends with the memory reset to the image.
 */
import { GuestMemoryLimitError, GuestTimeoutError, UncloneableValueError, type ConsoleEntry } from '../errors.js';
import { isPromise } from '../pool/sync-or-async.js';
import { EvalFlags, type QuickJSExports } from './abi.js';
import { QuickJSError } from './errors.js';
import { settle, then, type Settled, type UseGuest } from './event-loop.js';
import type { GuestOutcome } from './guest.js';
import { callDispatcher, newString, readBuffer, sendWire } from './guest-io.js';
import { limitHeap, refusedAllocations } from './heap-accounting.js';
import { DEFAULT_FILENAME, type ContextLayout } from './layout.js';
import { readCString, writeCString } from '../emscripten/c-strings.js';
import type { UseState } from './use-state.js';
import { describeKind, FORMAT_HINT, reviveWire, type Wire } from './values.js';

/** What a use runs: a script or module, or a call of the setup script's function `name` with `args`. */
export type Request =
  | { readonly kind: 'eval'; readonly code: string; readonly filename: string }
  | { readonly kind: 'call'; readonly name: string; readonly args: Wire };

/** Limits of one use. */
export interface UseLimits {
  /** Bytes QuickJS may have allocated at once (its whole heap), or Infinity. */
  readonly memoryLimit: number;
  /** Milliseconds, or Infinity. */
  readonly timeout: number;
}

/** A use's outcome: the value and what the guest logged. */
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

/**
 * Runs `request` in the context at `layout` and returns its result, or throws a typed error. A
 * promise only when the use has to wait (`state.waits`: for a host call's answer or a timer).
 */
export function runRequest(
  x: QuickJSExports,
  memory: WebAssembly.Memory,
  layout: ContextLayout,
  state: UseState,
  request: Request,
  limits: UseLimits,
): UseResult | Promise<UseResult> {
  let guest: UseGuest;
  let settled: Settled | Promise<Settled>;
  try {
    guest = startUse(x, memory, layout, state, limits);
    settled =
      request.kind === 'eval'
        ? evaluate(guest, state, request.code, request.filename)
        : settle(guest, state, callDispatcher(guest, layout.ops.call, newString(guest, request.name), sendWire(guest, request.args)));
    if (!isPromise(settled)) {
      const result = conclude(guest, state, settled, limits);
      state.end();
      return result;
    }
  } catch (err) {
    state.end();
    throw err;
  }
  return settled.then((outcome) => conclude(guest, state, outcome, limits)).finally(() => state.end());
}

/** Seeds the use's `Math.random`, sets its limits, and hands the guest to the state; returns the guest. */
export function startUse(
  x: QuickJSExports,
  memory: WebAssembly.Memory,
  layout: ContextLayout,
  state: UseState,
  limits: UseLimits,
): UseGuest {
  new DataView(memory.buffer).setBigUint64(layout.randomState, randomSeed(), true);
  limitHeap(x, memory, layout.rt, limits.memoryLimit);
  state.deadline = performance.now() + limits.timeout;
  const guest: UseGuest = { x, memory, layout };
  state.guest = guest;
  return guest;
}

/**
 * Evaluates `code` and settles its completion value: a module (code that begins with `import` or
 * `export`) completes with its namespace; a script that uses `await` is evaluated as an async
 * script (top-level await), whose completion is awaited too.
 */
export function evaluate(guest: UseGuest, state: UseState, code: string, filename: string): Settled | Promise<Settled> {
  const { x, memory, layout } = guest;
  const source = writeCString(memory, x.malloc, code);
  const file = filename === DEFAULT_FILENAME ? layout.defaultFilename : writeCString(memory, x.malloc, filename).ptr;
  const module = isModule(code);
  const topLevelAwait = !module && code.includes('await');
  const flags = module ? EvalFlags.module : topLevelAwait ? EvalFlags.async : 0;
  const settled = settle(guest, state, x.QTS_Eval(layout.ctx, source.ptr, source.length, file, 0, flags));
  if (!topLevelAwait) return settled;
  // An async script completes with a promise of `{ value }`, and its value may be a promise itself.
  return then(settled, (outcome) =>
    'thrown' in outcome ? outcome : settle(guest, state, callDispatcher(guest, layout.ops.unwrap, outcome.value)),
  );
}

/** The result or the error of a settled use. */
function conclude(guest: UseGuest, state: UseState, settled: Settled, limits: UseLimits): UseResult {
  const { x, memory, layout } = guest;
  if ('thrown' in settled) throw failure(guest, state, settled.thrown, limits);
  if (state.abort !== undefined) throw failure(guest, state, layout.undefinedValue, limits);
  const plain = primitiveResult(x, memory, layout, settled.value);
  if (plain !== NOT_PLAIN) return { value: plain, logs: [] };
  const finished = callDispatcher(guest, layout.ops.ok, settled.value);
  const thrown = x.QTS_ResolveException(layout.ctx, finished);
  if (thrown !== 0) throw failure(guest, state, thrown, limits);
  const text = readCString(memory, x.QTS_GetString(layout.ctx, finished));
  const outcome = readOutcome(text);
  const buffers: ArrayBuffer[] = [];
  for (let i = 0; i < (outcome.buffers ?? 0); i++)
    buffers.push(readBuffer(guest, callDispatcher(guest, layout.ops.buffer, x.QTS_NewFloat64(layout.ctx, i))));
  return { value: reviveWire(outcome.value, text, buffers), logs: entries(outcome.logs) };
}

const NOT_PLAIN = Symbol('not plain');

/**
 * The result read directly when nothing was logged and it is a number, a boolean or `undefined`:
 * that case skips a guest call, two copies and a parse. Anything else is {@link NOT_PLAIN}, for the
 * dispatcher: objects, a use that logged, and strings, which a C string cannot carry exactly (it
 * ends at a NUL, and UTF-8 has no lone surrogates).
 */
function primitiveResult(x: QuickJSExports, memory: WebAssembly.Memory, layout: ContextLayout, value: number): unknown {
  const { ctx } = layout;
  const out = layout.scratch + 12;
  if (x.QTS_GetLength(ctx, out, layout.logs) !== 0 || new Uint32Array(memory.buffer, out, 1)[0] !== 0) return NOT_PLAIN;
  const type = x.QTS_Typeof(ctx, value);
  const bytes = new Uint8Array(memory.buffer, type, 2);
  switch (bytes[0]) {
    case 0x6e: // number: all of it (NaN, the infinities, -0)
      return x.QTS_GetFloat64(ctx, value);
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
  const out = callDispatcher({ x, memory, layout }, layout.ops.drain);
  if (x.QTS_ResolveException(layout.ctx, out) !== 0) return [];
  return entries(readOutcome(`{"logs":${readCString(memory, x.QTS_GetString(layout.ctx, out))}}`).logs);
}

/**
 * The typed error for a use that failed with the guest's exception `thrown`: the host's own error
 * when the host side ended it (a loader threw, say) or the exception stands for one (a host
 * function's, a value that could not cross), else the deadline, the memory limit, or the guest's
 * exception itself.
 */
export function failure(guest: UseGuest, state: UseState, thrown: number, limits: UseLimits): Error {
  const { x, memory, layout } = guest;
  // Describing the error runs guest code (getters, toJSON): give it room to finish even when the
  // use ran out of memory or time, but not much.
  const timedOut = state.interrupted;
  limitHeap(x, memory, layout.rt, Infinity);
  state.deadline = performance.now() + DESCRIBE_GRACE_MS;
  const described = callDispatcher(guest, layout.ops.fail, thrown);
  const undescribed = x.QTS_ResolveException(layout.ctx, described) !== 0;
  const outcome: GuestOutcome = undescribed
    ? { logs: [], error: { thrown: '[an exception the sandbox could not describe]' } }
    : readOutcome(readCString(memory, x.QTS_GetString(layout.ctx, described)));
  const logs = entries(outcome.logs);
  if (state.abort !== undefined) return state.abort(logs);
  if (timedOut) return Object.assign(new GuestTimeoutError(limits.timeout), { logs });
  const error = outcome.error ?? { thrown: 'undefined' };
  if ('host' in error) {
    const hostFailure = state.hostErrors?.[error.host];
    if (hostFailure !== undefined) return hostFailure(logs);
  }
  if ('uncloneable' in error) {
    const { path, kind, fn } = error.uncloneable;
    const where = fn === undefined ? path : `${path} of host function ${fn}`;
    return new UncloneableValueError(
      'guest',
      where,
      kind,
      `${where} ${describeKind(kind)}, which cannot be copied out of the sandbox; ${FORMAT_HINT}`,
      logs,
    );
  }
  const outOfMemory = 'name' in error && error.name === 'InternalError' && error.message === 'out of memory';
  // At the limit there may be no room to describe the error, or even to make it: QuickJS then
  // throws `null` instead of its "out of memory" InternalError (`JS_ThrowError2`). By the time the
  // error is described here, the limit is lifted and what the use held may be freed.
  const refused = state.heapExhausted || refusedAllocations(memory, layout.rt) > 0;
  const nullWhenRefused = refused && 'thrown' in error && error.thrown === 'null';
  if (outOfMemory || (refused && undescribed) || nullWhenRefused) return new GuestMemoryLimitError(limits.memoryLimit, logs);
  if ('name' in error) return new QuickJSError(error.name, error.message, error.stack, logs);
  return new QuickJSError('Thrown', 'thrown' in error ? error.thrown : 'undefined', '', logs);
}

/**
 * Whether QuickJS would take `code` for a module (its `JS_DetectModule`): after a shebang, blanks
 * and comments, the first token is `export`, or `import` not followed by `(` or `.`.
 */
export function isModule(code: string): boolean {
  let i = code.startsWith('#!') ? code.indexOf('\n') : 0;
  if (i < 0) return false;
  for (;;) {
    const c = code.charCodeAt(i);
    if (c === 0x69 || c === 0x65) break; // i, e: the only way a module begins
    if (c === 0x20 || (c >= 0x09 && c <= 0x0d) || c === 0xa0 || c === 0xfeff || c === 0x2028 || c === 0x2029) i++;
    else if (c === 0x2f && code.charCodeAt(i + 1) === 0x2f) {
      const end = code.indexOf('\n', i);
      if (end < 0) return false;
      i = end;
    } else if (c === 0x2f && code.charCodeAt(i + 1) === 0x2a) {
      const end = code.indexOf('*/', i + 2);
      if (end < 0) return false;
      i = end + 2;
    } else return false;
  }
  const word = /^(import|export)(?![\w$])\s*(.?)/.exec(code.slice(i, i + 64));
  if (word === null) return false;
  return word[1] === 'export' || (word[2] !== '(' && word[2] !== '.');
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
  const { logs, value, buffers, error } = parsed as Record<string, unknown>;
  const outcome: GuestOutcome = { logs: Array.isArray(logs) ? logs : [], value };
  if (typeof buffers === 'number' && Number.isSafeInteger(buffers) && buffers > 0) outcome.buffers = buffers;
  if (typeof error === 'object' && error !== null) outcome.error = readError(error as Record<string, unknown>);
  return outcome;
}

function readError(e: Record<string, unknown>): NonNullable<GuestOutcome['error']> {
  if (typeof e.host === 'number') return { host: e.host };
  const lost = e.uncloneable;
  if (typeof lost === 'object' && lost !== null) {
    const { path, kind, fn } = lost as Record<string, unknown>;
    return { uncloneable: { path: String(path), kind: String(kind), ...(typeof fn === 'string' ? { fn } : {}) } };
  }
  if (typeof e.name === 'string' && typeof e.message === 'string') {
    return { name: e.name, message: e.message, stack: typeof e.stack === 'string' ? e.stack : '' };
  }
  return { thrown: typeof e.thrown === 'string' ? e.thrown : 'undefined' };
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
