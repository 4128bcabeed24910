/**
 * `Sandbox`: what every sandbox (`QuickJSSandbox`, `SqliteSandbox`) is besides its engine, written
 * once: the use paths (a promise form that waits for a free instance, a `Sync` form that runs now),
 * the checking of each use's options, the counters by outcome, `stats()`, `describe()`, `close()`
 * and `Symbol.asyncDispose`.
 *
 * A sandbox kind supplies only what differs (see `engine.ts` for the seam):
 *
 * - at create, its options checked with `options.ts` (its own keys beside the shared ones), its
 *   image and pool built, and an {@link Engine} over them with its {@link UseRunner};
 * - per use, a request as data and the pool's options for it (a deadline, when the kind's pool is
 *   interruptible), from {@link Sandbox.useOptions} and its own use options;
 * - what a result becomes for the caller, and (if anything) what an error does on its way out (a
 *   QuickJS error's logs go to the console sink).
 *
 *     eval(code, options) ──► prepare: request + pool options ──► engine.run ──► result ─► deliver ─► T
 *                               (bad input: rejected, not counted)      └─────► error ──► count ─► failed ─► thrown
 */
import type { UseOptions } from '../pool/index.js';
import type { Engine, SandboxDescription } from './engine.js';
import { checkUseOptions, type FilledSandboxOptions, type FilledUseOptions } from './options.js';
import { emptyOutcomes, outcomeOf, type SandboxStats } from './outcomes.js';

/** One use, ready to run: the request for the engine, the pool's options for it, and its deadline. */
export interface PreparedUse<Request> {
  readonly request: Request;
  readonly pool: UseOptions;
  /** The use's own deadline in ms (Infinity for none): see {@link Engine.run}. */
  readonly deadline: number;
}

/** What a sandbox's constructor hands the base. */
export interface SandboxParts<Request, Result> {
  readonly engine: Engine<Request, Result>;
  /** The sandbox's options, checked (`checkSandboxOptions`). */
  readonly options: FilledSandboxOptions;
  /** Every key a use's options may have (`useKeys`). */
  readonly useKeys: readonly string[];
  /** Bytes of the wasm memory in use after setup. */
  readonly setupBytes: number;
}

/** The base of every sandbox; see the module comment. */
export abstract class Sandbox<Request, Result> {
  readonly #engine: Engine<Request, Result>;
  readonly #options: FilledSandboxOptions;
  readonly #useKeys: readonly string[];
  readonly #defaultUse: FilledUseOptions;
  readonly #setupBytes: number;
  readonly #counts = emptyOutcomes();

  protected constructor(parts: SandboxParts<Request, Result>) {
    this.#engine = parts.engine;
    this.#options = parts.options;
    this.#useKeys = parts.useKeys;
    this.#setupBytes = parts.setupBytes;
    this.#defaultUse = checkUseOptions(undefined, parts.useKeys, parts.options);
  }

  /**
   * The sandbox's counters and its pool's; with threads, its pools' summed over the threads (and
   * the calling thread's, for the `Sync` forms), and the threads' own counters.
   */
  stats(): SandboxStats {
    const threads = this.#engine.threadStats?.();
    const stats: SandboxStats = { ...this.#counts, setupBytes: this.#setupBytes, pool: this.#engine.stats() };
    if (threads !== undefined) stats.threads = threads;
    return stats;
  }

  /** The pool's choices (mechanism, reset strategy, memory) and why, and the threads' options when it has them. */
  describe(): SandboxDescription {
    return this.#engine.describe();
  }

  /**
   * Waits for running uses, then releases every instance and the image. With threads, `force`
   * does not wait: uses still waiting or running reject with `PoolClosedError`, their threads
   * stopped. Idempotent (a later `force` still forces).
   */
  close(options?: { force?: boolean }): Promise<void> {
    return this.#engine.close(options);
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  /** The sandbox's options, checked, with its kind's defaults. */
  protected get options(): FilledSandboxOptions {
    return this.#options;
  }

  /**
   * A use's shared options (deadline, memory limit, signal, wait), checked against the sandbox's;
   * a key that is neither shared nor the kind's is refused with the closest name.
   */
  protected useOptions(options: object | undefined): FilledUseOptions {
    return options === undefined ? this.#defaultUse : checkUseOptions(options, this.#useKeys, this.#options);
  }

  /**
   * Runs one use, waiting for a free instance when all are busy. `prepare` checks the caller's input
   * and builds the request (what it throws rejects the promise, uncounted: the guest never ran);
   * `deliver` turns the result into what the caller gets; `failed` sees a use's error on its way out.
   */
  protected use<T>(
    prepare: () => PreparedUse<Request>,
    deliver: (result: Result) => T,
    failed: (err: unknown) => unknown = same,
  ): Promise<T> {
    let prepared: PreparedUse<Request>;
    try {
      prepared = prepare();
    } catch (err) {
      return Promise.reject(err);
    }
    return this.#engine.run(prepared.request, prepared.pool, prepared.deadline).then(
      (result) => this.#deliver(result, deliver),
      (err: unknown) => {
        throw this.#failed(err, failed);
      },
    );
  }

  /** {@link use}, now and on this thread: throws `AcquireTimeoutError` when no instance is free. */
  protected useSync<T>(prepare: () => PreparedUse<Request>, deliver: (result: Result) => T, failed: (err: unknown) => unknown = same): T {
    const prepared = prepare();
    let result: Result;
    try {
      result = this.#engine.runSync(prepared.request, prepared.pool);
    } catch (err) {
      throw this.#failed(err, failed);
    }
    return this.#deliver(result, deliver);
  }

  #deliver<T>(result: Result, deliver: (result: Result) => T): T {
    this.#counts.results++;
    return deliver(result);
  }

  #failed(err: unknown, failed: (err: unknown) => unknown): unknown {
    const outcome = outcomeOf(err);
    if (outcome !== undefined) this.#counts[outcome]++;
    return failed(err);
  }
}

const same = (err: unknown): unknown => err;
