/**
 * The JavaScript cowpool evaluates inside QuickJS once, before the user's setup script: a console
 * that buffers lines in the guest, and one dispatcher function the host calls to run a handler and to
 * turn a result or an exception into JSON. It keeps the intrinsics it needs in its closure, so a
 * script that replaces `JSON` or `Array.prototype.push` cannot break the host's side of a use (and
 * whatever it breaks is reset with the rest of the memory afterwards).
 */

/** The operations of the dispatcher, passed as its first argument. */
export const GuestOp = {
  /** `(name, argsJson)`: calls `globalThis[name](...JSON.parse(argsJson))`. */
  call: 'call',
  /** `(value)`: JSON of `{ logs, value }`. */
  ok: 'ok',
  /** `(thrown)`: JSON of `{ logs, error: { name, message, stack } | { thrown } }`. */
  fail: 'fail',
  /** `()`: JSON of the lines logged so far, and forgets them (after the setup script). */
  drain: 'drain',
  /** `()`: the array of lines logged, itself (once, at image time: the host reads its length). */
  logs: 'logs',
} as const;

/** Evaluates to the dispatcher. */
export const BOOTSTRAP = `(() => {
  'use strict';
  const global = globalThis;
  const stringify = JSON.stringify, parse = JSON.parse, apply = Reflect.apply;
  const StringOf = String, ErrorClass = Error, TypeErrorClass = TypeError;
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
  const logsJson = () => {
    let out = '[';
    for (let i = 0; i < logs.length; i++) out += (i === 0 ? '[' : ',[') + stringify(logs[i][0]) + ',' + stringify(logs[i][1]) + ']';
    return out + ']';
  };
  const describe = (thrown) => {
    try {
      if (thrown instanceof ErrorClass) {
        return '{"name":' + stringify(StringOf(thrown.name)) + ',"message":' + stringify(StringOf(thrown.message)) +
          ',"stack":' + stringify(StringOf(thrown.stack ?? '')) + '}';
      }
    } catch {}
    return '{"thrown":' + stringify(text(thrown)) + '}';
  };
  return (op, a, b) => {
    switch (op) {
      case '${GuestOp.call}': {
        const fn = global[a];
        if (typeof fn !== 'function') throw new TypeErrorClass(a + ' is not a function defined by the setup script');
        return apply(fn, undefined, parse(b));
      }
      case '${GuestOp.ok}': {
        const value = stringify(a);
        return '{"logs":' + logsJson() + (typeof value === 'string' ? ',"value":' + value : '') + '}';
      }
      case '${GuestOp.fail}': return '{"logs":' + logsJson() + ',"error":' + describe(a) + '}';
      case '${GuestOp.drain}': { const out = logsJson(); logs.length = 0; return out; }
      case '${GuestOp.logs}': return logs;
    }
  };
})()`;

/** What the dispatcher's `ok` and `fail` operations return, parsed (`logs` not yet checked). */
export interface GuestOutcome {
  logs: unknown[];
  value?: unknown;
  error?: { name: string; message: string; stack: string } | { thrown: string };
}
