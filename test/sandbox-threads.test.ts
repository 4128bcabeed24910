/**
 * QuickJSSandbox with `threads` against real worker threads, real memfds and real guests (issue 17,
 * "How we will know", for the sandboxes): the calling thread's event loop keeps turning while every
 * thread's guest spins; a spinning script and a looping host function are each stopped with a
 * typed error and the sandbox keeps serving; a use after a hostile use equals a fresh sandbox's on
 * every thread; close() with uses in flight resolves and every memfd is closed; a thread that dies
 * is replaced; the promise forms (on threads) and the Sync forms (on this thread) agree. Also what
 * the threads bring to the sandbox skeleton (its options, signal, queue, stats, describe) and what
 * cannot cross to a thread.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  AbortedError,
  GuestTimeoutError,
  HostFunctionError,
  InvalidArgumentError,
  PoolClosedError,
  QueueFullError,
  QuickJSError,
  QuickJSSandbox,
  ThreadExitedError,
  type ConsoleEntry,
  type QuickJSSandboxOptions,
} from '../src/quickjs/index.ts';
import { openMemfds } from './support/fds.ts';

const FUNCTIONS = new URL('./fixtures/threads/quickjs-functions.mjs', import.meta.url);
const MODULES = new URL('./fixtures/threads/quickjs-modules.mjs', import.meta.url);
const SETUP = 'globalThis.k = 40; function add(a, b) { return a + b + k }';
const SPIN = (ms: number) => `const end = Date.now() + ${ms}; while (Date.now() < end); 'spun'`;

function sandbox(options: QuickJSSandboxOptions = {}) {
  return QuickJSSandbox.create({ threads: 2, functions: FUNCTIONS, setup: SETUP, ...options });
}

test('uses run on the threads over one image: results, host functions and modules from module files, context, console, stats, describe', async () => {
  const memfds = openMemfds('cowpool-image');
  const logs: ConsoleEntry[] = [];
  const s = await sandbox({ modules: MODULES, console: (entry) => logs.push(entry) });
  try {
    assert.equal(openMemfds('cowpool-image'), memfds + 1, 'one image memfd for the process, whatever the threads');
    assert.equal(await s.eval('1 + 2'), 3);
    assert.equal(await s.call('add', [1, 1]), 42);
    assert.equal(await s.eval('twice(21)'), 42, 'a host function from the module file, on the thread');
    assert.equal(await s.eval('await later("a")'), 'a!', 'an async host function');
    assert.deepEqual(await s.eval('who()', { context: { user: 'ada', n: 1n } }), { user: 'ada', n: 1n }, "the use's context, copied");
    assert.equal(await s.eval('(await import("lib.js")).two'), 2, 'modules from their module file');
    assert.equal(await s.eval('console.log("hi", 1); 0'), 0);
    assert.deepEqual(logs, [{ level: 'log', text: 'hi 1' }], 'console lines reach the sink on this thread');
    const threads = await Promise.all(Array.from({ length: 8 }, () => s.eval(`${SPIN(5)}; thread()`)));
    assert.equal(new Set(threads).size, 2, 'both threads served');
    const stats = s.stats();
    assert.equal(stats.results, 15);
    assert.equal(stats.pool.uses, 15, "the threads' pools summed");
    assert.equal(stats.pool.instances, 2, 'one context per thread');
    assert.equal(stats.threads?.threads, 2);
    assert.equal(stats.threads?.completed, 15);
    assert.equal(stats.threads?.perThread.length, 2);
    const description = s.describe();
    assert.deepEqual(description.threads, { threads: 2, maxQueue: Infinity, grace: 100 });
    assert.equal(description.max, 2);
    assert.equal(description.interruptible, 'loops');
  } finally {
    await s.close();
  }
  assert.equal(openMemfds('cowpool-image'), memfds, 'the image closed with the sandbox');
});

test("the calling thread's event loop keeps turning while every thread's guest spins", async () => {
  const s = await sandbox({ timeout: 5000 });
  try {
    await s.eval('1');
    const delay = monitorEventLoopDelay({ resolution: 1 });
    delay.enable();
    let turns = 0;
    const ticker = setInterval(() => turns++, 5);
    const spins = await Promise.all([s.eval(SPIN(300)), s.eval(SPIN(300))]);
    clearInterval(ticker);
    delay.disable();
    assert.deepEqual(spins, ['spun', 'spun']);
    // 300 ms of spinning on both threads: a 5 ms interval turns ~60 times when nothing stalls it.
    assert.ok(turns >= 20, `the loop turned ${turns} times while the guests spun`);
    // On this thread each spin would stall the loop 300 ms; the bench target (quiet machine) is 5 ms.
    assert.ok(delay.max / 1e6 < 100, `the loop's worst delay was ${(delay.max / 1e6).toFixed(1)} ms`);
  } finally {
    await s.close();
  }
});

test('a spinning script and a looping host function are each stopped with GuestTimeoutError, and the sandbox keeps serving', async () => {
  const s = await sandbox({ timeout: 200, grace: 100 });
  try {
    // QuickJS's own check stops a spinning script: its thread goes on.
    await assert.rejects(s.eval('while (true) {}'), (err: unknown) => err instanceof GuestTimeoutError && err.timeoutMs === 200);
    assert.equal(s.stats().threads?.replaced, 0, 'a script QuickJS stopped keeps its thread');
    // A host function loops where no check reaches: its thread is ended at 200 + 100 ms and replaced.
    const started = performance.now();
    await assert.rejects(s.eval('hang()'), (err: unknown) => {
      assert.ok(err instanceof GuestTimeoutError);
      assert.equal(err.timeoutMs, 200);
      assert.match(err.message, /stopped with its worker thread/);
      return true;
    });
    const took = performance.now() - started;
    assert.ok(took >= 290 && took < 2000, `the hard stop came after ${took.toFixed(0)} ms`);
    const results = await Promise.all(Array.from({ length: 4 }, () => s.eval('twice(2) + k')));
    assert.deepEqual(results, [44, 44, 44, 44], 'the sandbox keeps serving, on the replacement too');
    const stats = s.stats();
    assert.equal(stats.timeouts, 2);
    assert.equal(stats.threads?.timedOut, 2);
    assert.equal(stats.threads?.replaced, 1);
    assert.equal(stats.pool.timeouts, 2, "the pool's timeouts count the hard stop too");
  } finally {
    await s.close();
  }
});

test('differential: on every thread, a use after a hostile use equals the first use of a fresh sandbox', async () => {
  const HOSTILE = `
    globalThis.leak = 1; k = 99; Object.prototype.polluted = true; Array.prototype.map = null;
    Math.random = () => 4; delete globalThis.add; const hoard = []; for (let i = 0; i < 50000; i++) hoard.push({ i });
    new Promise(() => {}); throw new Error('hostile')`;
  const OBSERVE = `JSON.stringify([typeof leak, k, ({}).polluted, typeof [].map, Math.random() < 1, typeof add,
    Object.getOwnPropertyNames(globalThis).length])`;
  const fresh = await QuickJSSandbox.create({ setup: SETUP, functions: FUNCTIONS });
  const expected = await fresh.eval(OBSERVE);
  await fresh.close();
  const s = await sandbox({ threads: 3 });
  try {
    for (let round = 0; round < 3; round++) {
      const hostile = await Promise.allSettled(Array.from({ length: 9 }, () => s.eval(HOSTILE)));
      assert.ok(hostile.every((r) => r.status === 'rejected' && r.reason instanceof QuickJSError));
      const seen = await Promise.all(Array.from({ length: 9 }, () => s.eval(OBSERVE)));
      for (const observed of seen) assert.equal(observed, expected);
    }
    const perThread = s.stats().threads!.perThread;
    assert.equal(perThread.length, 3);
    for (const t of perThread) assert.ok(t.stats.uses >= 2, `thread ${t.index} ran ${t.stats.uses} uses`);
  } finally {
    await s.close();
  }
});

test('the promise forms (on threads) and the Sync forms (on this thread, from the same image) agree', async () => {
  const memfds = openMemfds('cowpool-image');
  const s = await sandbox();
  try {
    const scripts = ['1 + 2', 'k', '[1, 2, 3].map((x) => x * k)', 'twice(k)', 'new Map([[1, { a: 1n }]])', 'typeof setTimeout'];
    for (const code of scripts) assert.deepEqual(await s.eval(code), s.evalSync(code), code);
    assert.deepEqual(await s.call('add', [1, 2]), s.callSync('add', [1, 2]));
    const sync = () => s.evalSync('throw new RangeError("r")');
    await assert.rejects(s.eval('throw new RangeError("r")'), (err: unknown) => {
      assert.throws(sync, (local: unknown) => local instanceof QuickJSError && local.message === (err as Error).message);
      return err instanceof QuickJSError;
    });
    assert.equal(openMemfds('cowpool-image'), memfds + 1, "the Sync forms' pool maps the same image");
    assert.equal(s.stats().pool.instances, 3, "two threads' contexts and this thread's");
  } finally {
    await s.close();
  }
  assert.equal(openMemfds('cowpool-image'), memfds);
});

test('close() with uses in flight lets them finish, and every memfd is closed; with force they reject', async () => {
  const memfds = openMemfds('cowpool-image');
  const s = await sandbox();
  const uses = Array.from({ length: 5 }, (_, i) => s.eval(`${SPIN(30)}; ${i}`));
  await s.close();
  assert.deepEqual(await Promise.all(uses), [0, 1, 2, 3, 4], 'the uses in flight and waiting finished');
  assert.equal(openMemfds('cowpool-image'), memfds);
  await assert.rejects(s.eval('1'), PoolClosedError);
  assert.throws(() => s.evalSync('1'), PoolClosedError);

  const forced = await sandbox({ timeout: 10_000 });
  const uses2 = Promise.allSettled([forced.eval(SPIN(5000)), forced.eval(SPIN(5000)), forced.eval('1')]);
  await sleep(50);
  const started = performance.now();
  await forced.close({ force: true });
  assert.ok(performance.now() - started < 3000, 'force does not wait for the spins');
  const settled = await uses2;
  assert.deepEqual(
    settled.map((r) => r.status === 'rejected' && r.reason instanceof PoolClosedError),
    [true, true, true],
    'running and waiting uses reject',
  );
  assert.equal(openMemfds('cowpool-image'), memfds);
});

test('a thread that dies is replaced: its use rejects with ThreadExitedError, the others carry on', async () => {
  const s = await sandbox();
  try {
    const other = s.eval(`${SPIN(100)}; 'other'`);
    await assert.rejects(s.eval('die()'), ThreadExitedError);
    assert.equal(await other, 'other');
    assert.deepEqual(await Promise.all([s.eval('twice(1)'), s.eval('twice(2)'), s.eval('twice(3)')]), [2, 4, 6]);
    assert.equal(s.stats().threads?.replaced, 1);
    assert.equal(s.stats().traps, 1, 'counted as a use that ended unexpectedly');
  } finally {
    await s.close();
  }
});

test("a use's signal: before it starts it does not run; while it runs its thread is stopped; a full queue refuses", async () => {
  const s = await sandbox({ threads: 1, maxQueue: 1, timeout: 10_000 });
  try {
    const aborted = AbortSignal.abort('no');
    await assert.rejects(
      s.eval('twice(1)', { signal: aborted }),
      (err: unknown) => err instanceof AbortedError && /did not run/.test(err.message),
    );
    const controller = new AbortController();
    const running = s.eval(SPIN(5000), { signal: controller.signal });
    const queued = s.eval('twice(4)');
    await assert.rejects(s.eval('1'), QueueFullError, 'one running, one waiting: the next is refused');
    await sleep(50);
    controller.abort('enough');
    await assert.rejects(running, (err: unknown) => err instanceof AbortedError && /thread was stopped/.test(err.message));
    assert.equal(await queued, 8, 'the waiting use runs on the replacement');
    const stats = s.stats().threads!;
    assert.equal(stats.aborted, 2);
    assert.equal(stats.refused, 1);
    assert.equal(stats.replaced, 1);
  } finally {
    await s.close();
  }
});

test('what cannot cross to a thread is refused, saying what to do; thread options are checked', async () => {
  await assert.rejects(
    QuickJSSandbox.create({ threads: 1, functions: { f: () => 1 } }),
    (err: unknown) => err instanceof InvalidArgumentError && /options\.functions: .*module/.test(err.message),
  );
  await assert.rejects(
    QuickJSSandbox.create({ threads: 1, modules: () => undefined }),
    (err: unknown) => err instanceof InvalidArgumentError && /options\.modules: .*loader function/.test(err.message),
  );
  assert.throws(() => QuickJSSandbox.createSync({ threads: 1 }), /options\.threads: .*use QuickJSSandbox\.create/);
  await assert.rejects(QuickJSSandbox.create({ threads: 2, max: 4 }), /options\.max does not apply with threads/);
  await assert.rejects(QuickJSSandbox.create({ grace: 4 }), /options\.grace applies to uses on worker threads/);
  await assert.rejects(QuickJSSandbox.create({ threads: -1 }), /options\.threads must be an integer of at least 0/);
  await assert.rejects(QuickJSSandbox.create({ threads: 1, grace: -5 }), /options\.grace/);
  const s = await sandbox({ threads: 1 });
  try {
    await assert.rejects(
      s.eval('who()', { context: { f: () => 1 } }),
      (err: unknown) => err instanceof InvalidArgumentError && /cannot be sent to a worker thread/.test(err.message),
    );
    await assert.rejects(s.eval('throw_from_host()'), QuickJSError, 'an unknown name is the guest’s ReferenceError');
    assert.equal(await s.eval('twice(5)'), 10, 'and the sandbox serves on');
  } finally {
    await s.close();
  }
});

test('a host function that throws on a thread fails the use with HostFunctionError, its cause carried across', async () => {
  const s = await QuickJSSandbox.create({ threads: 1, functions: FUNCTIONS });
  try {
    await assert.rejects(s.eval('fail("nope")'), (err: unknown) => {
      assert.ok(err instanceof HostFunctionError, String(err));
      assert.ok(err.cause instanceof TypeError, 'the cause keeps its class');
      assert.equal((err.cause as Error).message, 'nope');
      return true;
    });
    assert.equal(await s.eval('try { fail("caught") } catch (e) { e.message }'), 'caught', 'the guest may catch it');
    assert.equal(s.stats().hostErrors, 1);
  } finally {
    await s.close();
  }
});
