/**
 * The dispatcher's window against real worker threads (fixtures/threads/test-engine.ts): when every
 * thread is busy a use is posted behind a running one, and the worker runs it without waiting for
 * the main thread, one use at a time and in order; and every guarantee of the thread layer holds
 * with uses posted ahead: a use's deadline and hard stop count from its start, not its post; uses
 * posted behind one that is stopped (hard stop, death) run on another thread rather than fail; an
 * abort or an acquire timeout takes a posted use back unrun, and one the worker had just started is
 * stopped as a running use; a thread that falls idle takes back a use posted behind a long one;
 * `maxQueue` counts posted uses; stats right after a use include it; transfers are moved only to an
 * idle thread. The races with the worker are forced by blocking the main thread while it works.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { AbortedError, AcquireTimeoutError, GuestTimeoutError, QueueFullError, ThreadExitedError } from '../src/errors.ts';
import { COPY_BEHIND_LIMIT, Dispatcher, WINDOW, type DispatcherSpec } from '../src/threads/dispatcher.ts';
import { fillThreadOptions, type ThreadOptions } from '../src/threads/options.ts';
import { QuickJSSandbox } from '../src/quickjs/index.ts';
import { wat } from './support/wat.ts';
import type { NowResult, TestInput, TestParts, TrackResult } from './fixtures/threads/test-engine.ts';

const ENGINE = new URL('./fixtures/threads/test-engine.ts', import.meta.url);
const spin = new WebAssembly.Module(wat('(module (func (export "spin") (loop $l (br $l))))'));

async function dispatcher(options: ThreadOptions = {}, extra: Partial<DispatcherSpec> = {}) {
  const spec: DispatcherSpec = { engine: ENGINE, parts: { greeting: 'hello', spin } satisfies TestParts, gauges: ['level'], ...extra };
  return Dispatcher.create<TestInput, unknown>(spec, fillThreadOptions({ threads: 1, ...options }));
}

/** Blocks this thread for `ms` (the worker carries on meanwhile: what it does is then decided before we look). */
function blockMain(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

const now = () => performance.timeOrigin + performance.now();

test('the window is 4 uses a thread', () => {
  assert.equal(WINDOW, 4);
});

test('a use posted behind a running one runs when that one ends, without waiting for this thread', async () => {
  const d = await dispatcher();
  try {
    const first = d.run({ op: 'block', ms: 50 });
    const second = d.run({ op: 'now' });
    assert.equal(d.stats().queued, 1, 'posted behind the running use, it counts as waiting');
    const before = now();
    blockMain(200);
    const after = now();
    assert.equal(await first, 0);
    const ran = ((await second) as NowResult).at;
    assert.ok(ran >= before && ran < after, 'the second use ran while this thread was blocked: the worker had it already');
    assert.equal(d.stats().queued, 0);
  } finally {
    await d.close();
  }
});

test("a thread's uses run one at a time and in order, an async engine's use finishing before the next begins", async () => {
  const d = await dispatcher({}, { window: 4 });
  try {
    const results = (await Promise.all(Array.from({ length: 8 }, () => d.run({ op: 'track', ms: 5 })))) as TrackResult[];
    assert.deepEqual(
      results.map((r) => r.turn),
      [0, 1, 2, 3, 4, 5, 6, 7],
    );
    assert.equal(Math.max(...results.map((r) => r.mostAtOnce)), 1, 'never two at once');
  } finally {
    await d.close();
  }
});

test("a posted use's deadline and hard stop count from its start on the thread, not from its post", async () => {
  const d = await dispatcher({ grace: 10 });
  try {
    const first = d.run({ op: 'block', ms: 150 });
    // Posted at once behind a 150 ms use: its 100 ms (+ 10) would be long gone if they counted from here.
    const second = d.run({ op: 'block', ms: 50 }, { timeout: 100 });
    const third = d.run({ op: 'soft-timeout' }, { timeout: 40 });
    assert.equal(await first, 0);
    assert.equal(await second, 0, 'not stopped: it ran 50 ms of its 100');
    await assert.rejects(third, GuestTimeoutError);
    assert.equal(d.stats().replaced, 0);
  } finally {
    await d.close();
  }
  // The engine's own deadline (the fuel counter of a QuickJS context) also counts from the start.
  const s = await QuickJSSandbox.create({ threads: 1, timeout: 1000, grace: 20 });
  try {
    const spin = (ms: number) => `const end = Date.now() + ${ms}; while (Date.now() < end); ${ms}`;
    const results = await Promise.all([s.eval(spin(150)), s.eval(spin(50), { timeout: 100 })]);
    assert.deepEqual(results, [150, 50]);
    assert.equal(s.stats().threads?.replaced, 0);
  } finally {
    await s.close();
  }
});

test('uses posted behind a use stopped with its thread run on its replacement; none is rejected', async () => {
  const d = await dispatcher({ grace: 10 });
  try {
    const bytes = new Uint8Array(1024).fill(3);
    const runaway = d.run({ op: 'spin-js' }, { timeout: 50 });
    const behind = d.run({ op: 'echo', value: bytes }, {}, [bytes.buffer]);
    await assert.rejects(runaway, GuestTimeoutError);
    const echoed = (await behind) as { value: Uint8Array };
    assert.deepEqual(echoed.value, new Uint8Array(1024).fill(3), "it ran, on the replacement, the input's copy intact");
    const stats = d.stats();
    assert.equal(stats.replaced, 1);
    assert.equal(stats.failed, 1, 'only the runaway failed');
    assert.equal(stats.engine.echoes, 1, 'the echo ran once');
  } finally {
    await d.close();
  }
});

test('uses posted behind a use whose thread died run on its replacement', async () => {
  const d = await dispatcher();
  try {
    const dies = d.run({ op: 'exit', code: 3 });
    const behind = [d.run({ op: 'echo', value: 1 }), d.run({ op: 'echo', value: 2 })];
    await assert.rejects(dies, (err: unknown) => err instanceof ThreadExitedError && err.exitCode === 3);
    const values = ((await Promise.all(behind)) as { value: number }[]).map((r) => r.value);
    assert.deepEqual(values, [1, 2], 'in order, on the replacement');
    assert.equal(d.stats().replaced, 1);
  } finally {
    await d.close();
  }
});

test('an abort takes a posted use back: it never runs, and its thread carries on', async () => {
  const d = await dispatcher();
  try {
    const running = d.run({ op: 'block', ms: 100 });
    const controller = new AbortController();
    const posted = d.run({ op: 'echo', value: 'no' }, { signal: controller.signal });
    const timedOut = d.run({ op: 'echo', value: 'late' }, { acquireTimeout: 30 });
    await sleep(10);
    controller.abort('changed my mind');
    await assert.rejects(posted, (err: unknown) => err instanceof AbortedError && /did not run/.test(err.message));
    await assert.rejects(timedOut, AcquireTimeoutError);
    assert.equal(await running, 0);
    assert.equal(((await d.run({ op: 'echo', value: 'next' })) as { value: string }).value, 'next');
    const stats = d.stats();
    assert.equal(stats.engine.echoes, 1, 'only the last echo ran');
    assert.equal(stats.replaced, 0);
    assert.equal(stats.aborted, 1);
  } finally {
    await d.close();
  }
});

test('an abort of a posted use the worker has just started stops it as a running use, once the use before it answered', async () => {
  const d = await dispatcher();
  try {
    const first = d.run({ op: 'block', ms: 30 });
    const controller = new AbortController();
    const second = d.run({ op: 'spin-js' }, { signal: controller.signal });
    // The worker finishes the first use and starts the second while this thread looks away: it cannot be taken back now.
    blockMain(150);
    controller.abort('stop');
    await assert.rejects(second, (err: unknown) => err instanceof AbortedError && /while it ran/.test(err.message) && err.cause === 'stop');
    assert.equal(await first, 0, 'the use before it kept its answer');
    assert.equal(d.stats().replaced, 1);
    assert.equal(((await d.run({ op: 'echo', value: 'after' })) as { value: string }).value, 'after');
  } finally {
    await d.close();
  }
});

test('a stop meant for a use the worker has moved past does not end the thread: the use had finished', async () => {
  const d = await dispatcher({ grace: 0 });
  try {
    // Its hard stop falls due (20 ms) while this thread is blocked; the worker finishes it (30 ms) and starts the next.
    // From the check phase, the loop's next turn runs the due timer before it reads the answer.
    await new Promise((resolve) => setImmediate(resolve));
    const late = d.run({ op: 'block', ms: 30 }, { timeout: 20 });
    const next = d.run({ op: 'block', ms: 30 });
    blockMain(150);
    assert.equal(await late, 0, 'its answer came: it had finished when the stop came due');
    assert.equal(await next, 0, 'the use the worker had started ran to its end');
    // An abort that comes after the worker moved past its use: the use rejects, as aborted, and the thread stays.
    const controller = new AbortController();
    const aborted = d.run({ op: 'block', ms: 30 }, { signal: controller.signal });
    const after = d.run({ op: 'block', ms: 30 });
    blockMain(150);
    controller.abort('too late');
    await assert.rejects(aborted, (err: unknown) => err instanceof AbortedError && err.cause === 'too late');
    assert.equal(await after, 0);
    assert.equal(d.stats().replaced, 0, 'no thread was stopped');
  } finally {
    await d.close();
  }
});

test('a thread that falls idle takes back a use posted behind a long one on another thread', async () => {
  const d = await dispatcher({ threads: 2 });
  try {
    const long = d.run({ op: 'block', ms: 400 });
    const short = d.run({ op: 'block', ms: 20 });
    // Both threads busy: these are posted, one behind each (the one with fewer uses first).
    const behindShort = d.run({ op: 'now' });
    const behindLong = d.run({ op: 'now' });
    const started = now();
    const [shortIndex, a, b] = (await Promise.all([short, behindShort, behindLong])) as [number, NowResult, NowResult];
    const waited = Math.max(a.at, b.at) - started;
    assert.ok(waited < 300, `both posted uses ran within ${waited.toFixed(0)} ms, not after the 400 ms use`);
    assert.equal(a.index, shortIndex);
    assert.equal(b.index, shortIndex, 'the idle thread ran the use taken back from the busy one');
    assert.notEqual(await long, shortIndex);
    assert.equal(d.stats().replaced, 0);
  } finally {
    await d.close();
  }
});

test('maxQueue counts posted uses as waiting: QueueFullError at the bound, and maxQueue 0 posts none', async () => {
  const one = await dispatcher({ maxQueue: 1 });
  try {
    const running = one.run({ op: 'block', ms: 100 });
    const posted = one.run({ op: 'echo', value: 1 });
    await assert.rejects(one.run({ op: 'echo', value: 2 }), QueueFullError);
    assert.equal(one.stats().queued, 1);
    await Promise.all([running, posted]);
  } finally {
    await one.close();
  }
  const none = await dispatcher({ maxQueue: 0 });
  try {
    const running = none.run({ op: 'block', ms: 100 });
    await assert.rejects(none.run({ op: 'echo', value: 1 }), QueueFullError);
    await running;
  } finally {
    await none.close();
  }
});

test('stats() right after a use settles counts it, while the use posted behind it runs', async () => {
  const d = await dispatcher();
  try {
    // An async use: the next one reaches the worker while it waits, so the worker has it queued when it answers.
    const first = d.run({ op: 'sleep', ms: 20 });
    const long = d.run({ op: 'block', ms: 300 });
    await first;
    const started = performance.now();
    const stats = d.stats();
    assert.equal(stats.engine.uses, 1);
    assert.ok(performance.now() - started < 4, 'read without waiting for the long use');
    await long;
  } finally {
    await d.close();
  }
});

test('a use whose transfer must move waits for an idle thread; small ArrayBuffers are copied behind a running use', async () => {
  const d = await dispatcher();
  try {
    const running = d.run({ op: 'block', ms: 50 });
    const small = new Uint8Array(16).fill(1);
    const big = new Uint8Array(COPY_BEHIND_LIMIT + 1).fill(2);
    const posted = d.run({ op: 'echo', value: small }, {}, [small.buffer]);
    const queued = d.run({ op: 'echo', value: big }, {}, [big.buffer]);
    assert.equal(small.byteLength, 16, 'posted behind: copied, not moved');
    assert.equal(big.byteLength, COPY_BEHIND_LIMIT + 1, 'waiting here, not yet moved');
    await running;
    assert.deepEqual(((await posted) as { value: Uint8Array }).value, new Uint8Array(16).fill(1));
    assert.equal(((await queued) as { value: Uint8Array }).value.length, COPY_BEHIND_LIMIT + 1);
    assert.equal(big.byteLength, 0, 'moved to the thread once it was idle');
  } finally {
    await d.close();
  }
});

test('with a window of 1 nothing is posted behind a running use', async () => {
  const d = await dispatcher({}, { window: 1 });
  try {
    const first = d.run({ op: 'block', ms: 30 });
    const second = d.run({ op: 'now' });
    const before = now();
    blockMain(100);
    await first;
    assert.ok(((await second) as NowResult).at > before + 100, 'the second use waited for this thread to post it');
  } finally {
    await d.close();
  }
});
