/**
 * One request's run of the CGI program, wherever it runs: on the server's own thread
 * (`local-runner.ts`) or on a worker thread (`cgi-engine.ts`). It owns the pool a CGI program is
 * pooled with (one instance, its WASI host built once by `setup`), the WASI context pointed at the
 * current request (body on stdin, the CGI environment built only if the guest reads it, output
 * collected within the output limit), and what the run came to, as data ({@link CgiOutcome}): a
 * worker thread sends it back to the server's thread, which parses the output and answers.
 *
 * Why the raw output rather than the parsed response crosses threads: the server's thread needs
 * the status and header list in its own heap to write them, so a parse on the worker would clone
 * an array of strings per request instead of one byte array; and the parser remembers the last
 * header block (`CgiResponseParser`), so a program that repeats its headers costs one byte
 * comparison to parse.
 */
import { GuestOutputLimitError, GuestTimeoutError, GuestTrapError } from '../errors.js';
import type { ResetStrategy } from '../memory/index.js';
import type { InstanceHost, InstancePool, PoolInstance, PoolOptions, UseOptions } from '../pool/index.js';
import { WasiHost, type PreopenOption, type WasiContext } from '../wasi/index.js';

/** How much of a guest's stderr a log line quotes: enough for an error message, never megabytes. */
export const LOGGED_STDERR = 4096;

/** The start of what the guest wrote to stderr, for a log line. */
export interface StderrExcerpt {
  /** The first {@link LOGGED_STDERR} bytes as text, trailing whitespace trimmed. */
  readonly text: string;
  /** How many bytes the guest wrote in all. */
  readonly bytes: number;
}

/**
 * What one run came to. Plain data: it is structured-cloned from a worker thread. A guest's faults
 * are outcomes, not errors, so that the server answers them without an exception on either thread.
 */
export type CgiOutcome =
  /** The program ended (returned from main or called exit): its stdout, and its stderr when a fault needs it. */
  | { readonly kind: 'exited'; readonly exitCode: number; readonly stdout: Uint8Array; readonly stderr: StderrExcerpt | undefined }
  /** The program did not finish by its deadline; the fuel counter or a host call stopped it. */
  | { readonly kind: 'timeout' }
  /** The program wrote more than the output limit; `message` says how much. */
  | { readonly kind: 'output-limit'; readonly message: string }
  /** The program trapped. */
  | { readonly kind: 'trap'; readonly message: string; readonly stderr: StderrExcerpt | undefined };

/** The settings of a CGI program's pool and runs that are data (a worker thread receives them). */
export interface CgiGuestSettings {
  /** argv[0]. */
  readonly programName: string;
  /** Each request's deadline in ms, Infinity for none. */
  readonly timeout: number;
  /** Most bytes of stdout and stderr together per request. */
  readonly maxOutput: number;
  readonly dirs: readonly PreopenOption[];
  readonly overlayLimit: number | undefined;
  readonly keepResident: number | undefined;
  readonly strategy: 'auto' | ResetStrategy;
}

/** The pool options of a CGI program: one instance, whose state is its WASI host. */
export function cgiPoolOptions(settings: CgiGuestSettings): PoolOptions<WasiHost> {
  return {
    // A thread runs one request's guest at a time (it runs synchronously): one instance serves them all.
    max: 1,
    min: 1,
    ...(settings.keepResident !== undefined ? { keepResident: settings.keepResident } : {}),
    strategy: settings.strategy,
    interruptible: Number.isFinite(settings.timeout),
    setup: (host: InstanceHost<WasiHost>) => {
      // One WASI host per pooled instance, built once; each request only swaps its context. The
      // pool owns each request's deadline; the host checks it in every call that can take time
      // (writes, reads, polls: a guest's sleep is cut there).
      const wasi = new WasiHost({
        preopens: [...settings.dirs],
        deadline: host,
        ...(settings.overlayLimit !== undefined ? { overlayLimit: settings.overlayLimit } : {}),
      });
      if (host.memory) wasi.bindMemory(host.memory);
      return { imports: wasi.imports, state: wasi };
    },
  };
}

/** The output of one run, as it is collected. */
interface Output {
  /** Copies a chunk of guest memory (the sinks get views into it). */
  copy(chunk: Uint8Array): Uint8Array;
  /** The chunks as one array (the only chunk as it is). */
  join(chunks: Uint8Array[]): Uint8Array;
}

/** On the server's thread: Node's pooled Buffers, cheap to make. */
const BUFFERS: Output = {
  copy: (chunk) => Buffer.from(chunk),
  join: (chunks) => (chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks)),
};

/**
 * On a worker thread: arrays that own their whole ArrayBuffer, so that the output is transferred to
 * the server's thread rather than copied (a pooled Buffer would take its whole 8 KiB slab along).
 */
const OWN_ARRAYS: Output = {
  copy: (chunk) => chunk.slice(),
  join(chunks) {
    if (chunks.length === 1) return chunks[0]!;
    let length = 0;
    for (const chunk of chunks) length += chunk.length;
    const joined = new Uint8Array(length);
    let at = 0;
    for (const chunk of chunks) {
      joined.set(chunk, at);
      at += chunk.length;
    }
    return joined;
  },
};

const EMPTY = new Uint8Array(0);
const NO_ENVIRONMENT = (): readonly string[] => [];
/**
 * Runs requests on a CGI program's pool, one at a time; see the module comment. `ownArrays`: the
 * output must own its buffers (a worker thread transfers them).
 */
export class CgiGuest {
  readonly #pool: InstancePool<WebAssembly.Exports, WasiHost>;
  readonly #output: Output;
  readonly #stdout: Uint8Array[] = [];
  readonly #stderr: Uint8Array[] = [];
  readonly #context: WasiContext;
  /** The current request's environment, built when the guest first reads it. */
  #environment: () => readonly string[] = NO_ENVIRONMENT;
  readonly #run: (instance: PoolInstance, context: unknown, host: InstanceHost<WasiHost>) => number;

  constructor(pool: InstancePool<WebAssembly.Exports, WasiHost>, settings: CgiGuestSettings, ownArrays: boolean) {
    this.#pool = pool;
    this.#output = ownArrays ? OWN_ARRAYS : BUFFERS;
    const output = this.#output;
    const stdout = this.#stdout;
    const stderr = this.#stderr;
    // One context, made once and pointed at the current request.
    this.#context = {
      args: [settings.programName],
      env: () => this.#environment(),
      stdin: EMPTY,
      stdout: (chunk) => void stdout.push(output.copy(chunk)),
      stderr: (chunk) => void stderr.push(output.copy(chunk)),
      // Counted in the WASI host before a chunk reaches the sinks above: they never hold more.
      outputLimit: settings.maxOutput,
    };
    const context = this.#context;
    this.#run = (instance, _context, host) => host.state.run(instance, context);
  }

  /**
   * Runs the program once: `body` on stdin, `environment` its CGI environment (called only if the
   * guest reads it). `use` carries the deadline. Throws what is not the guest's doing (the pool
   * closed, a failure of cowpool's own); the guest's faults are outcomes. Lets go of the request
   * and its output before it returns.
   */
  run(body: Uint8Array, environment: () => readonly string[], use: UseOptions | undefined): CgiOutcome {
    this.#environment = environment;
    this.#context.stdin = body;
    try {
      let exitCode: number;
      try {
        exitCode = this.#pool.runSync(this.#run, undefined, use);
      } catch (err) {
        if (err instanceof GuestTimeoutError) return { kind: 'timeout' };
        if (err instanceof GuestOutputLimitError) return { kind: 'output-limit', message: err.message };
        if (err instanceof GuestTrapError) return { kind: 'trap', message: err.message, stderr: this.#stderrExcerpt() };
        throw err;
      }
      const stdout = this.#stdout.length === 0 ? EMPTY : this.#output.join(this.#stdout);
      // Stderr matters to the log only when the program failed without an answer.
      const stderr = stdout.length === 0 && exitCode !== 0 ? this.#stderrExcerpt() : undefined;
      return { kind: 'exited', exitCode, stdout, stderr };
    } finally {
      this.#environment = NO_ENVIRONMENT;
      this.#context.stdin = EMPTY;
      this.#stdout.length = 0;
      this.#stderr.length = 0;
    }
  }

  #stderrExcerpt(): StderrExcerpt | undefined {
    if (this.#stderr.length === 0) return undefined;
    const all = Buffer.concat(this.#stderr);
    return { text: all.subarray(0, LOGGED_STDERR).toString('utf8').trimEnd(), bytes: all.length };
  }
}
