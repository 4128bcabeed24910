/**
 * What pre-initialization runs, as the plan carries it: an export of the module (the public
 * `options.initialize`, with its arguments), or a host's function that sets the guest up with as
 * many calls as it needs and returns what it learned (the sandboxes of `cowpool/quickjs` and
 * `cowpool/sqlite`, which create a runtime, a context or a database, and run a setup script).
 *
 * The function form is internal: a sandbox passes it under {@link INITIALIZER}, a symbol key that
 * no user can type into the public options. It brings what such a host needs besides the call:
 * its own imports (a heap that may grow while setting up, but never in a use), the exports to keep
 * (V8 makes a function object per export per instance: ~10 KiB per QuickJS instance), and the room
 * a use needs above what initialization left.
 */
import type { ModuleInfo } from '../../module/index.js';

/** `options.initialize`: an export run once, with its arguments. */
export interface ExportInitializer {
  readonly kind: 'export';
  readonly name: string;
  readonly args: readonly (number | bigint)[];
}

/** A host's initialization; see the module comment. `T` is what it returns: plain data (pointers, say). */
export interface FunctionInitializer<T = unknown> {
  readonly kind: 'function';
  /** How errors name it: `the QuickJS initialization`. */
  readonly name: string;
  /** The initialization instance's imports, on its memory (undefined when the module has none). */
  readonly imports: (memory: WebAssembly.Memory | undefined) => WebAssembly.Imports;
  /**
   * Sets the instance up; returns what uses must know of the state it left. Throws to refuse. A
   * promise when it has to wait (for a host function's answer, say), which `create` waits for and
   * `createSync` refuses (an initialization that runs under `createSync` should not wait).
   */
  readonly run: (instance: WebAssembly.Instance, memory: WebAssembly.Memory | undefined) => T | Promise<T>;
  /**
   * The only exports the pool's module keeps (the host's), by name; undefined keeps them all. They
   * are dropped before anything else, so `run` too sees only these (and the pool's own).
   */
  readonly keepExports?: ReadonlySet<string>;
  /**
   * Bytes to leave above the last non-zero byte initialization left, for a use's heap, and the
   * option they come from (for the error when they do not fit under the memory's maximum).
   */
  readonly headroom?: { readonly bytes: number; readonly option: string };
  /**
   * Everything besides the module's bytes and cowpool's own code that decides what `run` leaves
   * (the setup script, the sizes), as a string: the pool is cached under it (`cache/`). A host
   * without one is never cached.
   */
  readonly key?: string;
  /**
   * Checks that the module is one this host can run (its ABI), before anything else. Not called
   * when the prepared pool comes from the cache: the same bytes passed it when it was made.
   */
  readonly validate?: (info: ModuleInfo) => void;
  /**
   * The host's own change to the module, after `validate` and before anything else: returns the
   * bytes the pool is made from (`info` describes `bytes`). Not called when the prepared pool comes
   * from the cache, which holds what it made.
   */
  readonly rewrite?: (bytes: Uint8Array, info: ModuleInfo) => Uint8Array;
  /**
   * Called once the pool is prepared, with what `run` returned and the bytes the initialization
   * left in use: where the host learns them. From the cache too, where `run` did not run.
   */
  captured?(initialization: { readonly result: T; readonly usedBytes: number }): void;
}

/** What pre-initialization runs, if anything besides a start function. */
export type Initializer = ExportInitializer | FunctionInitializer;

/** The key of a {@link FunctionInitializer} in the pool options (internal: see the module comment). */
export const INITIALIZER = Symbol('cowpool.pool.initializer');
