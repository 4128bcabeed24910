/**
 * `cowpool serve`: an HTTP server where every request runs a WASI command module on a pristine
 * instance, CGI-style (RFC 3875, as WAGI did): the request line and headers become environment
 * variables, the body is stdin, and stdout is a CGI response (header block, blank line, body).
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
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { GuestOutputLimitError, GuestTimeoutError, GuestTrapError, InvalidArgumentError, PoolClosedError } from '../errors.js';
import type { ResetStrategy } from '../memory/index.js';
import { InstancePool, type InstanceHost, type PoolInstance } from '../pool/index.js';
import { bodyTooLarge, BODY_UNREADABLE, INTERNAL_ERROR, sendError, SHUTTING_DOWN } from '../http/error-response.js';
import { DEFAULT_MAX_BODY, hasBody, readBody } from '../http/body.js';
import { byteLimit, rejectUnknownKeys } from '../options/validate.js';
import { checkWasiCommand, DEFAULT_OUTPUT_LIMIT, WasiHost, type PreopenOption, type WasiContext } from '../wasi/index.js';
import { cgiEnvironment, CgiResponseParser, MalformedCgiResponseError, SERVER_SOFTWARE } from './cgi.js';

/** Options of {@link serve}. */
export interface ServeOptions {
  /** The WASI command module: its bytes, or a path to read. */
  wasm: Uint8Array | string;
  /** Interface to listen on. Default `127.0.0.1`. */
  host?: string;
  /** Port; 0 (default) picks a free one. */
  port?: number;
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
  /** The program name the guest sees as argv[0]. Default `app.wasm` or the path's base name. */
  programName?: string;
}

/** A running server. */
export interface CowpoolServer {
  /** `http://host:port/`. */
  readonly url: string;
  readonly port: number;
  /** The pool of the served module; each instance's state is its WASI host. */
  readonly pool: InstancePool<WebAssembly.Exports, WasiHost>;
  readonly server: Server;
  /** Stops accepting connections, lets requests in flight finish, then releases the pool. */
  close(): Promise<void>;
}

const DEFAULTS = { host: '127.0.0.1', port: 0, timeout: 10_000, maxBody: DEFAULT_MAX_BODY };
const SERVE_KEYS = [
  'wasm',
  'host',
  'port',
  'keepResident',
  'strategy',
  'timeout',
  'maxBody',
  'maxOutput',
  'env',
  'dirs',
  'overlayLimit',
  'log',
  'programName',
] as const satisfies readonly (keyof ServeOptions)[];

/** The body of a request without one, and the output of a guest that wrote none. */
const EMPTY = Buffer.alloc(0);

/** How much of a guest's stderr a log line quotes: enough for an error message, never megabytes. */
const LOGGED_STDERR = 4096;

/**
 * Starts the server; resolves once it listens. Rejects when the module is not a WASI command, or
 * with {@link InvalidArgumentError} for an option it does not know.
 */
export async function serve(options: ServeOptions): Promise<CowpoolServer> {
  if (typeof options !== 'object' || options === null) throw new InvalidArgumentError('serve() needs an options object with wasm');
  if (Object.hasOwn(options, 'pool')) {
    throw new InvalidArgumentError(
      'serve options: there is no pool option: a guest runs on the JavaScript thread, so a process serves one request at a time ' +
        'with one instance; start more processes (cowpool serve --workers N) to use more cores',
    );
  }
  rejectUnknownKeys(options, SERVE_KEYS, 'serve options');
  const bytes = typeof options.wasm === 'string' ? new Uint8Array(await readFile(options.wasm)) : options.wasm;
  const programName = options.programName ?? (typeof options.wasm === 'string' ? baseName(options.wasm) : 'app.wasm');
  const timeout = options.timeout ?? DEFAULTS.timeout;
  const maxBody = options.maxBody ?? DEFAULTS.maxBody;
  const maxOutput = byteLimit('serve options.maxOutput', options.maxOutput ?? DEFAULT_OUTPUT_LIMIT);
  const log = options.log;
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

  let port = 0;
  const responses = new CgiResponseParser();
  const server = createServer({ keepAlive: true }, (req, res) => {
    const started = log ? performance.now() : 0;
    if (!hasBody(req)) {
      // The common GET: answer right away, without the stream and promise machinery of a body.
      logLine(req, guarded(req, res, EMPTY), started);
      return;
    }
    readBody(req, maxBody).then(
      (body) => {
        if (body === undefined) {
          sendError(res, bodyTooLarge(maxBody));
          logLine(req, 413, started);
          return;
        }
        logLine(req, guarded(req, res, body), started);
      },
      () => sendError(res, BODY_UNREADABLE),
    );
  });

  /** {@link handle}, with anything it did not expect answered 500 rather than taking the server down. */
  function guarded(req: IncomingMessage, res: ServerResponse, body: Uint8Array): number {
    try {
      return handle(req, res, body);
    } catch (err) {
      log?.(`error: ${(err as Error).stack ?? String(err)}`);
      sendError(res, INTERNAL_ERROR);
      return INTERNAL_ERROR.status;
    }
  }

  // A guest runs synchronously, so requests reach the guest one at a time: one WASI context, its
  // sinks and the run options are made once and pointed at the current request.
  let request: IncomingMessage | undefined;
  const stdout: Buffer[] = [];
  const stderr: Buffer[] = [];
  const context: WasiContext = {
    args: [programName],
    // Built only if the guest reads its environment (hello world never does).
    env: () =>
      cgiEnvironment(
        {
          method: request!.method ?? 'GET',
          url: request!.url ?? '/',
          headers: request!.rawHeaders,
          httpVersion: request!.httpVersion,
          remoteAddress: request!.socket.remoteAddress,
          remotePort: request!.socket.remotePort,
          bodyLength: context.stdin.length,
        },
        { serverPort: port, scriptName: '', serverSoftware: SERVER_SOFTWARE },
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
      return respond(res);
    } finally {
      request = undefined;
      context.stdin = EMPTY;
      stdout.length = 0;
      stderr.length = 0;
    }
  }

  /** Runs the guest on the current request and answers `res`. */
  function respond(res: ServerResponse): number {
    let exitCode: number;
    try {
      exitCode = pool.runSync(runGuest, undefined, runOptions);
    } catch (err) {
      if (err instanceof GuestTimeoutError) {
        sendError(res, { status: 504, message: `the program did not answer within ${timeout} ms` });
        return 504;
      }
      if (err instanceof GuestOutputLimitError) {
        log?.(`output limit: ${err.message}`);
        sendError(res, { status: 502, message: `the program's output passed the ${maxOutput}-byte limit (--max-output)` });
        return 502;
      }
      if (err instanceof GuestTrapError) {
        log?.(`trap: ${err.message}${stderrNote()}`);
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
      log?.(`exit ${exitCode} with no output${stderrNote()}`);
      sendError(res, { status: 500, message: `the program exited with status ${exitCode}` });
      return 500;
    }
    let response;
    try {
      response = responses.parse(output);
    } catch (err) {
      if (!(err instanceof MalformedCgiResponseError)) throw err;
      log?.(`bad gateway: ${err.reason}`);
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

  function logLine(req: IncomingMessage, status: number, started: number): void {
    if (!log) return;
    const ms = (performance.now() - started).toFixed(2);
    log(`${req.socket.remoteAddress ?? '-'} "${req.method} ${req.url} HTTP/${req.httpVersion}" ${status} ${ms}ms`);
  }

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? DEFAULTS.port, options.host ?? DEFAULTS.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const address = server.address() as AddressInfo;
  port = address.port;
  const shownHost = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  let closing: Promise<void> | undefined;
  return {
    url: `http://${shownHost}:${port}/`,
    port,
    pool,
    server,
    close() {
      closing ??= new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeIdleConnections();
      }).then(() => pool.close());
      return closing;
    },
  };
}

function concat(chunks: Buffer[]): Buffer {
  if (chunks.length === 1) return chunks[0]!;
  return Buffer.concat(chunks);
}

function baseName(path: string): string {
  return path.slice(path.lastIndexOf('/') + 1) || 'app.wasm';
}
