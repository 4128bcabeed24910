/**
 * What of an HTTP request the CGI program may see, as plain data: the fields its CGI environment is
 * built from (`cgi-environment.ts`). On the server's thread the environment is built from the
 * `IncomingMessage` itself; a worker thread receives these fields instead (an `IncomingMessage`
 * cannot be posted) and builds the environment there, again only if the guest reads it.
 */
import type { IncomingMessage } from 'node:http';
import { originalUrl } from '../http/server-log.js';
import { cgiEnvironment, SERVER_SOFTWARE } from './cgi.js';

/** The request as a CGI program's environment needs it. Structured-cloneable. */
export interface CgiRequestFields {
  readonly method: string;
  /** The request target as the client sent it (before a mount path was taken off). */
  readonly url: string;
  /** Node's `rawHeaders`: `[name, value, …]`. */
  readonly rawHeaders: readonly string[];
  readonly httpVersion: string;
  readonly remoteAddress: string | undefined;
  readonly remotePort: number | undefined;
  /** The port the server listens on. */
  readonly serverPort: number;
  /** SCRIPT_NAME: the mount path. */
  readonly scriptName: string;
}

/**
 * The fields of `req`; `scriptName` is the handler's option, else express's mount path
 * (`req.baseUrl`), else none.
 */
export function requestFields(req: IncomingMessage & { baseUrl?: unknown }, scriptName: string | undefined): CgiRequestFields {
  return {
    method: req.method ?? 'GET',
    url: originalUrl(req),
    rawHeaders: req.rawHeaders,
    httpVersion: req.httpVersion,
    remoteAddress: req.socket.remoteAddress,
    remotePort: req.socket.remotePort,
    serverPort: req.socket.localPort ?? 0,
    scriptName: scriptName ?? (typeof req.baseUrl === 'string' ? req.baseUrl : ''),
  };
}

/** The CGI environment of a request with a body of `bodyLength` bytes, `extra` (the `env` option) last. */
export function requestEnvironment(
  request: CgiRequestFields,
  bodyLength: number,
  extra: Readonly<Record<string, string>> | undefined,
): string[] {
  return cgiEnvironment(
    {
      method: request.method,
      url: request.url,
      headers: request.rawHeaders,
      httpVersion: request.httpVersion,
      remoteAddress: request.remoteAddress,
      remotePort: request.remotePort,
      bodyLength,
    },
    { serverPort: request.serverPort, scriptName: request.scriptName, serverSoftware: SERVER_SOFTWARE },
    extra,
  );
}
