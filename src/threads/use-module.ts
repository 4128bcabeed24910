/**
 * The user's module file of a `ThreadPool` (its `filename`), as a worker thread loads it: the code a
 * pool on threads needs and cannot receive as data. Functions cannot be posted to a worker, so they
 * live in a module every worker imports (Piscina's `filename`):
 *
 * ```js
 * // use.mjs
 * export function setup(host) { return { imports: { env: { now: () => Date.now() } } }; } // optional
 * export default function (instance, input, host) { return instance.exports.handle(input.n); }
 * ```
 *
 * The default export runs each use (`input` is what `pool.run(input)` sent; host functions see it
 * as `host.context`); `setup` is `PoolOptions.setup`, once per pooled instance.
 */
import { InvalidArgumentError } from '../errors.js';
import { importModule } from '../import-module.js';
import type { InstanceHost, SetupHook } from '../pool/instance-host.js';
import type { PoolInstance } from '../pool/types.js';

/** The per-use function a module file exports by default. */
export type ThreadUseFunction<I = unknown, O = unknown> = (
  instance: PoolInstance,
  input: I,
  host: InstanceHost<unknown, I>,
) => O | Promise<O>;

/** A module file, loaded. */
export interface UseModule {
  run: ThreadUseFunction;
  setup: SetupHook<unknown, unknown>;
}

/** Imports the module at `url` and checks what it exports. */
export async function loadUseModule(url: string): Promise<UseModule> {
  let loaded: { default?: unknown; setup?: unknown };
  try {
    loaded = (await importModule(url)) as typeof loaded;
  } catch (err) {
    throw new InvalidArgumentError(`options.filename: cannot import ${url}: ${(err as Error).message}`, { cause: err });
  }
  if (typeof loaded.default !== 'function') {
    throw new InvalidArgumentError(
      `options.filename: ${url} must export default the function each use runs, (instance, input, host) => result; ` +
        `its default export is ${loaded.default === undefined ? 'missing' : typeof loaded.default}`,
    );
  }
  if (loaded.setup !== undefined && typeof loaded.setup !== 'function') {
    throw new InvalidArgumentError(`options.filename: ${url} exports a setup that is not a function (host) => ({ imports, state })`);
  }
  return {
    run: loaded.default as ThreadUseFunction,
    setup: (loaded.setup as SetupHook<unknown, unknown> | undefined) ?? (() => ({})),
  };
}
