/**
 * The JavaScript cowpool evaluates inside QuickJS once, before the user's setup script: a console
 * that buffers lines in the guest, the timers (`setTimeout`, `setInterval`, `queueMicrotask`), the
 * wrappers through which the guest calls the host's functions, and one dispatcher function the host
 * calls to run a handler and to turn a result or an exception into the wire format (`values.ts`).
 * It keeps the intrinsics it needs in its closure, so a script that replaces `JSON` or
 * `Array.prototype.push` cannot break the host's side of a use (and whatever it breaks is reset
 * with the rest of the memory afterwards).
 *
 * The guest calls the host through one C function (`QTS_NewFunction`, made at image time):
 * `hostCall(index, argsWire, ...buffers)`. Index 0 is no function but a note that the use needs its
 * event loop (a timer or microtask was queued): the host's loop after the result (`event-loop.ts`)
 * then runs; a use that queues none never pays for it. Every other index is a host function, whose
 * reply is a string: `v<wire>` a value (its buffers stashed first), `p<ticket>` a promise the host
 * settles later with the dispatcher's `settle`, `e<id> <wire>` an error (the host keeps the error
 * itself as number `id`; the guest gets an Error with its name and message).
 */
import { GUEST_VALUES } from './values.js';

/**
 * The operations of the dispatcher, passed as its first argument: numbers, so that choosing one
 * compares integers, not strings (a string literal is an object in the bootstrap's bytecode, and a
 * use that touches it writes to its page).
 */
export const GuestOp = {
  /** `(name, argsWire)`: calls the setup module's export `name`, or `globalThis[name]`, with the arguments (buffers stashed). */
  call: 0,
  /** `(value)`: JSON of `{ logs, value, buffers? }`: `value` in the wire format, `buffers` how many it points to. */
  ok: 1,
  /** `(index)`: the encoded value's buffer `index` (after `ok`). */
  buffer: 2,
  /** `(result)`: `result.value` (what a top-level-await script completed with). */
  unwrap: 3,
  /** `(thrown)`: JSON of `{ logs, error: { name, message, stack } | { thrown } | { host } | { uncloneable } }`. */
  fail: 4,
  /** `()`: JSON of the lines logged so far, and forgets them and the timers still set (after the setup script). */
  drain: 5,
  /** `()`: the array of lines logged, itself (once, at image time: the host reads its length). */
  logs: 6,
  /** `()`: the stash function, itself (once, at image time): `stash(...buffers)` keeps buffers for the next decode. */
  stasher: 7,
  /** `(hostCall, namesJson)`: installs the timers and the host functions (once, at image time). */
  install: 8,
  /** `(namespace)`: the setup module's exports, which `call` looks in first (once, at image time). */
  exports: 9,
  /** `(reply)`: `<ticket> <reply>` settles the promise of host call `ticket` (buffers stashed). */
  settle: 10,
  /** `()`: runs the earliest timer if it is due and returns 0; else ms until it is, or -1 when none is set. */
  tick: 11,
  /** `()`: throws what a microtask callback threw and did not catch, if one did. */
  check: 12,
} as const;

/**
 * Evaluates to a function that returns the dispatcher: compiled first, called once the parser's
 * garbage is out of the way (`image.ts`), so that the closures a use touches lie side by side.
 */
export const BOOTSTRAP = `(() => {
  'use strict';
  const global = globalThis;
  const stringify = JSON.stringify, parse = JSON.parse, apply = Reflect.apply;
  const StringOf = String, TypeErrorClass = TypeError, PromiseClass = Promise, MapOfClass = Map;
  const sliceOf = String.prototype.slice, stringIndexOf = String.prototype.indexOf, charCodeAt = String.prototype.charCodeAt;
  const dateNow = Date.now;
  const then = Promise.prototype.then, RESOLVED = Promise.resolve();
  const mapGet = Map.prototype.get, mapDelete = Map.prototype.delete, mapSetEntry = Map.prototype.set;
  const weakGet = WeakMap.prototype.get, weakSet = WeakMap.prototype.set;
  // A copy of a literal made now: a literal lives in the bootstrap's bytecode, scattered over the
  // heap, and every use of one writes its reference count there (a page to reset); copies made
  // while this runs lie beside the closures a use touches anyway (image.ts runs it so).
  const fresh = (text) => parse(stringify(text));
  ${GUEST_VALUES}
  // One array for the context's life (emptied in place), so that the host can hold it.
  const logs = [];
  const text = (value) => {
    if (typeof value === 'string') return value;
    try {
      const json = stringify(value);
      return json === undefined ? StringOf(value) : json;
    } catch {
      try { return StringOf(value); } catch { return '[unprintable]'; }
    }
  };
  const printer = (level) => (...args) => {
    let line = '';
    for (let i = 0; i < args.length; i++) line += (i === 0 ? '' : ' ') + text(args[i]);
    logs[logs.length] = [level, line];
  };
  global.console = {
    log: printer('log'), info: printer('info'), warn: printer('warn'), error: printer('error'), debug: printer('debug'),
  };
  // The envelope is assembled from strings, so that a toJSON a script put on a prototype can change
  // how its own value is serialized, never the envelope or the log lines.
  const OPEN = fresh('['), CLOSE = fresh(']'), NEXT = fresh(',['), COMMA = fresh(',');
  const logsJson = () => {
    let out = OPEN;
    for (let i = 0; i < logs.length; i++) out += (i === 0 ? OPEN : NEXT) + stringify(logs[i][0]) + COMMA + stringify(logs[i][1]) + CLOSE;
    return out + CLOSE;
  };
  const LOGS = fresh('{"logs":'), VALUE = fresh(',"value":'), BUFFERS = fresh(',"buffers":'), END = fresh('}');
  const RESULT = fresh('result');

  // Host calls. Errors the host sent, and which of its errors each is: only the host's side can tell
  // them from an error the script made.
  const hostErrors = new WeakMap();
  let hostCall;
  let stashed = [];
  const takeStash = () => { const buffers = stashed; stashed = []; return buffers; };
  const stash = function () {
    const buffers = [];
    for (let i = 0; i < arguments.length; i++) buffers[i] = arguments[i];
    stashed = buffers;
  };
  const pending = new MapOfClass();
  const SPACE = fresh(' '), ARGUMENTS = fresh('arguments');
  const hostError = (reply) => {
    const space = apply(stringIndexOf, reply, [SPACE]);
    const error = decode(apply(sliceOf, reply, [space + 1]), []);
    apply(weakSet, hostErrors, [error, +apply(sliceOf, reply, [1, space])]);
    return error;
  };
  // Replies are told apart by their first character's code: a number, not a string to compare.
  const answer = (reply) => {
    switch (apply(charCodeAt, reply, [0])) {
      case 0x76: return decode(apply(sliceOf, reply, [1]), takeStash()); // v
      case 0x70: { // p
        const ticket = +apply(sliceOf, reply, [1]);
        return new PromiseClass((resolve, reject) => { apply(mapSetEntry, pending, [ticket, [resolve, reject]]); });
      }
      default: throw hostError(reply);
    }
  };
  const hostFunction = (index, name) => {
    const f = function () {
      // Called from a getter while a value is being encoded: that encoding's buffers are kept.
      const outer = encodeDepth > 0 ? rest(encodedBuffers, 0) : undefined;
      const args = [];
      for (let i = 0; i < arguments.length; i++) args[i] = arguments[i];
      const argv = [index, encode(args, ARGUMENTS, name)];
      for (let i = 0; i < encodedBuffers.length; i++) argv[argv.length] = encodedBuffers[i];
      if (outer !== undefined) {
        encodedBuffers.length = 0;
        for (let i = 0; i < outer.length; i++) encodedBuffers[i] = outer[i];
      }
      return answer(apply(hostCall, undefined, argv));
    };
    Object.defineProperty(f, 'name', { value: name });
    return f;
  };
  const describe = (thrown) => {
    try {
      const host = apply(weakGet, hostErrors, [thrown]);
      if (host !== undefined) return '{"host":' + host + '}';
      const lost = uncloneable(thrown);
      if (lost !== undefined) {
        return '{"uncloneable":{"path":' + stringify(lost.path) + ',"kind":' + stringify(lost.kind) +
          (lost.fn === undefined ? '' : ',"fn":' + stringify(lost.fn)) + '}}';
      }
      if (thrown instanceof ErrorClass) {
        return '{"name":' + stringify(StringOf(thrown.name)) + ',"message":' + stringify(StringOf(thrown.message)) +
          ',"stack":' + stringify(StringOf(thrown.stack ?? '')) + '}';
      }
    } catch {}
    return '{"thrown":' + stringify(text(thrown)) + '}';
  };

  // Timers and microtasks: they run within the use that queued them (the host's event loop), and
  // what is still queued when the use ends is dropped with the rest of its memory.
  let noted = false;
  const note = () => { if (!noted) { noted = true; hostCall(0); } };
  const timers = [];
  let timerSeq = 0;
  let failed = false, failure;
  const addTimer = (fn, delay, args, every) => {
    if (typeof fn !== 'function') throw new TypeErrorClass('the callback must be a function');
    note();
    let ms = +delay;
    if (!(ms >= 0)) ms = 0;
    const id = ++timerSeq;
    timers[timers.length] = { id, due: dateNow() + ms, fn, args, every: every ? (ms >= 1 ? ms : 1) : -1 };
    return id;
  };
  const clearTimer = (id) => {
    for (let i = 0; i < timers.length; i++) {
      if (timers[i].id !== id) continue;
      for (let j = i + 1; j < timers.length; j++) timers[j - 1] = timers[j];
      timers.length--;
      return;
    }
  };
  const rest = (args, from) => {
    const out = [];
    for (let i = from; i < args.length; i++) out[out.length] = args[i];
    return out;
  };
  const tick = () => {
    let next = -1;
    for (let i = 0; i < timers.length; i++) if (next < 0 || timers[i].due < timers[next].due) next = i;
    if (next < 0) return -1;
    const timer = timers[next];
    const wait = timer.due - dateNow();
    if (wait > 0) return wait;
    if (timer.every < 0) clearTimer(timer.id);
    else timer.due = dateNow() + timer.every;
    apply(timer.fn, undefined, timer.args);
    return 0;
  };
  const install = (call, namesJson) => {
    hostCall = call;
    global.setTimeout = function setTimeout(fn, delay) { return addTimer(fn, delay, rest(arguments, 2), false); };
    global.setInterval = function setInterval(fn, delay) { return addTimer(fn, delay, rest(arguments, 2), true); };
    global.clearTimeout = function clearTimeout(id) { clearTimer(id); };
    global.clearInterval = function clearInterval(id) { clearTimer(id); };
    global.queueMicrotask = function queueMicrotask(fn) {
      if (typeof fn !== 'function') throw new TypeErrorClass('the callback must be a function');
      note();
      apply(then, RESOLVED, [() => {
        try { apply(fn, undefined, []); } catch (e) { if (!failed) { failed = true; failure = e; } }
      }]);
    };
    const names = parse(namesJson);
    for (let i = 0; i < names.length; i++) {
      const path = names[i].split('.');
      let at = global;
      for (let j = 0; j < path.length - 1; j++) {
        if (typeof at[path[j]] !== 'object' || at[path[j]] === null) at[path[j]] = {};
        at = at[path[j]];
      }
      at[path[path.length - 1]] = hostFunction(i + 1, names[i]);
    }
  };

  let setupExports;
  return (op, a, b) => {
    switch (op) {
      case ${GuestOp.call}: {
        const fn = setupExports !== undefined && hasOwn(setupExports, a) ? setupExports[a] : global[a];
        if (typeof fn !== 'function') throw new TypeErrorClass(a + ' is not a function defined by the setup script');
        return apply(fn, undefined, decode(b, takeStash()));
      }
      case ${GuestOp.ok}: {
        // A string needs no replacer (and is a common result).
        if (typeof a === STRING) return LOGS + logsJson() + VALUE + stringify(a) + END;
        const value = encode(a, RESULT);
        const buffers = encodedBuffers.length;
        return LOGS + logsJson() + VALUE + value + (buffers === 0 ? END : BUFFERS + buffers + END);
      }
      case ${GuestOp.buffer}: return encodedBuffers[a];
      case ${GuestOp.unwrap}: return a.value;
      case ${GuestOp.fail}: return '{"logs":' + logsJson() + ',"error":' + describe(a) + '}';
      case ${GuestOp.drain}: {
        // After the setup script: what it left queued never runs, as in a use, and a use's first
        // timer must note itself again.
        timers.length = 0;
        noted = false;
        failed = false;
        const out = logsJson();
        logs.length = 0;
        return out;
      }
      case ${GuestOp.logs}: return logs;
      case ${GuestOp.stasher}: return stash;
      case ${GuestOp.install}: return install(a, b);
      case ${GuestOp.exports}: setupExports = a; return;
      case ${GuestOp.settle}: {
        const space = apply(stringIndexOf, a, [SPACE]);
        const ticket = +apply(sliceOf, a, [0, space]);
        const entry = apply(mapGet, pending, [ticket]);
        apply(mapDelete, pending, [ticket]);
        const reply = apply(sliceOf, a, [space + 1]);
        if (apply(charCodeAt, reply, [0]) === 0x76) entry[0](decode(apply(sliceOf, reply, [1]), takeStash()));
        else entry[1](hostError(reply));
        return;
      }
      case ${GuestOp.tick}: return tick();
      case ${GuestOp.check}: if (failed) { failed = false; throw failure; } return;
    }
  };
})`;

/** What the dispatcher's `ok` and `fail` operations return, parsed (`logs` not yet checked). */
export interface GuestOutcome {
  logs: unknown[];
  value?: unknown;
  /** How many buffers the value points to (`ok`). */
  buffers?: number;
  error?:
    | { name: string; message: string; stack: string }
    | { thrown: string }
    | { host: number }
    | { uncloneable: { path: string; kind: string; fn?: string } };
}
