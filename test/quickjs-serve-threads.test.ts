/**
 * `cowpool quickjs serve --threads N` and `createQuickJSServer` over a sandbox with `threads`: the
 * scripts run on worker threads. A runaway script gets 504 at about its deadline while quick ones
 * keep being answered; a host function that never returns is stopped with its thread past deadline
 * and grace (504), one that ends its thread leaves its request a 502, and both threads are replaced;
 * a full queue answers 503 (on the calling thread too, where a script awaiting a timer holds its
 * context); readiness and metrics speak of the threads; the command takes `--threads`,
 * `--max-queue` and `--grace`, and refuses `--pool` with `--threads`.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { createQuickJSServer, QuickJSSandbox, type QuickJSServer } from '../src/quickjs/index.ts';
import { startCli } from './support/cli-server.ts';

const FUNCTIONS = new URL('./fixtures/threads/quickjs-functions.mjs', import.meta.url);

/** POST `script`: status, parsed answer, and how long it took in ms. */
async function post(url: string, script: string): Promise<{ status: number; json: Record<string, unknown>; ms: number }> {
  const started = performance.now();
  const res = await fetch(url, { method: 'POST', body: script });
  const json = (await res.json()) as Record<string, unknown>;
  return { status: res.status, json, ms: performance.now() - started };
}

describe('createQuickJSServer over a sandbox with threads', () => {
  let sandbox: QuickJSSandbox;
  let server: QuickJSServer;
  let url: string;
  const logs: string[] = [];

  before(async () => {
    sandbox = await QuickJSSandbox.create({ threads: 2, timeout: 300, grace: 100, functions: FUNCTIONS, maxQueue: 8 });
    server = createQuickJSServer(sandbox, { health: true, metrics: true, log: (line) => logs.push(line) });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
  });
  after(async () => {
    await new Promise<void>((resolve) => server.close(() => resolve()));
    await sandbox.close();
  });

  test('a runaway script gets 504 at about its deadline while quick scripts keep being answered', async () => {
    let over = false;
    const runaway = post(url, 'for (;;) {}').finally(() => (over = true));
    const quick = [];
    while (!over) quick.push(await post(url, 'twice(21)'));
    const stopped = await runaway;
    assert.equal(stopped.status, 504);
    assert.ok(stopped.ms >= 290 && stopped.ms < 2000, `answered after ${stopped.ms.toFixed(0)} ms`);
    assert.ok(quick.length >= 5, `only ${quick.length} quick scripts were answered meanwhile`);
    for (const answer of quick) assert.deepEqual([answer.status, answer.json.value], [200, 42]);
    const slowest = Math.max(...quick.map((answer) => answer.ms));
    assert.ok(slowest < 250, `a quick script waited ${slowest.toFixed(0)} ms behind the runaway`);
  });

  test('a host function out of every deadline check is stopped with its thread (504), and the thread replaced', async () => {
    const before_ = sandbox.stats().threads!.replaced;
    const stopped = await post(url, 'hang()');
    assert.equal(stopped.status, 504);
    assert.ok(stopped.ms >= 390 && stopped.ms < 3000, `answered after ${stopped.ms.toFixed(0)} ms`);
    assert.equal((await post(url, 'twice(2)')).json.value, 4);
    assert.equal(sandbox.stats().threads!.replaced, before_ + 1);
  });

  test('a host function that ends its thread leaves its request a 502, logged; the next requests are served', async () => {
    const died = await post(url, 'die()');
    assert.equal(died.status, 502);
    assert.deepEqual(died.json, { error: { name: 'Error', message: 'the worker thread running the script exited; it was replaced' } });
    assert.ok(
      logs.some((line) => /^thread exited: the worker thread running this use exited \(code 3\)/.test(line)),
      logs.join('\n'),
    );
    for (let i = 0; i < 3; i++) assert.equal((await post(url, '1 + 1')).json.value, 2);
  });

  test('readiness and metrics speak of the threads', async () => {
    // The threads replaced above may still be starting.
    while (sandbox.stats().threads!.threads < 2) await new Promise((resolve) => setTimeout(resolve, 10));
    const ready = (await (await fetch(`${url}readyz`)).json()) as Record<string, unknown>;
    assert.deepEqual(
      { status: ready.status, threads: ready.threads, instances: ready.instances },
      { status: 'ready', threads: 2, instances: 2 },
    );
    const text = await (await fetch(`${url}metrics`)).text();
    assert.match(text, /^cowpool_threads\{state="idle"\} 2$/m);
    assert.match(text, /^cowpool_thread_replacements_total 2$/m);
    assert.match(text, /^cowpool_http_requests_total\{code="502"\} 1$/m);
  });
});

/** Serves `sandbox` on a loopback port for `use(url)`, then closes the server and the sandbox. */
async function serving(sandbox: QuickJSSandbox, use: (url: string) => Promise<void>): Promise<void> {
  const server = createQuickJSServer(sandbox);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  try {
    await use(`http://127.0.0.1:${(server.address() as AddressInfo).port}/`);
  } finally {
    await new Promise<void>((resolve) => server.close(() => resolve()));
    await sandbox.close();
  }
}

test('a request beyond maxQueue gets 503 at once', async () => {
  const sandbox = await QuickJSSandbox.create({ threads: 1, maxQueue: 0, timeout: 300 });
  await serving(sandbox, async (url) => {
    const busy = post(url, 'const t = Date.now(); while (Date.now() - t < 200) {} "done"');
    while (sandbox.stats().threads!.busy < 1) await new Promise((resolve) => setTimeout(resolve, 5));
    const refused = await post(url, '1');
    assert.equal(refused.status, 503);
    assert.match(String((refused.json.error as { message: string }).message), /the server is busy/);
    assert.equal((await busy).json.value, 'done');
  });
});

test('without threads, a request beyond maxQueue gets 503 at once while an awaiting script holds the context', async () => {
  const sandbox = await QuickJSSandbox.create({ max: 1, maxQueue: 0, timeout: 2000 });
  await serving(sandbox, async (url) => {
    const busy = post(url, 'await new Promise((resolve) => setTimeout(resolve, 200)); "done"');
    while (sandbox.stats().pool.leased < 1) await new Promise((resolve) => setTimeout(resolve, 5));
    const refused = await post(url, '1');
    assert.equal(refused.status, 503);
    assert.equal((await busy).json.value, 'done');
    assert.equal(sandbox.stats().pool.refused, 1);
    assert.equal((await post(url, '1 + 1')).json.value, 2, 'served again once the context is free');
  });
});

test('npx cowpool quickjs serve --threads 2: says so at start, stops a runaway, stops on SIGTERM', async () => {
  const server = await startCli('quickjs serve --port 0 --timeout 200ms --threads 2 --grace 50ms --max-queue 8'.split(' '));
  assert.match(server.out(), /\(a .* image, 2 instances on 2 worker threads\)/);
  const [runaway, quick] = await Promise.all([post(server.url, 'for (;;) {}'), post(server.url, '6 * 7')]);
  assert.equal(runaway.status, 504);
  assert.equal(quick.json.value, 42);
  assert.equal(await server.stop(), 0);
});

test('npx cowpool quickjs serve: --pool with --threads, and --grace without it, are refused', async () => {
  for (const [flags, message] of [
    [['--threads', '2', '--pool', '4'], /--pool does not apply with --threads/],
    [['--grace', '1s'], /--grace applies to scripts on worker threads: add --threads N/],
    [['--max-queue', '-1'], /--max-queue/],
  ] as const) {
    const child = spawn(process.execPath, ['bin/cowpool.js', 'quickjs', 'serve', ...flags], { stdio: ['ignore', 'pipe', 'pipe'] });
    let err = '';
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (err += chunk));
    const [code] = await once(child, 'exit');
    assert.equal(code, 2, err);
    assert.match(err, message);
  }
});
