/**
 * WasiCommand: a WASI preview1 command module run once per use, each use on a pristine pooled
 * instance with a pristine file system, in one call:
 *
 *   const command = await WasiCommand.create(await readFile('tool.wasm'), {
 *     preopens: [{ guestPath: '/data', hostPath: './data' }],   // an overlay: writable, per use
 *     timeout: 5_000,
 *   });
 *   const { exitCode, stdout, stderr, error } = await command.run({ args: ['tool', '--flag'], stdin: 'input' });
 *   await command.close();
 *
 * It is the InstancePool and the WasiHost put together the way `cowpool serve` uses them: one host
 * per pooled instance, built once; each use swaps only the context (args, env, stdin, sinks). The
 * pool owns each use's deadline and the host reads it from there. A use's output is kept for its
 * result or streamed as the guest writes it (`command-use.ts`, `output-stream.ts`), and bounded
 * either way (`outputLimit`). This file is the facade: create, the three ways to run a use, close.
 */

import { readFile } from 'node:fs/promises';
import { InvalidArgumentError } from '../errors.js';
import { byteLimit, rejectUnknownKeys } from '../options/validate.js';
import { announce, preparedPool } from '../pool/build.js';
import { InstancePool, type InstanceHost, type PoolDescription, type PoolOptions, type PoolStats } from '../pool/index.js';
import { driveAsync } from '../pool/sync-or-async.js';
import { fillOnThreadsOptions, ON_THREADS_KEYS, type OnThreadsOptions } from '../threads/options.js';
import { PoolThreads, type PoolThreadsDescription, type PoolThreadStats, type PreparedParts } from '../threads/pool-threads.js';
import { siblingModule } from '../threads/spawn.js';
import type { WasiClock } from './clock.js';
import { checkWasiCommand } from './command.js';
import {
  CommandUse,
  type CommandDefaults,
  type WasiRunInput,
  type WasiRunResult,
  type WasiThreadInput,
  type WasiThreadOutput,
} from './command-use.js';
import type { WasiThreadParts } from './thread-engine.js';
import { DEFAULT_OUTPUT_LIMIT } from './context.js';
import { WasiRunStream } from './output-stream.js';
import { WasiHost, type PreopenOption, type WasiHostOptions } from './wasi-host.js';
import type { RandomSource } from './random.js';

/** The engine every thread of a command with `threads` runs. */
const THREAD_ENGINE = siblingModule('thread-engine', import.meta.url);
/** How long a thread may take to start (its first instance). */
const START_TIMEOUT_MS = 10_000;

/** What {@link WasiCommand.stream} takes: a use's input, without callbacks (the stream is where the output goes). */
export type WasiStreamInput = Omit<WasiRunInput, 'onStdout' | 'onStderr'>;

/**
 * Options of {@link WasiCommand.create}. With `threads` ({@link OnThreadsOptions}) the promise forms
 * (`run`, `stream`) run on worker threads and `runSync` on the calling thread; `clock` and `random`
 * (code) are then refused, and so are `pool.max` and `pool.min` (each thread runs one use).
 */
export interface WasiCommandOptions extends OnThreadsOptions {
  /** Directories granted to the guest (by default each an `overlay`: writable, changes vanish after the use). */
  preopens?: readonly PreopenOption[];
  /** Most bytes the overlays may hold in one use; past it the guest gets ENOSPC. Default 64 MiB. */
  overlayLimit?: number;
  /**
   * Most bytes a use may write to stdout and stderr together (a use may give its own); past it the
   * use ends with {@link GuestOutputLimitError}. It bounds what the host holds of a use's output:
   * all of it for `run()`, the chunks not yet read for `stream()`. Streamed bytes count too, so a
   * command whose callbacks keep nothing and that writes without end needs Infinity.
   * Default 16 MiB ({@link DEFAULT_OUTPUT_LIMIT}); Infinity for none.
   */
  outputLimit?: number;
  /**
   * Deadline of one use in ms (a use may give its own). Setting it makes the pool instrument the
   * guest so that loops can be stopped (see PoolOptions.interruptible): by the deadline, and by a
   * use's `signal` in a loop that makes no host call. Default: no deadline.
   */
  timeout?: number;
  /** The program name guests see as argv[0] when a use gives no `args`. Default `command.wasm`. */
  programName?: string;
  /** Pool options: `max`, `min`, `strategy`, `keepResident`, `mechanism`, `acquireTimeout`, … */
  pool?: Omit<PoolOptions<WasiHost, undefined>, 'imports' | 'setup' | 'interruptible'>;
  /** Time source; `sleep` is cut at the use's deadline. Default: the system clock. */
  clock?: Partial<WasiClock>;
  /** Entropy for random_get. Default: `crypto.getRandomValues`. */
  random?: RandomSource;
}

const COMMAND_KEYS = [
  ...ON_THREADS_KEYS,
  'preopens',
  'overlayLimit',
  'outputLimit',
  'timeout',
  'programName',
  'pool',
  'clock',
  'random',
] as const satisfies readonly (keyof WasiCommandOptions)[];

/**
 * A WASI command module, run on a pristine pooled instance per use.
 *
 * A use's output comes three ways. `run()` keeps it and resolves with all of it, as
 * `child_process.execFile` and a plain `await execa()` do. For a long-running command, or output
 * too large to keep, it is streamed, as `spawn` and execa's iterables do, in the two forms Node
 * users reach for:
 *
 * - callbacks, `run({ onStdout, onStderr })` (and `runSync`): each chunk is handed over inside the
 *   guest's write, while the guest runs. On this thread they are the only form that sees output
 *   before the guest stops, that can stop it from what it wrote (call `abort()` on the use's
 *   `signal` after ten lines, as `head` does), and whose output need not be held anywhere: the
 *   guest waits for each callback, so a callback that consumes synchronously (a file descriptor,
 *   a hash) is backpressure, and one that hands chunks to something slower (a socket) buffers there.
 * - an async iterable, `stream()`: `for await (const { stream, data } of command.stream(input))`,
 *   with stdout and stderr interleaved in the order they were written, ready for `Readable.from`
 *   and `pipeline`. A guest runs synchronously and cannot be paused for a slow reader: on this
 *   thread the reader sees the first chunk once the guest has stopped, and the chunks wait in
 *   memory until read, at most the use's `outputLimit` of them (keep one when you stream this way).
 *   Once uses run on worker threads the chunks arrive while the guest runs, bounded the same way.
 *
 * Chunks are Buffers the receiver owns (copies, never views into guest memory), so that a use can
 * run on a worker thread and its chunks travel as messages. Streamed bytes count against the
 * output limit like kept ones: give `outputLimit: Infinity` to a command meant to write without end.
 */
export class WasiCommand {
  /** This thread's pool: every use's, or with `threads` the `Sync` forms' (built at its first use, or here). */
  #pool: InstancePool<WebAssembly.Exports, WasiHost, undefined> | undefined;
  /** The threads the promise forms run on, with `threads`. */
  readonly #threads: PoolThreads<WasiThreadInput, number> | undefined;
  /** The options of this thread's pool, for the one built late (`threads`). */
  readonly #poolOptions: PoolOptions<WasiHost, undefined>;
  readonly #defaults: CommandDefaults;

  private constructor(
    pool: InstancePool<WebAssembly.Exports, WasiHost, undefined> | PoolThreads<WasiThreadInput, number>,
    poolOptions: PoolOptions<WasiHost, undefined>,
    defaults: CommandDefaults,
  ) {
    if (pool instanceof InstancePool) this.#pool = pool;
    else this.#threads = pool;
    this.#poolOptions = poolOptions;
    this.#defaults = defaults;
  }

  /**
   * The pool underneath (for `describe()`, `stats()`); each instance's `host.state` is its
   * WasiHost. With `threads`, the pool of the `Sync` forms on this thread, built at the first
   * access from the same prepared parts (the threads have their own).
   */
  get pool(): InstancePool<WebAssembly.Exports, WasiHost, undefined> {
    this.#pool ??= this.#threads!.local<WebAssembly.Exports, WasiHost, undefined>(this.#poolOptions);
    return this.#pool;
  }

  /**
   * Compiles and checks the module, then creates the pool. With `options.threads`, prepares it here
   * once and starts the threads over its one image.
   * @param wasm the module's bytes or a path to read (the pool needs the bytes to build its memory image).
   * @throws InvalidArgumentError when the module is not a WASI command, an option is malformed, or
   *   an option is unknown (named with the closest known one).
   */
  static async create(wasm: Uint8Array | string, options: WasiCommandOptions = {}): Promise<WasiCommand> {
    if (options === null || typeof options !== 'object') throw new InvalidArgumentError('options must be an object');
    rejectUnknownKeys(options, COMMAND_KEYS, 'WasiCommand options');
    const outputLimit = byteLimit('options.outputLimit', options.outputLimit ?? DEFAULT_OUTPUT_LIMIT);
    const programName = options.programName ?? (typeof wasm === 'string' ? wasm.slice(wasm.lastIndexOf('/') + 1) : 'command.wasm');
    const source = typeof wasm === 'string' ? new Uint8Array(await readFile(wasm)) : wasm;
    if (!(source instanceof Uint8Array)) throw new InvalidArgumentError('wasm must be the module bytes (a Uint8Array) or a path');
    checkWasiCommand(source, programName);
    const timeout = options.timeout;
    if (timeout !== undefined && !(typeof timeout === 'number' && timeout > 0)) {
      throw new InvalidArgumentError(`options.timeout must be a positive number of ms, got ${String(timeout)}`);
    }
    const threads = fillOnThreadsOptions(options, {
      timeout: timeout ?? Infinity,
      acquireTimeout: options.pool?.acquireTimeout ?? Infinity,
    });
    if (threads !== undefined) refuseCodeOnThreads(options);
    // Built once up front, so that a malformed preopen or clock is reported here, not by the pool.
    new WasiHost(hostOptions(options, undefined));
    const poolOptions: PoolOptions<WasiHost, undefined> = {
      ...options.pool,
      interruptible: timeout !== undefined,
      setup: (host: InstanceHost<WasiHost, undefined>) => {
        // The pool owns each use's deadline; the WASI host reads it in every host call that can take time.
        const wasi = new WasiHost(hostOptions(options, host));
        if (host.memory) wasi.bindMemory(host.memory);
        return { imports: wasi.imports, state: wasi };
      },
    };
    const defaults = { programName, timeout, outputLimit };
    if (threads === undefined) return new WasiCommand(await InstancePool.create(source, poolOptions), poolOptions, defaults);
    const started = performance.now();
    const made = await driveAsync(preparedPool(source, poolOptions));
    announce(made.cache, started);
    const poolData = { ...options.pool, interruptible: timeout !== undefined };
    const host = {
      ...(options.preopens !== undefined ? { preopens: options.preopens } : {}),
      ...(options.overlayLimit !== undefined ? { overlayLimit: options.overlayLimit } : {}),
    };
    const onThreads = await PoolThreads.create<WasiThreadInput, number>(
      made as PreparedParts,
      {
        engine: THREAD_ENGINE,
        parts: (pool): WasiThreadParts => ({ pool, options: poolData, host }),
        what: `a thread of the WASI command ${programName} (its first instance)`,
        startTimeout: START_TIMEOUT_MS,
      },
      threads,
    );
    return new WasiCommand(onThreads, poolOptions, defaults);
  }

  /**
   * Runs the command once on a pristine instance, waiting for a free one if all are busy. Resolves
   * with the result of a use that ran, whether it exited or was stopped (`error`); rejects when it
   * did not run (aborted before it began or while it waited, the command closed, a malformed input)
   * and with what an output callback threw. With `threads`, the use runs on a worker thread: its
   * input is copied there, its output comes back as the guest writes it (the callbacks run here),
   * and its `signal` stops the thread (replaced) if it fires while the guest runs.
   */
  async run(input: WasiRunInput = {}): Promise<WasiRunResult> {
    const use = new CommandUse(input, this.#defaults, 'run()');
    return this.#run(use);
  }

  /** Like {@link run}, synchronously, on this thread; throws AcquireTimeoutError when no instance is free right now. */
  runSync(input: WasiRunInput = {}): WasiRunResult {
    const use = new CommandUse(input, this.#defaults, 'runSync()');
    use.checkNotAborted();
    try {
      use.succeeded(this.pool.runSync(use.body, undefined, use.poolOptions));
    } catch (error) {
      use.fail(error);
    }
    return use.result();
  }

  /**
   * Runs the command once, its output streamed: iterate the returned stream for the chunks, in the
   * order the guest wrote them, and await its `result` for the exit code or the error (see the
   * class comment for what a slow reader costs). The use begins once this has returned. With
   * `threads`, the chunks arrive while the guest runs.
   * @throws InvalidArgumentError at once for a malformed input; everything else comes through the stream.
   */
  stream(input: WasiStreamInput = {}): WasiRunStream {
    const giveUp = new AbortController();
    // The input is checked (the signal too) before the stream listens to anything; the callbacks
    // are called only once the use runs, after the stream exists.
    const use = new CommandUse(input, this.#defaults, 'stream()', {
      onStdout: (chunk) => stream.push('stdout', chunk),
      onStderr: (chunk) => stream.push('stderr', chunk),
      signal: giveUp.signal,
    });
    const stream = new WasiRunStream(() => this.#run(use), giveUp, input.signal);
    return stream;
  }

  /** How the pool runs the module (mechanism, reset strategy) and why; with `threads`, the threads' options too. */
  describe(): WasiCommandDescription {
    if (this.#threads === undefined) return this.pool.describe();
    const { pool, threads } = this.#threads.describe();
    return { ...pool, threads };
  }

  /** The pool's counters; with `threads`, every thread's pool's summed (and this thread's), and the threads' own. */
  stats(): WasiCommandStats {
    if (this.#threads === undefined) return this.pool.stats();
    const { pool, threads } = this.#threads.stats();
    return { ...pool, threads };
  }

  /**
   * Releases the pool; runs in flight finish first (with `threads` and `force`: they are stopped
   * with their threads, and reject with `PoolClosedError`). Idempotent.
   */
  close(options?: { force?: boolean }): Promise<void> {
    return this.#threads === undefined ? this.pool.close() : this.#threads.close(options);
  }

  /** {@link close}: what `await using` calls. */
  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  async #run(use: CommandUse): Promise<WasiRunResult> {
    use.checkNotAborted();
    if (this.#threads !== undefined) return this.#runOnThread(use, this.#threads);
    try {
      use.succeeded(await this.pool.run(use.body, undefined, use.poolOptions));
    } catch (error) {
      use.fail(error);
    }
    return use.result();
  }

  async #runOnThread(use: CommandUse, threads: PoolThreads<WasiThreadInput, number>): Promise<WasiRunResult> {
    let started = false;
    try {
      const exitCode = await threads.run(use.threadInput(), use.poolOptions, undefined, {
        started: () => (started = true),
        event: (chunk) => use.output(chunk as WasiThreadOutput),
      });
      use.succeeded(exitCode);
    } catch (error) {
      use.failOnThread(error, started);
    }
    return use.result();
  }
}

/** What {@link WasiCommand.describe} says: the pool's choices, and the threads' with `threads`. */
export interface WasiCommandDescription extends PoolDescription {
  threads?: PoolThreadsDescription;
}

/** What {@link WasiCommand.stats} says: the pool's counters, and with `threads` the threads' own. */
export interface WasiCommandStats extends PoolStats {
  threads?: PoolThreadStats;
}

/** With threads, what is code cannot be sent to a worker thread. */
function refuseCodeOnThreads(options: WasiCommandOptions): void {
  for (const key of ['clock', 'random'] as const) {
    if (options[key] !== undefined) {
      throw new InvalidArgumentError(
        `options.${key} is code, which cannot be sent to worker threads; leave it out with options.threads (the system ${key === 'clock' ? 'clock' : 'entropy'} is used)`,
      );
    }
  }
  for (const key of ['max', 'min'] as const) {
    if (options.pool?.[key] !== undefined) {
      throw new InvalidArgumentError(
        `options.pool.${key} does not apply with threads: each thread runs one use at a time on one instance; set options.threads`,
      );
    }
  }
}

/** The WasiHost options for one pooled instance: its deadline is the pool's, read from `host`. */
function hostOptions(options: WasiCommandOptions, host: InstanceHost<WasiHost, undefined> | undefined): WasiHostOptions {
  return {
    ...(options.preopens !== undefined ? { preopens: options.preopens } : {}),
    ...(options.overlayLimit !== undefined ? { overlayLimit: options.overlayLimit } : {}),
    ...(options.random !== undefined ? { random: options.random } : {}),
    ...(options.clock !== undefined ? { clock: options.clock } : {}),
    ...(host !== undefined ? { deadline: host } : {}),
  };
}
