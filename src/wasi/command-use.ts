/**
 * One use of a `WasiCommand`, from its input to its result: the input checked, the WASI context made
 * (where each stream's output goes: kept for the result, or handed to the caller's callback as the
 * guest writes it), the use's `AbortSignal` tied to the pooled instance it runs on, and what the use
 * threw sorted into the result's `error` or a rejection.
 *
 *     input ──check──► CommandUse ──body, on a pooled instance──► exit code ──────────────┐
 *                          │  signal fires while it runs: host.interrupt(AbortedError)    ├─► result()
 *                          └─ the guest's limits, the abort, a trap ──► fail(): error ────┘
 *                             anything else (a callback threw, the pool closed) ──► thrown
 *
 * Everything a use hands out is data (Buffers, numbers, typed errors), so that the same use can run
 * on a worker thread and reach the caller as messages.
 */
import { AbortedError, GuestOutputLimitError, GuestTimeoutError, GuestTrapError, InvalidArgumentError } from '../errors.js';
import { byteLimit, rejectUnknownKeys } from '../options/validate.js';
import type { InstanceHost, UseOptions } from '../pool/index.js';
import type { WasiContext } from './context.js';
import type { WasiHost } from './wasi-host.js';

/** Receives one chunk of a stream as the guest writes it: a copy, the callee's to keep. */
export type OutputCallback = (chunk: Buffer) => void;

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
  /**
   * This use's output limit in bytes (stdout and stderr together), overriding the command's
   * `outputLimit`. Streamed output counts too: give `Infinity` to a long-running command whose
   * callbacks keep nothing.
   */
  outputLimit?: number;
  /**
   * Ends the use when it fires. Already fired: the use does not run, and `run` rejects with
   * {@link AbortedError} (so does a use still waiting for a free instance). Fired while the guest
   * runs (from a callback, say: the guest runs synchronously, so nothing else on this thread can
   * fire it then): the guest is stopped at its next host call that can take time or produce
   * output (a write, a read, a path call, a sleep) or, in a loop that makes none, at its next fuel
   * check, which needs a `timeout` (it instruments the loops); its instance is reset as after a
   * deadline, and the result's `error` is an {@link AbortedError}, its output what came before.
   * The signal never reaches the instance's later uses.
   */
  signal?: AbortSignal;
  /**
   * Receives stdout as the guest writes it, each chunk as soon as its write is made, instead of
   * keeping it for the result (whose `stdout` is then empty). The guest waits while the callback
   * runs. A callback that throws ends the use, and `run` rejects with what it threw.
   */
  onStdout?: OutputCallback;
  /** Receives stderr as the guest writes it (see {@link onStdout}); the result's `stderr` is then empty. */
  onStderr?: OutputCallback;
}

/** What one use produced. */
export interface WasiRunResult {
  /** 0 when `_start` returned, `n` after `proc_exit(n)`; undefined when the run did not end on its own (see `error`). */
  exitCode: number | undefined;
  /** Everything written to fd 1 (empty when it was streamed: `onStdout`, `stream()`). */
  stdout: Buffer;
  /** Everything written to fd 2 (empty when it was streamed: `onStderr`, `stream()`). */
  stderr: Buffer;
  /**
   * Why there is no exit code: the guest trapped ({@link GuestTrapError}), ran past its deadline
   * ({@link GuestTimeoutError}), wrote more than its output limit ({@link GuestOutputLimitError};
   * its output then holds what came before the write that would have passed it), or was stopped
   * by the use's `signal` ({@link AbortedError}).
   */
  error: GuestTrapError | GuestTimeoutError | GuestOutputLimitError | AbortedError | undefined;
}

/** One use as a worker thread receives it (`thread-engine.ts`): its input as data, output and signal staying here. */
export interface WasiThreadInput {
  readonly args: readonly string[];
  readonly env: readonly string[] | Readonly<Record<string, string>>;
  readonly stdin: Uint8Array;
  readonly outputLimit: number;
  /** The pool's deadline for the use, in ms, if any. */
  readonly timeout?: number;
}

/** One chunk of output as a worker thread sends it while the guest runs: 1 for stdout, 2 for stderr. */
export interface WasiThreadOutput {
  readonly fd: 1 | 2;
  readonly data: Uint8Array;
}

/** What a command gives each use unless the use says otherwise. */
export interface CommandDefaults {
  readonly programName: string;
  readonly timeout: number | undefined;
  readonly outputLimit: number;
}

/** Where a use's output goes when the command streams it itself (`stream()`), and the signal it adds. */
export interface UseRouting {
  readonly onStdout: OutputCallback;
  readonly onStderr: OutputCallback;
  readonly signal: AbortSignal;
}

/** The keys of `run()` input, and those of `stream()`, which routes the output itself. */
export const RUN_KEYS = [
  'args',
  'env',
  'stdin',
  'timeout',
  'outputLimit',
  'signal',
  'onStdout',
  'onStderr',
] as const satisfies readonly (keyof WasiRunInput)[];
export const STREAM_KEYS = RUN_KEYS.filter((key) => key !== 'onStdout' && key !== 'onStderr');

const EMPTY = new Uint8Array(0);
const encoder = new TextEncoder();

/**
 * What a callback threw, carried out through the guest's host call and unwrapped by
 * {@link CommandUse.fail}. The WASI host turns some errors into an errno for the guest (a RangeError
 * into EFAULT, a failed system call into its errno); the caller's failure must end the use instead.
 */
class CallbackFailure extends Error {
  readonly error: unknown;

  constructor(error: unknown) {
    super('an output callback threw', { cause: error });
    this.error = error;
  }
}

/** One use; see the module comment. */
export class CommandUse {
  /** The pool's options for the use: its deadline and the signal that ends its wait. */
  readonly poolOptions: UseOptions;
  readonly #context: WasiContext;
  readonly #signal: AbortSignal | undefined;
  readonly #stdout: Buffer[] = [];
  readonly #stderr: Buffer[] = [];
  #exitCode: number | undefined = undefined;
  #error: WasiRunResult['error'] = undefined;
  /** The error the use was interrupted with when its signal fired while it ran. */
  #stopped: AbortedError | undefined = undefined;

  /**
   * Checks `input` (`what` names it in messages: `run()`, `stream()`).
   * @throws InvalidArgumentError for a malformed or unknown key.
   */
  constructor(input: WasiRunInput, defaults: CommandDefaults, what: string, routing?: UseRouting) {
    if (input === null || typeof input !== 'object') {
      throw new InvalidArgumentError(`${what} takes an object: { ${(routing ? STREAM_KEYS : RUN_KEYS).join(', ')} }`);
    }
    rejectUnknownKeys(input, routing ? STREAM_KEYS : RUN_KEYS, `${what} input`);
    const outputLimit = input.outputLimit === undefined ? defaults.outputLimit : byteLimit('input.outputLimit', input.outputLimit);
    if (input.signal !== undefined && !(input.signal instanceof AbortSignal)) {
      throw new InvalidArgumentError('input.signal must be an AbortSignal');
    }
    for (const key of ['onStdout', 'onStderr'] as const) {
      if (input[key] !== undefined && typeof input[key] !== 'function') {
        throw new InvalidArgumentError(`input.${key} must be a function that takes each chunk (a Buffer)`);
      }
    }
    this.#signal = routing?.signal ?? input.signal;
    const stdin = input.stdin === undefined ? EMPTY : typeof input.stdin === 'string' ? encoder.encode(input.stdin) : input.stdin;
    this.#context = {
      args: input.args ?? [defaults.programName],
      env: input.env ?? [],
      stdin,
      stdout: sink(routing?.onStdout ?? input.onStdout, this.#stdout),
      stderr: sink(routing?.onStderr ?? input.onStderr, this.#stderr),
      outputLimit,
    };
    const timeout = input.timeout ?? defaults.timeout;
    this.poolOptions = {
      ...(timeout !== undefined ? { timeout } : {}),
      ...(this.#signal !== undefined ? { signal: this.#signal } : {}),
    };
  }

  /** The use as a worker thread receives it; see {@link WasiThreadInput}. */
  threadInput(): WasiThreadInput {
    const { args, env, stdin, outputLimit } = this.#context;
    const input = { args, env: env as WasiThreadInput['env'], stdin, outputLimit: outputLimit ?? Infinity };
    return this.poolOptions.timeout === undefined ? input : { ...input, timeout: this.poolOptions.timeout };
  }

  /**
   * One chunk the guest wrote on a worker thread, arrived here: kept or handed to the callback, as
   * on this thread. What a callback throws ends the use (its thread is stopped) and is what the
   * use rejects with.
   */
  output(chunk: WasiThreadOutput): void {
    (chunk.fd === 1 ? this.#context.stdout : this.#context.stderr)(chunk.data);
  }

  /**
   * The use on a worker thread threw `error`: as {@link fail}, and an abort that stopped the
   * thread while the use ran (`started`) ends the use with that error in its result, as an abort
   * that stops the guest on this thread does.
   */
  failOnThread(error: unknown, started: boolean): void {
    if (started && error instanceof AbortedError && this.#signal?.aborted === true) this.#error = error;
    else this.fail(error);
  }

  /** Throws {@link AbortedError} when the use's signal has fired before the use began: it must not run. */
  checkNotAborted(): void {
    const signal = this.#signal;
    if (signal?.aborted) throw new AbortedError(signal.reason, 'the use was aborted before it started; it did not run');
  }

  /** What the pool runs on the instance it hands out: the command, with the signal tied to the instance. */
  readonly body = (instance: WebAssembly.Instance, _context: undefined, host: InstanceHost<WasiHost, undefined>): number => {
    const signal = this.#signal;
    if (signal === undefined) return host.state.run(instance, this.#context);
    // The signal may have fired between the wait's end and now: then the guest has not run.
    this.checkNotAborted();
    const stop = () => {
      this.#stopped = new AbortedError(
        signal.reason,
        'the use was aborted while it ran; the guest was stopped at its next host call or fuel check',
      );
      host.interrupt(this.#stopped);
    };
    signal.addEventListener('abort', stop, { once: true });
    try {
      return host.state.run(instance, this.#context);
    } finally {
      // The instance goes on to other uses: this use's signal must not end them.
      signal.removeEventListener('abort', stop);
    }
  };

  /** The use ran to its end (`_start` returned, or `proc_exit`). */
  succeeded(exitCode: number): void {
    this.#exitCode = exitCode;
  }

  /**
   * The use threw `error`: a limit of the guest's or the abort while it ran becomes the result's
   * `error`; what a callback threw is thrown as it was; anything else (the pool closed, an abort
   * before the use began) is thrown.
   */
  fail(error: unknown): void {
    if (error instanceof CallbackFailure) throw error.error;
    if (error instanceof GuestTrapError || error instanceof GuestTimeoutError || error instanceof GuestOutputLimitError) {
      this.#error = error;
    } else if (this.#stopped !== undefined && error === this.#stopped) {
      this.#error = this.#stopped;
    } else {
      throw error;
    }
  }

  /** The result: the exit code or the error, and the output that was kept (not streamed). */
  result(): WasiRunResult {
    return { exitCode: this.#exitCode, stdout: Buffer.concat(this.#stdout), stderr: Buffer.concat(this.#stderr), error: this.#error };
  }
}

/**
 * A WASI sink: each chunk (a view into guest memory, valid only during the call) copied, then kept
 * in `kept` or handed to `callback`.
 */
function sink(callback: OutputCallback | undefined, kept: Buffer[]): (chunk: Uint8Array) => void {
  if (callback === undefined) return (chunk) => void kept.push(Buffer.from(chunk));
  return (chunk) => {
    try {
      callback(Buffer.from(chunk));
    } catch (error) {
      throw new CallbackFailure(error);
    }
  };
}
