/**
 * What cowpool's servers log, worded in one place so that both servers log alike: one access line
 * per request, reports of faults (a trap, a malformed response), and lifecycle lines (what was
 * built and how long it took, at start-up; how it ended, at shutdown). As text (the default) a
 * line is for people:
 *
 *     127.0.0.1 "GET /items?id=3 HTTP/1.1" 200 0.21ms
 *
 * as JSON, one object per line for a log pipeline, every line with `time` (ISO 8601) and `type`
 * (`access`, `fault`, `start`, `stopping`, `stop`):
 *
 *     {"time":"2026-12-01T15:04:05.123Z","type":"access","remote":"127.0.0.1","method":"GET","url":"/items?id=3",
 *      "http":"1.1","status":200,"ms":0.21}
 */
import type { IncomingMessage } from 'node:http';
import { InvalidArgumentError } from '../errors.js';

/** How log lines are written: for people (`text`) or as JSON lines (`json`). */
export type LogFormat = 'text' | 'json';

/** The log formats, for option checks. */
export const LOG_FORMATS: readonly LogFormat[] = ['text', 'json'];

/** Fields of a lifecycle line beside its message (JSON only: the text line is the message). */
export type LogFields = Readonly<Record<string, string | number | boolean | undefined>>;

/** A server's log: where its lines go, and in which format. */
export interface ServerLog {
  /** One request answered with `status`, `started` being `performance.now()` at its arrival. */
  access(req: IncomingMessage, status: number, started: number): void;
  /** Something went wrong in a request (`trap: …`); the client got an error status. */
  fault(message: string, req?: IncomingMessage): void;
  /** A start-up or shutdown line: `message` as text, `{ type, message, ...fields }` as JSON. */
  lifecycle(type: 'start' | 'stopping' | 'stop', message: string, fields?: LogFields): void;
}

/** `format` checked, or an {@link InvalidArgumentError} naming `path`. */
export function logFormat(path: string, format: unknown): LogFormat {
  if (format === undefined) return 'text';
  if (!LOG_FORMATS.includes(format as LogFormat)) {
    throw new InvalidArgumentError(`${path} must be ${LOG_FORMATS.map((f) => `'${f}'`).join(' or ')}, not ${String(format)}`);
  }
  return format as LogFormat;
}

/** A log writing each line (without its newline) to `write`, in `format`. */
export function serverLog(write: (line: string) => void, format: LogFormat): ServerLog {
  if (format === 'json') {
    const json = (fields: object) => write(JSON.stringify({ time: new Date().toISOString(), ...fields }));
    return {
      access: (req, status, started) =>
        json({
          type: 'access',
          remote: req.socket.remoteAddress,
          method: req.method,
          url: originalUrl(req),
          http: req.httpVersion,
          status,
          ms: elapsed(started),
        }),
      fault: (message, req) => json({ type: 'fault', message, ...(req ? { method: req.method, url: originalUrl(req) } : {}) }),
      lifecycle: (type, message, fields) => json({ type, message, ...fields }),
    };
  }
  return {
    access: (req, status, started) =>
      write(
        `${req.socket.remoteAddress ?? '-'} "${req.method} ${originalUrl(req)} HTTP/${req.httpVersion}" ${status} ` +
          `${(performance.now() - started).toFixed(2)}ms`,
      ),
    fault: (message) => write(message),
    lifecycle: (_type, message) => write(message),
  };
}

/** A log that drops every line. */
export const NO_LOG: ServerLog = { access: () => {}, fault: () => {}, lifecycle: () => {} };

/** The URL as the client sent it: express rewrites `req.url` under a mount path and keeps the original. */
export function originalUrl(req: IncomingMessage & { originalUrl?: unknown }): string {
  return typeof req.originalUrl === 'string' ? req.originalUrl : (req.url ?? '/');
}

/** Milliseconds since `started`, to two decimals. */
function elapsed(started: number): number {
  return Math.round((performance.now() - started) * 100) / 100;
}
