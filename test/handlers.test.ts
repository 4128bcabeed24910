/**
 * The servers as request handlers: `createCgiHandler` and `createQuickJSHandler` mounted in a plain
 * node:http server and in express answer as the standalone servers do (same status, type and body
 * for the same requests), a mount path becomes the guest's SCRIPT_NAME, a body parser mounted
 * before the handler is either used (express.raw) or reported (express.json), and a closed handler
 * answers 503; both alike with their guests on worker threads (`threads`).
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import express from 'express';
import { createCgiHandler, serve, type CgiHandler, type CowpoolServer } from '../src/serve/index.ts';
import { createQuickJSHandler, createQuickJSServer, QuickJSSandbox, type QuickJSServer } from '../src/quickjs/index.ts';

/** Starts `server` on a free port; its base URL. */
async function listen(server: Server): Promise<string> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

async function close(server: Server): Promise<void> {
  await new Promise<void>((resolve) => {
    server.close(() => resolve());
    server.closeAllConnections();
  });
}

/** What a response is, for comparing two servers: status, type and body (the servers' ports masked: they differ). */
async function answer(url: string, init?: RequestInit): Promise<{ status: number; type: string | null; body: string }> {
  const res = await fetch(url, init);
  return { status: res.status, type: res.headers.get('content-type'), body: (await res.text()).replaceAll(/127\.0\.0\.1:\d+/g, 'HOST') };
}

/** The environment a guest saw (test/fixtures/env.wasm prints it), as a record. */
function environment(body: string): Record<string, string> {
  return Object.fromEntries(
    body
      .trim()
      .split('\n')
      .map((line) => [line.slice(0, line.indexOf('=')), line.slice(line.indexOf('=') + 1)]),
  );
}

for (const threads of [0, 1]) describeCgiHandler(threads);

/** The CGI handler's tests, with its guests on the calling thread (`threads` 0) or on worker threads. */
function describeCgiHandler(threads: number): void {
  describe(`the CGI handler${threads ? ` on ${threads} worker thread${threads === 1 ? '' : 's'}` : ''}`, () => {
    let standalone: CowpoolServer;
    let handler: CgiHandler;
    let plain: Server;
    let app: Server;
    let urls: { standalone: string; plain: string; express: string };

    before(async () => {
      standalone = await serve({ wasm: 'examples/echo-json.wasm', port: 0 });
      handler = await createCgiHandler({ wasm: 'examples/echo-json.wasm', threads });
      plain = createServer(handler);
      const application = express();
      application.use('/echo', handler);
      app = createServer(application);
      urls = { standalone: standalone.url.replace(/\/$/, ''), plain: await listen(plain), express: `${await listen(app)}/echo` };
    });

    after(async () => {
      await close(plain);
      await close(app);
      await handler.close();
      await standalone.close();
    });

    for (const [what, path, init] of [
      ['a GET with a query', '/items/3?color=red', undefined],
      [
        'a POST with a body',
        '/submit',
        { method: 'POST', body: 'a=1&b=2', headers: { 'content-type': 'application/x-www-form-urlencoded' } },
      ],
      ['an unknown method', '/x', { method: 'PATCH', body: '' }],
    ] as const) {
      test(`${what}: mounted in node:http and in express, it answers as the standalone server does`, async () => {
        const expected = await answer(`${urls.standalone}${path}`, init);
        assert.deepEqual(await answer(`${urls.plain}${path}`, init), expected);
        assert.deepEqual(await answer(`${urls.express}${path}`, init), expected);
      });
    }

    test('its counters move with the requests it answered', () => {
      const { http, served } = handler.stats();
      assert.ok((http.responses[200] ?? 0) >= 4, JSON.stringify(http.responses));
      assert.equal(
        http.requestTime.count,
        Object.values(http.responses).reduce((a, b) => a + b, 0),
      );
      assert.ok(served.uses >= 4);
      assert.equal(handler.readiness().ready, true);
    });
  });

  const mode = threads ? ' (threads)' : '';
  test(`mounted in express, the mount path is SCRIPT_NAME and the rest PATH_INFO; body parsers before it${mode}`, async () => {
    const handler = await createCgiHandler({ wasm: 'test/fixtures/env.wasm', threads });
    const application = express();
    application.use('/raw', express.raw({ type: '*/*' }), handler);
    application.use('/json', express.json(), handler);
    application.use('/app', handler);
    const server = createServer(application);
    const base = await listen(server);
    try {
      const env = environment(await (await fetch(`${base}/app/a/b?q=1`)).text());
      assert.equal(env.SCRIPT_NAME, '/app');
      assert.equal(env.PATH_INFO, '/a/b');
      assert.equal(env.REQUEST_URI, '/app/a/b?q=1');
      assert.equal(env.SERVER_PORT, base.slice(base.lastIndexOf(':') + 1));
      // express.raw() leaves the bytes in req.body: the guest gets them.
      const raw = environment(await (await fetch(`${base}/raw/`, { method: 'POST', body: 'twelve bytes' })).text());
      assert.equal(raw.CONTENT_LENGTH, '12');
      // express.json() leaves an object: the bytes are gone, and the answer says how to mount the handler.
      const parsed = await fetch(`${base}/json/`, { method: 'POST', body: '{"a":1}', headers: { 'content-type': 'application/json' } });
      assert.equal(parsed.status, 500);
      assert.match(await parsed.text(), /read before cowpool's handler: mount the handler before body parsers/);
    } finally {
      await close(server);
      await handler.close();
    }
    assert.equal(handler.readiness().ready, false);
  });

  test(`a closed CGI handler answers 503 and is not ready${mode}`, async () => {
    const handler = await createCgiHandler({ wasm: 'examples/hello.wasm', threads });
    const server = createServer(handler);
    const base = await listen(server);
    try {
      assert.equal((await fetch(base)).status, 200);
      await handler.close();
      const res = await fetch(base);
      assert.equal(res.status, 503);
      assert.equal(await res.text(), 'the server is shutting down\n');
      assert.deepEqual(handler.readiness(), { ready: false, reason: 'shutting down' });
    } finally {
      await close(server);
    }
  });
}

for (const threads of [0, 1]) describeQuickJSHandler(threads);

/** The QuickJS handler's tests, over a sandbox on the calling thread (`threads` 0) or on worker threads. */
function describeQuickJSHandler(threads: number): void {
  describe(`the QuickJS handler${threads ? ' over a sandbox on a worker thread' : ''}`, () => {
    let sandbox: QuickJSSandbox;
    let standalone: QuickJSServer;
    let plain: Server;
    let app: Server;
    let urls: { standalone: string; plain: string; express: string };

    before(async () => {
      sandbox = await QuickJSSandbox.create({
        setup: `function handle(request) {
          if (request.path === '/boom') throw new TypeError('boom');
          return { status: 201, headers: { 'x-path': request.path }, body: { path: request.path, query: request.query, body: request.body } };
        }`,
        timeout: 200,
        threads,
      });
      standalone = createQuickJSServer(sandbox, { handler: 'handle' });
      const handler = createQuickJSHandler(sandbox, { handler: 'handle' });
      plain = createServer(handler);
      const application = express();
      application.use('/js', handler);
      app = createServer(application);
      urls = { standalone: await listen(standalone), plain: await listen(plain), express: `${await listen(app)}/js` };
    });

    after(async () => {
      await close(standalone);
      await close(plain);
      await close(app);
      await sandbox.close();
    });

    for (const [what, path, init] of [
      ['a GET', '/things?id=7', undefined],
      ['a POST', '/post', { method: 'POST', body: 'hello' }],
      ['a script that throws', '/boom', undefined],
    ] as const) {
      test(`${what}: mounted in node:http and in express (path under the mount), it answers as the standalone server does`, async () => {
        const expected = await answer(`${urls.standalone}${path}`, init);
        assert.deepEqual(await answer(`${urls.plain}${path}`, init), expected);
        assert.deepEqual(await answer(`${urls.express}${path}`, init), expected);
      });
    }

    test('a closed QuickJS handler answers 503 and leaves the sandbox to its owner', async () => {
      const handler = createQuickJSHandler(sandbox);
      const server = createServer(handler);
      const base = await listen(server);
      try {
        assert.equal((await answer(base, { method: 'POST', body: '6 * 7' })).body, '{"value":42,"logs":[]}');
        await handler.close();
        const res = await answer(base, { method: 'POST', body: '1' });
        assert.equal(res.status, 503);
        assert.equal(await sandbox.eval('1 + 1'), 2, 'the sandbox still works');
      } finally {
        await close(server);
      }
    });
  });
}
