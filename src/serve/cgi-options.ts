/**
 * The options of the CGI request handler (and of `serve()`, which adds its own), their defaults and
 * their validation, in one place: a wrong option is refused before a module is read or a thread
 * started, named with the closest known one.
 */
import { InvalidArgumentError } from '../errors.js';
import { DEFAULT_MAX_BODY } from '../http/body.js';
import { logFormat, NO_LOG, serverLog, type LogFormat, type ServerLog } from '../http/server-log.js';
import type { ResetStrategy } from '../memory/index.js';
import { byteLimit, rejectUnknownKeys, timeoutMs } from '../options/validate.js';
import { fillOnThreadsOptions, type FilledThreadOptions } from '../threads/options.js';
import { DEFAULT_OUTPUT_LIMIT, type PreopenOption } from '../wasi/index.js';
import type { CgiGuestSettings } from './cgi-guest.js';

/** Options of `createCgiHandler`. */
export interface CgiHandlerOptions {
  /** The WASI command module: its bytes, or a path to read. */
  wasm: Uint8Array | string;
  /** Bytes a reset may restore in place per request (see InstancePool). */
  keepResident?: number;
  /** Memory reset strategy. Default `auto`. */
  strategy?: 'auto' | ResetStrategy;
  /** Deadline of one request's guest, in ms. Default 10 000. */
  timeout?: number;
  /** Largest request body accepted, in bytes. Default 1 MiB. */
  maxBody?: number;
  /**
   * Most bytes one request's guest may write to stdout and stderr together; the response is
   * buffered whole (CGI), so this bounds what a request can make the server hold. Past it the
   * guest is stopped and the client gets 502. Default 16 MiB (`DEFAULT_OUTPUT_LIMIT`).
   */
  maxOutput?: number;
  /** Extra environment variables for every request. */
  env?: Record<string, string>;
  /** Directories granted to the guest; each an overlay unless its `mode` says otherwise (see PreopenOption). */
  dirs?: PreopenOption[];
  /** Most bytes one request may hold in the `overlay` dirs; past it the guest gets ENOSPC. Default 64 MiB. */
  overlayLimit?: number;
  /** Receives one access-log line per request, and fault reports. Default: none. */
  log?: (line: string) => void;
  /** How `log` lines are written: `text` (default) or `json` (one object per line). */
  logFormat?: LogFormat;
  /** Log each request (default); `false` leaves `log` the fault reports only. */
  accessLog?: boolean;
  /** The program name the guest sees as argv[0]. Default `app.wasm` or the path's base name. */
  programName?: string;
  /**
   * The path the handler is mounted at, which the guest sees as SCRIPT_NAME (and the rest of the
   * path as PATH_INFO). Default: express's mount path (`req.baseUrl`) where there is one, else none.
   */
  scriptName?: string;
  /**
   * Run the guests on this many worker threads, the calling thread only reading requests and
   * writing answers: its event loop never waits for a guest, N requests run at once, and a guest
   * still running `grace` ms past its deadline is stopped with its thread (504; the thread is
   * replaced). Default 0: each guest runs on the calling thread, one request at a time, which
   * costs the least per request.
   */
  threads?: number;
  /**
   * With `threads`: requests that may wait for a free thread; one more is answered 503 at once.
   * Default: no bound (they wait, as on the calling thread).
   */
  maxQueue?: number;
  /** With `threads`: how long past its deadline a guest may still run before its thread is ended, in ms. Default 100. */
  grace?: number;
}

/** The option keys of `createCgiHandler`. */
export const CGI_HANDLER_KEYS = [
  'wasm',
  'keepResident',
  'strategy',
  'timeout',
  'maxBody',
  'maxOutput',
  'env',
  'dirs',
  'overlayLimit',
  'log',
  'logFormat',
  'accessLog',
  'programName',
  'scriptName',
  'threads',
  'maxQueue',
  'grace',
] as const satisfies readonly (keyof CgiHandlerOptions)[];

/** {@link CgiHandlerOptions} checked, with the defaults applied (the module not read yet). */
export interface FilledCgiOptions {
  readonly wasm: Uint8Array | string;
  readonly settings: CgiGuestSettings;
  readonly maxBody: number;
  readonly env: Readonly<Record<string, string>> | undefined;
  readonly scriptName: string | undefined;
  readonly log: ServerLog;
  readonly accessLog: boolean;
  /** The worker threads' options, or undefined to run guests on the calling thread. */
  readonly threads: FilledThreadOptions | undefined;
}

const DEFAULT_TIMEOUT = 10_000;

/**
 * Checks the options of the handler (and, with `moreKeys`, of something built on it): an object,
 * no `pool` (see below), no unknown key. `what` names the options in messages.
 */
export function checkCgiHandlerOptions(options: unknown, what: string, moreKeys: readonly string[] = []): void {
  if (typeof options !== 'object' || options === null) throw new InvalidArgumentError(`${what} must be an object with wasm`);
  if (Object.hasOwn(options, 'pool')) {
    throw new InvalidArgumentError(
      `${what}: there is no pool option: a guest runs on the JavaScript thread, so a process serves one request at a time ` +
        'with one instance; set threads (cowpool serve --threads N) to run guests on N worker threads, or start more ' +
        'processes (--workers N)',
    );
  }
  rejectUnknownKeys(options, [...CGI_HANDLER_KEYS, ...moreKeys], what);
}

/** Validates `options` (checked by {@link checkCgiHandlerOptions} already) and applies the defaults. */
export function fillCgiOptions(options: CgiHandlerOptions, what: string): FilledCgiOptions {
  const own = <K extends keyof CgiHandlerOptions>(key: K): CgiHandlerOptions[K] | undefined =>
    Object.hasOwn(options, key) ? options[key] : undefined;
  const wasm = own('wasm');
  if (typeof wasm !== 'string' && !(wasm instanceof Uint8Array)) {
    throw new InvalidArgumentError(`${what}.wasm must be the module's bytes (a Uint8Array) or the path of a .wasm file`);
  }
  const timeout = timeoutMs(`${what}.timeout`, own('timeout') ?? DEFAULT_TIMEOUT);
  // A request waits for a thread as long as it must (maxQueue bounds how many wait).
  const threads = fillOnThreadsOptions(options, { timeout, acquireTimeout: Infinity }, what);
  const log = own('log');
  return {
    wasm,
    settings: {
      programName: own('programName') ?? (typeof wasm === 'string' ? baseName(wasm) : 'app.wasm'),
      timeout,
      maxOutput: byteLimit(`${what}.maxOutput`, own('maxOutput') ?? DEFAULT_OUTPUT_LIMIT),
      dirs: own('dirs') ?? [],
      overlayLimit: own('overlayLimit'),
      keepResident: own('keepResident'),
      strategy: own('strategy') ?? 'auto',
    },
    maxBody: own('maxBody') ?? DEFAULT_MAX_BODY,
    env: own('env'),
    scriptName: own('scriptName'),
    log: log ? serverLog(log, logFormat(`${what}.logFormat`, own('logFormat'))) : NO_LOG,
    accessLog: own('accessLog') !== false,
    threads,
  };
}

function baseName(path: string): string {
  return path.slice(path.lastIndexOf('/') + 1) || 'app.wasm';
}
