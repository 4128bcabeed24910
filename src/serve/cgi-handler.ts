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
 * further), its output by `maxOutput` (counted in the WASI host before it is buffered), its time by
 * `timeout` (the pool owns the deadline: loops check it through the fuel counter, host calls on
 * each call), its files by `overlayLimit`.
 *
 * Where the guest runs is the runner's business (`cgi-runner.ts`): on this thread, one request at a
 * time (the default: the cheapest per request), or on `threads` worker threads, N at a time and
 * never in this thread's way; then a guest still running `grace` ms past its deadline is stopped
 * with its thread (504), a thread that died leaves its request a 502, and a full queue (`maxQueue`)
 * answers 503.
 */
import { readFile } from 'node:fs/promises';
import type { IncomingMessage, ServerResponse } from 'node:http';
import {
  AcquireTimeoutError,
  GuestTimeoutError,
  InvalidArgumentError,
  PoolClosedError,
  QueueFullError,
  ThreadExitedError,
} from '../errors.js';
import type { ServedCounters } from '../metrics/index.js';
import type { InstancePool, PoolDescription, PoolStats } from '../pool/index.js';
import { BodyConsumedError, hasBody, readBody } from '../http/body.js';
import { bodyTooLarge, BODY_CONSUMED, BODY_UNREADABLE, INTERNAL_ERROR, sendError, SHUTTING_DOWN } from '../http/error-response.js';
import type { Readiness } from '../http/operations.js';
import { RequestCounters } from '../http/request-counters.js';
import type { ThreadPoolStats } from '../threads/thread-pool.js';
import { checkWasiCommand, type WasiHost } from '../wasi/index.js';
import { CgiResponseParser, MalformedCgiResponseError } from './cgi.js';
import { LOGGED_STDERR, type CgiOutcome, type StderrExcerpt } from './cgi-guest.js';
import { checkCgiHandlerOptions, fillCgiOptions, type CgiHandlerOptions } from './cgi-options.js';
import type { CgiRunner } from './cgi-runner.js';
import { LocalRunner } from './local-runner.js';
import { SERVE_TEST_HOOKS, type ServeTestHooks } from './test-hooks.js';

export { CGI_HANDLER_KEYS, checkCgiHandlerOptions, type CgiHandlerOptions } from './cgi-options.js';

/** A request handler for Node's HTTP server (and express, and anything that passes Node's request and response). */
export interface CgiHandler {
  (req: IncomingMessage, res: ServerResponse): void;
  /**
   * The pool of the served module on this thread; each instance's state is its WASI host. With
   * `threads` the pools are on the worker threads and reading this throws: see {@link stats} and
   * {@link describe}.
   */
  readonly pool: InstancePool<WebAssembly.Exports, WasiHost>;
  /** Worker threads running the guests; 0 when they run on the calling thread. */
  readonly threads: number;
  /**
   * Responses by status, request times and the pool's counters (with `threads`, summed over the
   * threads, and the threads' own under `served.threads`): a source for `metrics()` of cowpool/metrics.
   */
  stats(): ServedCounters<PoolStats | ThreadPoolStats>;
  /** The choices the pool made (the same on every thread; `max` is the instances in all). */
  describe(): PoolDescription;
  /** Ready while the pool is open (its image built, its instances made); not once {@link close} began. */
  readiness(): Readiness;
  /** Answers later requests 503, lets those in flight finish, then releases the pool (and the threads). */
  close(): Promise<void>;
}

/** The body of a request without one. */
const EMPTY = Buffer.alloc(0);

/**
 * Builds the handler: reads and checks the module, builds its image and its pooled instance (with
 * `threads`, starts the threads, each with its instance). Rejects when the module is not a WASI
 * command, or with {@link InvalidArgumentError} for an option it does not know.
 */
export function createCgiHandler(options: CgiHandlerOptions): Promise<CgiHandler> {
  return buildCgiHandler(options, 'createCgiHandler options');
}

/** {@link createCgiHandler}, with `what` naming the options in messages (`serve options` for the server built on it). */
export async function buildCgiHandler(options: CgiHandlerOptions, what: string): Promise<CgiHandler> {
  checkCgiHandlerOptions(options, what);
  const filled = fillCgiOptions(options, what);
  const bytes = typeof filled.wasm === 'string' ? new Uint8Array(await readFile(filled.wasm)) : filled.wasm;
  checkWasiCommand(bytes, filled.settings.programName);
  const hooks = (options as { [SERVE_TEST_HOOKS]?: ServeTestHooks })[SERVE_TEST_HOOKS];
  const runner: CgiRunner =
    filled.threads === undefined
      ? await LocalRunner.create(bytes, filled)
      : await (await import('./thread-runner.js')).ThreadRunner.create(bytes, filled, filled.threads, hooks);
  const { log, accessLog, maxBody, settings } = filled;
  const counters = new RequestCounters();
  const responses = new CgiResponseParser();
  let closing: Promise<void> | undefined;
  // The last response's header list, flattened for writeHead, reused while the guest repeats it.
  let lastHeaders: readonly [string, string][] | undefined;
  let lastBodyLength = -1;
  let lastFlat: string[] = [];

  function handler(req: IncomingMessage, res: ServerResponse): void {
    const started = performance.now();
    if (closing !== undefined) {
      sendError(res, SHUTTING_DOWN);
      answered(req, SHUTTING_DOWN.status, started);
      return;
    }
    if (!hasBody(req)) {
      // The common GET: run right away, without the stream and promise machinery of a body.
      run(req, res, EMPTY, started);
      return;
    }
    readBody(req, maxBody).then(
      (body) => {
        if (body === undefined) {
          sendError(res, bodyTooLarge(maxBody));
          answered(req, 413, started);
          return;
        }
        run(req, res, body, started);
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

  /** Runs the guest for `req` and answers it, now (on this thread) or when its thread has. */
  function run(req: IncomingMessage, res: ServerResponse, body: Uint8Array, started: number): void {
    let outcome: CgiOutcome | Promise<CgiOutcome>;
    try {
      outcome = runner.run(req, body);
    } catch (err) {
      answered(req, failed(req, res, err), started);
      return;
    }
    if (outcome instanceof Promise) {
      outcome.then(
        (done) => answered(req, guarded(req, res, done), started),
        (err: unknown) => answered(req, failed(req, res, err), started),
      );
    } else answered(req, guarded(req, res, outcome), started);
  }

  /** {@link respond}, with anything it did not expect answered 500 rather than taking the server down. */
  function guarded(req: IncomingMessage, res: ServerResponse, outcome: CgiOutcome): number {
    try {
      return respond(req, res, outcome);
    } catch (err) {
      return failed(req, res, err);
    }
  }

  /** Answers what kept a guest from running or finishing that was not the guest's doing; returns the status sent. */
  function failed(req: IncomingMessage, res: ServerResponse, err: unknown): number {
    if (err instanceof GuestTimeoutError) {
      // Only a hard stop arrives as an error: the guest ran past its deadline and grace, out of the fuel counter's reach.
      log.fault(`timeout: ${err.message}`, req);
      sendError(res, { status: 504, message: `the program did not answer within ${settings.timeout} ms` });
      return 504;
    }
    if (err instanceof ThreadExitedError) {
      log.fault(`thread exited: ${err.message}`, req);
      sendError(res, { status: 502, message: 'the worker thread running the program exited; it was replaced' });
      return 502;
    }
    if (err instanceof QueueFullError || err instanceof AcquireTimeoutError) {
      sendError(res, { status: 503, message: `the server is busy: all ${runner.threads} threads run guests and the queue is full` });
      return 503;
    }
    if (err instanceof PoolClosedError) {
      sendError(res, SHUTTING_DOWN);
      return SHUTTING_DOWN.status;
    }
    log.fault(`error: ${(err as Error).stack ?? String(err)}`, req);
    sendError(res, INTERNAL_ERROR);
    return INTERNAL_ERROR.status;
  }

  /** Answers `res` with what the guest's run came to; returns the status sent. */
  function respond(req: IncomingMessage, res: ServerResponse, outcome: CgiOutcome): number {
    switch (outcome.kind) {
      case 'timeout':
        sendError(res, { status: 504, message: `the program did not answer within ${settings.timeout} ms` });
        return 504;
      case 'output-limit':
        log.fault(`output limit: ${outcome.message}`, req);
        sendError(res, { status: 502, message: `the program's output passed the ${settings.maxOutput}-byte limit (--max-output)` });
        return 502;
      case 'trap':
        log.fault(`trap: ${outcome.message}${stderrNote(outcome.stderr)}`, req);
        sendError(res, { status: 500, message: 'the program failed (it trapped)' });
        return 500;
    }
    const output = outcome.stdout;
    if (output.length === 0 && outcome.exitCode !== 0) {
      log.fault(`exit ${outcome.exitCode} with no output${stderrNote(outcome.stderr)}`, req);
      sendError(res, { status: 500, message: `the program exited with status ${outcome.exitCode}` });
      return 500;
    }
    let response;
    try {
      response = responses.parse(Buffer.isBuffer(output) ? output : Buffer.from(output.buffer, output.byteOffset, output.byteLength));
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

  return Object.defineProperties(handler, {
    pool: {
      enumerable: true,
      get(): InstancePool<WebAssembly.Exports, WasiHost> {
        if (runner.pool !== undefined) return runner.pool;
        throw new InvalidArgumentError(
          `the handler runs its guests on ${runner.threads} worker threads, each with its own pool: there is no pool on ` +
            'this thread; read stats() (the pools summed over threads) and describe() instead',
        );
      },
    },
    threads: { enumerable: true, value: runner.threads },
    stats: { value: (): ServedCounters<PoolStats | ThreadPoolStats> => ({ http: counters.snapshot(), served: runner.stats() }) },
    describe: { value: (): PoolDescription => runner.describe() },
    readiness: {
      value: (): Readiness => (closing !== undefined ? { ready: false, reason: 'shutting down' } : runner.readiness()),
    },
    close: {
      value(): Promise<void> {
        closing ??= runner.close();
        return closing;
      },
    },
  }) as CgiHandler;
}

/** `; stderr: …` with the start of what the guest wrote to stderr, for a log line; empty without any. */
function stderrNote(stderr: StderrExcerpt | undefined): string {
  if (stderr === undefined) return '';
  return `; stderr: ${stderr.text}${stderr.bytes > LOGGED_STDERR ? ` … (${stderr.bytes} bytes)` : ''}`;
}
