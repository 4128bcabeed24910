/**
 * An HTTP request as CGI/1.1 meta-variables (RFC 3875 §4.1), the environment a CGI guest reads.
 *
 * Choices where the RFC leaves room, each for a reason:
 * - Authorization and Proxy-Authorization are not passed as HTTP_* by default (§4.1.18 says the
 *   server SHOULD remove header fields carrying authentication information). A guest that checks
 *   tokens itself needs them: `server.passAuthorization: true` passes HTTP_AUTHORIZATION (like
 *   Apache's CGIPassAuth). AUTH_TYPE is always set from the Authorization scheme (§4.1.1).
 * - A `Proxy` header is dropped: as HTTP_PROXY it would be taken for a proxy setting ("httpoxy").
 * - Header names with anything but letters, digits and `-` are dropped: `X_Forwarded-For` and
 *   `X-Forwarded-For` would both become HTTP_X_FORWARDED_FOR, letting a client spoof one with the
 *   other (nginx and Apache drop them for the same reason).
 * - Repeated headers are joined with ", " (RFC 9110 §5.3), Cookie with "; " (RFC 9113 §8.2.3).
 * - PATH_INFO is URL-decoded (§4.1.5) unless decoding fails or yields a NUL; the raw form is in
 *   X_RAW_PATH_INFO. QUERY_STRING is raw (§4.1.7).
 * - Also set, as WAGI did: REQUEST_URI, X_FULL_URL, X_RAW_PATH_INFO, X_MATCHED_ROUTE.
 */

import type { IncomingHttpHeaders } from 'node:http';
import { InvalidArgumentError } from '../errors.js';
import { cowpoolVersion } from '../version.js';

/** The parts of an HTTP request that CGI passes on. `IncomingMessage` and its socket provide them all. */
export interface CgiRequest {
  /** Request method, e.g. `GET`. */
  method: string;
  /** Request target as received: path and query, e.g. `/app/items?id=3`. */
  url: string;
  /** Node's parsed headers, `req.rawHeaders` (flat `[name, value, …]`), or `[name, value]` pairs. */
  headers: IncomingHttpHeaders | readonly string[] | readonly (readonly [string, string])[];
  /** e.g. `1.1` (as `req.httpVersion`). */
  httpVersion: string;
  /** Client address (`req.socket.remoteAddress`); empty when unknown. */
  remoteAddress?: string | undefined;
  /** Client port (`req.socket.remotePort`). */
  remotePort?: number | undefined;
  /** Bytes of body the guest gets on stdin. */
  bodyLength: number;
}

/** The server side of the CGI environment. */
export interface CgiServer {
  /** SERVER_NAME. Default: the Host header's host name, else `localhost`. */
  serverName?: string | undefined;
  /** SERVER_PORT. */
  serverPort: number;
  /** SCRIPT_NAME: the URL path prefix the guest is mounted at; `''` for the root. */
  scriptName: string;
  /** SERVER_SOFTWARE. Default: `cowpool/<version>`. */
  serverSoftware?: string | undefined;
  /** `https` sets HTTPS=on and the scheme of X_FULL_URL. Default: `http`. */
  scheme?: 'http' | 'https' | undefined;
  /** Pass the Authorization header as HTTP_AUTHORIZATION. Default: false (RFC 3875 §4.1.18). */
  passAuthorization?: boolean | undefined;
}

/** The default SERVER_SOFTWARE, `cowpool/<version>`. */
export const SERVER_SOFTWARE = `cowpool/${cowpoolVersion()}`;

const HEADER_NAME = /^[A-Za-z0-9-]+$/;
const VARIABLE_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

/**
 * The CGI/1.1 environment of `request` as `KEY=value` strings, ready for `WasiContext.env`.
 * `extra` entries come last and replace a variable of the same name.
 * @throws InvalidArgumentError when an `extra` name is not a valid variable name or a value holds NUL.
 */
export function cgiEnvironment(request: CgiRequest, server: CgiServer, extra?: Readonly<Record<string, string>>): string[] {
  const url = request.url;
  const q = url.indexOf('?');
  const rawPath = q === -1 ? url : url.slice(0, q);
  const query = q === -1 ? '' : url.slice(q + 1);
  const scriptName = server.scriptName;
  const rawPathInfo = underScript(rawPath, scriptName);

  const env: string[] = [
    'GATEWAY_INTERFACE=CGI/1.1',
    `SERVER_SOFTWARE=${server.serverSoftware ?? SERVER_SOFTWARE}`,
    `SERVER_PROTOCOL=HTTP/${request.httpVersion}`,
    `SERVER_PORT=${server.serverPort}`,
    `REQUEST_METHOD=${request.method}`,
    `REQUEST_URI=${url}`,
    `SCRIPT_NAME=${scriptName}`,
    `PATH_INFO=${decodePath(rawPathInfo)}`,
    `QUERY_STRING=${query}`,
    `REMOTE_ADDR=${request.remoteAddress ?? ''}`,
    `X_RAW_PATH_INFO=${rawPathInfo}`,
    `X_MATCHED_ROUTE=${scriptName === '' ? '/' : scriptName}`,
  ];
  if (request.remotePort !== undefined) env.push(`REMOTE_PORT=${request.remotePort}`);
  if (server.scheme === 'https') env.push('HTTPS=on');

  let host: string | undefined;
  let contentLengthHeader = false;
  let authorization: string | undefined;
  forEachHeader(request.headers, (lower, value) => {
    switch (lower) {
      case 'host':
        host = value;
        break;
      case ':authority': // HTTP/2 carries the host here
        host ??= value;
        return;
      case 'content-length':
        contentLengthHeader = true;
        return;
      case 'content-type':
        env.push(`CONTENT_TYPE=${value}`);
        return;
      case 'authorization':
        authorization = value;
        if (server.passAuthorization !== true) return;
        break;
      case 'proxy':
      case 'proxy-authorization':
        return;
    }
    if (HEADER_NAME.test(lower)) env.push(`HTTP_${lower.toUpperCase().replaceAll('-', '_')}=${value}`);
  });

  if (request.bodyLength > 0 || contentLengthHeader) env.push(`CONTENT_LENGTH=${request.bodyLength}`);
  if (authorization !== undefined) {
    const scheme = authorization.trim().split(/\s+/, 1)[0] ?? '';
    if (scheme !== '') env.push(`AUTH_TYPE=${scheme}`);
  }
  const serverName = server.serverName ?? (host !== undefined ? hostName(host) : undefined) ?? 'localhost';
  env.push(`SERVER_NAME=${serverName}`);
  const authority = host ?? (server.serverPort === defaultPort(server.scheme) ? serverName : `${serverName}:${server.serverPort}`);
  env.push(`X_FULL_URL=${server.scheme ?? 'http'}://${authority}${url}`);

  if (extra !== undefined) return withExtra(env, extra);
  return env;
}

/** The part of `path` after `scriptName` (on a segment boundary), or all of it when it is not under it. */
function underScript(path: string, scriptName: string): string {
  if (scriptName === '') return path;
  if (path === scriptName) return '';
  if (path.startsWith(scriptName) && (scriptName.endsWith('/') || path.charCodeAt(scriptName.length) === 0x2f)) {
    return path.slice(scriptName.endsWith('/') ? scriptName.length - 1 : scriptName.length);
  }
  return path;
}

function decodePath(raw: string): string {
  if (!raw.includes('%')) return raw;
  try {
    const decoded = decodeURIComponent(raw);
    return decoded.includes('\0') ? raw : decoded;
  } catch {
    return raw; // malformed escapes: pass what the client sent
  }
}

/** Host name of a Host header value: without the port, `[::1]` keeps its brackets. */
function hostName(host: string): string | undefined {
  const trimmed = host.trim();
  if (trimmed === '') return undefined;
  if (trimmed.startsWith('[')) {
    const end = trimmed.indexOf(']');
    return end === -1 ? trimmed : trimmed.slice(0, end + 1);
  }
  const colon = trimmed.indexOf(':');
  return colon === -1 ? trimmed : trimmed.slice(0, colon);
}

function defaultPort(scheme: CgiServer['scheme']): number {
  return scheme === 'https' ? 443 : 80;
}

/**
 * Calls `visit(lowercaseName, value)` once per header name, repeated headers joined; values holding
 * NUL (which no C string can carry) are dropped.
 */
function forEachHeader(headers: CgiRequest['headers'], visit: (lower: string, value: string) => void): void {
  if (!Array.isArray(headers)) {
    // IncomingHttpHeaders: names are lowercase already and Node joined most duplicates.
    const record = headers as IncomingHttpHeaders;
    for (const lower of Object.keys(record)) {
      const raw = record[lower];
      if (raw === undefined) continue;
      const value = Array.isArray(raw) ? raw.join(lower === 'cookie' ? '; ' : ', ') : raw;
      if (!value.includes('\0')) visit(lower, value);
    }
    return;
  }
  // Raw pairs, flat or nested: join per lowercase name, in order of first appearance.
  const joined = new Map<string, string>();
  const list = headers as readonly unknown[];
  const flat = typeof list[0] === 'string';
  const count = flat ? Math.floor(list.length / 2) : list.length;
  for (let i = 0; i < count; i++) {
    const name = flat ? list[2 * i] : (list[i] as readonly unknown[])[0];
    const value = flat ? list[2 * i + 1] : (list[i] as readonly unknown[])[1];
    if (typeof name !== 'string' || typeof value !== 'string') continue;
    const lower = name.toLowerCase();
    const before = joined.get(lower);
    joined.set(lower, before === undefined ? value : before + (lower === 'cookie' ? '; ' : ', ') + value);
  }
  for (const [lower, value] of joined) if (!value.includes('\0')) visit(lower, value);
}

function withExtra(env: string[], extra: Readonly<Record<string, string>>): string[] {
  const names = Object.keys(extra);
  for (const name of names) {
    const value = extra[name];
    if (!VARIABLE_NAME.test(name)) {
      throw new InvalidArgumentError(`extra environment variable name ${JSON.stringify(name)} must match ${VARIABLE_NAME}`);
    }
    if (typeof value !== 'string' || value.includes('\0')) {
      throw new InvalidArgumentError(`extra environment variable ${name} must be a string without NUL`);
    }
  }
  const replaced = new Set(names);
  const out = env.filter((entry) => !replaced.has(entry.slice(0, entry.indexOf('='))));
  for (const name of names) out.push(`${name}=${extra[name]}`);
  return out;
}
