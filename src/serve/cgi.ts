/**
 * CGI/1.1 (RFC 3875) translation for `cowpool serve`, as WAGI did for WebAssembly: the request goes
 * in as environment variables plus the body on stdin (cgi-environment.ts), the guest's stdout
 * comes back as status, headers and body (cgi-response.ts).
 */

export { cgiEnvironment, SERVER_SOFTWARE, type CgiRequest, type CgiServer } from './cgi-environment.js';
export { parseCgiResponse, CgiResponseParser, MalformedCgiResponseError, MAX_CGI_HEADER_BYTES, type CgiResponse } from './cgi-response.js';
