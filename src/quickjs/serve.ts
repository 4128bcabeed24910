/**
 * HTTP over a {@link QuickJSSandbox}: each request is evaluated in a pristine context. Without a
 * handler, the request body is a script and the answer is `{ value, logs }`; with `handler`, the
 * setup script's global function of that name is called with the request as JSON
 * (`{ method, path, query, headers, body }`) and may answer `{ status, headers, body }`.
 *
 * A script that throws (or answers with a value that cannot leave the sandbox) answers 400, one past
 * its deadline 504, one past its memory limit 507, a host function's error 500, with
 * `{ error: { name, message, stack }, logs }`; the next request is pristine either way. A sandbox
 * with `threads` runs the scripts on worker threads, so the server's event loop never waits for
 * one: a script past its deadline and grace is stopped with its thread (504), a thread that died
 * leaves its request a 502, a full queue (`maxQueue`) answers 503. The answer
 * is JSON: a BigInt in it is written as its decimal digits. A handler's
 * answer whose `Content-Length` disagrees with its body is 502, as `cowpool serve` answers a CGI
 * response that does: sent as is, a keep-alive client would read the difference as the start of
 * the next response (or wait for bytes that never come).
 *
 * {@link createQuickJSHandler} is the `(req, res)` function to mount in a server of one's own
 * (`http.createServer(handler)`, express's `app.use('/js', handler)`, where `path` is the part
 * under the mount); {@link createQuickJSServer} is the standalone server of
 * `cowpool quickjs serve`, built on it, with `/healthz`, `/readyz` and `/metrics` when asked for.
 */
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import {
  AcquireTimeoutError,
  GuestMemoryLimitError,
  GuestTimeoutError,
  InvalidArgumentError,
  PoolClosedError,
  QueueFullError,
  ThreadExitedError,
  UncloneableValueError,
  type ConsoleEntry,
} from '../errors.js';
import { BodyConsumedError, DEFAULT_MAX_BODY, hasBody, readBody } from '../http/body.js';
import { bodyTooLarge, BODY_CONSUMED, INTERNAL_ERROR, sendError, SHUTTING_DOWN, type ErrorResponse } from '../http/error-response.js';
import { createHandlerServer } from '../http/handler-server.js';
import type { Readiness } from '../http/operations.js';
import { RequestCounters } from '../http/request-counters.js';
import { logFormat, NO_LOG, serverLog, type LogFormat, type ServerLog } from '../http/server-log.js';
import type { MetricsOptions, ServedCounters } from '../metrics/index.js';
import { rejectUnknownKeys } from '../options/validate.js';
import { QuickJSError } from './errors.js';
import type { QuickJSSandbox, QuickJSSandboxStats } from './sandbox.js';

/** Options of {@link createQuickJSHandler}. */
export interface QuickJSHandlerOptions {
  /** Call this global function of the setup script per request, instead of evaluating the body. */
  handler?: string;
  /** Largest request body in bytes (413 beyond). Default 1 MiB. */
  maxBody?: number;
  /** Receives one access-log line per request, and fault reports. Default: none. */
  log?: (line: string) => void;
  /** How `log` lines are written: `text` (default) or `json` (one object per line). */
  logFormat?: LogFormat;
  /** Log each request (default); `false` leaves `log` the fault reports only. */
  accessLog?: boolean;
}

/** Options of {@link createQuickJSServer}: the handler's, and the endpoints the server answers besides. */
export interface QuickJSServerOptions extends QuickJSHandlerOptions {
  /** Answer `/healthz` (alive) and `/readyz` (ready to serve) before the scripts. Default false. */
  health?: boolean;
  /**
   * Answer `/metrics` with the handler's, the sandbox's and the process's counters in Prometheus
   * text; options of cowpool/metrics' `metrics()` name and label them. Default false.
   */
  metrics?: boolean | MetricsOptions;
}

/** The request as a handler receives it. */
export interface QuickJSRequest {
  method: string;
  path: string;
  query: Record<string, string>;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

/** A request handler for Node's HTTP server (and express, and anything that passes Node's request and response). */
export interface QuickJSHandler {
  (req: IncomingMessage, res: ServerResponse): void;
  /** Responses by status, request times and the sandbox's counters: a source for `metrics()` of cowpool/metrics. */
  stats(): ServedCounters<QuickJSSandboxStats>;
  /** Ready until {@link close}. */
  readiness(): Readiness;
  /** Answers later requests 503; resolves once the requests in flight are answered. The sandbox stays the caller's to close. */
  close(): Promise<void>;
}

const HANDLER_KEYS = ['handler', 'maxBody', 'log', 'logFormat', 'accessLog'] as const satisfies readonly (keyof QuickJSHandlerOptions)[];
const SERVER_KEYS = ['health', 'metrics'] as const satisfies readonly (keyof QuickJSServerOptions)[];

/** Creates the request handler over `sandbox`; see the module comment. */
export function createQuickJSHandler(sandbox: QuickJSSandbox, options: QuickJSHandlerOptions = {}): QuickJSHandler {
  checkOptions(options, [...HANDLER_KEYS], 'createQuickJSHandler options');
  const maxBody = options.maxBody ?? DEFAULT_MAX_BODY;
  const log = options.log ? serverLog(options.log, logFormat('options.logFormat', options.logFormat)) : NO_LOG;
  const accessLog = options.accessLog !== false;
  const counters = new RequestCounters();
  let inFlight = 0;
  let closing = false;
  let drained: (() => void) | undefined;

  function handler(req: IncomingMessage, res: ServerResponse): void {
    const started = performance.now();
    const finish = (status: number) => {
      counters.record(status, started);
      if (accessLog) log.access(req, status, started);
      if (--inFlight === 0) drained?.();
    };
    inFlight++;
    if (closing) return finish(fail(res, SHUTTING_DOWN));
    respond(sandbox, options.handler, maxBody, req, res, log).then(finish, (err: unknown) => {
      log.fault(`error: ${(err as Error).stack ?? String(err)}`, req);
      finish(fail(res, INTERNAL_ERROR));
    });
  }

  return Object.assign(handler, {
    stats: (): ServedCounters<QuickJSSandboxStats> => ({ http: counters.snapshot(), served: sandbox.stats() }),
    readiness: (): Readiness => {
      if (closing) return { ready: false, reason: 'shutting down' };
      const { pool, threads } = sandbox.stats();
      const details = { strategy: sandbox.describe().strategy, instances: pool.instances, idle: pool.idle };
      if (threads === undefined) return { ready: true, details };
      return { ready: true, details: { ...details, threads: threads.threads, busy: threads.busy, queued: threads.queued } };
    },
    close(): Promise<void> {
      closing = true;
      return inFlight === 0 ? Promise.resolve() : new Promise<void>((resolve) => (drained = resolve));
    },
  });
}

/** The standalone server: an `http.Server` and the handler it runs. */
export type QuickJSServer = Server & {
  /** The request handler the server runs (its `stats()` are what `/metrics` shows). */
  readonly handler: QuickJSHandler;
};

/**
 * Creates (does not start) the standalone server: {@link createQuickJSHandler} behind the
 * endpoints `options` turns on. `listen` it, and close the sandbox after the server.
 */
export function createQuickJSServer(sandbox: QuickJSSandbox, options: QuickJSServerOptions = {}): QuickJSServer {
  checkOptions(options, [...HANDLER_KEYS, ...SERVER_KEYS], 'createQuickJSServer options');
  const { health, metrics, ...handlerOptions } = options;
  const handler = createQuickJSHandler(sandbox, handlerOptions);
  const server = createHandlerServer(handler, { health: health === true, metrics: metrics ?? false });
  return Object.assign(server, { handler });
}

function checkOptions(options: object, keys: readonly string[], what: string): void {
  if (typeof options !== 'object' || options === null) throw new InvalidArgumentError(`${what} must be an object`);
  rejectUnknownKeys(options, keys, what);
}

/** Answers `res` with `error` in JSON; returns its status. */
function fail(res: ServerResponse, error: ErrorResponse): number {
  sendError(res, error, 'json');
  return error.status;
}

/** Runs one request and answers it; resolves to the status sent. */
async function respond(
  sandbox: QuickJSSandbox,
  handler: string | undefined,
  maxBody: number,
  req: IncomingMessage,
  res: ServerResponse,
  log: ServerLog,
): Promise<number> {
  let body = '';
  if (hasBody(req)) {
    let bytes;
    try {
      bytes = await readBody(req, maxBody);
    } catch (err) {
      if (err instanceof BodyConsumedError) return fail(res, BODY_CONSUMED);
      throw err;
    }
    if (bytes === undefined) return fail(res, bodyTooLarge(maxBody));
    body = bytes.toString('utf8');
  }
  const url = new URL(req.url ?? '/', 'http://localhost');
  const logs: ConsoleEntry[] = [];
  const options = { console: (entry: ConsoleEntry) => logs.push(entry) };
  try {
    if (handler === undefined) return send(res, 200, { value: await sandbox.eval(body, options), logs });
    const request: QuickJSRequest = {
      method: req.method ?? 'GET',
      path: url.pathname,
      query: Object.fromEntries(url.searchParams),
      headers: req.headers,
      body,
    };
    const answer = await sandbox.call<unknown>(handler, [request], options);
    const response = typeof answer === 'object' && answer !== null ? (answer as Record<string, unknown>) : { body: answer };
    const status = typeof response.status === 'number' && response.status >= 200 && response.status <= 599 ? response.status : 200;
    const headers = typeof response.headers === 'object' && response.headers !== null ? (response.headers as Record<string, string>) : {};
    const mismatch = contentLengthMismatch(headers, response.body);
    if (mismatch !== undefined) return fail(res, { status: 502, message: `the handler's answer is malformed: ${mismatch}` });
    return send(res, status, response.body, headers);
  } catch (err) {
    // What is not the script's doing on threads: the thread died, the queue is full, the sandbox closed.
    if (err instanceof ThreadExitedError) {
      log.fault(`thread exited: ${err.message}`, req);
      return fail(res, { status: 502, message: 'the worker thread running the script exited; it was replaced' });
    }
    if (err instanceof QueueFullError || err instanceof AcquireTimeoutError) {
      return fail(res, { status: 503, message: 'the server is busy: every thread runs a script and the queue is full' });
    }
    if (err instanceof PoolClosedError) return fail(res, SHUTTING_DOWN);
    const status =
      err instanceof QuickJSError || (err instanceof UncloneableValueError && err.from === 'guest')
        ? 400
        : err instanceof GuestTimeoutError
          ? 504
          : err instanceof GuestMemoryLimitError
            ? 507
            : 500;
    const error =
      err instanceof QuickJSError
        ? { name: err.guestName, message: err.guestMessage, stack: err.guestStack }
        : { name: (err as Error).name, message: (err as Error).message };
    return send(res, status, { error, logs });
  }
}

/** The body as {@link send} writes it. */
function bodyText(body: unknown): string {
  return typeof body === 'string'
    ? body
    : JSON.stringify(body ?? null, (_key, value: unknown) => (typeof value === 'bigint' ? value.toString() : value));
}

/** Why the `Content-Length` a handler set cannot be sent with its body, or undefined when it can (or none was set). */
function contentLengthMismatch(headers: Record<string, unknown>, body: unknown): string | undefined {
  const bytes = Buffer.byteLength(bodyText(body));
  for (const [name, value] of Object.entries(headers)) {
    if (name.toLowerCase() !== 'content-length') continue;
    if (String(value).trim() !== String(bytes)) return `Content-Length says ${String(value)} bytes but the body has ${bytes}`;
  }
  return undefined;
}

/** Writes the answer; returns its status. */
function send(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): number {
  const text = bodyText(body);
  const type = typeof body === 'string' ? 'text/plain; charset=utf-8' : 'application/json';
  res.writeHead(status, { 'content-type': type, ...headers });
  res.end(text);
  return status;
}
