/**
 * The dispatcher against real worker threads running a tiny engine (fixtures/threads/test-engine.ts):
 * results and typed errors come back, the queue is bounded, signals abort waiting and running uses,
 * a use past its deadline and grace is stopped with its thread, which is replaced while the other
 * threads carry on, a thread that dies is replaced, close drains or forces, and nothing leaks.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  AbortedError,
  AcquireTimeoutError,
  GuestTimeoutError,
  GuestTrapError,
  InvalidArgumentError,
  PoolClosedError,
  QueueFullError,
  ThreadExitedError,
} from '../src/errors.ts';
import { Dispatcher, type DispatcherSpec } from '../src/threads/dispatcher.ts';
import { fillThreadOptions, type ThreadOptions } from '../src/threads/options.ts';
import { openMemfds } from './support/fds.ts';
import { wat } from './support/wat.ts';
import type { TestInput, TestParts } from './fixtures/threads/test-engine.ts';

const ENGINE = new URL('./fixtures/threads/test-engine.ts', import.meta.url);
const spin = new WebAssembly.Module(wat('(module (func (export "spin") (loop $l (br $l))))'));

function spec(parts: Partial<TestParts> = {}, extra: Partial<DispatcherSpec> = {}): DispatcherSpec {
  return { engine: ENGINE, parts: { greeting: 'hello', spin, ...parts } satisfies TestParts, gauges: ['level'], ...extra };
}

async function dispatcher(options: ThreadOptions = {}, parts: Partial<TestParts> = {}, extra: Partial<DispatcherSpec> = {}) {
  return Dispatcher.create<TestInput, unknown>(spec(parts, extra), fillThreadOptions({ threads: 2, ...options }));
}

test('uses run on the threads, built from the parts, and their results and stats come back', async () => {
  const d = await dispatcher();
  const results = (await Promise.all([1, 2, 3, 4].map((value) => d.run({ op: 'echo', value })))) as {
    greeting: string;
    index: number;
    value: number;
  }[];
  assert.deepEqual(
    results.map((r) => [r.greeting, r.value]),
    [1, 2, 3, 4].map((v) => ['hello', v]),
  );
  assert.deepEqual(new Set(results.map((r) => r.index)), new Set([0, 1]), 'both threads served');
  assert.deepEqual(d.engineDescription, { engine: 'test', greeting: 'hello' });
  const bytes = (await d.run({ op: 'bytes', length: 4096 })) as Uint8Array;
  assert.equal(bytes.length, 4096);
  assert.equal(bytes[4095], 7);
  const stats = d.stats();
  assert.equal(stats.threads, 2);
  assert.equal(stats.busy, 0);
  assert.equal(stats.completed, 5);
  assert.deepEqual(stats.engine, { uses: 5, echoes: 4, level: 2, nested: { bytes: 4096 } });
  assert.equal(stats.perThread.length, 2);
  await d.close();
});

test("errors arrive typed: the engine's own, a plain one, an uncloneable result, an uncloneable input", async () => {
  const d = await dispatcher({ threads: 1 });
  await assert.rejects(
    d.run({ op: 'throw-trap' }),
    (err: unknown) => err instanceof GuestTrapError && err.message === 'guest trapped: unreachable',
  );
  await assert.rejects(d.run({ op: 'throw-type' }), (err: unknown) => Object.getPrototypeOf(err) === TypeError.prototype);
  await assert.rejects(
    d.run({ op: 'function' }),
    (err: unknown) => err instanceof InvalidArgumentError && /cannot be sent to the calling thread/.test(err.message),
  );
  await assert.rejects(
    d.run({ op: 'echo', value: () => 1 }),
    (err: unknown) => err instanceof InvalidArgumentError && /input cannot be sent/.test(err.message),
  );
  assert.deepEqual(await d.run({ op: 'echo', value: 1 }), { greeting: 'hello', index: 0, value: 1 }, 'the thread still serves');
  assert.equal(d.stats().replaced, 0);
  await assert.rejects(d.run({ op: 'echo', value: 1 }, { timeout: -1 }), InvalidArgumentError);
  await assert.rejects(d.run({ op: 'echo', value: 1 }, { bogus: 1 } as never), /unknown option 'bogus'/);
  await d.close();
});

test('the queue is bounded by maxQueue; a full queue refuses with QueueFullError', async () => {
  const d = await dispatcher({ threads: 1, maxQueue: 1 });
  const running = d.run({ op: 'block', ms: 200 });
  const queued = d.run({ op: 'echo', value: 'second' });
  await assert.rejects(d.run({ op: 'echo', value: 'third' }), (err: unknown) => err instanceof QueueFullError && err.maxQueue === 1);
  assert.equal(d.stats().queued, 1);
  assert.equal(await running, 0);
  assert.equal(((await queued) as { value: string }).value, 'second');
  assert.equal(d.stats().refused, 1);
  await d.close();
});

test('a waiting use stops waiting at its acquireTimeout, or when aborted, and never runs', async () => {
  const d = await dispatcher({ threads: 1 });
  const running = d.run({ op: 'block', ms: 200 });
  const timedOut = d.run({ op: 'echo', value: 1 }, { acquireTimeout: 20 });
  const controller = new AbortController();
  const aborted = d.run({ op: 'echo', value: 2 }, { signal: controller.signal });
  controller.abort(new Error('no longer needed'));
  await assert.rejects(
    aborted,
    (err: unknown) => err instanceof AbortedError && /did not run/.test(err.message) && (err.cause as Error).message === 'no longer needed',
  );
  await assert.rejects(timedOut, AcquireTimeoutError);
  await assert.rejects(d.run({ op: 'echo', value: 3 }, { signal: AbortSignal.abort() }), AbortedError);
  await running;
  assert.equal(d.stats().engine.uses, 1, 'only the running use ran');
  assert.equal(d.stats().aborted, 2);
  await d.close();
});

for (const op of ['spin-js', 'spin-wasm'] as const) {
  test(`a use in ${op} past its deadline and grace is stopped with its thread; the other thread carries on`, async () => {
    const d = await dispatcher({ threads: 2, grace: 50 });
    const started = performance.now();
    const other = d.run({ op: 'block', ms: 300 });
    await assert.rejects(
      d.run({ op }, { timeout: 100 }),
      (err: unknown) => err instanceof GuestTimeoutError && err.timeoutMs === 100 && /worker thread/.test(err.message),
    );
    const elapsed = performance.now() - started;
    assert.ok(elapsed >= 150 && elapsed < 1000, `stopped after ${elapsed.toFixed(0)} ms (deadline 100 + grace 50)`);
    assert.equal(typeof (await other), 'number', 'the use on the other thread finished');
    assert.equal(((await d.run({ op: 'echo', value: 'after' }, { timeout: 1000 })) as { value: string }).value, 'after');
    const stats = d.stats();
    assert.equal(stats.replaced, 1);
    assert.equal(stats.timedOut, 1);
    await d.close();
  });
}

test('a deadline beyond what a timer can wait (24.8 days) is no deadline, not an immediate stop', async () => {
  const d = await dispatcher({ threads: 1, timeout: 3e9, acquireTimeout: 3e9 });
  assert.equal(await d.run({ op: 'block', ms: 20 }), 0);
  assert.equal(d.stats().replaced, 0);
  await d.close();
});

test('an engine that stops its guest itself at the deadline keeps its thread', async () => {
  const d = await dispatcher({ threads: 1, grace: 200 });
  await assert.rejects(d.run({ op: 'soft-timeout' }, { timeout: 30 }), GuestTimeoutError);
  assert.equal(d.stats().replaced, 0);
  await d.close();
});

test('a running use aborted by its signal is stopped with its thread, which is replaced', async () => {
  const d = await dispatcher({ threads: 1 });
  const controller = new AbortController();
  const use = d.run({ op: 'spin-js' }, { signal: controller.signal });
  await sleep(30);
  controller.abort('enough');
  await assert.rejects(use, (err: unknown) => err instanceof AbortedError && /while it ran/.test(err.message) && err.cause === 'enough');
  assert.equal(((await d.run({ op: 'echo', value: 'next' })) as { value: string }).value, 'next');
  assert.equal(d.stats().replaced, 1);
  await d.close();
});

test('a thread that dies is replaced: its use gets ThreadExitedError, later ones run', async () => {
  const d = await dispatcher({ threads: 1 });
  await assert.rejects(d.run({ op: 'exit', code: 7 }), (err: unknown) => err instanceof ThreadExitedError && err.exitCode === 7);
  assert.equal(d.stats().replaced, 1);
  assert.equal(await d.run({ op: 'crash-later' }), 'answered');
  for (let i = 0; i < 400 && d.stats().replaced < 2; i++) await sleep(5);
  // The crash came between uses: the thread is replaced and the next use does not notice.
  assert.equal(((await d.run({ op: 'echo', value: 'ok' })) as { value: string }).value, 'ok');
  assert.equal(d.stats().replaced, 2);
  // The use that ended its thread never finished, so its engine never counted it; the one before the crash was.
  assert.equal(d.stats().engine.uses, 2, 'the counts of ended threads are kept');
  assert.equal(d.stats().engine.level, 1, 'a level is not: only the live thread counts');
  await d.close();
});

test('a replacement that cannot start is retried; meanwhile waiting uses get its error, not an endless wait', async () => {
  const flag = join(mkdtempSync(join(tmpdir(), 'cowpool-threads-')), 'refuse');
  const d = await dispatcher({ threads: 1 }, { failWhileFile: flag });
  writeFileSync(flag, '');
  await assert.rejects(d.run({ op: 'exit', code: 1 }), ThreadExitedError);
  // No thread is alive and its replacement refuses to start: a waiting use gets the reason.
  await assert.rejects(d.run({ op: 'echo', value: 1 }), (err: unknown) => err instanceof GuestTrapError && /flag file/.test(err.message));
  rmSync(flag);
  let answer: unknown;
  for (let i = 0; i < 100 && answer === undefined; i++) {
    answer = await d.run({ op: 'echo', value: 'back' }).catch(() => sleep(20).then(() => undefined));
  }
  assert.equal((answer as { value: string }).value, 'back', 'a retry started once it could');
  await d.close();
});

test('create rejects with the error of an engine that failed to start, or overran the start timeout', async () => {
  await assert.rejects(
    dispatcher({ threads: 2 }, { failCreate: 'throw', failIndex: 1 }),
    (err: unknown) => err instanceof GuestTrapError && /refused to start/.test(err.message),
  );
  await assert.rejects(
    dispatcher({ threads: 1 }, { failCreate: 'spin' }, { startTimeout: 200, what: 'the test engine' }),
    (err: unknown) => err instanceof GuestTimeoutError && /the test engine did not finish starting/.test(err.message),
  );
  await assert.rejects(
    Dispatcher.create(
      spec({}, { engine: new URL('./fixtures/threads/no-such-engine.ts', import.meta.url) }),
      fillThreadOptions({ threads: 1 }),
    ),
    /no-such-engine/,
  );
});

test('close() lets running and waiting uses finish, refuses new ones, and leaves no descriptor', async () => {
  const memfds = openMemfds();
  const d = await dispatcher({ threads: 2 });
  const uses = [d.run({ op: 'block', ms: 100 }), d.run({ op: 'sleep', ms: 100 }), d.run({ op: 'echo', value: 'queued' })];
  const closed = d.close();
  await assert.rejects(d.run({ op: 'echo', value: 'late' }), PoolClosedError);
  const results = await Promise.all(uses);
  assert.equal((results[2] as { value: string }).value, 'queued');
  await closed;
  assert.equal(d.close(), closed, 'close() is idempotent');
  assert.equal(openMemfds(), memfds);
});

test('close({ force }) rejects waiting and running uses and closes what the threads held', async () => {
  const held = openMemfds('cowpool-test-engine-held');
  const d = await dispatcher({ threads: 1 });
  const running = d.run({ op: 'hold-fd' });
  const waiting = d.run({ op: 'echo', value: 1 });
  for (let i = 0; i < 100 && openMemfds('cowpool-test-engine-held') === held; i++) await sleep(5);
  assert.equal(openMemfds('cowpool-test-engine-held'), held + 1, 'the engine holds a memfd');
  await Promise.all([
    d.close({ force: true }),
    assert.rejects(running, (err: unknown) => err instanceof PoolClosedError && /while this use ran/.test(err.message)),
    assert.rejects(waiting, (err: unknown) => err instanceof PoolClosedError && /did not run/.test(err.message)),
  ]);
  assert.equal(openMemfds('cowpool-test-engine-held'), held, "the thread's ledger closed its memfd");
});

test('a hard stop leaks no descriptor either', async () => {
  const held = openMemfds('cowpool-test-engine-held');
  const d = await dispatcher({ threads: 1, grace: 10 });
  await assert.rejects(d.run({ op: 'hold-fd' }, { timeout: 50 }), GuestTimeoutError);
  // The caller hears at once; the thread's descriptors close when it has exited, which close() waits for.
  await d.close();
  assert.equal(openMemfds('cowpool-test-engine-held'), held);
});

test("the main thread's event loop keeps turning while every thread spins", async () => {
  const d = await dispatcher({ threads: 2, grace: 0 });
  const histogram = monitorEventLoopDelay({ resolution: 1 });
  histogram.enable();
  await Promise.allSettled([d.run({ op: 'spin-wasm' }, { timeout: 200 }), d.run({ op: 'spin-js' }, { timeout: 200 })]);
  histogram.disable();
  const p99 = histogram.percentile(99) / 1e6;
  // The bench holds the strict bound (5 ms); a loaded test machine gets slack, far below the 200 ms a guest on the thread would cost.
  assert.ok(p99 < 50, `event-loop delay p99 ${p99.toFixed(1)} ms while both threads spun`);
  await d.close();
});

test('thread options are checked and name the option', () => {
  assert.throws(() => fillThreadOptions({ threads: 0 }), /options\.threads must be an integer of at least 1, not 0/);
  assert.throws(() => fillThreadOptions({ maxQueue: -1 }), /options\.maxQueue/);
  assert.throws(() => fillThreadOptions({ grace: -1 }), /options\.grace/);
  assert.throws(() => fillThreadOptions({ timeout: 0 }), /options\.timeout/);
  assert.deepEqual(fillThreadOptions({ threads: 3 }), {
    threads: 3,
    maxQueue: Infinity,
    timeout: Infinity,
    grace: 100,
    acquireTimeout: Infinity,
  });
});

test('a thread stopped while it loads its native layer does not take the process down', () => {
  // Terminating a worker while koffi's addon registers aborts the whole process (a fatal error in
  // node-addon-api); the thread waits for its native layer before terminating. Without that wait,
  // this sweep of stops across the start aborted about one run in three here.
  const script = new URL('./fixtures/threads/stop-while-starting.ts', import.meta.url);
  const run = spawnSync(process.execPath, ['--import', 'tsx', fileURLToPath(script), '40'], { encoding: 'utf8' });
  assert.equal(run.status, 0, `the child exited with ${run.status} (${run.signal ?? 'no signal'}): ${run.stderr.slice(0, 2000)}`);
  assert.match(run.stdout, /survived 40 stops/);
});
