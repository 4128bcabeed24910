/**
 * The checks every options object of cowpool goes through: unknown keys (named with the closest
 * known one, since a misspelt option silently ignored is a bug found in production) and the value
 * checks options share (integers, booleans, waits, timeouts, memory limits). Each throws
 * {@link InvalidArgumentError} naming the option's path (`options.max`) and the value it got, so
 * that every entry point (InstancePool, the sandboxes, the server, WASI) words a wrong option alike.
 */
import { InvalidArgumentError } from '../errors.js';
import { WASM_PAGE_SIZE } from '../module/wasm-page.js';

/**
 * Throws for an own string key of `options` that is not in `known`, naming the closest known key.
 * `what` names the object in the message (`options`, `serve options`).
 */
export function rejectUnknownKeys(options: object, known: readonly string[], what: string): void {
  for (const key of Object.keys(options)) {
    if (known.includes(key)) continue;
    const closest = closestName(key, known);
    throw new InvalidArgumentError(
      `${what}: unknown option '${key}'${closest ? `; did you mean '${closest}'?` : ''} (known: ${known.join(', ')})`,
    );
  }
}

/**
 * The keys of an options type, as a record so that the compiler checks the list is complete:
 * `keysOf({ setup: true, timeout: true } satisfies OptionKeys<MyOptions>)` fails to compile when an
 * option is added to the type and not to the list (which {@link rejectUnknownKeys} would then refuse).
 */
export type OptionKeys<T> = { readonly [K in keyof Required<T>]: true };

/** The keys of an {@link OptionKeys} record, for {@link rejectUnknownKeys}. */
export function keysOf(keys: object): string[] {
  return Object.keys(keys);
}

/**
 * The known name a typo most likely meant: one that begins or ends the key (or that the key
 * begins), else one the key abbreviates (`memLimit` for `memoryLimit`: its letters in order, the
 * first one first), else the nearest by edit distance if it is near enough to be a typo.
 */
export function closestName(key: string, known: readonly string[]): string | undefined {
  const lower = key.toLowerCase();
  let best: string | undefined;
  let bestScore = Infinity;
  for (const name of known) {
    const n = name.toLowerCase();
    const score = lower.startsWith(n) || n.startsWith(lower) || lower.endsWith(n) ? 0 : abbreviates(lower, n) ? 1 : editDistance(lower, n);
    if (score < bestScore || (score === bestScore && best !== undefined && name.length > best.length)) {
      best = name;
      bestScore = score;
    }
  }
  return best !== undefined && bestScore <= Math.max(2, Math.floor(key.length / 3)) ? best : undefined;
}

/** `value` as a safe integer of at least `min`, or an error naming `path`. */
export function integer(path: string, value: unknown, min: number): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < min) {
    throw new InvalidArgumentError(`${path} must be an integer of at least ${min}, not ${String(value)}`);
  }
  return value;
}

/** `value` as a bound on waiting callers (`maxQueue`): an integer of at least 0, or Infinity for none. */
export function queueBound(path: string, value: unknown): number {
  if (value === Infinity) return Infinity;
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0) {
    throw new InvalidArgumentError(`${path} must be an integer of at least 0, or Infinity for no bound, not ${String(value)}`);
  }
  return value;
}

/** `value` as a boolean, or an error naming `path`. */
export function boolean(path: string, value: unknown): boolean {
  if (typeof value !== 'boolean') throw new InvalidArgumentError(`${path} must be a boolean, not ${String(value)}`);
  return value;
}

/** `value` as a wait in ms: zero or more, Infinity for no limit; or an error naming `path`. */
export function waitMs(path: string, value: unknown): number {
  if (typeof value !== 'number' || !(value >= 0)) {
    throw new InvalidArgumentError(`${path} must be a non-negative number of ms, not ${String(value)}`);
  }
  return value;
}

/** `value` as a deadline in ms: positive, or Infinity for none; or an error naming `path`. */
export function timeoutMs(path: string, value: unknown): number {
  if (value === Infinity) return Infinity;
  if (typeof value !== 'number' || !(value > 0) || !Number.isFinite(value)) {
    throw new InvalidArgumentError(`${path} must be a positive number of ms (or Infinity), not ${String(value)}`);
  }
  return value;
}

/**
 * `value` as a guest memory limit in bytes, from one wasm page (64 KiB) to `max`, or an error
 * naming `path` and the range.
 */
export function memoryLimitBytes(path: string, value: unknown, max: number): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < WASM_PAGE_SIZE || value > max) {
    throw new InvalidArgumentError(`${path} must be a number of bytes between 64 KiB and ${max / 2 ** 30} GiB, not ${String(value)}`);
  }
  return value;
}

/** `value` as a limit in bytes: a whole number of at least 0, or Infinity for none; or an error naming `path`. */
export function byteLimit(path: string, value: unknown): number {
  if (value !== Infinity && (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0)) {
    throw new InvalidArgumentError(`${path} must be a whole number of bytes (or Infinity for no limit), not ${String(value)}`);
  }
  return value as number;
}

/** True when `key` is `name` with letters left out (at least two letters, the first kept). */
function abbreviates(key: string, name: string): boolean {
  if (key.length < 2 || key.length >= name.length || key[0] !== name[0]) return false;
  let at = 0;
  for (const c of name) if (c === key[at]) at++;
  return at === key.length;
}

function editDistance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    for (let j = 1; j <= b.length; j++) {
      current[j] = Math.min(previous[j]! + 1, current[j - 1]! + 1, previous[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
    previous = current;
  }
  return previous[b.length]!;
}
