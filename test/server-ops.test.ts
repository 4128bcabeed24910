/**
 * What an operator's tools see of both servers: `/healthz` and `/readyz` (off unless asked for, so
 * the paths stay the guest's), `/metrics` whose counters move with requests and which
 * `promtool check metrics` accepts (skipped, saying so, without promtool), access logs as text or
 * JSON lines with faults among them, `--quiet`, and the start-up and shutdown lines of both
 * commands, which say what was built and how long it took. The CGI server's endpoints and logs hold
 * alike with its guests on worker threads (`threads`).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { serve } from '../src/serve/index.ts';
import { createQuickJSServer, QuickJSSandbox } from '../src/quickjs/index.ts';
import type { AddressInfo } from 'node:net';

const promtool = spawnSync('promtool', ['--version']).status === 0;

/** The value of the sample `series` (name and labels as written) in Prometheus text. */
function sample(text: string, series: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

function checkWithPromtool(text: string): void {
  const check = spawnSync('promtool', ['check', 'metrics'], { input: text, encoding: 'utf8' });
  assert.equal(check.status, 0, `promtool: ${check.stdout}${check.stderr}`);
}

for (const threads of [0, 2]) {
  const command = `cowpool serve${threads ? ` --threads ${threads}` : ''}`;
  test(`${command}: /healthz, /readyz and /metrics when asked for, and its counters move with requests`, async () => {
    const server = await serve({ wasm: 'examples/hello.wasm', port: 0, health: true, metrics: true, threads });
    try {
      const health = await fetch(`${server.url}healthz`);
      assert.equal(health.status, 200);
      assert.deepEqual(await health.json(), { status: 'ok' });
      const ready = (await (await fetch(`${server.url}readyz`)).json()) as Record<string, unknown>;
      assert.equal(ready.status, 'ready');
      assert.equal(ready.module, 'hello.wasm');
      assert.equal(ready.instances, Math.max(1, threads));

      const before = await (await fetch(`${server.url}metrics`)).text();
      for (let i = 0; i < 3; i++) assert.equal(await (await fetch(server.url)).text(), 'Hello, world!\n');
      const res = await fetch(`${server.url}metrics`);
      assert.equal(res.headers.get('content-type'), 'text/plain; version=0.0.4; charset=utf-8');
      const after = await res.text();
      assert.equal(
        (sample(after, 'cowpool_http_requests_total{code="200"}') ?? 0) - (sample(before, 'cowpool_http_requests_total{code="200"}') ?? 0),
        3,
      );
      assert.equal(sample(after, 'cowpool_uses_total')! - sample(before, 'cowpool_uses_total')!, 3);
      assert.equal(sample(after, 'cowpool_http_request_duration_seconds_count'), 3, 'the endpoints are not counted as requests');
      assert.ok(sample(after, 'process_resident_memory_bytes')! > 0);
    } finally {
      await server.close();
    }
  });
}

test('without health and metrics, those paths are the guest’s', async () => {
  const server = await serve({ wasm: 'examples/hello.wasm', port: 0 });
  try {
    for (const path of ['healthz', 'readyz', 'metrics'])
      assert.equal(await (await fetch(`${server.url}${path}`)).text(), 'Hello, world!\n');
  } finally {
    await server.close();
  }
});

test('cowpool quickjs serve: the same endpoints, over the sandbox’s counters', async () => {
  const sandbox = await QuickJSSandbox.create({ timeout: 100 });
  const server = createQuickJSServer(sandbox, { health: true, metrics: true });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  try {
    assert.equal((await fetch(`${url}/healthz`)).status, 200);
    assert.equal(((await (await fetch(`${url}/readyz`)).json()) as { status: string }).status, 'ready');
    assert.equal((await fetch(url, { method: 'POST', body: '1 + 1' })).status, 200);
    assert.equal((await fetch(url, { method: 'POST', body: 'throw 1' })).status, 400);
    assert.equal((await fetch(url, { method: 'POST', body: 'for (;;) {}' })).status, 504);
    const text = await (await fetch(`${url}/metrics`)).text();
    assert.equal(sample(text, 'cowpool_http_requests_total{code="504"}'), 1);
    assert.equal(sample(text, 'cowpool_sandbox_uses_total{outcome="result"}'), 1);
    assert.equal(sample(text, 'cowpool_sandbox_uses_total{outcome="timeout"}'), 1);
    assert.equal(sample(text, 'cowpool_uses_total'), 3);
  } finally {
    await new Promise<void>((resolve) => server.close(() => resolve()));
    await sandbox.close();
  }
});

test(
  'promtool check metrics accepts both servers’ /metrics',
  { skip: promtool ? false : 'promtool is not installed (apt-get install prometheus)' },
  async () => {
    const cgi = await serve({ wasm: 'examples/hello.wasm', port: 0, metrics: true });
    const sandbox = await QuickJSSandbox.create();
    const quickjs = createQuickJSServer(sandbox, { metrics: true });
    await new Promise<void>((resolve) => quickjs.listen(0, '127.0.0.1', resolve));
    const url = `http://127.0.0.1:${(quickjs.address() as AddressInfo).port}/`;
    try {
      await fetch(cgi.url);
      await fetch(url, { method: 'POST', body: '1' });
      await fetch(`${cgi.url}metrics`); // the first read starts the loop-delay monitor: the second shows its gauges
      for (const text of [await (await fetch(`${cgi.url}metrics`)).text(), await (await fetch(`${url}metrics`)).text()]) {
        assert.match(text, /^cowpool_http_request_duration_seconds_bucket\{le="\+Inf"\} 1$/m);
        checkWithPromtool(text);
      }
    } finally {
      await cgi.close();
      await new Promise<void>((resolve) => quickjs.close(() => resolve()));
      await sandbox.close();
    }
  },
);

for (const threads of [0, 1]) {
  const mode = threads ? ` (--threads ${threads})` : '';
  test(`access logs as JSON lines, faults among them; accessLog: false keeps only the faults${mode}`, async () => {
    const lines: string[] = [];
    const server = await serve({ wasm: 'test/fixtures/trap.wasm', port: 0, log: (line) => lines.push(line), logFormat: 'json', threads });
    const quiet: string[] = [];
    const hello = await serve({ wasm: 'examples/hello.wasm', port: 0, log: (line) => quiet.push(line), accessLog: false, threads });
    try {
      assert.equal((await fetch(`${server.url}x?y=1`)).status, 500);
      const [fault, access] = lines.map((line) => JSON.parse(line) as Record<string, unknown>);
      assert.equal(fault!.type, 'fault');
      assert.match(String(fault!.message), /^trap: /);
      assert.equal(fault!.url, '/x?y=1');
      assert.equal(access!.type, 'access');
      assert.deepEqual(
        { method: access!.method, url: access!.url, status: access!.status, http: access!.http, remote: access!.remote },
        { method: 'GET', url: '/x?y=1', status: 500, http: '1.1', remote: '127.0.0.1' },
      );
      assert.equal(typeof access!.ms, 'number');
      assert.ok(!Number.isNaN(Date.parse(String(access!.time))));
      await fetch(hello.url);
      assert.deepEqual(quiet, []);
      await assert.rejects(
        serve({ wasm: 'examples/hello.wasm', logFormat: 'xml' as 'json', log: () => {} }),
        /options\.logFormat must be 'text' or 'json', not xml/,
      );
    } finally {
      await server.close();
      await hello.close();
    }
  });
}

/** Runs a server command until it has printed its start-up line, makes `requests` requests, stops it with SIGTERM. */
async function runCommand(args: string[], requests: (url: string) => Promise<void>): Promise<{ code: number | null; lines: string[] }> {
  const child = spawn(process.execPath, ['bin/cowpool.js', ...args], { stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => (out += chunk));
  try {
    let url: string | undefined;
    while ((url = /(http:\/\/127\.0\.0\.1:\d+)/.exec(out)?.[1]) === undefined) {
      if (child.exitCode !== null) assert.fail(`${args.join(' ')} exited: ${out}`);
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    await requests(url);
  } finally {
    child.kill('SIGTERM');
  }
  const [code] = (await once(child, 'exit')) as [number | null];
  return { code, lines: out.trim().split('\n') };
}

test('cowpool serve --log json: every line is JSON; the start-up line says what was built and how long it took', async () => {
  const { code, lines } = await runCommand(['serve', 'examples/hello.wasm', '--port', '0', '--log', 'json', '--health'], async (url) => {
    await fetch(url);
    assert.equal((await fetch(`${url}/readyz`)).status, 200);
  });
  assert.equal(code, 0);
  const entries = lines.map((line) => JSON.parse(line) as Record<string, unknown>);
  assert.deepEqual(
    entries.map((e) => e.type),
    ['start', 'access', 'stopping', 'stop'],
  );
  const [start, access, , stop] = entries;
  assert.match(
    String(start!.message),
    /^cowpool serving examples\/hello\.wasm at http:\/\/127\.0\.0\.1:\d+\/ \(.*\); built in \d+ ms \(a .* image, 1 instance\), listening/,
  );
  assert.equal(typeof start!.buildMs, 'number');
  assert.equal(typeof start!.startMs, 'number');
  assert.equal(start!.instances, 1);
  assert.equal(access!.status, 200);
  assert.equal(stop!.requests, 1, 'the /readyz probe is not counted');
  assert.match(String(stop!.message), /^cowpool: stopped after .*, 1 request answered$/);
});

test('cowpool quickjs serve logs as cowpool serve does: text by default, --quiet drops the access lines only', async () => {
  const post = async (url: string) => void (await fetch(url, { method: 'POST', body: '1 + 1' }));
  const loud = await runCommand(['quickjs', 'serve', '--port', '0'], post);
  assert.equal(loud.code, 0);
  assert.match(
    loud.lines[0]!,
    /^cowpool quickjs serving request bodies at http:\/\/127\.0\.0\.1:\d+ \(.*\); built in .* \(a .* image, 1 instance\)/,
  );
  assert.match(loud.lines[1]!, /^127\.0\.0\.1 "POST \/ HTTP\/1\.1" 200 \d+\.\d\dms$/);
  assert.deepEqual(loud.lines.slice(2), ['cowpool: SIGTERM, finishing requests in flight', loud.lines[3]]);
  assert.match(loud.lines[3]!, /^cowpool: stopped after .*, 1 request answered$/);
  const quiet = await runCommand(['quickjs', 'serve', '--port', '0', '--quiet', '--log', 'json'], post);
  assert.deepEqual(
    quiet.lines.map((line) => (JSON.parse(line) as { type: string }).type),
    ['start', 'stopping', 'stop'],
  );
});

test('cowpool serve --workers 2 --metrics: each worker answers for itself, its series labelled worker="<n>"', async () => {
  const seen = new Set<string>();
  const { code, lines } = await runCommand(['serve', 'examples/hello.wasm', '--port', '0', '--workers', '2', '--metrics'], async (url) => {
    for (let i = 0; i < 20 && seen.size < 2; i++) {
      const text = await (await fetch(`${url}/metrics`, { headers: { connection: 'close' } })).text();
      const worker = /^cowpool_uses_total\{worker="(\d+)"\} \d+$/m.exec(text)?.[1];
      assert.ok(worker, text);
      assert.match(text, new RegExp(`^process_resident_memory_bytes\\{worker="${worker}"\\} \\d+$`, 'm'));
      seen.add(worker);
    }
  });
  assert.equal(code, 0);
  assert.ok(seen.size >= 1);
  assert.match(lines[0]!, /, 2 worker processes$/);
  assert.match(lines.at(-1)!, /^cowpool: 2 workers stopped after /);
});
