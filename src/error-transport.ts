/**
 * Errors across threads: what a worker thread threw, as data that `postMessage` can carry, and back
 * into an error on the thread that asked. Structured clone alone would keep an Error's message and
 * stack but turn a `GuestTimeoutError` into a plain `Error`, without its `code`, its class or its
 * fields (`timeoutMs`, `logs`, …); callers branch on those.
 *
 * The rule: a cowpool error arrives as the same class (when the receiver knows it: every class of
 * `errors.ts`, plus those the receiver names, such as a sandbox's own), with the same `code`,
 * `name`, message, stack and own fields; one of a class the receiver does not know arrives as its
 * nearest known ancestor, still branded, so `code`, `name`, fields and `instanceof` (which matches
 * by brand and name across copies, see `errors.ts`) behave the same. Any other error keeps its
 * name, message, stack and the own fields that can be cloned (a standard class such as `TypeError`
 * or `WebAssembly.RuntimeError` is rebuilt as itself, anything else as an `Error` that keeps its
 * `name`). `cause` travels the same way, to a depth of 8. A thrown non-error value is cloned, or
 * sent as its string when it cannot be.
 */
import * as errors from './errors.js';

/** An error class a receiver can rebuild, by the name of its constructor. */
export type ErrorClass = abstract new (...args: never[]) => Error;

/** A thrown value as data that structured clone carries; see the module comment. */
export type SerializedError = SerializedErrorObject | { kind: 'value'; value: unknown };

/** An `Error` as data. */
export interface SerializedErrorObject {
  kind: 'error';
  /** Constructor names from the error's class up to `Error` (e.g. `QuickJSError`, `CowpoolError`, `Error`). */
  chain: string[];
  /** The `name` the error showed (its own or its class's). */
  name: string;
  message: string;
  stack: string | undefined;
  /** Whether it is a cowpool error (branded), rebuilt as one. */
  cowpool: boolean;
  /** Own enumerable fields (a cowpool error's `code`, `name`, `timeoutMs`, `logs`, …), cloned. */
  fields: Record<string, unknown>;
  /** Present when the error had a cause. */
  cause?: SerializedError;
  /** An AggregateError's errors. */
  errors?: SerializedError[];
}

const MAX_DEPTH = 8;
const BRAND = Symbol.for('cowpool.error');

/** Every class of `errors.ts`, by name: what any receiver can rebuild. */
const COWPOOL_CLASSES: ReadonlyMap<string, ErrorClass> = new Map(
  (Object.values(errors) as unknown[])
    .filter((value): value is ErrorClass => typeof value === 'function' && value.prototype instanceof Error)
    .map((cls) => [cls.name, cls]),
);

/** Standard error classes, rebuilt as themselves when the error is not cowpool's. */
const STANDARD_CLASSES: ReadonlyMap<string, ErrorClass> = new Map<string, ErrorClass>([
  ['Error', Error],
  ['TypeError', TypeError],
  ['RangeError', RangeError],
  ['ReferenceError', ReferenceError],
  ['SyntaxError', SyntaxError],
  ['EvalError', EvalError],
  ['URIError', URIError],
  ['AggregateError', AggregateError],
  ['CompileError', WebAssembly.CompileError],
  ['LinkError', WebAssembly.LinkError],
  ['RuntimeError', WebAssembly.RuntimeError],
]);

/** What was thrown, as data `postMessage` can carry. Never throws. */
export function serializeError(thrown: unknown, depth = 0): SerializedError {
  if (!(thrown instanceof Error)) return { kind: 'value', value: cloneable(thrown) };
  const chain: string[] = [];
  for (let proto = Object.getPrototypeOf(thrown) as object | null; proto !== null && proto !== Object.prototype;) {
    const ctor = Object.hasOwn(proto, 'constructor') ? (proto as { constructor: unknown }).constructor : undefined;
    if (typeof ctor === 'function' && ctor.name !== '') chain.push(ctor.name);
    proto = Object.getPrototypeOf(proto) as object | null;
  }
  const fields: Record<string, unknown> = {};
  for (const key of Object.keys(thrown)) {
    if (key === 'stack' || key === 'message' || key === 'cause') continue;
    fields[key] = cloneable((thrown as unknown as Record<string, unknown>)[key]);
  }
  const out: SerializedErrorObject = {
    kind: 'error',
    chain,
    name: String(thrown.name),
    message: String(thrown.message),
    stack: typeof thrown.stack === 'string' ? thrown.stack : undefined,
    cowpool: (thrown as unknown as Record<symbol, unknown>)[BRAND] === true,
    fields,
  };
  if (depth < MAX_DEPTH && Object.hasOwn(thrown, 'cause')) out.cause = serializeError(thrown.cause, depth + 1);
  if (depth < MAX_DEPTH && thrown instanceof AggregateError && Array.isArray(thrown.errors)) {
    out.errors = (thrown.errors as unknown[]).map((e) => serializeError(e, depth + 1));
  }
  return out;
}

/**
 * The error `data` describes, rebuilt on this thread (see the module comment). `classes` names the
 * cowpool error classes beyond `errors.ts` this receiver knows (a sandbox's own).
 */
export function deserializeError(data: SerializedError, classes: ReadonlyMap<string, ErrorClass> = COWPOOL_CLASSES): unknown {
  if (data.kind === 'value') return data.value;
  const cls = data.cowpool ? (nearest(data.chain, classes, COWPOOL_CLASSES) ?? errors.CowpoolError) : nearest(data.chain, STANDARD_CLASSES);
  // Made without its constructor, whose parameters differ from class to class; what a constructor
  // would set is set below from the data: the message, stack and cause the way Error sets them
  // (own, not enumerable), then the fields as they were (own, enumerable).
  const error = Object.create((cls ?? Error).prototype as object) as Error;
  define(error, 'message', data.message);
  if (data.stack !== undefined) define(error, 'stack', data.stack);
  if (data.cause !== undefined) define(error, 'cause', deserializeError(data.cause, classes));
  if (data.errors !== undefined)
    define(
      error,
      'errors',
      data.errors.map((e) => deserializeError(e, classes)),
    );
  Object.assign(error, data.fields);
  if (error.name !== data.name) define(error, 'name', data.name);
  return error;
}

/** `classes` (a sandbox's own error classes) added to the classes of `errors.ts`, for {@link deserializeError}. */
export function knownErrorClasses(classes: Iterable<ErrorClass>): ReadonlyMap<string, ErrorClass> {
  const map = new Map(COWPOOL_CLASSES);
  for (const cls of classes) map.set(cls.name, cls);
  return map;
}

function nearest(
  chain: readonly string[],
  known: ReadonlyMap<string, ErrorClass>,
  fallback?: ReadonlyMap<string, ErrorClass>,
): ErrorClass | undefined {
  for (const name of chain) {
    const cls = known.get(name) ?? fallback?.get(name);
    if (cls !== undefined) return cls;
  }
  return undefined;
}

function define(target: object, key: string, value: unknown): void {
  Object.defineProperty(target, key, { value, writable: true, enumerable: false, configurable: true });
}

/** `value` if structured clone can carry it, else its string (an error path: the clone's cost does not matter). */
function cloneable(value: unknown): unknown {
  if (value === null || (typeof value !== 'object' && typeof value !== 'function' && typeof value !== 'symbol')) return value;
  if (typeof value === 'symbol') return value.toString();
  if (typeof value === 'function') return `[function ${value.name}]`;
  try {
    structuredClone(value);
    return value;
  } catch {
    return String(value);
  }
}
