// cgiEnvironment: an HTTP request as RFC 3875 meta-variables, as a table of requests and the
// variables they must (and must not) produce.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { cgiEnvironment, SERVER_SOFTWARE, type CgiRequest, type CgiServer } from '../src/serve/cgi.ts';
import { InvalidArgumentError } from '../src/errors.ts';

const server: CgiServer = { serverName: 'example.test', serverPort: 8080, scriptName: '' };
const request = (over: Partial<CgiRequest> = {}): CgiRequest => ({
  method: 'GET',
  url: '/',
  headers: { host: 'example.test:8080' },
  httpVersion: '1.1',
  remoteAddress: '203.0.113.9',
  remotePort: 51234,
  bodyLength: 0,
  ...over,
});

/** The environment as a map, after checking there are no duplicate names and every entry is K=V. */
function envOf(req: CgiRequest, srv: CgiServer = server, extra?: Record<string, string>): Map<string, string> {
  const list = cgiEnvironment(req, srv, extra);
  const map = new Map<string, string>();
  for (const entry of list) {
    const eq = entry.indexOf('=');
    assert.ok(eq > 0, `entry ${entry} is K=V`);
    const name = entry.slice(0, eq);
    assert.ok(!map.has(name), `${name} appears once`);
    map.set(name, entry.slice(eq + 1));
  }
  return map;
}

test('the fixed RFC 3875 variables', () => {
  const env = envOf(request({ method: 'GET', url: '/hello?x=1' }));
  assert.equal(env.get('GATEWAY_INTERFACE'), 'CGI/1.1');
  assert.equal(env.get('REQUEST_METHOD'), 'GET');
  assert.equal(env.get('SCRIPT_NAME'), '');
  assert.equal(env.get('PATH_INFO'), '/hello');
  assert.equal(env.get('QUERY_STRING'), 'x=1');
  assert.equal(env.get('SERVER_NAME'), 'example.test');
  assert.equal(env.get('SERVER_PORT'), '8080');
  assert.equal(env.get('SERVER_PROTOCOL'), 'HTTP/1.1');
  assert.equal(env.get('SERVER_SOFTWARE'), SERVER_SOFTWARE);
  assert.match(SERVER_SOFTWARE, /^cowpool\/\d+\.\d+\.\d+/);
  assert.equal(env.get('REMOTE_ADDR'), '203.0.113.9');
  assert.equal(env.get('REMOTE_PORT'), '51234');
  assert.equal(env.get('REQUEST_URI'), '/hello?x=1');
  assert.equal(env.get('X_FULL_URL'), 'http://example.test:8080/hello?x=1');
  assert.equal(env.get('HTTP_HOST'), 'example.test:8080');
  assert.equal(env.has('CONTENT_LENGTH'), false);
  assert.equal(env.has('CONTENT_TYPE'), false);
  assert.equal(env.has('HTTPS'), false);
});

const queryCases: [string, string, string][] = [
  ['no query', '/p', ''],
  ['empty query', '/p?', ''],
  ['raw, not decoded', '/p?q=a%20b+c&d=%3D', 'q=a%20b+c&d=%3D'],
  ['second ? stays in the query', '/p?a=1?b=2', 'a=1?b=2'],
  ['query on the root', '/?x', 'x'],
];
for (const [what, url, expected] of queryCases) {
  test(`QUERY_STRING: ${what}`, () => assert.equal(envOf(request({ url })).get('QUERY_STRING'), expected));
}

const pathCases: [string, string, string, string, string, string][] = [
  // what, scriptName, url, SCRIPT_NAME, PATH_INFO, X_RAW_PATH_INFO
  ['root mount', '', '/a/b', '', '/a/b', '/a/b'],
  ['mounted at /app', '/app', '/app/items/3?x', '/app', '/items/3', '/items/3'],
  ['exactly the mount', '/app', '/app', '/app', '', ''],
  ['mount with a trailing slash', '/app/', '/app/x', '/app/', '/x', '/x'],
  ['not under the mount on a segment boundary', '/app', '/apple/x', '/app', '/apple/x', '/apple/x'],
  ['percent-decoded', '', '/a%20b/%C3%A9', '', '/a b/é', '/a%20b/%C3%A9'],
  ['malformed escape stays raw', '', '/a%zz', '', '/a%zz', '/a%zz'],
  ['encoded NUL stays raw', '', '/a%00b', '', '/a%00b', '/a%00b'],
];
for (const [what, scriptName, url, script, pathInfo, raw] of pathCases) {
  test(`SCRIPT_NAME/PATH_INFO: ${what}`, () => {
    const env = envOf(request({ url }), { ...server, scriptName });
    assert.equal(env.get('SCRIPT_NAME'), script);
    assert.equal(env.get('PATH_INFO'), pathInfo);
    assert.equal(env.get('X_RAW_PATH_INFO'), raw);
  });
}

test('headers become HTTP_* (uppercase, - to _); repeated values join with ", "; Cookie with "; "', () => {
  const env = envOf(
    request({
      headers: [
        ['Host', 'h.test'],
        ['X-Custom-Header', 'one'],
        ['x-custom-header', 'two'],
        ['Accept', 'text/html'],
        ['Cookie', 'a=1'],
        ['cookie', 'b=2'],
        ['User-Agent', 'curl/8'],
      ],
    }),
  );
  assert.equal(env.get('HTTP_X_CUSTOM_HEADER'), 'one, two');
  assert.equal(env.get('HTTP_ACCEPT'), 'text/html');
  assert.equal(env.get('HTTP_COOKIE'), 'a=1; b=2');
  assert.equal(env.get('HTTP_USER_AGENT'), 'curl/8');
  assert.equal(env.get('HTTP_HOST'), 'h.test');
});

test('all three header forms give the same variables', () => {
  const parsed = envOf(request({ headers: { host: 'h', 'x-a': 'v', 'set-cookie': ['1', '2'], cookie: 'c=1' } }));
  const flat = envOf(request({ headers: ['Host', 'h', 'X-A', 'v', 'Set-Cookie', '1', 'Set-Cookie', '2', 'Cookie', 'c=1'] }));
  const pairs = envOf(
    request({
      headers: [
        ['host', 'h'],
        ['x-a', 'v'],
        ['set-cookie', '1'],
        ['set-cookie', '2'],
        ['cookie', 'c=1'],
      ],
    }),
  );
  assert.deepEqual([...flat], [...parsed]);
  assert.deepEqual([...pairs], [...parsed]);
  assert.equal(parsed.get('HTTP_SET_COOKIE'), '1, 2');
});

test('Content-Length and Content-Type get their own variables, not HTTP_*', () => {
  const env = envOf(request({ method: 'POST', headers: { 'content-length': '5', 'content-type': 'text/plain' }, bodyLength: 5 }));
  assert.equal(env.get('CONTENT_LENGTH'), '5');
  assert.equal(env.get('CONTENT_TYPE'), 'text/plain');
  assert.equal(env.has('HTTP_CONTENT_LENGTH'), false);
  assert.equal(env.has('HTTP_CONTENT_TYPE'), false);
});

test('CONTENT_LENGTH is the body given on stdin: set for a chunked body, "0" for an explicit empty one', () => {
  assert.equal(envOf(request({ method: 'POST', headers: { 'transfer-encoding': 'chunked' }, bodyLength: 12 })).get('CONTENT_LENGTH'), '12');
  assert.equal(envOf(request({ method: 'POST', headers: { 'content-length': '0' }, bodyLength: 0 })).get('CONTENT_LENGTH'), '0');
  assert.equal(envOf(request({ method: 'GET', bodyLength: 0 })).has('CONTENT_LENGTH'), false);
});

test('Authorization: not passed by default (RFC 3875 §4.1.18), AUTH_TYPE set; passed on request', () => {
  const headers = { authorization: 'Bearer s3cr3t', 'proxy-authorization': 'Basic eA==' };
  const hidden = envOf(request({ headers }));
  assert.equal(hidden.has('HTTP_AUTHORIZATION'), false);
  assert.equal(hidden.has('HTTP_PROXY_AUTHORIZATION'), false);
  assert.equal(hidden.get('AUTH_TYPE'), 'Bearer');
  assert.ok(![...hidden.values()].some((v) => v.includes('s3cr3t')));
  const passed = envOf(request({ headers }), { ...server, passAuthorization: true });
  assert.equal(passed.get('HTTP_AUTHORIZATION'), 'Bearer s3cr3t');
  assert.equal(passed.has('HTTP_PROXY_AUTHORIZATION'), false, 'proxy credentials are for the proxy hop only');
});

test('httpoxy: a Proxy header never becomes HTTP_PROXY', () => {
  assert.equal(envOf(request({ headers: { proxy: 'http://evil:1' } })).has('HTTP_PROXY'), false);
});

test('header names with _ or other characters are dropped, so they cannot spoof HTTP_* of another header', () => {
  const env = envOf(
    request({
      headers: [
        ['X-Forwarded-For', 'real'],
        ['X_Forwarded_For', 'spoof'],
        ['Weird.Name', 'w'],
        [':authority', 'h2'],
      ],
    }),
  );
  assert.equal(env.get('HTTP_X_FORWARDED_FOR'), 'real');
  assert.ok(![...env.keys()].some((k) => k.includes('.') || k.includes(':')));
});

test('values holding NUL are dropped (a C string cannot carry them)', () => {
  const env = envOf(
    request({
      headers: [
        ['X-A', 'a\0b'],
        ['X-B', 'ok'],
      ],
    }),
  );
  assert.equal(env.has('HTTP_X_A'), false);
  assert.equal(env.get('HTTP_X_B'), 'ok');
});

test('SERVER_NAME falls back to the Host header without port, then to localhost; HTTP/2 :authority counts as Host', () => {
  const noName = { ...server, serverName: undefined };
  assert.equal(envOf(request({ headers: { host: 'site.test:9000' } }), noName).get('SERVER_NAME'), 'site.test');
  assert.equal(envOf(request({ headers: { host: '[::1]:9000' } }), noName).get('SERVER_NAME'), '[::1]');
  assert.equal(envOf(request({ headers: {} }), noName).get('SERVER_NAME'), 'localhost');
  assert.equal(envOf(request({ headers: { ':authority': 'h2.test' } }), noName).get('SERVER_NAME'), 'h2.test');
  assert.equal(envOf(request({ headers: {}, url: '/x' }), { ...noName, serverPort: 80 }).get('X_FULL_URL'), 'http://localhost/x');
});

test('https, HTTP version, missing remote address, custom server software', () => {
  const env = envOf(request({ httpVersion: '2.0', remoteAddress: undefined, remotePort: undefined }), {
    ...server,
    scheme: 'https',
    serverSoftware: 'test/1',
  });
  assert.equal(env.get('HTTPS'), 'on');
  assert.equal(env.get('SERVER_PROTOCOL'), 'HTTP/2.0');
  assert.equal(env.get('REMOTE_ADDR'), '');
  assert.equal(env.has('REMOTE_PORT'), false);
  assert.equal(env.get('SERVER_SOFTWARE'), 'test/1');
  assert.match(env.get('X_FULL_URL') ?? '', /^https:\/\//);
});

test('extra variables are added last and replace same-named ones; bad names are refused', () => {
  const env = envOf(request(), server, { APP_MODE: 'test', SERVER_NAME: 'override' });
  assert.equal(env.get('APP_MODE'), 'test');
  assert.equal(env.get('SERVER_NAME'), 'override');
  assert.throws(() => cgiEnvironment(request(), server, { 'BAD=NAME': 'x' }), InvalidArgumentError);
  assert.throws(() => cgiEnvironment(request(), server, { '': 'x' }), InvalidArgumentError);
  assert.throws(() => cgiEnvironment(request(), server, { OK: 'nul\0' }), InvalidArgumentError);
});
