/**
 * User-defined SQL functions, as the host declares them at create: their shapes, and the one check
 * that turns what the user gave into {@link FunctionSpec}s (a name, an arity, flags and the
 * JavaScript to call).
 *
 * A declaration is a plain object of functions keyed by their SQL names, so that the same
 * declarations can come from a module file whose named exports are those functions (`functions:
 * new URL('./sql-functions.js', import.meta.url)`): a worker thread, which cannot be posted a
 * function, imports that module itself. On this thread `create` imports it; `createSync` takes only
 * the object form.
 *
 *     functions: {
 *       double: (x) => x * 2,                                   // scalar, arity 1 (its length)
 *       slug: { scalar: (s) => …, deterministic: true },        // scalar with flags
 *       total: { start: 0, step: (sum, x) => sum + x },          // aggregate, arity 1 (step's length - 1)
 *     }
 */
import { importModule } from '../import-module.js';
import { InvalidArgumentError } from '../errors.js';
import { keysOf, rejectUnknownKeys, type OptionKeys } from '../options/validate.js';
import type { SqlValue } from './values.js';

/** What a function may return: a {@link SqlValue}, a boolean (stored as 0 or 1), or undefined (NULL). */
export type SqlFunctionResult = SqlValue | boolean | undefined;

/** A scalar function: called once per row with the SQL arguments. */
export type ScalarFunction = (...args: SqlValue[]) => SqlFunctionResult;

/** Flags SQLite needs to know of a function. */
export interface SqlFunctionFlags {
  /**
   * The same arguments always give the same result (no clock, no randomness): SQLite may then
   * use it in indexes and generated columns and compute it once. Default false.
   */
  deterministic?: boolean;
  /** Take any number of arguments, instead of the JavaScript function's `length`. Default false. */
  varargs?: boolean;
}

/** A scalar function with flags. (Not `call`: every function has a `call`, which would confuse the declarations' types.) */
export interface ScalarDefinition extends SqlFunctionFlags {
  scalar: ScalarFunction;
}

/**
 * An aggregate (`sum`-like) function: `step` is called once per row of a group with the
 * accumulator and the row's arguments and returns the next accumulator; `result` turns the last
 * one into the group's value. As better-sqlite3 defines them.
 */
export interface AggregateDefinition<A = unknown> extends SqlFunctionFlags {
  /** The accumulator's first value, or a function making it (called once per group). Default null. */
  start?: A | (() => A);
  step: (accumulator: A, ...args: SqlValue[]) => A;
  /** The group's value from the last accumulator. Default: the accumulator itself. */
  result?: (accumulator: A) => SqlFunctionResult;
}

/** One declared function. */
export type SqlFunctionDefinition = ScalarFunction | ScalarDefinition | AggregateDefinition<any>; // eslint-disable-line @typescript-eslint/no-explicit-any

/** The declared functions by SQL name, or a module (path or URL) whose named exports they are. */
export type SqlFunctions = Readonly<Record<string, SqlFunctionDefinition>> | string | URL;

/** A function as the sandbox registers it. */
export interface FunctionSpec {
  readonly name: string;
  /** Argument count SQLite checks, -1 for any. */
  readonly arity: number;
  readonly deterministic: boolean;
  readonly scalar?: ScalarFunction;
  readonly aggregate?: {
    readonly start: () => unknown;
    readonly step: (accumulator: unknown, ...args: SqlValue[]) => unknown;
    readonly result: (accumulator: unknown) => SqlFunctionResult;
  };
}

/** SQLite's limit on a function's arguments (`SQLITE_MAX_FUNCTION_ARG`). */
const MAX_ARGS = 127;
const SCALAR_KEYS = keysOf({ scalar: true, deterministic: true, varargs: true } satisfies OptionKeys<ScalarDefinition>);
const AGGREGATE_KEYS = keysOf({
  start: true,
  step: true,
  result: true,
  deterministic: true,
  varargs: true,
} satisfies OptionKeys<AggregateDefinition>);

/** Loads the declarations of a module file (its named exports), for `create`. */
export async function importFunctions(source: string | URL): Promise<Record<string, SqlFunctionDefinition>> {
  const url = functionsFileUrl(source);
  let namespace: Record<string, unknown>;
  try {
    namespace = await importModule(url);
  } catch (err) {
    throw new InvalidArgumentError(`options.functions: cannot import ${url}: ${(err as Error).message}`, { cause: err });
  }
  const out: Record<string, SqlFunctionDefinition> = {};
  for (const [name, value] of Object.entries(namespace)) if (name !== 'default') out[name] = value as SqlFunctionDefinition;
  return out;
}

/**
 * The URL of a module of functions given as a path (relative to the working directory) or a URL:
 * the same for this thread and a worker thread, which imports it itself.
 */
export function functionsFileUrl(source: string | URL): string {
  return (source instanceof URL ? source : new URL(source, `file://${process.cwd()}/`)).href;
}

/** Checks the declared functions and returns them as the sandbox registers them. */
export function functionSpecs(functions: unknown): FunctionSpec[] {
  if (functions === undefined) return [];
  if (typeof functions === 'string' || functions instanceof URL) {
    throw new InvalidArgumentError(
      'options.functions: a module of functions is imported asynchronously; use SqliteSandbox.create(), not createSync()',
    );
  }
  if (typeof functions !== 'object' || functions === null) {
    throw new InvalidArgumentError('options.functions must be an object of functions by SQL name, or a module path or URL');
  }
  return Object.entries(functions).map(([name, definition]) => spec(name, definition));
}

function spec(name: string, definition: unknown): FunctionSpec {
  const path = `options.functions.${name}`;
  if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(name)) throw new InvalidArgumentError(`${path}: a function's name must be an SQL identifier`);
  if (typeof definition === 'function')
    return { name, arity: arity(path, definition.length, false), deterministic: false, scalar: definition as ScalarFunction };
  if (typeof definition !== 'object' || definition === null) {
    throw new InvalidArgumentError(`${path} must be a function, { scalar } or { step, start?, result? } (an aggregate)`);
  }
  const d = definition as Partial<ScalarDefinition & AggregateDefinition>;
  const deterministic = d.deterministic ?? false;
  const varargs = d.varargs ?? false;
  if (typeof deterministic !== 'boolean') throw new InvalidArgumentError(`${path}.deterministic must be a boolean`);
  if (typeof varargs !== 'boolean') throw new InvalidArgumentError(`${path}.varargs must be a boolean`);
  if (d.scalar !== undefined) {
    rejectUnknownKeys(d, SCALAR_KEYS, path);
    if (typeof d.scalar !== 'function') throw new InvalidArgumentError(`${path}.scalar must be a function`);
    return { name, arity: arity(path, d.scalar.length, varargs), deterministic, scalar: d.scalar };
  }
  rejectUnknownKeys(d, AGGREGATE_KEYS, path);
  const { step, result, start } = d;
  if (typeof step !== 'function') throw new InvalidArgumentError(`${path} must have scalar (a function) or step (an aggregate)`);
  if (result !== undefined && typeof result !== 'function') throw new InvalidArgumentError(`${path}.result must be a function`);
  return {
    name,
    arity: arity(path, Math.max(0, step.length - 1), varargs),
    deterministic,
    aggregate: {
      start: typeof start === 'function' ? (start as () => unknown) : () => start ?? null,
      step: step as (accumulator: unknown, ...args: SqlValue[]) => unknown,
      result: (result as ((accumulator: unknown) => SqlFunctionResult) | undefined) ?? ((a) => a as SqlFunctionResult),
    },
  };
}

function arity(path: string, length: number, varargs: boolean): number {
  if (varargs) return -1;
  if (length > MAX_ARGS) throw new InvalidArgumentError(`${path} takes ${length} arguments; SQLite allows at most ${MAX_ARGS}`);
  return length;
}
