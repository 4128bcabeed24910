/**
 * Host functions as a sandbox declares them: an object of functions (nested objects are namespaces,
 * `db.query`), or a module file whose exports are those functions. The file form is what worker
 * threads will import (a thread cannot be handed a function), so both forms reduce to the same
 * table here: the names the guest calls, in a fixed order (the image's wrappers call them by index),
 * and the functions.
 *
 * A host function is called with the guest's arguments, copied (`values.ts`), and `this` set to a
 * {@link HostCall} that says which use called it. It returns a value, or a promise the guest
 * awaits within the use; what it throws (or rejects with) reaches the guest as an Error with its
 * name and message.
 */
import { importModule } from '../import-module.js';
import { pathToFileURL } from 'node:url';
import { InvalidArgumentError } from '../errors.js';

/** What `this` is in a host function: which use called it. */
export interface HostCall<C = unknown> {
  /** The name the guest called (`db.query`). */
  readonly name: string;
  /** The use's `context` option (undefined when it gave none). */
  readonly context: C | undefined;
  /**
   * Aborted when the use ends (its result, its error, its deadline): a host function still
   * working then should stop, since nobody will read its answer.
   */
  readonly signal: AbortSignal;
}

/**
 * A function the guest may call. Its parameters are whatever the guest passes (copied values),
 * hence `any`; `this` is the {@link HostCall}, whose `context` is what each use passes, hence `any`
 * unless the function says (`this: HostCall<{ user: string }>`).
 */
/* eslint-disable @typescript-eslint/no-explicit-any -- the guest decides the arguments, each use its context */
export type HostFunction<C = any> = (this: HostCall<C>, ...args: any[]) => unknown;

/** Host functions by the name the guest calls them; a nested object is a namespace (`{ db: { query } }` is `db.query`). */
export interface HostFunctions<C = any> {
  [name: string]: HostFunction<C> | HostFunctions<C>;
}
/* eslint-enable @typescript-eslint/no-explicit-any */

/** Host functions in the order the image's wrappers call them (index + 1; 0 is the event loop's note). */
export interface HostFunctionTable {
  readonly names: readonly string[];
  readonly functions: readonly HostFunction[];
}

/** The empty table: a sandbox without host functions. */
export const NO_HOST_FUNCTIONS: HostFunctionTable = { names: [], functions: [] };

const NAME = /^[A-Za-z_$][\w$]*$/;

/** The table of `functions` (an object of functions and namespaces), or an error naming `path`. */
export function hostFunctionTable(functions: unknown, path: string): HostFunctionTable {
  if (typeof functions !== 'object' || functions === null || Array.isArray(functions)) {
    throw new InvalidArgumentError(`${path} must be an object of functions (or the path or URL of a module that exports them)`);
  }
  const names: string[] = [];
  const list: HostFunction[] = [];
  const walk = (object: object, prefix: string, depth: number) => {
    for (const key of Object.keys(object)) {
      const value: unknown = (object as Record<string, unknown>)[key];
      const name = prefix + key;
      if (!NAME.test(key)) throw new InvalidArgumentError(`${path}.${name}: '${key}' is not a JavaScript identifier the guest could call`);
      if (typeof value === 'function') {
        names.push(name);
        list.push(value as HostFunction);
      } else if (typeof value === 'object' && value !== null && !Array.isArray(value) && depth < 8) {
        walk(value, `${name}.`, depth + 1);
      } else {
        throw new InvalidArgumentError(`${path}.${name} must be a function or an object of functions, not ${typeof value}`);
      }
    }
  };
  walk(functions, '', 0);
  return { names, functions: list };
}

/**
 * The table of the module at `source` (a path or URL): its exports are the host functions (a
 * `default` export that is an object counts as more of them). Async: ES modules load so.
 */
export async function importHostFunctions(source: string | URL, path: string): Promise<HostFunctionTable> {
  const url = moduleFileUrl(source);
  let namespace: Record<string, unknown>;
  try {
    namespace = await importModule(url);
  } catch (err) {
    throw new InvalidArgumentError(`${path}: cannot import ${url}: ${(err as Error).message}`, { cause: err });
  }
  const exports: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(namespace)) {
    if (key === 'default' && typeof value === 'object' && value !== null) Object.assign(exports, value);
    else exports[key] = value;
  }
  return hostFunctionTable(exports, path);
}

/**
 * The URL of a module file given as a path (relative to the working directory) or a URL: the same
 * string for this thread and a worker thread, which imports it itself.
 */
export function moduleFileUrl(source: string | URL): string {
  return source instanceof URL ? source.href : /^[a-z][a-z0-9+.-]*:/i.test(source) ? source : pathToFileURL(source).href;
}

/** A host function's `this`, made per call; the signal only when asked for. */
export class HostCallContext<C> implements HostCall<C> {
  readonly name: string;
  readonly context: C | undefined;
  readonly #controller: () => AbortController;

  constructor(name: string, context: C | undefined, controller: () => AbortController) {
    this.name = name;
    this.context = context;
    this.#controller = controller;
  }

  get signal(): AbortSignal {
    return this.#controller().signal;
  }
}
