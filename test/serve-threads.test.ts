/**
 * `cowpool serve --threads N` (`serve({ threads })`, `createCgiHandler({ threads })`): what guests on
 * worker threads add to the server. A runaway request gets 504 at its deadline while other requests
 * keep being answered, and the event loop keeps turning while every thread's guest spins; a guest
 * out of the fuel counter's reach is stopped with its thread past its deadline and grace, and the
 * thread is replaced; a thread that dies leaves its request a 502 and is replaced; a full queue
 * answers 503; shutdown lets the requests in flight finish and closes the image; metrics, readiness
 * and the start-up line speak of the threads; `--threads` composes with `--workers`. (What a request
 * sees is tested in both modes by serve.test.ts, serve-limits.test.ts, server-ops.test.ts and
 * handlers.test.ts.)
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { serve, type CowpoolServer, type ServeOptions } from '../src/serve/index.ts';
import { SERVE_TEST_HOOKS, type ServeTestHooks } from '../src/serve/test-hooks.ts';
import type { ThreadPoolStats } from '../src/threads/thread-pool.ts';
import { openMemfds } from './support/fds.ts';
import { startCli } from './support/cli-server.ts';

const servers: CowpoolServer[] = [];
after(() => Promise.all(servers.map((s) => s.close())));

async function start(
  options: Partial<ServeOptions> & { hooks?: ServeTestHooks } = {},
): Promise<CowpoolServer & { logs: string[]; threadStats: () => ThreadPoolStats['threads'] }> {
  const logs: string[] = [];
  const { hooks, ...rest } = options;
  const server = await serve({
    wasm: 'test/fixtures/spin.wasm',
    port: 0,
    threads: 2,
    log: (line) => logs.push(line),
    ...rest,
    ...(hooks ? { [SERVE_TEST_HOOKS]: hooks } : {}),
  });
  servers.push(server);
  const threadStats = () => (server.handler.stats().served as ThreadPoolStats).threads;
  return Object.assign(server, { logs, threadStats });
}

/** GET `url`: status, body, and how long it took in ms. */
async function get(url: string): Promise<{ status: number; body: string; ms: number }> {
  const started = performance.now();
  const res = await fetch(url);
  const body = await res.text();
  return { status: res.status, body, ms: performance.now() - started };
}

/** Sends quick requests one after another until `done` settles; their answers. */
async function meanwhile(url: string, done: Promise<unknown>): Promise<{ status: number; body: string; ms: number }[]> {
  let over = false;
  void done.finally(() => (over = true));
  const answers = [];
  while (!over) answers.push(await get(url));
  return answers;
}

test('a runaway request gets 504 at about its deadline while quick requests keep being answered', async () => {
  const server = await start({ timeout: 300 });
  const spin = get(`${server.url}?spin`);
  const quick = await meanwhile(server.url, spin);
  const runaway = await spin;
  assert.equal(runaway.status, 504);
  assert.equal(runaway.body, 'the program did not answer within 300 ms\n');
  assert.ok(runaway.ms >= 290 && runaway.ms < 2000, `answered after ${runaway.ms.toFixed(0)} ms`);
  assert.ok(quick.length >= 5, `only ${quick.length} quick requests were answered meanwhile`);
  for (const answer of quick) assert.deepEqual([answer.status, answer.body], [200, 'fast\n']);
  const slowest = Math.max(...quick.map((answer) => answer.ms));
  assert.ok(slowest < 250, `a quick request waited ${slowest.toFixed(0)} ms behind the runaway`);
  // The fuel counter stopped the guest at its deadline: the thread was kept.
  assert.equal(server.threadStats().replaced, 0);
  assert.equal(server.handler.stats().served.timeouts, 1);
});

test("the event loop keeps turning while every thread's guest spins", async () => {
  const server = await start({ timeout: 600 });
  const delay = monitorEventLoopDelay({ resolution: 5 });
  const spins = [get(`${server.url}?spin`), get(`${server.url}?spin`)];
  // Measure while both threads spin (they are busy from the moment the requests reach them).
  while (server.threadStats().busy < 2) await new Promise((resolve) => setTimeout(resolve, 5));
  delay.enable();
  await new Promise((resolve) => setTimeout(resolve, 400));
  delay.disable();
  for (const spin of await Promise.all(spins)) assert.equal(spin.status, 504);
  // On the calling thread, each spin would hold the loop for its whole 600 ms.
  const p99 = delay.percentile(99) / 1e6 - 5;
  assert.ok(p99 < 50, `event loop delay p99 ${p99.toFixed(1)} ms while the guests spun`);
});

test('a guest out of the fuel counter’s reach is stopped with its thread past deadline and grace; the thread is replaced', async () => {
  const memfds = openMemfds();
  // The hook withholds the deadline from the threads' pools: only the hard stop can end the loop.
  const server = await start({ timeout: 200, grace: 100, hooks: { uninterruptible: true } });
  assert.equal(openMemfds(), memfds + 1, 'one image for both threads');
  const spin = get(`${server.url}?spin`);
  const quick = await meanwhile(server.url, spin);
  const runaway = await spin;
  assert.equal(runaway.status, 504);
  assert.equal(runaway.body, 'the program did not answer within 200 ms\n');
  assert.ok(runaway.ms >= 290 && runaway.ms < 2000, `answered after ${runaway.ms.toFixed(0)} ms`);
  for (const answer of quick) assert.equal(answer.status, 200);
  assert.ok(
    server.logs.some((line) =>
      /^timeout: the program did not finish within 200 ms \(nor within the 100 ms grace after it\) and was stopped/.test(line),
    ),
    server.logs.join('\n'),
  );
  assert.match(
    server.logs.find((line) => line.includes('?spin'))!,
    /"GET \/\?spin HTTP\/1\.1" 504 /,
  );
  for (let i = 0; i < 4; i++) assert.equal((await get(server.url)).body, 'fast\n');
  assert.equal(server.threadStats().replaced, 1);
  assert.equal(server.handler.stats().served.timeouts, 1);
  await server.close();
  assert.equal(openMemfds(), memfds, 'the image was closed once every thread had exited');
});

test('a thread that dies leaves its request a 502 and is replaced; the next requests are served', async () => {
  const server = await start({ hooks: { exitOnUrl: '/die' } });
  const died = await get(`${server.url}die`);
  assert.equal(died.status, 502);
  assert.equal(died.body, 'the worker thread running the program exited; it was replaced\n');
  assert.ok(
    server.logs.some((line) => /^thread exited: the worker thread running this use exited \(code 1\)/.test(line)),
    server.logs.join('\n'),
  );
  const after_ = await Promise.all([get(server.url), get(server.url), get(server.url)]);
  for (const answer of after_) assert.equal(answer.body, 'fast\n');
  assert.equal(server.threadStats().replaced, 1);
  assert.equal(server.handler.readiness().ready, true);
});

test('a request beyond maxQueue gets 503 at once; the queue refusals are counted', async () => {
  const server = await start({ threads: 1, maxQueue: 1, metrics: true });
  const busy = get(`${server.url}?busy=300`);
  while (server.threadStats().busy < 1) await new Promise((resolve) => setTimeout(resolve, 5));
  const queued = get(server.url); // waits for the thread
  while (server.threadStats().queued < 1) await new Promise((resolve) => setTimeout(resolve, 5));
  const refused = await get(server.url);
  assert.equal(refused.status, 503);
  assert.equal(refused.body, 'the server is busy: all 1 threads run guests and the queue is full\n');
  assert.ok(refused.ms < 200, `refused after ${refused.ms.toFixed(0)} ms`);
  assert.equal((await busy).body, 'done\n');
  assert.equal((await queued).body, 'fast\n');
  const metrics = await (await fetch(`${server.url}metrics`)).text();
  assert.match(metrics, /^cowpool_queue_refusals_total 1$/m);
  assert.match(metrics, /^cowpool_http_requests_total\{code="503"\} 1$/m);
});

test('shutdown lets the requests in flight finish, answers later ones 503, and closes the image', async () => {
  const memfds = openMemfds();
  const server = await start({});
  const inFlight = [get(`${server.url}?busy=200`), get(`${server.url}?busy=200`)];
  while (server.threadStats().busy < 2) await new Promise((resolve) => setTimeout(resolve, 5));
  const closed = server.handler.close();
  const late = await get(server.url);
  assert.equal(late.status, 503);
  assert.equal(late.body, 'the server is shutting down\n');
  assert.equal(server.handler.readiness().ready, false);
  for (const answer of await Promise.all(inFlight)) assert.deepEqual([answer.status, answer.body], [200, 'done\n']);
  await closed;
  await server.close();
  assert.equal(openMemfds(), memfds);
});

test('readiness, metrics and the pool: summed over threads, with the threads’ own counters', async () => {
  const server = await start({ health: true, metrics: true });
  for (let i = 0; i < 5; i++) await get(server.url);
  const ready = (await (await fetch(`${server.url}readyz`)).json()) as Record<string, unknown>;
  assert.deepEqual(
    { status: ready.status, module: ready.module, threads: ready.threads, instances: ready.instances },
    { status: 'ready', module: 'spin.wasm', threads: 2, instances: 2 },
  );
  const text = await (await fetch(`${server.url}metrics`)).text();
  assert.match(text, /^cowpool_uses_total 5$/m);
  assert.match(text, /^cowpool_threads\{state="idle"\} 2$/m);
  assert.match(text, /^cowpool_threads\{state="busy"\} 0$/m);
  assert.match(text, /^cowpool_thread_replacements_total 0$/m);
  assert.match(text, /^cowpool_instances\{state="idle"\} 2$/m);
  if (spawnSync('promtool', ['--version']).status === 0) {
    const check = spawnSync('promtool', ['check', 'metrics'], { input: text, encoding: 'utf8' });
    assert.equal(check.status, 0, `promtool: ${check.stdout}${check.stderr}`);
  }
  assert.equal(server.handler.threads, 2);
  assert.equal(server.handler.describe().max, 2);
  assert.throws(() => server.pool, /runs its guests on 2 worker threads, each with its own pool: .* read stats\(\)/);
  assert.equal(server.handler.stats().served.uses, 5);
});

test('threads options are checked: a count, and maxQueue and grace only with threads', async () => {
  await assert.rejects(serve({ wasm: 'examples/hello.wasm', threads: 1.5 }), /serve options\.threads must be an integer of at least 0/);
  await assert.rejects(
    serve({ wasm: 'examples/hello.wasm', maxQueue: 4 }),
    /serve options\.maxQueue applies to uses on worker threads; set serve options\.threads \(0 runs uses on this thread\)/,
  );
  await assert.rejects(
    serve({ wasm: 'examples/hello.wasm', threads: 1, grace: -1 }),
    /serve options\.grace must be a non-negative number of ms/,
  );
  await assert.rejects(serve({ wasm: 'examples/counter.wasm', threads: 1 }), /is not a WASI command module/);
  const server = await serve({ wasm: 'examples/hello.wasm', port: 0, threads: 0 });
  servers.push(server);
  assert.equal(server.handler.threads, 0);
  assert.equal(server.pool.describe().max, 1, 'threads: 0 is the calling thread');
});

/** Runs `cowpool serve test/fixtures/spin.wasm` with `args` (`support/cli-server.ts`). */
const cli = (args: string[]) => startCli(['serve', 'test/fixtures/spin.wasm', '--port', '0', ...args]);

test('npx cowpool serve --threads 2: the start-up line says so; a runaway gets 504; SIGTERM stops it', async () => {
  const server = await cli(['--threads', '2', '--timeout', '300ms', '--grace', '50ms', '--max-queue', '16']);
  assert.match(server.out(), /built in .* \(a .* image, 2 instances on 2 worker threads\)/);
  const [runaway, quick] = await Promise.all([get(`${server.url}?spin`), get(server.url)]);
  assert.equal(runaway.status, 504);
  assert.equal(quick.body, 'fast\n');
  assert.equal(await server.stop(), 0);
  assert.match(server.out(), /stopped after .*, 2 requests answered/);
});

test('npx cowpool serve --workers 2 --threads 2: the two compose, two processes of two threads', async () => {
  const server = await cli(['--workers', '2', '--threads', '2', '--log', 'json']);
  const answers = await Promise.all(Array.from({ length: 8 }, () => get(server.url)));
  for (const answer of answers) assert.equal(answer.body, 'fast\n');
  assert.equal(await server.stop(), 0);
  const start = server
    .out()
    .split('\n')
    .map((line) => (line.startsWith('{') ? (JSON.parse(line) as Record<string, unknown>) : {}))
    .find((line) => line.type === 'start');
  assert.deepEqual(
    { threads: start?.threads, workers: start?.workers, instances: start?.instances },
    { threads: 2, workers: 2, instances: 2 },
  );
});

test('npx cowpool serve: --max-queue and --grace without --threads are refused, exit 2', async () => {
  for (const flag of [
    ['--max-queue', '4'],
    ['--grace', '1s'],
  ]) {
    const child = spawn(process.execPath, ['bin/cowpool.js', 'serve', 'examples/hello.wasm', ...flag], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let err = '';
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (err += chunk));
    const [code] = await once(child, 'exit');
    assert.equal(code, 2);
    assert.match(err, new RegExp(`${flag[0]} applies to guests on worker threads: add --threads N`));
  }
});
