/**
 * cowpool/quickjs timers and top-level await: `setTimeout`, `setInterval` and `queueMicrotask`
 * run within the use that queued them, in order, bounded by its deadline; what is still queued
 * when the result settles never runs, in that use or any other; a script may `await` at top
 * level. Real QuickJS, real pool, real clock.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { GuestTimeoutError, QuickJSError, QuickJSSandbox } from '../src/quickjs/index.ts';

const hits: string[] = [];
const functions = { hit: (what: string) => void hits.push(what) };

let sandbox: QuickJSSandbox;
before(async () => {
  sandbox = await QuickJSSandbox.create({
    functions,
    setup: 'const sleep = (ms, value) => new Promise((resolve) => setTimeout(resolve, ms, value));',
    timeout: 300,
  });
});
after(() => sandbox.close());

describe('timers', () => {
  test('a timer the result waits for fires within the use, no sooner than asked', async () => {
    const start = performance.now();
    assert.equal(await sandbox.eval('sleep(30, "woke")'), 'woke');
    assert.ok(performance.now() - start >= 29, 'waited');
    const startSync = performance.now();
    assert.equal(sandbox.evalSync('sleep(20, "slept")'), 'slept', 'a Sync use sleeps the thread');
    assert.ok(performance.now() - startSync >= 19);
  });

  test('timers run in the order they are due, with their arguments; cleared ones never run', async () => {
    const order = await sandbox.eval(`new Promise((resolve) => {
      const order = [];
      setTimeout((a, b) => order.push(a + b), 20, 'c', 'd');
      setTimeout(() => order.push('first'), 0);
      const gone = setTimeout(() => order.push('cleared'), 5);
      setTimeout(() => order.push('second'), 10);
      clearTimeout(gone);
      setTimeout(() => resolve(order), 30);
    })`);
    assert.deepEqual(order, ['first', 'second', 'cd']);
  });

  test('an interval repeats until cleared, and each turn runs the jobs it queued', async () => {
    assert.deepEqual(
      await sandbox.eval(`new Promise((resolve) => {
        const seen = [];
        let n = 0;
        const id = setInterval(() => {
          n++;
          Promise.resolve().then(() => seen.push('job ' + n));
          if (n === 3) { clearInterval(id); setTimeout(() => resolve(seen), 0); }
        }, 5);
      })`),
      ['job 1', 'job 2', 'job 3'],
    );
  });

  test('the deadline cuts a use that waits for a timer it cannot live to see', async () => {
    const start = performance.now();
    await assert.rejects(
      sandbox.eval('sleep(10_000)', { timeout: 50 }),
      (e: unknown) => e instanceof GuestTimeoutError && e.timeoutMs === 50,
    );
    assert.ok(performance.now() - start < 1000, 'not the timer: the deadline');
    await assert.rejects(
      sandbox.eval('let n = 0; await new Promise(() => setInterval(() => n++, 5))', { timeout: 60 }),
      GuestTimeoutError,
      'an interval that never lets the result settle runs until the deadline',
    );
    assert.throws(() => sandbox.evalSync('sleep(10_000)', { timeout: 30 }), GuestTimeoutError);
    assert.equal(await sandbox.eval('sleep(1, 7)'), 7, 'the next use is healthy');
  });

  test('what is still queued when the result settles never runs, in that use or a later one', async () => {
    hits.length = 0;
    assert.equal(await sandbox.eval('setTimeout(() => hit("timeout"), 0); setInterval(() => hit("interval"), 1); 1'), 1);
    await new Promise((resolve) => setTimeout(resolve, 20));
    assert.equal(await sandbox.eval('sleep(5, 2)'), 2, 'a later use runs its own timers only');
    assert.deepEqual(hits, []);
  });

  test('queueMicrotask runs within the use; what its callback throws ends the use', async () => {
    assert.equal(await sandbox.eval('let x = 0; queueMicrotask(() => { x = 1 }); await null; x'), 1);
    assert.equal(sandbox.evalSync('let y = 0; queueMicrotask(() => { y = 2 }); Promise.resolve().then(() => y)'), 2);
    assert.throws(
      () => sandbox.evalSync('queueMicrotask(() => { throw new RangeError("in a microtask") }); 1'),
      (e: unknown) => e instanceof QuickJSError && e.guestName === 'RangeError',
    );
  });

  test('what a timer callback throws ends the use with the guest error', async () => {
    await assert.rejects(
      sandbox.eval('setTimeout(() => { throw new TypeError("in a timer") }, 1); sleep(20)'),
      (e: unknown) => e instanceof QuickJSError && e.guestName === 'TypeError' && e.guestMessage === 'in a timer',
    );
  });

  test('bad callbacks are the guest TypeError', () => {
    assert.equal(sandbox.evalSync('try { setTimeout("code", 1) } catch (e) { e.name }'), 'TypeError');
    assert.equal(sandbox.evalSync('try { queueMicrotask(1) } catch (e) { e.name }'), 'TypeError');
  });

  test('the setup script may wait for timers: what they do is in the image, what it left set never runs', async () => {
    hits.length = 0;
    const waited = await QuickJSSandbox.create({
      functions,
      setup:
        'globalThis.ready = false; await new Promise((resolve) => setTimeout(resolve, 10)); ready = true;' +
        'setInterval(() => hit("left by the setup"), 1);',
    });
    try {
      assert.equal(waited.evalSync('ready'), true);
      assert.equal(await waited.eval('await new Promise((resolve) => setTimeout(resolve, 10, "a use\'s own timer"))'), "a use's own timer");
      assert.deepEqual(hits, []);
    } finally {
      await waited.close();
    }
  });
});

describe('top-level await', () => {
  test('a script that awaits at top level completes with its last value', async () => {
    assert.equal(await sandbox.eval('await 1'), 1);
    assert.equal(await sandbox.eval('const x = await Promise.resolve(2); x * 2'), 4);
    assert.equal(sandbox.evalSync('const v = await sleep(1, "v"); v + v'), 'vv');
    assert.equal(
      await sandbox.eval('await null; Promise.resolve("a promise completion is awaited too")'),
      'a promise completion is awaited too',
    );
    assert.equal(await sandbox.eval('"await"'), 'await', 'the word alone changes nothing');
    assert.equal(await sandbox.eval('var total = 0; for (const n of [1, 2, 3]) total += await n; total'), 6);
  });

  test('a rejection it awaits is the guest error; the deadline still holds', async () => {
    await assert.rejects(
      sandbox.eval('await Promise.reject(new SyntaxError("awaited"))'),
      (e: unknown) => e instanceof QuickJSError && e.guestName === 'SyntaxError',
    );
    await assert.rejects(sandbox.eval('for (;;) await null', { timeout: 30 }), GuestTimeoutError);
  });
});
