/**
 * An HTTP server over a {@link QuickJSSandbox}: each request is evaluated in a pristine context.
 * Without a handler, the request body is a script and the answer is `{ value, logs }`; with
 * `handler`, the setup script's global function of that name is called with the request as JSON
 * (`{ method, path, query, headers, body }`) and may answer `{ status, headers, body }`.
 *
 * A script that throws (or answers with a value that cannot leave the sandbox) answers 400, one past
 * its deadline 504, one past its memory limit 507, a host function's error 500, with
 * `{ error: { name, message, stack }, logs }`; the next request is pristine either way. The answer
 * is JSON: a BigInt in it is written as its decimal digits.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { GuestMemoryLimitError, GuestTimeoutError, UncloneableValueError, type ConsoleEntry } from '../errors.js';
import { DEFAULT_MAX_BODY, hasBody, readBody } from '../http/body.js';
import { bodyTooLarge, INTERNAL_ERROR, sendError } from '../http/error-response.js';
import { QuickJSError } from './errors.js';
import type { QuickJSSandbox } from './sandbox.js';

/** Options of {@link createQuickJSServer}. */
export interface QuickJSServerOptions {
  /** Call this global function of the setup script per request, instead of evaluating the body. */
  handler?: string;
  /** Largest request body in bytes (413 beyond). Default 1 MiB. */
  maxBody?: number;
}

/** The request as a handler receives it. */
export interface QuickJSRequest {
  method: string;
  path: string;
  query: Record<string, string>;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

/** Creates (does not start) the server; `listen` it, and close the sandbox after the server. */
export function createQuickJSServer(sandbox: QuickJSSandbox, options: QuickJSServerOptions = {}): Server {
  const maxBody = options.maxBody ?? DEFAULT_MAX_BODY;
  return createServer((req, res) => {
    respond(sandbox, options.handler, maxBody, req, res).catch((err: unknown) => {
      sendError(res, { ...INTERNAL_ERROR, message: String(err) }, 'json');
    });
  });
}

async function respond(
  sandbox: QuickJSSandbox,
  handler: string | undefined,
  maxBody: number,
  req: IncomingMessage,
  res: ServerResponse,
): Promise<void> {
  let body = '';
  if (hasBody(req)) {
    const bytes = await readBody(req, maxBody);
    if (bytes === undefined) return sendError(res, bodyTooLarge(maxBody), 'json');
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
    return send(res, status, response.body, headers);
  } catch (err) {
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

function send(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text =
    typeof body === 'string'
      ? body
      : JSON.stringify(body ?? null, (_key, value: unknown) => (typeof value === 'bigint' ? value.toString() : value));
  const type = typeof body === 'string' ? 'text/plain; charset=utf-8' : 'application/json';
  res.writeHead(status, { 'content-type': type, ...headers });
  res.end(text);
}
