/**
 * What both HTTP servers share (src/http/): reading a body within its limit and answering what
 * cannot be served, on a real node:http server on loopback: a body at the limit, over it (announced
 * by Content-Length, or counted as a chunked body arrives), and the error answers in text and JSON.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { hasBody, readBody } from '../src/http/body.ts';
import { bodyTooLarge, INTERNAL_ERROR, sendError } from '../src/http/error-response.ts';

const LIMIT = 100;
const server = createServer((req, res) => {
  const format = req.url === '/json' ? 'json' : 'text';
  if (req.url === '/fail') return sendError(res, INTERNAL_ERROR, format);
  if (!hasBody(req)) return res.end('no body');
  readBody(req, LIMIT).then((body) => {
    if (body === undefined) return sendError(res, bodyTooLarge(LIMIT), format);
    res.end(`read ${body.length}`);
  });
});
await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
after(() => new Promise<void>((resolve) => server.close(() => resolve())));

function chunked(bytes: number): ReadableStream<Uint8Array> {
  return new ReadableStream({
    start(controller) {
      for (let sent = 0; sent < bytes; sent += 40) controller.enqueue(new Uint8Array(Math.min(40, bytes - sent)));
      controller.close();
    },
  });
}

test('a body within the limit is read whole, announced or chunked; none is not read at all', async () => {
  assert.equal(await (await fetch(url)).text(), 'no body');
  assert.equal(await (await fetch(url, { method: 'POST', body: '' })).text(), 'no body');
  assert.equal(await (await fetch(url, { method: 'POST', body: 'x'.repeat(LIMIT) })).text(), `read ${LIMIT}`);
  const init = { method: 'POST', body: chunked(LIMIT), duplex: 'half' } as RequestInit;
  assert.equal(await (await fetch(url, init)).text(), `read ${LIMIT}`);
});

test('a body over the limit answers 413 and closes the connection, announced or counted', async () => {
  for (const body of ['x'.repeat(LIMIT + 1), 'y'.repeat(1 << 20)]) {
    const res = await fetch(url, { method: 'POST', body });
    assert.equal(res.status, 413);
    assert.equal(res.headers.get('connection'), 'close');
    assert.equal(await res.text(), `request body over the ${LIMIT}-byte limit\n`);
  }
  const init = { method: 'POST', body: chunked(LIMIT + 1), duplex: 'half' } as RequestInit;
  const res = await fetch(url, init);
  assert.equal(res.status, 413);
  assert.equal(await res.text(), `request body over the ${LIMIT}-byte limit\n`);
  assert.equal(await (await fetch(url)).text(), 'no body', 'the server goes on');
});

test("an error answer in JSON has the shape of the JSON server's other errors", async () => {
  const res = await fetch(`${url}/json`, { method: 'POST', body: 'x'.repeat(LIMIT + 1) });
  assert.equal(res.status, 413);
  assert.equal(res.headers.get('content-type'), 'application/json');
  assert.deepEqual(await res.json(), { error: { name: 'Error', message: `request body over the ${LIMIT}-byte limit` } });
  const failed = await fetch(`${url}/fail`);
  assert.equal(failed.status, 500);
  assert.equal(failed.headers.get('connection'), 'keep-alive');
  assert.equal(await failed.text(), 'internal server error\n');
});
