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
 * pool owns each use's deadline and the host reads it from there; a use's output is kept in memory,
 * so it is bounded (`outputLimit`).
 */

import { readFile } from 'node:fs/promises';
import { GuestOutputLimitError, GuestTimeoutError, GuestTrapError, InvalidArgumentError } from '../errors.js';
import { byteLimit, rejectUnknownKeys } from '../options/validate.js';
import { InstancePool, type InstanceHost, type PoolDescription, type PoolOptions, type PoolStats } from '../pool/index.js';
import type { WasiClock } from './clock.js';
import { checkWasiCommand } from './command.js';
import { DEFAULT_OUTPUT_LIMIT, type WasiContext } from './context.js';
import { WasiHost, type PreopenOption, type WasiHostOptions } from './wasi-host.js';
import type { RandomSource } from './random.js';

/** Options of {@link WasiCommand.create}. */
export interface WasiCommandOptions {
  /** Directories granted to the guest (by default each an `overlay`: writable, changes vanish after the use). */
  preopens?: readonly PreopenOption[];
  /** Most bytes the overlays may hold in one use; past it the guest gets ENOSPC. Default 64 MiB. */
  overlayLimit?: number;
  /**
   * Most bytes a use may write to stdout and stderr together (a use may give its own). Both are
   * kept in memory for the result, so past it the use ends with {@link GuestOutputLimitError}.
   * Default 16 MiB ({@link DEFAULT_OUTPUT_LIMIT}); Infinity for none.
   */
  outputLimit?: number;
  /**
   * Deadline of one use in ms (a use may give its own). Setting it makes the pool instrument the
   * guest so that loops can be stopped (see PoolOptions.interruptible). Default: no deadline.
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

/** What one use gives the command. Everything is optional. */
export interface WasiRunInput {
  /** argv, `args[0]` being the program name. Default `[programName]`. */
  args?: readonly string[];
  /** environ: `KEY=value` strings or a record. Default: empty. */
  env?: readonly string[] | Readonly<Record<string, string>>;
  /** The whole of stdin. Default: empty. */
  stdin?: Uint8Array | string;
  /** This use's deadline in ms, overriding the command's `timeout`. */
  timeout?: number;
  /** This use's output limit in bytes (stdout and stderr together), overriding the command's `outputLimit`. */
  outputLimit?: number;
}

/** What one use produced. */
export interface WasiRunResult {
  /** 0 when `_start` returned, `n` after `proc_exit(n)`; undefined when the run trapped or timed out. */
  exitCode: number | undefined;
  /** Everything written to fd 1. */
  stdout: Buffer;
  /** Everything written to fd 2. */
  stderr: Buffer;
  /**
   * Why there is no exit code: the guest trapped ({@link GuestTrapError}), ran past its deadline
   * ({@link GuestTimeoutError}) or wrote more than its output limit ({@link GuestOutputLimitError};
   * `stdout` and `stderr` then hold what came before the write that would have passed it).
   */
  error: GuestTrapError | GuestTimeoutError | GuestOutputLimitError | undefined;
}

const COMMAND_KEYS = [
  'preopens',
  'overlayLimit',
  'outputLimit',
  'timeout',
  'programName',
  'pool',
  'clock',
  'random',
] as const satisfies readonly (keyof WasiCommandOptions)[];
const RUN_KEYS = ['args', 'env', 'stdin', 'timeout', 'outputLimit'] as const satisfies readonly (keyof WasiRunInput)[];

const EMPTY = new Uint8Array(0);
const encoder = new TextEncoder();

/** A WASI command module, run on a pristine pooled instance per use. */
export class WasiCommand {
  /** The pool underneath (for `describe()`, `stats()`); each instance's `host.state` is its WasiHost. */
  readonly pool: InstancePool<WebAssembly.Exports, WasiHost, undefined>;
  readonly #programName: string;
  readonly #timeout: number | undefined;
  readonly #outputLimit: number;

  private constructor(
    pool: InstancePool<WebAssembly.Exports, WasiHost, undefined>,
    programName: string,
    timeout: number | undefined,
    outputLimit: number,
  ) {
    this.pool = pool;
    this.#programName = programName;
    this.#timeout = timeout;
    this.#outputLimit = outputLimit;
  }

  /**
   * Compiles and checks the module, then creates the pool.
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
    // Built once up front, so that a malformed preopen or clock is reported here, not by the pool.
    new WasiHost(hostOptions(options, undefined));
    const pool = await InstancePool.create(source, {
      ...options.pool,
      interruptible: timeout !== undefined,
      setup: (host: InstanceHost<WasiHost, undefined>) => {
        // The pool owns each use's deadline; the WASI host reads it in every host call that can take time.
        const wasi = new WasiHost(hostOptions(options, host));
        if (host.memory) wasi.bindMemory(host.memory);
        return { imports: wasi.imports, state: wasi };
      },
    });
    return new WasiCommand(pool, programName, timeout, outputLimit);
  }

  /** Runs the command once on a pristine instance, waiting for a free one if all are busy. */
  async run(input: WasiRunInput = {}): Promise<WasiRunResult> {
    const use = this.#use(input);
    try {
      use.result.exitCode = await this.pool.run(use.body, undefined, use.options);
    } catch (error) {
      use.fail(error);
    }
    return use.finish();
  }

  /** Like {@link run}, synchronously; throws AcquireTimeoutError when no instance is free right now. */
  runSync(input: WasiRunInput = {}): WasiRunResult {
    const use = this.#use(input);
    try {
      use.result.exitCode = this.pool.runSync(use.body, undefined, use.options);
    } catch (error) {
      use.fail(error);
    }
    return use.finish();
  }

  /** How the pool runs the module (mechanism, reset strategy) and why. */
  describe(): PoolDescription {
    return this.pool.describe();
  }

  /** The pool's counters. */
  stats(): PoolStats {
    return this.pool.stats();
  }

  /** Releases the pool; runs in flight finish first. */
  close(): Promise<void> {
    return this.pool.close();
  }

  #use(input: WasiRunInput) {
    if (input === null || typeof input !== 'object') {
      throw new InvalidArgumentError('run() takes an object: { args, env, stdin, timeout, outputLimit }');
    }
    rejectUnknownKeys(input, RUN_KEYS, 'run() input');
    const outputLimit = input.outputLimit === undefined ? this.#outputLimit : byteLimit('input.outputLimit', input.outputLimit);
    const stdout: Buffer[] = [];
    const stderr: Buffer[] = [];
    const stdin = input.stdin === undefined ? EMPTY : typeof input.stdin === 'string' ? encoder.encode(input.stdin) : input.stdin;
    const context: WasiContext = {
      args: input.args ?? [this.#programName],
      env: input.env ?? [],
      stdin,
      stdout: (chunk) => void stdout.push(Buffer.from(chunk)),
      stderr: (chunk) => void stderr.push(Buffer.from(chunk)),
      outputLimit,
    };
    const timeout = input.timeout ?? this.#timeout;
    const result: WasiRunResult = { exitCode: undefined, stdout: Buffer.alloc(0), stderr: Buffer.alloc(0), error: undefined };
    return {
      result,
      options: timeout !== undefined ? { timeout } : {},
      body: (instance: WebAssembly.Instance, _context: undefined, host: InstanceHost<WasiHost, undefined>) =>
        host.state.run(instance, context),
      fail(error: unknown): void {
        if (error instanceof GuestTrapError || error instanceof GuestTimeoutError || error instanceof GuestOutputLimitError) {
          result.error = error;
        } else {
          throw error;
        }
      },
      finish(): WasiRunResult {
        result.stdout = Buffer.concat(stdout);
        result.stderr = Buffer.concat(stderr);
        return result;
      },
    };
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
