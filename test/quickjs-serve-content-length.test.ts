/**
 * `cowpool quickjs serve` and a handler's `Content-Length` (issue 18, finding 6): a length that
 * disagrees with the body is answered 502, as `cowpool serve` answers such a CGI response, and never
 * sent: on a keep-alive connection the client would read the difference as the start of the next
 * response. Checked on a real server, over one raw keep-alive connection.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { connect, type AddressInfo } from 'node:net';
import type { Server } from 'node:http';
import { createQuickJSServer, QuickJSSandbox } from '../src/quickjs/index.ts';

const SETUP = `
  function handle(request) {
    const [length, body] = JSON.parse(request.body);
    return { status: 200, headers: length === null ? {} : { 'Content-Length': String(length) }, body };
  }
`;

let sandbox: QuickJSSandbox;
let server: Server;
let port: number;

before(async () => {
  sandbox = await QuickJSSandbox.create({ setup: SETUP, max: 1 });
  server = createQuickJSServer(sandbox, { handler: 'handle' });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  port = (server.address() as AddressInfo).port;
});

after(async () => {
  server.close();
  await sandbox.close();
});

/** Sends each request body in turn over one keep-alive connection; returns the raw bytes read until `responses` answers came. */
async function exchange(bodies: string[]): Promise<string> {
  const socket = connect(port, '127.0.0.1');
  await once(socket, 'connect');
  let received = '';
  socket.setEncoding('utf8');
  socket.on('data', (chunk: string) => (received += chunk));
  for (const body of bodies) {
    const before = (received.match(/HTTP\/1\.1 /g) ?? []).length;
    socket.write(`POST / HTTP/1.1\r\nHost: x\r\nContent-Type: text/plain\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`);
    while ((received.match(/HTTP\/1\.1 /g) ?? []).length === before) await once(socket, 'data');
    await new Promise((resolve) => setTimeout(resolve, 20)); // the rest of the answer, if any
  }
  socket.end();
  return received;
}

test("a handler's Content-Length that disagrees with its body is a 502, and the connection stays in step", async () => {
  const raw = await exchange([JSON.stringify([100, 'short']), JSON.stringify([null, 'next'])]);
  const answers = raw.split(/(?=HTTP\/1\.1 )/);
  assert.equal(answers.length, 2, raw);
  assert.match(answers[0]!, /^HTTP\/1\.1 502 /);
  assert.match(answers[0]!, /"message":"the handler's answer is malformed: Content-Length says 100 bytes but the body has 5"/);
  assert.match(answers[1]!, /^HTTP\/1\.1 200 /);
  // No length set: chunked, and exactly the one chunk, so nothing of the first answer leaked into it.
  assert.match(answers[1]!, /\r\n\r\n4\r\nnext\r\n0\r\n\r\n$/, 'the second answer is whole');
});

test('a shorter Content-Length is refused too, and a right one (counted in UTF-8 bytes) is sent', async () => {
  const raw = await exchange([JSON.stringify([2, 'longer body']), JSON.stringify([Buffer.byteLength('héllo'), 'héllo'])]);
  const answers = raw.split(/(?=HTTP\/1\.1 )/);
  assert.match(answers[0]!, /^HTTP\/1\.1 502 /);
  assert.match(answers[0]!, /Content-Length says 2 bytes but the body has 11/);
  assert.match(answers[1]!, /^HTTP\/1\.1 200 /);
  assert.match(answers[1]!, /content-length: 6\r\n/i);
  assert.match(answers[1]!, /\r\n\r\nhéllo$/);
});
