/**
 * The example guests and the CGI test guests, end to end without a server: an HTTP-like request
 * becomes a CGI environment (cgiEnvironment), the guest runs on WasiHost in a fresh instance, and
 * its stdout becomes a response (parseCgiResponse).
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { Worker } from 'node:worker_threads';
import { cgiEnvironment, MalformedCgiResponseError, parseCgiResponse, type CgiResponse } from '../src/serve/cgi.ts';
import { WasiHost } from '../src/wasi/wasi-host.ts';
import { OutputCollector } from '../src/wasi/output-collector.ts';
import { example, fixture } from './fixtures/wasi-guests.ts';

interface Request {
  method?: string;
  url?: string;
  headers?: [string, string][];
  body?: string | Uint8Array;
}

interface Exchange {
  code: number;
  stdout: Uint8Array;
  response: () => CgiResponse;
  text: () => string;
  instance: WebAssembly.Instance;
}

const host = new WasiHost();

/** One CGI request through a fresh instance of `module`. */
function serve(module: WebAssembly.Module, request: Request = {}, instance = new WebAssembly.Instance(module, host.imports)): Exchange {
  const body = typeof request.body === 'string' ? new TextEncoder().encode(request.body) : (request.body ?? new Uint8Array(0));
  const env = cgiEnvironment(
    {
      method: request.method ?? 'GET',
      url: request.url ?? '/',
      headers: [['Host', 'localhost:8080'], ...(request.headers ?? [])],
      httpVersion: '1.1',
      remoteAddress: '127.0.0.1',
      remotePort: 40000,
      bodyLength: body.length,
    },
    { serverPort: 8080, scriptName: '' },
  );
  const out = new OutputCollector();
  const code = host.run(instance, { args: ['guest'], env, stdin: body, stdout: out.sink, stderr: () => {} });
  const stdout = out.bytes().slice();
  const response = () => parseCgiResponse(stdout);
  return { code, stdout, response, text: () => Buffer.from(response().body).toString(), instance };
}

const header = (r: CgiResponse, name: string) => r.headers.find(([n]) => n.toLowerCase() === name.toLowerCase())?.[1];

describe('hello', () => {
  test('writes exactly the expected bytes', () => {
    const run = serve(example('hello'));
    assert.equal(run.code, 0);
    assert.equal(Buffer.from(run.stdout).toString(), 'Content-Type: text/plain\n\nHello, world!\n');
    const response = run.response();
    assert.equal(response.status, 200);
    assert.deepEqual(response.headers, [['Content-Type', 'text/plain']]);
    assert.equal(run.text(), 'Hello, world!\n');
  });
});

describe('echo-json', () => {
  test('echoes method, path, query, headers and a tricky body as valid JSON', () => {
    const body = 'quotes " and \\ backslash\nnew line\ttab \u0001 ctrl, non-ASCII: héllo ✓ 😀';
    const run = serve(example('echo-json'), {
      method: 'POST',
      url: '/items/a%20b?x=1&y=%22q%22',
      headers: [
        ['Content-Type', 'text/plain; charset=utf-8'],
        ['X-Request-Id', 'abc-123'],
        ['Accept', 'application/json'],
      ],
      body,
    });
    const response = run.response();
    assert.equal(response.status, 200);
    assert.equal(header(response, 'content-type'), 'application/json');
    const json = JSON.parse(run.text());
    assert.deepEqual(json, {
      method: 'POST',
      path: '/items/a b',
      query: 'x=1&y=%22q%22',
      headers: { host: 'localhost:8080', 'x-request-id': 'abc-123', accept: 'application/json' },
      body,
      length: Buffer.byteLength(body),
    });
  });

  test('invalid UTF-8 in the body becomes U+FFFD, so the JSON stays valid', () => {
    const run = serve(example('echo-json'), { method: 'PUT', body: new Uint8Array([0x61, 0xff, 0x62, 0xc3]) });
    const json = JSON.parse(run.text());
    assert.equal(json.body, 'a\ufffdb\ufffd');
    assert.equal(json.length, 4);
  });

  test('GET with no body, and an unsupported method gets 405', () => {
    const get = JSON.parse(serve(example('echo-json'), { url: '/' }).text());
    assert.deepEqual([get.method, get.path, get.query, get.body, get.length], ['GET', '/', '', '', 0]);
    const brew = serve(example('echo-json'), { method: 'BREW' }).response();
    assert.equal(brew.status, 405);
    assert.equal(brew.reason, 'Method Not Allowed');
    assert.match(header(brew, 'allow') ?? '', /GET/);
  });
});

describe('sqlite', () => {
  const sqlite = example('sqlite');
  const query = (sql: string) => serve(sqlite, { url: '/?q=' + encodeURIComponent(sql).replaceAll('%20', '+') });

  test('SELECT 1+1', () => {
    const run = query('SELECT 1+1');
    const response = run.response();
    assert.equal(response.status, 200);
    assert.equal(header(response, 'content-type'), 'application/json');
    assert.deepEqual(JSON.parse(run.text()), { columns: ['1+1'], rows: [[2]], changes: 0 });
  });

  test('the seeded table, every value type', () => {
    const rows = JSON.parse(query("SELECT name, legs, weight_kg, NULL AS n, x'00ff' AS b FROM animals WHERE legs > 2 ORDER BY id").text());
    assert.deepEqual(rows, {
      columns: ['name', 'legs', 'weight_kg', 'n', 'b'],
      rows: [
        ['cow', 4, 720.0, null, '00ff'],
        ['spider', 8, 0.002, null, '00ff'],
      ],
      changes: 0,
    });
  });

  test('text needing JSON escapes, and several statements (the last one answers)', () => {
    const rows = JSON.parse(
      query(
        `INSERT INTO animals(name, legs) VALUES ('say "moo"' || char(10) || 'ü', 4); SELECT name FROM animals WHERE id = last_insert_rowid()`,
      ).text(),
    );
    assert.deepEqual(rows.rows, [['say "moo"\nü']]);
  });

  test('SQL from a POST body', () => {
    const run = serve(sqlite, { method: 'POST', body: 'SELECT count(*) AS n FROM animals' });
    assert.deepEqual(JSON.parse(run.text()).rows, [[4]]);
  });

  test('each request starts from the seed: changes of one request are gone in the next', () => {
    query('DELETE FROM animals');
    assert.deepEqual(JSON.parse(query('SELECT count(*) FROM animals').text()).rows, [[4]]);
  });

  test('a bad query answers 400 with the SQLite error', () => {
    const response = query('SELEKT nonsense').response();
    assert.equal(response.status, 400);
    assert.equal(response.reason, 'Bad Request');
    assert.match(JSON.parse(Buffer.from(response.body).toString()).error, /syntax error/);
    const missing = query('SELECT * FROM nope').response();
    assert.equal(missing.status, 400);
    assert.match(Buffer.from(missing.body).toString(), /no such table: nope/);
  });

  test('no SQL answers 400', () => {
    assert.equal(serve(sqlite, { url: '/' }).response().status, 400);
    assert.equal(query('  -- only a comment').response().status, 400);
  });
});

describe('test guests', () => {
  test('env prints the CGI environment', () => {
    const run = serve(fixture('env'), { url: '/p/q?z=9', headers: [['X-Thing', 'yes']] });
    const lines = run.text().trim().split('\n');
    for (const expected of ['GATEWAY_INTERFACE=CGI/1.1', 'REQUEST_METHOD=GET', 'PATH_INFO=/p/q', 'QUERY_STRING=z=9', 'HTTP_X_THING=yes']) {
      assert.ok(lines.includes(expected), `${expected} in\n${lines.join('\n')}`);
    }
  });

  test('badcgi is malformed', () => {
    const run = serve(fixture('badcgi'));
    assert.equal(run.code, 0);
    assert.throws(run.response, MalformedCgiResponseError);
  });

  test('exit answers, then exits with the status from the query string', () => {
    for (const [url, code] of [
      ['/?3', 3],
      ['/?code=42', 42],
      ['/', 0],
    ] as const) {
      const run = serve(fixture('exit'), { url });
      assert.equal(run.code, code);
      assert.equal(run.text(), `exiting with ${code}\n`);
    }
  });

  test('trap writes its marker, then traps', () => {
    const out = new OutputCollector();
    const instance = new WebAssembly.Instance(fixture('trap'), host.imports);
    assert.throws(
      () => host.run(instance, { args: ['t'], env: [], stdin: new Uint8Array(0), stdout: out.sink, stderr: () => {} }),
      WebAssembly.RuntimeError,
    );
    assert.equal(out.text(), 'Content-Type: text/plain\n\nbefore-trap\n');
  });

  test('grow grows memory by the MiB asked for', () => {
    const run = serve(fixture('grow'), { url: '/?mb=4' });
    const [, before, after] = /^ok (\d+) (\d+)/.exec(run.text()) ?? [];
    assert.ok(Number(after) - Number(before) >= 64, run.text());
  });

  test('secret: a write stores the secret in memory; fresh instances read clean; the scanner finds a planted marker', () => {
    const secret = fixture('secret');
    assert.equal(serve(secret, { url: '/?read' }).text(), 'clean\n');
    const writer = serve(secret, { url: '/?write=SECRET-hunter2' });
    assert.equal(writer.text(), 'stored\n');
    // Global, heap and middle-of-memory copies (plus wasi-libc's copy of QUERY_STRING).
    const written = Buffer.from((writer.instance.exports['memory'] as WebAssembly.Memory).buffer);
    let copies = 0;
    for (let at = written.indexOf('SECRET-hunter2'); at !== -1; at = written.indexOf('SECRET-hunter2', at + 1)) copies++;
    assert.ok(copies >= 4, `${copies} copies`);
    assert.equal(serve(secret, { url: '/?read' }).text(), 'clean\n');
    // What a reused, unreset memory would hold: the marker somewhere the guest never writes itself.
    const reader = new WebAssembly.Instance(secret, host.imports);
    const memory = reader.exports['memory'] as WebAssembly.Memory;
    Buffer.from(memory.buffer).write('SECRET-left-over', memory.buffer.byteLength - 64);
    assert.equal(serve(secret, { url: '/?read' }, reader).text(), 'found\n');
  });

  test('loop never returns (stopped by terminating its worker)', async () => {
    const worker = new Worker(
      `const { workerData, parentPort } = require('node:worker_threads');
       const module = new WebAssembly.Module(workerData);
       const wasi = new Proxy({}, { get: () => () => 0 });
       const instance = new WebAssembly.Instance(module, { wasi_snapshot_preview1: wasi });
       parentPort.postMessage('started');
       instance.exports._start();
       parentPort.postMessage('returned');`,
      { eval: true, workerData: await import('node:fs').then((fs) => fs.readFileSync(new URL('./fixtures/loop.wasm', import.meta.url))) },
    );
    const messages: string[] = [];
    worker.on('message', (m: string) => messages.push(m));
    await new Promise((resolve) => setTimeout(resolve, 300));
    await worker.terminate();
    assert.deepEqual(messages, ['started']);
  });
});
