/**
 * What cowpool's HTTP servers answer when a request cannot be served (a body over the limit, a body
 * that could not be read, a server shutting down, a failure nobody expected, a guest that failed),
 * written in one place so that the servers answer alike: the same status, the same words, and the
 * connection closed where the server stopped reading the request. `cowpool serve` answers in plain
 * text (its clients are whatever the guest serves); `cowpool quickjs serve` in JSON,
 * `{ error: { name, message } }`, the shape of its other errors.
 */
import type { ServerResponse } from 'node:http';

/** An answer in place of the one the guest would have given. */
export interface ErrorResponse {
  /** The HTTP status. */
  readonly status: number;
  /** What went wrong, one sentence without a final newline. */
  readonly message: string;
  /**
   * Close the connection after the answer: the request was not read to its end (or the server is
   * going away), so the connection cannot carry another one.
   */
  readonly close?: boolean;
}

/** How {@link sendError} writes the message: `text/plain`, or JSON `{ error: { name: 'Error', message } }`. */
export type ErrorFormat = 'text' | 'json';

/** 413: the body passed `limit` bytes; the rest of it was not read. */
export function bodyTooLarge(limit: number): ErrorResponse {
  return { status: 413, message: `request body over the ${limit}-byte limit`, close: true };
}

/** 400: the request failed while its body was read. */
export const BODY_UNREADABLE: ErrorResponse = { status: 400, message: 'could not read the request body', close: true };

/** 500: another handler read the request body first (a body parser mounted before cowpool's handler). */
export const BODY_CONSUMED: ErrorResponse = {
  status: 500,
  message: "the request body was read before cowpool's handler: mount the handler before body parsers (or use express.raw())",
};

/** 503: the server is closing and runs no more guests. */
export const SHUTTING_DOWN: ErrorResponse = { status: 503, message: 'the server is shutting down', close: true };

/** 500: something failed that the server did not expect (the server logs it; the client is told no more). */
export const INTERNAL_ERROR: ErrorResponse = { status: 500, message: 'internal server error' };

/**
 * Writes `error` as the response in `format`. When the response has already begun, the client
 * cannot be told: the connection is ended instead, so that a truncated answer does not pass as a
 * whole one.
 */
export function sendError(res: ServerResponse, error: ErrorResponse, format: ErrorFormat = 'text'): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  const body = format === 'json' ? JSON.stringify({ error: { name: 'Error', message: error.message } }) : `${error.message}\n`;
  const headers: Record<string, string | number> = {
    'Content-Type': format === 'json' ? 'application/json' : 'text/plain; charset=utf-8',
    'Content-Length': Buffer.byteLength(body),
  };
  if (error.close) headers.Connection = 'close';
  res.writeHead(error.status, headers);
  res.end(body);
}
