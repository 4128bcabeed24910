/**
 * A CGI guest's stdout as an HTTP response (RFC 3875 §6): a header block of `Name: value` lines
 * (ended by LF or CRLF), a blank line, then the body.
 *
 *   Status: 404 Not Found\r\n        -> status 404, reason "Not Found" (not sent as a header)
 *   Content-Type: text/plain\n       -> required when there is a body (§6.3.1), unless Location
 *   \n                               -> end of the header block
 *   body bytes…                      -> returned as a view of stdout, not copied
 *
 * Strict where a mistake would reach the client: anything malformed throws
 * MalformedCgiResponseError, which the server answers with 502. Lenient where the RFC allows:
 * LF or CRLF, any header order, Location without Status means 302 (every Location is treated as a
 * client redirect; local redirects are not supported). Hop-by-hop headers (Connection,
 * Transfer-Encoding, …) are the server's business (§6.3.4 forbids scripts to send them) and are
 * dropped; a Content-Length that disagrees with the body is an error.
 */

import { ErrorCodes, GuestError } from '../errors.js';

/** The largest header block accepted, blank line included. */
export const MAX_CGI_HEADER_BYTES = 64 * 1024;

/** A parsed CGI response. */
export interface CgiResponse {
  /** HTTP status: from `Status`, else 302 with `Location`, else 200. */
  status: number;
  /** Reason phrase from `Status: 404 Not Found`, when the guest gave one. */
  reason?: string;
  /** Response headers in guest order and casing, without `Status` and hop-by-hop headers. */
  headers: [string, string][];
  /** The body: a view into the stdout buffer that was parsed (copy it to keep it beyond that buffer). */
  body: Uint8Array;
}

/**
 * The guest's output is not a valid CGI response; `reason` says what is wrong and where. The server
 * answers 502 Bad Gateway.
 */
export class MalformedCgiResponseError extends GuestError {
  /** What is wrong, e.g. `header line 2 has no colon: "oops"`. */
  readonly reason: string;

  constructor(reason: string) {
    super(ErrorCodes.MALFORMED_CGI_RESPONSE, `malformed CGI response from the guest: ${reason}`);
    this.reason = reason;
  }
}

const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
// Field values may hold visible ASCII, obs-text (0x80-0xFF), space and tab; no other control characters.
// eslint-disable-next-line no-control-regex -- matching control characters is the point
const BAD_VALUE_CHAR = /[\x00-\x08\x0a-\x1f\x7f]/;
const STATUS = /^([0-9]{3})(?:[ \t]+(.*))?$/;
const DIGITS = /^[0-9]+$/;
const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'proxy-connection', 'te', 'trailer', 'transfer-encoding', 'upgrade']);

/**
 * Parses what a CGI guest wrote to stdout.
 * @throws MalformedCgiResponseError when there is no blank line, a line is not `Name: value`, the
 * Status is not `NNN [reason]` with 200 ≤ NNN ≤ 599 (1xx cannot end a response), a body comes
 * without Content-Type (and without Location), Content-Length disagrees with the body, a field
 * repeats that must not, or the header block exceeds {@link MAX_CGI_HEADER_BYTES}.
 */
export function parseCgiResponse(stdout: Uint8Array): CgiResponse {
  if (stdout.length === 0) throw new MalformedCgiResponseError('the guest wrote nothing to stdout');
  // A Buffer is used as is. Otherwise view the bytes as one; note that reading `.buffer` of a small
  // typed array makes V8 move its on-heap contents off-heap, which costs microseconds per call.
  const text = Buffer.isBuffer(stdout) ? stdout : Buffer.from(stdout.buffer, stdout.byteOffset, stdout.byteLength);
  const scanEnd = Math.min(stdout.length, MAX_CGI_HEADER_BYTES);

  const headers: [string, string][] = [];
  let status: number | undefined;
  let reason: string | undefined;
  let location = false;
  let contentType = false;
  let contentLength: number | undefined;
  let fields = 0;
  let pos = 0;
  let bodyStart: number;

  for (let line = 1; ; line++) {
    const nl = text.indexOf(0x0a, pos);
    if (nl === -1 || nl >= scanEnd) {
      if (nl === -1 && stdout.length < MAX_CGI_HEADER_BYTES) {
        throw new MalformedCgiResponseError(
          `no blank line ends the header block (${stdout.length} bytes, ` +
            `starting ${preview(text.toString('latin1', 0, Math.min(40, stdout.length)))})`,
        );
      }
      throw new MalformedCgiResponseError(`the header block exceeds ${MAX_CGI_HEADER_BYTES} bytes`);
    }
    const end = nl > pos && text[nl - 1] === 0x0d ? nl - 1 : nl;
    if (end === pos) {
      bodyStart = nl + 1;
      break;
    }
    const field = text.toString('latin1', pos, end);
    pos = nl + 1;
    fields++;

    const first = field.charCodeAt(0);
    if (first === 0x20 || first === 0x09) {
      throw new MalformedCgiResponseError(`header line ${line} starts with whitespace (line folding is not allowed): ${preview(field)}`);
    }
    const colon = field.indexOf(':');
    if (colon === -1) throw new MalformedCgiResponseError(`header line ${line} has no colon: ${preview(field)}${hint(line)}`);
    const name = field.slice(0, colon);
    if (!TOKEN.test(name)) {
      throw new MalformedCgiResponseError(`header line ${line} has an invalid field name: ${preview(field)}${hint(line)}`);
    }
    const value = trimWhitespace(field.slice(colon + 1));
    if (BAD_VALUE_CHAR.test(value)) {
      throw new MalformedCgiResponseError(`header line ${line} (${name}) has a control character in its value`);
    }

    const lower = name.toLowerCase();
    switch (lower) {
      case 'status': {
        if (status !== undefined) throw new MalformedCgiResponseError(`header line ${line} repeats Status`);
        const match = STATUS.exec(value);
        const code = match === null ? NaN : Number(match[1]);
        if (!(code >= 200 && code <= 599)) {
          throw new MalformedCgiResponseError(`header line ${line} has an invalid Status (want "NNN reason", 200-599): ${preview(value)}`);
        }
        status = code;
        const phrase = match?.[2];
        if (phrase !== undefined && phrase !== '') reason = phrase;
        continue;
      }
      case 'location':
        if (location) throw new MalformedCgiResponseError(`header line ${line} repeats Location`);
        if (value === '') throw new MalformedCgiResponseError(`header line ${line} has an empty Location`);
        location = true;
        break;
      case 'content-type':
        if (contentType) throw new MalformedCgiResponseError(`header line ${line} repeats Content-Type`);
        if (value === '') throw new MalformedCgiResponseError(`header line ${line} has an empty Content-Type`);
        contentType = true;
        break;
      case 'content-length':
        if (contentLength !== undefined || !DIGITS.test(value)) {
          throw new MalformedCgiResponseError(`header line ${line} has a repeated or invalid Content-Length: ${preview(value)}`);
        }
        contentLength = Number(value);
        break;
      default:
        if (HOP_BY_HOP.has(lower)) continue;
    }
    headers.push([name, value]);
  }

  if (fields === 0)
    throw new MalformedCgiResponseError('the header block is empty (a CGI response needs at least Content-Type, Location or Status)');
  const body = stdout.subarray(bodyStart);
  if (body.length > 0 && !contentType && !location) {
    throw new MalformedCgiResponseError(`a body of ${body.length} bytes comes without a Content-Type header`);
  }
  if (contentLength !== undefined && contentLength !== body.length) {
    throw new MalformedCgiResponseError(`Content-Length says ${contentLength} bytes but the body has ${body.length}`);
  }
  const response: CgiResponse = { status: status ?? (location ? 302 : 200), headers, body };
  if (reason !== undefined) response.reason = reason;
  return response;
}

/** Strips spaces and tabs (HTTP's optional whitespace) from both ends; String.trim would also strip NBSP (0xA0). */
function trimWhitespace(value: string): string {
  let start = 0;
  let end = value.length;
  while (start < end && (value.charCodeAt(start) === 0x20 || value.charCodeAt(start) === 0x09)) start++;
  while (end > start && (value.charCodeAt(end - 1) === 0x20 || value.charCodeAt(end - 1) === 0x09)) end--;
  return start === 0 && end === value.length ? value : value.slice(start, end);
}

/** For a bad first line: the usual cause is a guest that prints its body without any header block. */
function hint(line: number): string {
  return line === 1 ? ' (a CGI response starts with headers such as "Content-Type: text/plain" and a blank line)' : '';
}

/** A short, quoted, printable excerpt of guest output for an error message. */
function preview(text: string): string {
  const cut = text.length > 60 ? text.slice(0, 60) + '…' : text;
  return JSON.stringify(cut);
}

/**
 * {@link parseCgiResponse} with a memory of the last header block: a guest usually answers every
 * request with the same header lines, so when the bytes before the body equal the last block, its
 * parsed headers are reused and only the checks that depend on the body are made again.
 */
export class CgiResponseParser {
  #block: Buffer | undefined;
  #parsed: CgiResponse | undefined;
  #contentType = false;
  #location = false;
  #contentLength: number | undefined;

  /** Parses `stdout` like {@link parseCgiResponse}; the result's `headers` array must not be changed. */
  parse(stdout: Buffer): CgiResponse {
    const block = this.#block;
    if (block !== undefined && stdout.length >= block.length && startsWith(stdout, block)) {
      const body = stdout.subarray(block.length);
      if (body.length > 0 && !this.#contentType && !this.#location) {
        throw new MalformedCgiResponseError(`a body of ${body.length} bytes comes without a Content-Type header`);
      }
      if (this.#contentLength !== undefined && this.#contentLength !== body.length) {
        throw new MalformedCgiResponseError(`Content-Length says ${this.#contentLength} bytes but the body has ${body.length}`);
      }
      // Field by field: a spread of the last response that then sets its body takes V8's slow path.
      const parsed = this.#parsed!;
      const response: CgiResponse = { status: parsed.status, headers: parsed.headers, body };
      if (parsed.reason !== undefined) response.reason = parsed.reason;
      return response;
    }
    const parsed = parseCgiResponse(stdout);
    const blockLength = stdout.length - parsed.body.length;
    this.#block = Buffer.from(stdout.subarray(0, blockLength));
    this.#parsed = parsed;
    let contentLength: number | undefined;
    this.#contentType = this.#location = false;
    for (const [name, value] of parsed.headers) {
      const lower = name.toLowerCase();
      if (lower === 'content-type') this.#contentType = true;
      else if (lower === 'location') this.#location = true;
      else if (lower === 'content-length') contentLength = Number(value);
    }
    this.#contentLength = contentLength;
    return parsed;
  }
}

/** Below this many bytes a JavaScript loop compares faster than a call into `Buffer.compare`. */
const NATIVE_COMPARE_BYTES = 128;

/** Whether `bytes` begins with `prefix` (no longer than it). */
function startsWith(bytes: Buffer, prefix: Buffer): boolean {
  const length = prefix.length;
  if (length >= NATIVE_COMPARE_BYTES) return bytes.compare(prefix, 0, length, 0, length) === 0;
  for (let i = 0; i < length; i++) if (bytes[i] !== prefix[i]) return false;
  return true;
}
