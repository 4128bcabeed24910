// parseCgiResponse: what a CGI guest writes, as the HTTP response the server sends or the reason it
// answers 502. One table of valid outputs, one of malformed ones.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MalformedCgiResponseError, MAX_CGI_HEADER_BYTES, parseCgiResponse } from '../src/serve/cgi.ts';
import { CowpoolError, ErrorCodes } from '../src/errors.ts';

const bytes = (s: string) => new Uint8Array(Buffer.from(s, 'latin1'));

const valid: [string, string, { status: number; reason?: string; headers: [string, string][]; body: string }][] = [
  ['minimal LF', 'Content-Type: text/plain\n\nhi\n', { status: 200, headers: [['Content-Type', 'text/plain']], body: 'hi\n' }],
  ['CRLF', 'Content-Type: text/plain\r\n\r\nhi', { status: 200, headers: [['Content-Type', 'text/plain']], body: 'hi' }],
  [
    'mixed CRLF and LF',
    'Content-Type: a/b\r\nX-A: 1\n\r\nbody',
    {
      status: 200,
      headers: [
        ['Content-Type', 'a/b'],
        ['X-A', '1'],
      ],
      body: 'body',
    },
  ],
  ['empty body', 'Content-Type: text/plain\n\n', { status: 200, headers: [['Content-Type', 'text/plain']], body: '' }],
  [
    'Status with reason',
    'Status: 404 Not Found\nContent-Type: text/plain\n\nnope',
    { status: 404, reason: 'Not Found', headers: [['Content-Type', 'text/plain']], body: 'nope' },
  ],
  ['Status without reason', 'Status: 201\nContent-Type: a/b\n\n', { status: 201, headers: [['Content-Type', 'a/b']], body: '' }],
  [
    'Status with a tab and a long reason',
    'Status: 418\tI am a teapot\n\n',
    { status: 418, reason: 'I am a teapot', headers: [], body: '' },
  ],
  ['Status alone, no body, no Content-Type', 'Status: 204 No Content\n\n', { status: 204, reason: 'No Content', headers: [], body: '' }],
  [
    'Status casing',
    'STATUS: 500 Oops\nContent-type: x/y\n\n!',
    { status: 500, reason: 'Oops', headers: [['Content-type', 'x/y']], body: '!' },
  ],
  [
    'Location without Status → 302',
    'Location: https://example.test/\n\n',
    { status: 302, headers: [['Location', 'https://example.test/']], body: '' },
  ],
  ['local Location is a client redirect too', 'Location: /other\n\n', { status: 302, headers: [['Location', '/other']], body: '' }],
  [
    'Location with Status',
    'Status: 301 Moved Permanently\nLocation: /new\n\n',
    { status: 301, reason: 'Moved Permanently', headers: [['Location', '/new']], body: '' },
  ],
  ['Location with a body and no Content-Type', 'Location: /x\n\nmoved', { status: 302, headers: [['Location', '/x']], body: 'moved' }],
  [
    'repeated headers kept in order',
    'Content-Type: t/p\nSet-Cookie: a=1\nSet-Cookie: b=2\n\n',
    {
      status: 200,
      headers: [
        ['Content-Type', 't/p'],
        ['Set-Cookie', 'a=1'],
        ['Set-Cookie', 'b=2'],
      ],
      body: '',
    },
  ],
  [
    'whitespace around values trimmed, none required',
    'Content-Type:text/plain  \nX-Empty:\nX-Tab: \tv\t\n\n',
    {
      status: 200,
      headers: [
        ['Content-Type', 'text/plain'],
        ['X-Empty', ''],
        ['X-Tab', 'v'],
      ],
      body: '',
    },
  ],
  [
    'colon inside the value',
    'Content-Type: t/p\nX-Time: 12:30:00\n\n',
    {
      status: 200,
      headers: [
        ['Content-Type', 't/p'],
        ['X-Time', '12:30:00'],
      ],
      body: '',
    },
  ],
  [
    'hop-by-hop headers dropped',
    'Content-Type: t/p\nConnection: close\nTransfer-Encoding: chunked\nKeep-Alive: 5\n\nx',
    { status: 200, headers: [['Content-Type', 't/p']], body: 'x' },
  ],
  [
    'matching Content-Length kept',
    'Content-Type: t/p\nContent-Length: 3\n\nabc',
    {
      status: 200,
      headers: [
        ['Content-Type', 't/p'],
        ['Content-Length', '3'],
      ],
      body: 'abc',
    },
  ],
  [
    'latin1 value bytes preserved',
    'Content-Type: t/p\nX-L: caf\xe9\n\n',
    {
      status: 200,
      headers: [
        ['Content-Type', 't/p'],
        ['X-L', 'caf\xe9'],
      ],
      body: '',
    },
  ],
  [
    'body may hold blank lines and header-like text',
    'Content-Type: t/p\n\nA: b\n\nStatus: 500\n',
    { status: 200, headers: [['Content-Type', 't/p']], body: 'A: b\n\nStatus: 500\n' },
  ],
];

for (const [what, output, expected] of valid) {
  test(`valid: ${what}`, () => {
    const response = parseCgiResponse(bytes(output));
    assert.equal(response.status, expected.status);
    assert.equal(response.reason, expected.reason);
    assert.deepEqual(response.headers, expected.headers);
    assert.equal(Buffer.from(response.body).toString('latin1'), expected.body);
    if (expected.reason === undefined) assert.equal('reason' in response, false);
  });
}

test('binary bodies come back byte for byte, as a view of the input (no copy)', () => {
  const head = bytes('Content-Type: application/octet-stream\r\n\r\n');
  const body = new Uint8Array(256).map((_, i) => i);
  const stdout = new Uint8Array(head.length + body.length);
  stdout.set(head);
  stdout.set(body, head.length);
  const response = parseCgiResponse(stdout);
  assert.deepEqual(response.body, body);
  assert.equal(response.body.buffer, stdout.buffer);
  assert.equal(response.body.byteOffset, head.length);
});

test('works on a view into a larger buffer', () => {
  const big = bytes('JUNKContent-Type: t/p\n\nbodyJUNK');
  const response = parseCgiResponse(big.subarray(4, big.length - 4));
  assert.equal(Buffer.from(response.body).toString(), 'body');
});

test('a header block of exactly the limit is accepted; one byte more is not', () => {
  const prefix = 'Content-Type: t/p\nX-Pad: ';
  const pad = MAX_CGI_HEADER_BYTES - prefix.length - 2; // "\n\n" ends the block
  const atLimit = parseCgiResponse(bytes(prefix + 'a'.repeat(pad) + '\n\nbody'));
  assert.equal(Buffer.from(atLimit.body).toString(), 'body');
  assert.throws(() => parseCgiResponse(bytes(prefix + 'a'.repeat(pad + 1) + '\n\nbody')), /exceeds 65536 bytes/);
});

const malformed: [string, string | Uint8Array, RegExp][] = [
  ['nothing at all', '', /wrote nothing/],
  ['a body with no header block', 'Hello, world!\n', /header line 1 has no colon: "Hello, world!" \(a CGI response starts with headers/],
  ['a body with a colon and no header block', 'error in line 3: oops\n', /header line 1 has an invalid field name/],
  ['no blank line', 'Content-Type: text/plain\n', /no blank line ends the header block/],
  ['no newline at all', 'Content-Type: text/plain', /no blank line/],
  ['only a blank line', '\nbody', /header block is empty/],
  ['only a blank line, no body', '\r\n', /header block is empty/],
  ['header line without a colon', 'Content-Type: t/p\noops\n\n', /header line 2 has no colon: "oops"/],
  ['space in a field name', 'Content Type: t/p\n\n', /invalid field name/],
  ['space before the colon', 'Content-Type : t/p\n\n', /invalid field name/],
  ['empty field name', ': value\n\n', /invalid field name/],
  ['obsolete line folding', 'Content-Type: t/p\nX-A: 1\n  continued\n\n', /starts with whitespace/],
  ['control character in a value', 'Content-Type: t/p\nX-A: a\x01b\n\n', /control character/],
  ['bare CR inside a value', 'Content-Type: t/p\nX-A: a\rb\n\n', /control character/],
  ['Status not a number', 'Status: OK\nContent-Type: t/p\n\n', /invalid Status/],
  ['Status with 4 digits', 'Status: 2000\n\n', /invalid Status/],
  ['Status below 200', 'Status: 101 Switching Protocols\n\n', /invalid Status/],
  ['Status above 599', 'Status: 600 Nope\n\n', /invalid Status/],
  ['Status empty', 'Status:\n\n', /invalid Status/],
  ['Status twice', 'Status: 200\nStatus: 404\n\n', /repeats Status/],
  ['body without Content-Type', 'Status: 200 OK\n\nbody', /body of 4 bytes comes without a Content-Type/],
  ['Content-Type twice', 'Content-Type: a/b\nContent-Type: c/d\n\n', /repeats Content-Type/],
  ['empty Content-Type', 'Content-Type:\n\n', /empty Content-Type/],
  ['empty Location', 'Location: \n\n', /empty Location/],
  [
    'Content-Length larger than the body',
    'Content-Type: t/p\nContent-Length: 10\n\nabc',
    /Content-Length says 10 bytes but the body has 3/,
  ],
  ['Content-Length not a number', 'Content-Type: t/p\nContent-Length: 3x\n\nabc', /invalid Content-Length/],
  ['header block over 64 KiB', 'Content-Type: t/p\nX-Big: ' + 'a'.repeat(70000) + '\n\n', /exceeds 65536 bytes/],
  ['64 KiB without a newline', 'X'.repeat(70000), /exceeds 65536 bytes/],
];

for (const [what, output, message] of malformed) {
  test(`malformed: ${what}`, () => {
    assert.throws(
      () => parseCgiResponse(typeof output === 'string' ? bytes(output) : output),
      (error: unknown) => {
        assert.ok(error instanceof MalformedCgiResponseError);
        assert.ok(error instanceof CowpoolError);
        assert.equal(error.code, ErrorCodes.MALFORMED_CGI_RESPONSE);
        assert.equal(error.name, 'MalformedCgiResponseError');
        assert.match(error.message, /^malformed CGI response from the guest: /);
        assert.match(error.reason, message);
        return true;
      },
    );
  });
}
