/**
 * `cowpool serve` end to end, over real HTTP on loopback: the examples' responses, the CGI
 * environment, request bodies, faults (trap, endless loop, bad output, growth) and the requests
 * after them, isolation between requests, concurrency, and the CLI itself. What a request sees
 * holds alike with guests on the calling thread and on worker threads (`threads`): those tests
 * run in both modes.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { serve, type CowpoolServer, type ServeOptions } from '../src/serve/server.ts';
import { startCli } from './support/cli-server.ts';

const servers: CowpoolServer[] = [];
after(() => Promise.all(servers.map((s) => s.close())));

/** Where the guests run: the calling thread (the default), or worker threads. */
const MODES: { name: string; options: Partial<ServeOptions> }[] = [
  { name: 'guests on the calling thread', options: {} },
  { name: 'guests on 2 worker threads', options: { threads: 2 } },
];

for (const mode of MODES) {
  describe(mode.name, () => {
    const threads = mode.options.threads ?? 0;

    async function start(wasm: string, options: Partial<ServeOptions> = {}): Promise<CowpoolServer & { logs: string[] }> {
      const logs: string[] = [];
      const server = await serve({ wasm, port: 0, log: (line) => logs.push(line), ...mode.options, ...options });
      servers.push(server);
      return Object.assign(server, { logs });
    }

    let hello: CowpoolServer & { logs: string[] };
    let echo: CowpoolServer & { logs: string[] };
    before(async () => {
      [hello, echo] = await Promise.all([
        start('examples/hello.wasm'),
        start('examples/echo-json.wasm', { maxBody: 2 << 20, env: { GREETING: 'hi' } }),
      ]);
    });

    test('hello.wasm answers exactly its CGI response', async () => {
      const res = await fetch(hello.url);
      assert.equal(res.status, 200);
      assert.equal(res.headers.get('content-type'), 'text/plain');
      assert.equal(res.headers.get('content-length'), '14');
      assert.equal(await res.text(), 'Hello, world!\n');
      assert.match(hello.logs.at(-1)!, /^127\.0\.0\.1 "GET \/ HTTP\/1\.1" 200 \d+\.\d\dms$/);
    });

    test('echo-json sees method, path, query, headers and body', async () => {
      const body = JSON.stringify({ text: 'quotes " and \\ and\nnewlines', unicode: 'héllo ✓' });
      const res = await fetch(`${echo.url}items/7?a=1&b=two`, {
        method: 'POST',
        body,
        headers: { 'Content-Type': 'application/json', 'X-Custom': 'yes' },
      });
      assert.equal(res.status, 200);
      assert.equal(res.headers.get('content-type'), 'application/json');
      const json = (await res.json()) as Record<string, unknown>;
      assert.equal(json.method, 'POST');
      assert.equal(json.path, '/items/7');
      assert.equal(json.query, 'a=1&b=two');
      assert.equal(json.body, body);
      assert.equal(json.length, Buffer.byteLength(body));
      assert.equal((json.headers as Record<string, string>)['x-custom'] ?? (json.headers as Record<string, string>).HTTP_X_CUSTOM, 'yes');
    });

    test('the environment follows RFC 3875', async () => {
      const env = await start('test/fixtures/env.wasm', { env: { APP_MODE: 'test' } });
      const res = await fetch(`${env.url}some/path?x=1&y=%20z`, {
        method: 'POST',
        body: 'abc',
        headers: { 'Content-Type': 'text/plain', 'X-Forwarded-For': '10.1.2.3', Accept: 'a', 'accept-language': 'en' },
      });
      const vars = new Map(
        (await res.text())
          .trim()
          .split('\n')
          .map((line) => [line.slice(0, line.indexOf('=')), line.slice(line.indexOf('=') + 1)] as const),
      );
      const port = String(env.port);
      const expected: Record<string, string> = {
        GATEWAY_INTERFACE: 'CGI/1.1',
        REQUEST_METHOD: 'POST',
        PATH_INFO: '/some/path',
        QUERY_STRING: 'x=1&y=%20z',
        SERVER_PROTOCOL: 'HTTP/1.1',
        SERVER_PORT: port,
        REMOTE_ADDR: '127.0.0.1',
        CONTENT_LENGTH: '3',
        CONTENT_TYPE: 'text/plain',
        HTTP_X_FORWARDED_FOR: '10.1.2.3',
        HTTP_ACCEPT: 'a',
        HTTP_ACCEPT_LANGUAGE: 'en',
        APP_MODE: 'test',
      };
      for (const [name, value] of Object.entries(expected)) assert.equal(vars.get(name), value, name);
      assert.equal(vars.get('SCRIPT_NAME'), '');
      assert.match(vars.get('SERVER_SOFTWARE') ?? '', /^cowpool\//);
      assert.ok(!vars.has('HTTP_CONTENT_LENGTH') && !vars.has('HTTP_CONTENT_TYPE'), 'no HTTP_ duplicates of the content headers');
    });

    test('request bodies of 0 bytes, 1 MiB, and over the limit', async () => {
      const empty = (await (await fetch(echo.url, { method: 'POST', body: '' })).json()) as { length: number };
      assert.equal(empty.length, 0);
      const mib = 'x'.repeat(1 << 20);
      const big = (await (await fetch(echo.url, { method: 'POST', body: mib })).json()) as { length: number; body: string };
      assert.equal(big.length, 1 << 20);
      assert.equal(big.body, mib);
      const over = await fetch(echo.url, { method: 'POST', body: 'y'.repeat((2 << 20) + 1) });
      assert.equal(over.status, 413);
      assert.match(await over.text(), /over the 2097152-byte limit/);
      assert.equal((await fetch(echo.url)).status, 200, 'the server goes on after a 413');
    });

    test('a guest that never returns gets 504 at its deadline; the next request succeeds', async () => {
      const looping = await start('test/fixtures/loop.wasm', { timeout: 200 });
      const started = performance.now();
      const res = await fetch(looping.url);
      const elapsed = performance.now() - started;
      assert.equal(res.status, 504);
      assert.match(await res.text(), /did not answer within 200 ms/);
      assert.ok(elapsed >= 190, `answered after ${elapsed} ms, before the deadline`);
      const again = await fetch(looping.url);
      assert.equal(again.status, 504, 'the instance was reset and stopped again');
      assert.equal((await fetch(hello.url)).status, 200);
    });

    test('a guest that sleeps past its deadline gets 504 at the deadline', async () => {
      const sleeping = await start('test/fixtures/sleep.wasm', { timeout: 300 });
      const started = performance.now();
      const res = await fetch(sleeping.url);
      const elapsed = performance.now() - started;
      assert.equal(res.status, 504);
      assert.ok(elapsed >= 290 && elapsed < 5000, `answered after ${elapsed} ms`);
      assert.equal((await fetch(hello.url)).status, 200);
    });

    test('a guest that traps gets 500, logged with its stderr; the next request succeeds', async () => {
      const trapping = await start('test/fixtures/trap.wasm');
      const res = await fetch(trapping.url);
      assert.equal(res.status, 500);
      assert.doesNotMatch(await res.text(), /before-trap/, 'partial output is not served');
      assert.ok(
        trapping.logs.some((line) => /^trap: guest trapped: unreachable/.test(line)),
        trapping.logs.join('\n'),
      );
      assert.equal((await fetch(trapping.url)).status, 500);
      assert.equal(trapping.handler.stats().served.uses, 2);
    });

    test('output that is not a CGI response gets 502', async () => {
      const bad = await start('test/fixtures/badcgi.wasm');
      const res = await fetch(bad.url);
      assert.equal(res.status, 502);
      assert.match(await res.text(), /not a CGI response/);
    });

    test('a secret written by one request is not found by the next', async () => {
      const secret = await start('test/fixtures/secret.wasm');
      assert.equal((await (await fetch(`${secret.url}?write=SECRET-abc123`)).text()).trim(), 'stored');
      for (let i = 0; i < 3; i++) assert.equal((await (await fetch(`${secret.url}?read`)).text()).trim(), 'clean');
    });

    test('a request that grows memory is served, and its memory retired', async () => {
      const grow = await start('test/fixtures/grow.wasm');
      const res = await fetch(`${grow.url}?mb=8`);
      assert.equal(res.status, 200);
      assert.match(await res.text(), /ok/);
      assert.equal((await fetch(`${grow.url}?mb=0`)).status, 200);
      assert.equal(grow.handler.stats().served.retirements, 1);
    });

    test('concurrent requests each get their own answer', async () => {
      const bodies = Array.from({ length: 40 }, (_, i) => `request ${i} ${'z'.repeat(i * 100)}`);
      const answers = await Promise.all(
        bodies.map(async (body) => ((await (await fetch(echo.url, { method: 'POST', body })).json()) as { body: string }).body),
      );
      assert.deepEqual(answers, bodies);
      // One request at a time per thread: one instance per thread serves them all.
      assert.equal(echo.handler.describe().max, Math.max(1, threads));
      const stats = echo.handler.stats().served;
      assert.equal(stats.instances, Math.max(1, threads));
      assert.equal(stats.created, Math.max(1, threads) + stats.retirements, 'only replacements of retired instances were created');
    });

    test('sqlite.wasm runs SQL per request', async () => {
      const sqlite = await start('examples/sqlite.wasm');
      const res = await fetch(`${sqlite.url}?q=${encodeURIComponent('SELECT 1+1 AS two')}`);
      assert.equal(res.status, 200);
      assert.deepEqual(((await res.json()) as { rows: unknown[] }).rows, [[2]]);
      const bad = await fetch(`${sqlite.url}?q=${encodeURIComponent('SELEC nonsense')}`);
      assert.equal(bad.status, 400);
      const write = await fetch(sqlite.url, { method: 'POST', body: "CREATE TABLE t(x); INSERT INTO t VALUES ('kept?'); SELECT x FROM t" });
      assert.equal(write.status, 200);
      const later = await fetch(`${sqlite.url}?q=${encodeURIComponent('SELECT x FROM t')}`);
      assert.equal(later.status, 400, 'the table made by the previous request does not exist');
    });
  });
}

test('there is no pool size to set: serve() refuses it, and the CLI says to use --workers', async () => {
  await assert.rejects(serve({ wasm: 'examples/hello.wasm', pool: 4 } as ServeOptions), /there is no pool option: .*--workers N/);
  await assert.rejects(serve({ wasm: 'examples/hello.wasm', prot: 0 } as ServeOptions), /unknown option 'prot'; did you mean 'port'\?/);
  const child = spawn(process.execPath, ['bin/cowpool.js', 'serve', 'examples/hello.wasm', '--pool', '4'], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let err = '';
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (err += chunk));
  const [code] = await once(child, 'exit');
  assert.equal(code, 2);
  assert.match(err, /--pool is gone: .* use --threads N .* or --workers N/);
  const help = spawn(process.execPath, ['bin/cowpool.js', '--help'], { stdio: ['ignore', 'pipe', 'inherit'] });
  let usage = '';
  help.stdout.setEncoding('utf8').on('data', (chunk: string) => (usage += chunk));
  await once(help, 'exit');
  assert.doesNotMatch(usage, /--pool/);
  assert.match(usage, /--workers <n>/);
});

test('a module that is not a WASI command is refused at start', async () => {
  await assert.rejects(serve({ wasm: readFileSync('examples/counter.wasm'), port: 0 }), (err: Error & { code?: string }) => {
    assert.equal(err.code, 'COWPOOL_ERR_INVALID_ARGUMENT');
    assert.match(err.message, /is not a WASI command module: /);
    return true;
  });
});

for (const workers of ['1', '2']) {
  test(`npx cowpool serve --workers ${workers}: starts, serves, and stops on SIGTERM`, async () => {
    await cliServes(['--workers', workers]);
  });
}

test('npx cowpool serve --workers 2 with a module that is not a command: exits 1 with the reason', async () => {
  const child = spawn(process.execPath, ['bin/cowpool.js', 'serve', 'examples/counter.wasm', '--port', '0', '--workers', '2'], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let err = '';
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (err += chunk));
  const [code] = await once(child, 'exit');
  assert.equal(code, 1);
  assert.match(err, /counter\.wasm is not a WASI command module: it does not export _start/);
});

async function cliServes(extra: string[]): Promise<void> {
  const server = await startCli(['serve', 'examples/hello.wasm', '--port', '0', '--timeout', '5s', ...extra]);
  for (let i = 0; i < 4; i++) assert.equal(await (await fetch(server.url)).text(), 'Hello, world!\n');
  assert.equal(await server.stop(), 0);
  assert.match(server.out(), /"GET \/ HTTP\/1\.1" 200/);
}
