/**
 * The per-use part of a WASI host: what one run of the guest sees as argv, environ and standard
 * streams. Swapping this object is all that happens between two requests on a pooled instance.
 */

import { InvalidArgumentError } from '../errors.js';
import { byteLimit } from '../options/validate.js';

/**
 * What one use (one request) of a guest sees. Passed to {@link WasiHost.begin}.
 *
 * Output sinks receive **views into guest memory** (zero-copy): a chunk is valid only during the
 * call and must be copied if kept (`chunk.slice()`, or {@link OutputCollector} which copies).
 */
export interface WasiContext {
  /** argv; `args[0]` is the program name. */
  args: readonly string[];
  /**
   * environ, as `'KEY=value'` strings, a record, or a function returning the strings. The function
   * is called only if the guest reads its environment (many never do), so a server can skip
   * building variables nobody asks for.
   */
  env: readonly string[] | Readonly<Record<string, string>> | (() => readonly string[]);
  /** The whole of stdin (the request body). Read from offset 0 at every {@link WasiHost.begin}. */
  stdin: Uint8Array;
  /** Receives what the guest writes to fd 1. The chunk is a view into guest memory: copy it to keep it. */
  stdout: (chunk: Uint8Array) => void;
  /** Receives what the guest writes to fd 2. The chunk is a view into guest memory: copy it to keep it. */
  stderr: (chunk: Uint8Array) => void;
  /**
   * Most bytes the guest may write to stdout and stderr together in this use. The write that
   * would pass it ends the run with `GuestOutputLimitError` (the sinks never see its bytes), so
   * sinks that keep what they get hold at most this much. Default: no limit (the sinks decide).
   */
  outputLimit?: number;
}

/**
 * A list of strings laid out as args_get/environ_get want them: each UTF-8 encoded and
 * NUL-terminated in one buffer, plus the offset of each string in it.
 */
export interface EncodedStrings {
  /** All strings, each followed by a 0 byte. */
  readonly bytes: Uint8Array;
  /** Start of each string inside {@link bytes}. */
  readonly offsets: readonly number[];
}

/**
 * The output limit of `WasiCommand` and `cowpool serve` when they are given none: 16 MiB of stdout
 * and stderr together per use. Both keep a use's whole output in memory (the CGI server must read
 * the header block and the length before it answers), so the limit is what one request can make
 * the host hold; 16 MiB is far above what a page, a JSON answer or a log needs, and small enough
 * that a worker per core with a flood each stays well inside a server's memory. Programs that
 * produce more (downloads, archives) set their own limit.
 */
export const DEFAULT_OUTPUT_LIMIT = 16 * 1024 * 1024;

const encoder = new TextEncoder();
const EMPTY: EncodedStrings = { bytes: new Uint8Array(0), offsets: [] };

/** Encodes `strings` once per use; args_sizes_get and args_get then only copy. */
export function encodeStrings(strings: readonly string[]): EncodedStrings {
  if (strings.length === 0) return EMPTY;
  const bytes = encoder.encode(strings.join('\0') + '\0');
  const offsets: number[] = [0];
  // Every 0 byte ends one string (UTF-8 never puts 0 inside a multi-byte character).
  for (let i = 0; i < bytes.length - 1; i++) if (bytes[i] === 0) offsets.push(i + 1);
  return { bytes, offsets };
}

/** The environment as `K=V` strings, whichever form the context gave. */
export function environmentStrings(env: WasiContext['env']): readonly string[] {
  if (typeof env === 'function') {
    const strings = env();
    validateEnvironment(strings);
    return strings;
  }
  if (Array.isArray(env)) return env as readonly string[];
  const out: string[] = [];
  for (const key of Object.keys(env)) out.push(`${key}=${(env as Record<string, string>)[key]}`);
  return out;
}

/** Rejects environment entries that are not `'KEY=value'` strings with a non-empty key and no NUL. */
function validateEnvironment(env: readonly unknown[]): void {
  if (!Array.isArray(env)) throw new InvalidArgumentError('context.env() must return an array of KEY=value strings');
  for (let i = 0; i < env.length; i++) {
    const entry = env[i];
    if (typeof entry !== 'string' || entry.includes('\0') || entry.indexOf('=') < 1) {
      throw new InvalidArgumentError(`context.env[${i}] must be a 'KEY=value' string (non-empty key, no NUL)`);
    }
  }
}

/**
 * Rejects a context a guest could not be given faithfully: C strings cannot hold a NUL, and a
 * `K=V` entry needs a non-empty key without `=`.
 */
export function validateContext(context: WasiContext): void {
  if (context === null || typeof context !== 'object') {
    throw new InvalidArgumentError('context must be an object with args, env, stdin, stdout and stderr');
  }
  if (!Array.isArray(context.args)) throw new InvalidArgumentError('context.args must be an array of strings');
  for (let i = 0; i < context.args.length; i++) {
    const arg: unknown = context.args[i];
    if (typeof arg !== 'string' || arg.includes('\0')) {
      throw new InvalidArgumentError(`context.args[${i}] must be a string without NUL characters`);
    }
  }
  if (typeof context.env === 'function') {
    // Validated when the guest first reads its environment (see environmentStrings).
  } else if (Array.isArray(context.env)) {
    validateEnvironment(context.env);
  } else if (context.env !== null && typeof context.env === 'object') {
    for (const [key, value] of Object.entries(context.env)) {
      if (key === '' || key.includes('=') || key.includes('\0') || typeof value !== 'string' || value.includes('\0')) {
        throw new InvalidArgumentError(
          `context.env[${JSON.stringify(key)}] must be a string value under a non-empty key without '=' or NUL`,
        );
      }
    }
  } else {
    throw new InvalidArgumentError('context.env must be an array of KEY=value strings or a record');
  }
  if (!(context.stdin instanceof Uint8Array)) throw new InvalidArgumentError('context.stdin must be a Uint8Array');
  if (typeof context.stdout !== 'function') throw new InvalidArgumentError('context.stdout must be a function');
  if (typeof context.stderr !== 'function') throw new InvalidArgumentError('context.stderr must be a function');
  if (context.outputLimit !== undefined) byteLimit('context.outputLimit', context.outputLimit);
}
