/**
 * The `load` of an emscripten `MODULARIZE` factory (or a hand-made one such as sql.js's
 * `initSqlJs`): calls it with the given module arguments and `instantiateWasm`, which hands the
 * runtime the use's pooled instance, so that any emscripten package can be pooled without an
 * adapter of its own.
 */
import type { GlueKit } from './glue-pool.js';

/** A `load` for {@link GluePool.create} that calls an emscripten factory; `moduleArgs` are passed through. */
export function emscripten<T = unknown>(
  moduleArgs: Record<string, unknown> = {},
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- a glue's exports have whatever shape its package gives them
  pick: (glueExports: any) => (args: Record<string, unknown>) => T | Promise<T> = (e) => e,
): (glueExports: unknown, kit: GlueKit) => Promise<T> {
  return async (glueExports, kit) => pick(glueExports)({ ...moduleArgs, instantiateWasm: kit.instantiateWasm });
}
