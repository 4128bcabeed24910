// CgiResponseParser: reusing the last header block must give exactly what parseCgiResponse gives,
// and must still reject what parseCgiResponse rejects.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { CgiResponseParser, parseCgiResponse, MalformedCgiResponseError } from '../src/serve/cgi.ts';

const outcome = (parse: () => unknown) => {
  try {
    return { ok: parse() };
  } catch (err) {
    assert.ok(err instanceof MalformedCgiResponseError, String(err));
    return { error: err.message };
  }
};

test('a cached header block parses like a fresh one, whatever the body', () => {
  const blocks = [
    'Content-Type: text/plain\n\n',
    'Status: 404 Not Found\r\nContent-Type: text/html\r\n\r\n',
    'Content-Type: text/plain\nContent-Length: 5\n\n',
    'Location: /elsewhere\n\n',
    'Status: 204 No Content\n\n',
    'X-Only: header\n\n',
  ];
  fc.assert(
    fc.property(
      fc.array(fc.tuple(fc.constantFrom(...blocks), fc.uint8Array({ maxLength: 12 })), { minLength: 1, maxLength: 12 }),
      (responses) => {
        const parser = new CgiResponseParser();
        for (const [block, body] of responses) {
          const stdout = Buffer.concat([Buffer.from(block), body]);
          const expected = outcome(() => parseCgiResponse(stdout));
          const actual = outcome(() => parser.parse(stdout));
          assert.deepEqual(actual, expected, `${JSON.stringify(block)} + ${body.length} bytes`);
        }
      },
    ),
    { numRuns: 200 },
  );
});
