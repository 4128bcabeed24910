/**
 * How values cross between the host (V8) and the guest (QuickJS): copied, never shared, in one
 * format both sides write and read. This file owns the format and both of its halves: the host's in
 * TypeScript ({@link toWire}, {@link fromWire}) and the guest's as the JavaScript source
 * {@link GUEST_VALUES}, which the bootstrap (`guest.ts`) evaluates inside QuickJS.
 *
 * The format is JSON text plus a list of byte buffers. What JSON cannot say is a tagged object, an
 * object whose key {@link WIRE_TAG} (a NUL, which no ordinary key holds) names what it stands for:
 *
 *     {"\u0000":"u"}                          undefined (in an array, an object, or alone)
 *     {"\u0000":"n","v":"NaN"}                NaN, Infinity, -Infinity, -0
 *     {"\u0000":"b","v":"123"}                a BigInt, in decimal
 *     {"\u0000":"d","v":1700000000000}        a Date (v null: an invalid one)
 *     {"\u0000":"r","v":"a+","f":"gi"}        a RegExp: source and flags
 *     {"\u0000":"m","v":[[k,v],…]}            a Map
 *     {"\u0000":"s","v":[…]}                  a Set
 *     {"\u0000":"a","i":0}                    an ArrayBuffer: buffer 0 of the list
 *     {"\u0000":"v","c":"Uint8Array","i":0}   a typed array or DataView over buffer 0 (its own bytes)
 *     {"\u0000":"e","n":"TypeError","m":"…","s":"…"}   an Error: name, message, stack (guest's only)
 *     {"\u0000":"o","v":[[k,v],…]}            a plain object that itself has the key "\u0000"
 *
 * Byte buffers travel beside the text, not inside it: the guest hands over ArrayBuffer values that
 * the host copies out of its memory once, and the host's bytes are copied into ArrayBuffers in the
 * guest's memory. Only a text that holds the tag's quoted form is walked after `JSON.parse`; plain
 * JSON costs what JSON costs.
 *
 * What does not cross: functions, symbols (values and keys), cycles; an object's prototype (a class
 * instance arrives as a plain object of its own enumerable properties, as structured clone copies
 * it), accessors (their current value is copied), shared references (each is copied apart), array
 * holes (undefined) and an array's non-index properties. A value that cannot cross is an
 * `UncloneableValueError` that names where it is, never the guest's exception.
 */
import { UncloneableValueError } from '../errors.js';

/** The key of a tagged object (see the module comment). */
export const WIRE_TAG = '\u0000';
/** The tag's key as it appears in JSON text: only a text that holds it needs reviving. */
const WIRE_MARK = '"\\u0000"';

/** A value in the wire format: JSON text and the byte buffers its tagged objects point to. */
export interface Wire {
  readonly json: string;
  readonly buffers: readonly Uint8Array[];
}

/** The views that cross, by constructor name (the same list on both sides). */
const VIEWS = {
  Int8Array,
  Uint8Array,
  Uint8ClampedArray,
  Int16Array,
  Uint16Array,
  Int32Array,
  Uint32Array,
  Float32Array,
  Float64Array,
  BigInt64Array,
  BigUint64Array,
  DataView,
} as const;
type ViewName = keyof typeof VIEWS;
const VIEW_NAMES = Object.keys(VIEWS) as ViewName[];

/** Errors rebuilt with their own class; any other name is an `Error` with that `name`. */
const ERRORS: Record<string, ErrorConstructor> = {
  Error,
  EvalError,
  RangeError,
  ReferenceError,
  SyntaxError,
  TypeError,
  URIError,
};

/** Thrown inside the replacer; caught in {@link toWire} and turned into the error with the path. */
class Uncloneable {
  constructor(readonly kind: string) {}
}

/**
 * The host's `value` in the wire format. `root` names it in errors (`args`, `the result of host
 * function f`). Throws {@link UncloneableValueError} for what cannot cross.
 */
export function toWire(value: unknown, root: string): Wire {
  const buffers: Uint8Array[] = [];
  const replacer = function (this: Record<string, unknown>, key: string): unknown {
    // The property itself, not what toJSON made of it: a Date crosses as a Date.
    const raw = this[key];
    switch (typeof raw) {
      case 'string':
      case 'boolean':
        return raw;
      case 'number':
        return Number.isFinite(raw) && !Object.is(raw, -0) ? raw : { [WIRE_TAG]: 'n', v: Object.is(raw, -0) ? '-0' : String(raw) };
      case 'undefined':
        return { [WIRE_TAG]: 'u' };
      case 'bigint':
        return { [WIRE_TAG]: 'b', v: raw.toString() };
      case 'object':
        return raw === null ? null : hostObject(raw, buffers);
      default:
        throw new Uncloneable(typeof raw);
    }
  };
  let json: string;
  try {
    json = JSON.stringify(value, replacer);
  } catch (err) {
    // A cycle through a Map or Set overflows the stack rather than look circular to JSON: whatever
    // failed, look for what cannot cross, and rethrow what a getter or toJSON threw.
    const found = findUncloneable(value, root) ?? (err instanceof Uncloneable ? { path: root, kind: err.kind } : undefined);
    if (found === undefined) throw err;
    throw new UncloneableValueError(
      'host',
      found.path,
      found.kind,
      `${found.path} ${describeKind(found.kind)}, which cannot be copied into the sandbox; ${FORMAT_HINT}`,
    );
  }
  return { json, buffers };
}

function hostObject(raw: object, buffers: Uint8Array[]): unknown {
  if (Array.isArray(raw)) return raw;
  const proto: unknown = Object.getPrototypeOf(raw);
  if (proto === Object.prototype || proto === null) return Object.hasOwn(raw, WIRE_TAG) ? { [WIRE_TAG]: 'o', v: Object.entries(raw) } : raw;
  if (raw instanceof Date) {
    const time = raw.getTime();
    return { [WIRE_TAG]: 'd', v: Number.isNaN(time) ? null : time };
  }
  if (raw instanceof Map) return { [WIRE_TAG]: 'm', v: [...raw] };
  if (raw instanceof Set) return { [WIRE_TAG]: 's', v: [...raw] };
  if (raw instanceof RegExp) return { [WIRE_TAG]: 'r', v: raw.source, f: raw.flags };
  // Copied now: a use may wait for a free context, and the caller may change its bytes meanwhile.
  if (raw instanceof ArrayBuffer) return { [WIRE_TAG]: 'a', i: buffers.push(new Uint8Array(raw).slice()) - 1 };
  if (ArrayBuffer.isView(raw)) {
    const c = VIEW_NAMES.find((name) => raw instanceof VIEWS[name]) ?? 'Uint8Array';
    return { [WIRE_TAG]: 'v', c, i: buffers.push(new Uint8Array(raw.buffer, raw.byteOffset, raw.byteLength).slice()) - 1 };
  }
  if (raw instanceof Error) return { [WIRE_TAG]: 'e', n: String(raw.name), m: String(raw.message) };
  if (typeof raw === 'function') throw new Uncloneable('function');
  // A class instance: its own enumerable properties, as structured clone copies it.
  return Object.hasOwn(raw, WIRE_TAG) ? { [WIRE_TAG]: 'o', v: Object.entries(raw) } : raw;
}

/**
 * The value `json` and `buffers` (the guest's, copied out of its memory) stand for. The text is
 * the guest's output: a tag it does not know reads as the plain object it is, a buffer index out of
 * range as undefined; nothing in it can reach the host's prototypes.
 */
export function fromWire(json: string, buffers: readonly ArrayBuffer[]): unknown {
  return reviveWire(JSON.parse(json), json, buffers);
}

/** {@link fromWire} of a `value` already parsed out of the text `json` (an envelope that holds it). */
export function reviveWire(value: unknown, json: string, buffers: readonly ArrayBuffer[]): unknown {
  return json.includes(WIRE_MARK) ? revive(value, buffers) : value;
}

function revive(value: unknown, buffers: readonly ArrayBuffer[]): unknown {
  if (typeof value !== 'object' || value === null) return value;
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) {
      const item: unknown = value[i];
      const revived = revive(item, buffers);
      if (revived !== item) value[i] = revived;
    }
    return value;
  }
  const object = value as Record<string, unknown>;
  if (Object.hasOwn(object, WIRE_TAG)) {
    const tagged = reviveTagged(object, buffers);
    if (tagged !== NOT_TAGGED) return tagged;
  }
  for (const key of Object.keys(object)) {
    const item = object[key];
    const revived = revive(item, buffers);
    // An own data property (JSON.parse made it), so this sets it, even for `__proto__`.
    if (revived !== item) object[key] = revived;
  }
  return object;
}

const NOT_TAGGED = Symbol('not tagged');

function reviveTagged(tagged: Record<string, unknown>, buffers: readonly ArrayBuffer[]): unknown {
  const v = tagged.v;
  switch (tagged[WIRE_TAG]) {
    case 'u':
      return undefined;
    case 'n':
      return v === '-0' ? -0 : Number(v);
    case 'b':
      return typeof v === 'string' && /^-?\d+$/.test(v) ? BigInt(v) : NOT_TAGGED;
    case 'd':
      return new Date(typeof v === 'number' ? v : NaN);
    case 'r':
      try {
        return new RegExp(String(v), String(tagged.f));
      } catch {
        return NOT_TAGGED;
      }
    case 'm':
      return Array.isArray(v)
        ? new Map(v.map((entry) => revive(Array.isArray(entry) ? entry.slice(0, 2) : [], buffers) as [unknown, unknown]))
        : NOT_TAGGED;
    case 's':
      return Array.isArray(v) ? new Set(revive(v, buffers) as unknown[]) : NOT_TAGGED;
    case 'a':
      return bufferAt(buffers, tagged.i);
    case 'v': {
      const buffer = bufferAt(buffers, tagged.i);
      if (buffer === undefined) return undefined;
      const name = typeof tagged.c === 'string' && Object.hasOwn(VIEWS, tagged.c) ? (tagged.c as ViewName) : 'Uint8Array';
      const View = VIEWS[name];
      const size = View === DataView ? 1 : (View as { BYTES_PER_ELEMENT: number }).BYTES_PER_ELEMENT;
      return buffer.byteLength % size === 0 ? new (View as new (buffer: ArrayBuffer) => ArrayBufferView)(buffer) : new Uint8Array(buffer);
    }
    case 'e': {
      const name = String(tagged.n);
      const error = new (Object.hasOwn(ERRORS, name) ? ERRORS[name]! : Error)(String(tagged.m));
      if (error.name !== name) Object.defineProperty(error, 'name', { value: name, writable: true, configurable: true });
      if (typeof tagged.s === 'string') error.stack = tagged.s;
      return error;
    }
    case 'o': {
      if (!Array.isArray(v)) return NOT_TAGGED;
      const object: Record<string, unknown> = {};
      for (const entry of v) {
        if (!Array.isArray(entry)) continue;
        Object.defineProperty(object, String(entry[0]), {
          value: revive(entry[1], buffers),
          writable: true,
          enumerable: true,
          configurable: true,
        });
      }
      return object;
    }
    default:
      return NOT_TAGGED;
  }
}

function bufferAt(buffers: readonly ArrayBuffer[], index: unknown): ArrayBuffer | undefined {
  return typeof index === 'number' && Number.isInteger(index) && index >= 0 && index < buffers.length ? buffers[index] : undefined;
}

/** What the error messages say values may be. */
export const FORMAT_HINT =
  'values cross as copies: JSON, undefined, NaN and the infinities, -0, BigInt, Date, RegExp, Map, Set, Error, ArrayBuffer ' +
  'and typed arrays, without functions, symbols or cycles';

/** "is a function", "holds a cycle", for messages. */
export function describeKind(kind: string): string {
  switch (kind) {
    case 'cycle':
      return 'refers back to itself (a cycle)';
    case 'function':
      return 'is a function';
    case 'symbol':
      return 'is a symbol';
    default:
      return `is a ${kind}`;
  }
}

/**
 * The first thing in `value` that cannot cross, and where it is (`root.a[0]`); run only after the
 * encoding failed, to say where.
 */
function findUncloneable(value: unknown, root: string): { path: string; kind: string } | undefined {
  const ancestors: unknown[] = [];
  const visit = (v: unknown, path: string): { path: string; kind: string } | undefined => {
    if (typeof v === 'function') return { path, kind: 'function' };
    if (typeof v === 'symbol') return { path, kind: 'symbol' };
    if (typeof v !== 'object' || v === null) return undefined;
    if (ancestors.includes(v)) return { path, kind: 'cycle' };
    ancestors.push(v);
    try {
      if (Array.isArray(v)) {
        for (let i = 0; i < v.length; i++) {
          const found = visit(v[i], `${path}[${i}]`);
          if (found) return found;
        }
      } else if (v instanceof Map) {
        let i = 0;
        for (const [key, item] of v) {
          const found = visit(key, `${path}.keys()[${i}]`) ?? visit(item, `${path}.values()[${i}]`);
          if (found) return found;
          i++;
        }
      } else if (v instanceof Set) {
        let i = 0;
        for (const item of v) {
          const found = visit(item, `${path}.values()[${i++}]`);
          if (found) return found;
        }
      } else if (!(v instanceof Date || v instanceof RegExp || v instanceof Error || v instanceof ArrayBuffer || ArrayBuffer.isView(v))) {
        for (const key of Object.keys(v)) {
          const found = visit(
            (v as Record<string, unknown>)[key],
            `${path}${/^[A-Za-z_$][\w$]*$/.test(key) ? `.${key}` : `[${JSON.stringify(key)}]`}`,
          );
          if (found) return found;
        }
      }
    } finally {
      ancestors.pop();
    }
    return undefined;
  };
  return visit(value, root);
}

/**
 * The guest's half, evaluated inside the bootstrap's closure (`guest.ts`), where it defines
 * `encode(value, root, fn)` (the wire text; the buffers it points to are left in `encodedBuffers`,
 * and `encodeDepth` says whether an encoding is under way) and
 * `decode(text, buffers)`. It takes every intrinsic it uses at bootstrap time, so that what a
 * script replaces later cannot change how values cross. A value that cannot cross throws a
 * `TypeError` the script may catch; uncaught, `uncloneable(thrown)` says where it was, and the host
 * reports an `UncloneableValueError`.
 */
export const GUEST_VALUES = `
  const TAG = fresh(${JSON.stringify(WIRE_TAG)}), MARK = fresh(${JSON.stringify(WIRE_MARK)});
  const STRING = fresh('string'), BOOLEAN = fresh('boolean'), NUMBER = fresh('number'), OBJECT = fresh('object');
  const UNDEFINED_TYPE = fresh('undefined'), BIGINT = fresh('bigint');
  const isArray = Array.isArray, getPrototype = Object.getPrototypeOf, hasOwn = Object.hasOwn, keysOf = Object.keys;
  const entriesOf = Object.entries, defineProperty = Object.defineProperty, ObjectPrototype = Object.prototype;
  const indexOf = String.prototype.indexOf, NumberOf = Number, BigIntOf = BigInt, bigintToString = BigInt.prototype.toString;
  const DateClass = Date, dateTime = Date.prototype.getTime, MapClass = Map, SetClass = Set, RegExpClass = RegExp;
  const mapForEach = Map.prototype.forEach, mapSet = Map.prototype.set, setForEach = Set.prototype.forEach, setAdd = Set.prototype.add;
  const getter = (proto, name) => Object.getOwnPropertyDescriptor(proto, name).get;
  const regexpSource = getter(RegExp.prototype, 'source'), regexpFlags = getter(RegExp.prototype, 'flags');
  const ArrayBufferClass = ArrayBuffer, isView = ArrayBuffer.isView, bufferSlice = ArrayBuffer.prototype.slice;
  const bufferLength = getter(ArrayBuffer.prototype, 'byteLength');
  const TypedArrayPrototype = getPrototype(Uint8Array.prototype);
  const viewBuffer = getter(TypedArrayPrototype, 'buffer'), viewOffset = getter(TypedArrayPrototype, 'byteOffset');
  const viewLength = getter(TypedArrayPrototype, 'byteLength');
  const dataViewBuffer = getter(DataView.prototype, 'buffer'), dataViewOffset = getter(DataView.prototype, 'byteOffset');
  const dataViewLength = getter(DataView.prototype, 'byteLength');
  const VIEWS = [${VIEW_NAMES.join(', ')}];
  const ErrorClass = Error;
  const ERRORS = { Error, EvalError, RangeError, ReferenceError, SyntaxError, TypeError, URIError };
  const INFINITY = Infinity;
  const UNDEFINED = { [TAG]: 'u' };
  // Errors made here for values that cannot cross, and what they were: a WeakMap, so that only the
  // host's side can tell them from an error the script made.
  const uncloneables = new WeakMap();
  const encodedBuffers = [];

  const pushBuffer = (buffer, offset, length) => {
    const whole = offset === 0 && length === apply(bufferLength, buffer, []);
    encodedBuffers[encodedBuffers.length] = whole ? buffer : apply(bufferSlice, buffer, [offset, offset + length]);
    return encodedBuffers.length - 1;
  };
  const encodeObject = (raw) => {
    if (isArray(raw)) return raw;
    const proto = getPrototype(raw);
    if (proto === ObjectPrototype || proto === null) return hasOwn(raw, TAG) ? { [TAG]: 'o', v: entriesOf(raw) } : raw;
    if (raw instanceof DateClass) {
      const time = apply(dateTime, raw, []);
      return { [TAG]: 'd', v: time === time ? time : null };
    }
    if (raw instanceof MapClass) {
      const v = [];
      apply(mapForEach, raw, [(value, key) => { v[v.length] = [key, value]; }]);
      return { [TAG]: 'm', v };
    }
    if (raw instanceof SetClass) {
      const v = [];
      apply(setForEach, raw, [(value) => { v[v.length] = value; }]);
      return { [TAG]: 's', v };
    }
    if (raw instanceof RegExpClass) return { [TAG]: 'r', v: apply(regexpSource, raw, []), f: apply(regexpFlags, raw, []) };
    if (raw instanceof ArrayBufferClass) return { [TAG]: 'a', i: pushBuffer(raw, 0, apply(bufferLength, raw, [])) };
    if (isView(raw)) {
      for (let i = 0; i < VIEWS.length; i++) {
        const View = VIEWS[i];
        if (!(raw instanceof View)) continue;
        const i2 = View === DataView
          ? pushBuffer(apply(dataViewBuffer, raw, []), apply(dataViewOffset, raw, []), apply(dataViewLength, raw, []))
          : pushBuffer(apply(viewBuffer, raw, []), apply(viewOffset, raw, []), apply(viewLength, raw, []));
        return { [TAG]: 'v', c: View.name, i: i2 };
      }
    }
    if (raw instanceof ErrorClass) {
      return { [TAG]: 'e', n: StringOf(raw.name), m: StringOf(raw.message), s: StringOf(raw.stack ?? '') };
    }
    return hasOwn(raw, TAG) ? { [TAG]: 'o', v: entriesOf(raw) } : raw;
  };
  const replacer = function (key) {
    // The property itself, not what toJSON made of it: a Date crosses as a Date.
    const raw = this[key];
    switch (typeof raw) {
      case STRING: case BOOLEAN: return raw;
      case NUMBER:
        return raw === raw && raw !== INFINITY && raw !== -INFINITY && (raw !== 0 || 1 / raw > 0)
          ? raw : { [TAG]: 'n', v: raw === 0 ? '-0' : StringOf(raw) };
      case OBJECT: return raw === null ? null : encodeObject(raw);
      case UNDEFINED_TYPE: return UNDEFINED;
      case BIGINT: return { [TAG]: 'b', v: apply(bigintToString, raw, []) };
      default: throw new TypeErrorClass('a ' + typeof raw + ' cannot be copied out of the sandbox');
    }
  };
  const pathKey = (key) => {
    let plain = key.length > 0;
    for (let i = 0; i < key.length && plain; i++) {
      const c = key.charCodeAt(i);
      plain = c === 36 || c === 95 || (c >= 65 && c <= 90) || (c >= 97 && c <= 122) || (i > 0 && c >= 48 && c <= 57);
    }
    return plain ? '.' + key : '[' + stringify(key) + ']';
  };
  // The first value that cannot cross, and where: run only after encoding failed, to say where.
  const findUncloneable = (value, path) => {
    const ancestors = [];
    const visit = (v, p) => {
      const type = typeof v;
      if (type === 'function' || type === 'symbol') return [p, type];
      if (type !== 'object' || v === null) return undefined;
      for (let i = 0; i < ancestors.length; i++) if (ancestors[i] === v) return [p, 'cycle'];
      ancestors[ancestors.length] = v;
      let found;
      if (isArray(v)) {
        for (let i = 0; i < v.length && !found; i++) found = visit(v[i], p + '[' + i + ']');
      } else if (v instanceof MapClass) {
        let i = 0;
        apply(mapForEach, v, [(item, key) => {
          if (!found) found = visit(key, p + '.keys()[' + i + ']') || visit(item, p + '.values()[' + i + ']');
          i++;
        }]);
      } else if (v instanceof SetClass) {
        let i = 0;
        apply(setForEach, v, [(item) => { if (!found) found = visit(item, p + '.values()[' + i + ']'); i++; }]);
      } else if (!(v instanceof DateClass || v instanceof RegExpClass || v instanceof ErrorClass || v instanceof ArrayBufferClass ||
          isView(v))) {
        const keys = keysOf(v);
        for (let i = 0; i < keys.length && !found; i++) found = visit(v[keys[i]], p + pathKey(keys[i]));
      }
      ancestors.length--;
      return found;
    };
    return visit(value, path);
  };
  // root names the value in messages (result, arguments); fn, the host function it is passed to.
  // A getter of a value being encoded may call a host function, whose arguments are encoded in
  // turn: encodeDepth tells the host function's wrapper to keep the outer encoding's buffers.
  let encodeDepth = 0;
  const encode = (value, root, fn) => {
    encodedBuffers.length = 0;
    encodeDepth++;
    try {
      return stringify(value, replacer);
    } catch (e) {
      let cycle = false;
      try { cycle = e instanceof TypeErrorClass && apply(indexOf, StringOf(e.message), ['circular']) >= 0; } catch {}
      const found = findUncloneable(value, root);
      if (found === undefined && !cycle) throw e;
      const [path, kind] = found ?? [root, 'cycle'];
      const error = new TypeErrorClass(path + (fn === undefined ? '' : ' of host function ' + fn) +
        (kind === 'cycle' ? ' refers back to itself' : ' is a ' + kind) + ', which cannot be copied out of the sandbox');
      apply(weakSet, uncloneables, [error, { path, kind, fn }]);
      throw error;
    } finally {
      encodeDepth--;
    }
  };
  const uncloneable = (thrown) => apply(weakGet, uncloneables, [thrown]);

  const reviveTagged = (v, buffers) => {
    const x = v.v;
    switch (v[TAG]) {
      case 'u': return undefined;
      case 'n': return NumberOf(x);
      case 'b': return BigIntOf(x);
      case 'd': return new DateClass(x === null ? NaN : x);
      case 'r': return new RegExpClass(x, v.f);
      case 'm': {
        const map = new MapClass();
        for (let i = 0; i < x.length; i++) apply(mapSet, map, [revive(x[i][0], buffers), revive(x[i][1], buffers)]);
        return map;
      }
      case 's': {
        const set = new SetClass();
        for (let i = 0; i < x.length; i++) apply(setAdd, set, [revive(x[i], buffers)]);
        return set;
      }
      case 'a': return buffers[v.i];
      case 'v': {
        for (let i = 0; i < VIEWS.length; i++) if (VIEWS[i].name === v.c) return new VIEWS[i](buffers[v.i]);
        return buffers[v.i];
      }
      case 'e': {
        const error = new (hasOwn(ERRORS, v.n) ? ERRORS[v.n] : ErrorClass)(v.m);
        if (error.name !== v.n) defineProperty(error, 'name', { value: v.n, writable: true, configurable: true });
        return error;
      }
      case 'o': {
        const object = {};
        for (let i = 0; i < x.length; i++) {
          defineProperty(object, x[i][0], { value: revive(x[i][1], buffers), writable: true, enumerable: true, configurable: true });
        }
        return object;
      }
    }
    return v;
  };
  const revive = (v, buffers) => {
    if (typeof v !== 'object' || v === null) return v;
    if (isArray(v)) {
      for (let i = 0; i < v.length; i++) {
        const item = v[i], revived = revive(item, buffers);
        if (revived !== item) v[i] = revived;
      }
      return v;
    }
    if (hasOwn(v, TAG)) return reviveTagged(v, buffers);
    const keys = keysOf(v);
    for (let i = 0; i < keys.length; i++) {
      const item = v[keys[i]], revived = revive(item, buffers);
      if (revived !== item) v[keys[i]] = revived;
    }
    return v;
  };
  const decode = (text, buffers) => {
    const value = parse(text);
    return apply(indexOf, text, [MARK]) < 0 ? value : revive(value, buffers);
  };
`;
