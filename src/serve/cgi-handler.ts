/**
 * The request handler of `cowpool serve`: every request runs a WASI command module on a pristine
 * instance, CGI-style (RFC 3875, as WAGI did): the request line and headers become environment
 * variables, the body is stdin, and stdout is a CGI response (header block, blank line, body). It is
 * a plain `(req, res)` function, so it mounts in `http.createServer(handler)`, in express
 * (`app.use('/app', handler)`: the mount path becomes SCRIPT_NAME) and in anything that passes on
 * Node's request and response; the standalone server (server.ts) is built on it.
 *
 * Faults stay inside the request: a trap answers 500 (logged with the guest's stderr), a guest past
 * its deadline 504, output that is not a CGI response or passes the output limit 502, a body over
 * the limit 413. The instance is reset after every request whatever happened, so nothing one
 * request does is seen by the next, and what a request held (its body, its output) is let go when
 * it is answered.
 *
 * Every resource a request can take is bounded where it is taken: its body by `maxBody` (read no
 * further), its output by `maxOutput` (counted in the WASI host before it is buffered here), its
 * time by `timeout` (the pool owns the deadline: loops check it through the fuel counter, host
 * calls on each call), its files by `overlayLimit`.
 *
 * A guest runs synchronously on the JavaScript thread, so one process runs one request's guest at
 * a time and its pool holds one instance; more cores mean more processes (`--workers`).
 */
import { readFile } from 'node:fs/promises';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { GuestOutputLimitError, GuestTimeoutError, GuestTrapError, InvalidArgumentError, PoolClosedError } from '../errors.js';
import type { ResetStrategy } from '../memory/index.js';
import type { ServedCounters } from '../metrics/index.js';
import { InstancePool, type InstanceHost, type PoolInstance, type PoolStats } from '../pool/index.js';
import { BodyConsumedError, DEFAULT_MAX_BODY, hasBody, readBody } from '../http/body.js';
import { bodyTooLarge, BODY_CONSUMED, BODY_UNREADABLE, INTERNAL_ERROR, sendError, SHUTTING_DOWN } from '../http/error-response.js';
import type { Readiness } from '../http/operations.js';
import { RequestCounters } from '../http/request-counters.js';
import { logFormat, NO_LOG, originalUrl, serverLog, type LogFormat } from '../http/server-log.js';
import { byteLimit, rejectUnknownKeys } from '../options/validate.js';
import { checkWasiCommand, DEFAULT_OUTPUT_LIMIT, WasiHost, type PreopenOption, type WasiContext } from '../wasi/index.js';
import { cgiEnvironment, CgiResponseParser, MalformedCgiResponseError, SERVER_SOFTWARE } from './cgi.js';

/** Options of {@link createCgiHandler}. */
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
}

/** A request handler for Node's HTTP server (and express, and anything that passes Node's request and response). */
export interface CgiHandler {
  (req: IncomingMessage, res: ServerResponse): void;
  /** The pool of the served module; each instance's state is its WASI host. */
  readonly pool: InstancePool<WebAssembly.Exports, WasiHost>;
  /** Responses by status, request times and the pool's counters: a source for `metrics()` of cowpool/metrics. */
  stats(): ServedCounters<PoolStats>;
  /** Ready while the pool is open (its image built, its instance made); not once {@link close} began. */
  readiness(): Readiness;
  /** Answers later requests 503, lets the one in flight finish, then releases the pool. */
  close(): Promise<void>;
}

/** The option keys of {@link createCgiHandler}. */
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
] as const satisfies readonly (keyof CgiHandlerOptions)[];

const DEFAULTS = { timeout: 10_000, maxBody: DEFAULT_MAX_BODY };

/** The body of a request without one, and the output of a guest that wrote none. */
const EMPTY = Buffer.alloc(0);

/** How much of a guest's stderr a log line quotes: enough for an error message, never megabytes. */
const LOGGED_STDERR = 4096;

/**
 * Checks the options of the handler (and, with `moreKeys`, of something built on it): an object,
 * no `pool` (see below), no unknown key. `what` names the options in messages.
 */
export function checkCgiHandlerOptions(options: unknown, what: string, moreKeys: readonly string[] = []): void {
  if (typeof options !== 'object' || options === null) throw new InvalidArgumentError(`${what} must be an object with wasm`);
  if (Object.hasOwn(options, 'pool')) {
    throw new InvalidArgumentError(
      `${what}: there is no pool option: a guest runs on the JavaScript thread, so a process serves one request at a time ` +
        'with one instance; start more processes (cowpool serve --workers N) to use more cores',
    );
  }
  rejectUnknownKeys(options, [...CGI_HANDLER_KEYS, ...moreKeys], what);
}

/**
 * Builds the handler: reads and checks the module, builds its image and its pooled instance.
 * Rejects when the module is not a WASI command, or with {@link InvalidArgumentError} for an
 * option it does not know.
 */
export function createCgiHandler(options: CgiHandlerOptions): Promise<CgiHandler> {
  return buildCgiHandler(options, 'createCgiHandler options');
}

/** {@link createCgiHandler}, with `what` naming the options in messages (`serve options` for the server built on it). */
export async function buildCgiHandler(options: CgiHandlerOptions, what: string): Promise<CgiHandler> {
  checkCgiHandlerOptions(options, what);
  const bytes = typeof options.wasm === 'string' ? new Uint8Array(await readFile(options.wasm)) : options.wasm;
  const programName = options.programName ?? (typeof options.wasm === 'string' ? baseName(options.wasm) : 'app.wasm');
  const timeout = options.timeout ?? DEFAULTS.timeout;
  const maxBody = options.maxBody ?? DEFAULTS.maxBody;
  const maxOutput = byteLimit(`${what}.maxOutput`, options.maxOutput ?? DEFAULT_OUTPUT_LIMIT);
  const log = options.log ? serverLog(options.log, logFormat(`${what}.logFormat`, options.logFormat)) : NO_LOG;
  const accessLog = options.accessLog !== false;
  checkWasiCommand(bytes, programName);

  const pool = await InstancePool.create(bytes, {
    // Requests reach the guest one at a time (it runs synchronously), so one instance serves them all.
    max: 1,
    min: 1,
    ...(options.keepResident !== undefined ? { keepResident: options.keepResident } : {}),
    strategy: options.strategy ?? 'auto',
    interruptible: Number.isFinite(timeout),
    setup: (host: InstanceHost<WasiHost>) => {
      // One WASI host per pooled instance, built once; each request only swaps its context. The
      // pool owns each request's deadline; the host checks it in every call that can take time
      // (writes, reads, polls: a guest's sleep is cut there).
      const wasi = new WasiHost({
        preopens: options.dirs ?? [],
        deadline: host,
        ...(options.overlayLimit !== undefined ? { overlayLimit: options.overlayLimit } : {}),
      });
      if (host.memory) wasi.bindMemory(host.memory);
      return { imports: wasi.imports, state: wasi };
    },
  });

  const counters = new RequestCounters();
  const responses = new CgiResponseParser();
  let closing: Promise<void> | undefined;

  function handler(req: IncomingMessage, res: ServerResponse): void {
    const started = performance.now();
    if (closing !== undefined) {
      sendError(res, SHUTTING_DOWN);
      answered(req, SHUTTING_DOWN.status, started);
      return;
    }
    if (!hasBody(req)) {
      // The common GET: answer right away, without the stream and promise machinery of a body.
      answered(req, guarded(req, res, EMPTY), started);
      return;
    }
    readBody(req, maxBody).then(
      (body) => {
        if (body === undefined) {
          sendError(res, bodyTooLarge(maxBody));
          answered(req, 413, started);
          return;
        }
        answered(req, guarded(req, res, body), started);
      },
      (err: unknown) => {
        const error = err instanceof BodyConsumedError ? BODY_CONSUMED : BODY_UNREADABLE;
        sendError(res, error);
        answered(req, error.status, started);
      },
    );
  }

  function answered(req: IncomingMessage, status: number, started: number): void {
    counters.record(status, started);
    if (accessLog) log.access(req, status, started);
  }

  /** {@link handle}, with anything it did not expect answered 500 rather than taking the server down. */
  function guarded(req: IncomingMessage, res: ServerResponse, body: Uint8Array): number {
    try {
      return handle(req, res, body);
    } catch (err) {
      log.fault(`error: ${(err as Error).stack ?? String(err)}`, req);
      sendError(res, INTERNAL_ERROR);
      return INTERNAL_ERROR.status;
    }
  }

  // A guest runs synchronously, so requests reach the guest one at a time: one WASI context, its
  // sinks and the run options are made once and pointed at the current request.
  let request: (IncomingMessage & { baseUrl?: unknown }) | undefined;
  const stdout: Buffer[] = [];
  const stderr: Buffer[] = [];
  const context: WasiContext = {
    args: [programName],
    // Built only if the guest reads its environment (hello world never does).
    env: () =>
      cgiEnvironment(
        {
          method: request!.method ?? 'GET',
          url: originalUrl(request!),
          headers: request!.rawHeaders,
          httpVersion: request!.httpVersion,
          remoteAddress: request!.socket.remoteAddress,
          remotePort: request!.socket.remotePort,
          bodyLength: context.stdin.length,
        },
        {
          serverPort: request!.socket.localPort ?? 0,
          scriptName: options.scriptName ?? (typeof request!.baseUrl === 'string' ? request!.baseUrl : ''),
          serverSoftware: SERVER_SOFTWARE,
        },
        options.env,
      ),
    stdin: EMPTY,
    // Copied into Buffers (small ones come from Node's slab pool, cheaply).
    stdout: (chunk) => void stdout.push(Buffer.from(chunk)),
    stderr: (chunk) => void stderr.push(Buffer.from(chunk)),
    // Counted in the WASI host before a chunk reaches the sinks above: they never hold more.
    outputLimit: maxOutput,
  };
  const runOptions = Number.isFinite(timeout) ? { timeout } : {};
  const runGuest = (instance: PoolInstance, _context: unknown, host: InstanceHost<WasiHost>) => host.state.run(instance, context);
  // The last response's header list, flattened for writeHead, reused while the guest repeats it.
  let lastHeaders: readonly [string, string][] | undefined;
  let lastBodyLength = -1;
  let lastFlat: string[] = [];

  /**
   * Runs the guest for one request and writes the response; returns the status sent. Lets go of
   * the request, its body and its output afterwards, so that an idle server holds none of them.
   */
  function handle(req: IncomingMessage, res: ServerResponse, body: Uint8Array): number {
    request = req;
    context.stdin = body;
    try {
      return respond(req, res);
    } finally {
      request = undefined;
      context.stdin = EMPTY;
      stdout.length = 0;
      stderr.length = 0;
    }
  }

  /** Runs the guest on the current request and answers `res`. */
  function respond(req: IncomingMessage, res: ServerResponse): number {
    let exitCode: number;
    try {
      exitCode = pool.runSync(runGuest, undefined, runOptions);
    } catch (err) {
      if (err instanceof GuestTimeoutError) {
        sendError(res, { status: 504, message: `the program did not answer within ${timeout} ms` });
        return 504;
      }
      if (err instanceof GuestOutputLimitError) {
        log.fault(`output limit: ${err.message}`, req);
        sendError(res, { status: 502, message: `the program's output passed the ${maxOutput}-byte limit (--max-output)` });
        return 502;
      }
      if (err instanceof GuestTrapError) {
        log.fault(`trap: ${err.message}${stderrNote()}`, req);
        sendError(res, { status: 500, message: 'the program failed (it trapped)' });
        return 500;
      }
      if (err instanceof PoolClosedError) {
        sendError(res, SHUTTING_DOWN);
        return SHUTTING_DOWN.status;
      }
      throw err;
    }
    const output = stdout.length === 0 ? EMPTY : concat(stdout);
    if (output.length === 0 && exitCode !== 0) {
      log.fault(`exit ${exitCode} with no output${stderrNote()}`, req);
      sendError(res, { status: 500, message: `the program exited with status ${exitCode}` });
      return 500;
    }
    let response;
    try {
      response = responses.parse(output);
    } catch (err) {
      if (!(err instanceof MalformedCgiResponseError)) throw err;
      log.fault(`bad gateway: ${err.reason}`, req);
      sendError(res, { status: 502, message: `the program's output is not a CGI response: ${err.reason}` });
      return 502;
    }
    if (response.headers !== lastHeaders || response.body.length !== lastBodyLength) {
      lastFlat = [];
      for (const [name, value] of response.headers) lastFlat.push(name, value);
      if (!response.headers.some(([name]) => name.toLowerCase() === 'content-length')) {
        lastFlat.push('Content-Length', String(response.body.length));
      }
      lastHeaders = response.headers;
      lastBodyLength = response.body.length;
    }
    const headers = lastFlat;
    if (response.reason !== undefined) res.writeHead(response.status, response.reason, headers);
    else res.writeHead(response.status, headers);
    res.end(response.body);
    return response.status;
  }

  /** `; stderr: …` with the start of what the guest wrote to stderr, for a log line; empty without any. */
  function stderrNote(): string {
    if (stderr.length === 0) return '';
    const all = concat(stderr);
    const shown = all.subarray(0, LOGGED_STDERR).toString('utf8').trimEnd();
    return `; stderr: ${shown}${all.length > LOGGED_STDERR ? ` … (${all.length} bytes)` : ''}`;
  }

  return Object.assign(handler, {
    pool,
    stats: (): ServedCounters<PoolStats> => ({ http: counters.snapshot(), served: pool.stats() }),
    readiness: (): Readiness => {
      if (closing !== undefined) return { ready: false, reason: 'shutting down' };
      const stats = pool.stats();
      const { mechanism, strategy } = pool.describe();
      return { ready: true, details: { module: programName, mechanism, strategy, instances: stats.instances, idle: stats.idle } };
    },
    close(): Promise<void> {
      closing ??= pool.close();
      return closing;
    },
  });
}

function concat(chunks: Buffer[]): Buffer {
  if (chunks.length === 1) return chunks[0]!;
  return Buffer.concat(chunks);
}

function baseName(path: string): string {
  return path.slice(path.lastIndexOf('/') + 1) || 'app.wasm';
}
