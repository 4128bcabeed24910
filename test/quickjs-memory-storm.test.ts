/**
 * A QuickJS allocation storm that fills the heap to its limit (issue 18, finding 5):
 * `let s = ""; for (;;) s += "…"` grows one string in place until an allocation is refused, and
 * then QuickJS may not even allocate its "out of memory" error and throws `null`. That is the memory
 * limit, not the script's exception: a `GuestMemoryLimitError`, the next use pristine, and the
 * memory given back. With a short deadline the storm ends at the deadline instead, in time.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { GuestLimitError } from '../src/index.ts';
import { GuestMemoryLimitError, QuickJSError, QuickJSSandbox } from '../src/quickjs/index.ts';
import { mib, settledRss } from './support/rss.ts';

const STORM = 'let s = ""; for (;;) s += "xxxxxxxxxxxxxxxx"';

const sandboxes = new Map<number, QuickJSSandbox>();

before(async () => {
  for (const limit of [4, 8]) sandboxes.set(limit, await QuickJSSandbox.create({ memoryLimit: limit * 2 ** 20, timeout: 30_000, max: 1 }));
});

after(async () => {
  for (const sandbox of sandboxes.values()) await sandbox.close();
});

for (const limit of [4, 8]) {
  test(`memoryLimit ${limit} MiB: a string grown until the heap is full is a GuestMemoryLimitError, not "Thrown: null"`, async () => {
    const sandbox = sandboxes.get(limit)!;
    await sandbox.eval('1');
    const rss = await settledRss();
    await assert.rejects(sandbox.eval(STORM), (err: unknown) => {
      assert.ok(err instanceof GuestMemoryLimitError, String(err));
      assert.equal(err.limitBytes, limit * 2 ** 20);
      return true;
    });
    assert.equal(await sandbox.eval('typeof s'), 'undefined', 'the next use is pristine');
    assert.equal(sandbox.stats().memoryLimits, 1);
    assert.equal(sandbox.stats().exceptions, 0);
    const after = await settledRss();
    assert.ok(after <= rss + 24 * 2 ** 20, `RSS ${mib(rss)} before the storms, ${mib(after)} after`);
  });
}

test('a script that throws null itself is still the script’s exception', async () => {
  const sandbox = sandboxes.get(8)!;
  await assert.rejects(sandbox.eval('throw null'), (err: unknown) => {
    assert.ok(err instanceof QuickJSError && !(err instanceof GuestLimitError));
    assert.equal(err.message, 'Thrown: null');
    return true;
  });
});

test('with a short deadline the storm ends within twice the deadline plus 50 ms, as a guest limit', async () => {
  const sandbox = sandboxes.get(8)!;
  const deadline = 200;
  const started = performance.now();
  await assert.rejects(sandbox.eval(STORM, { timeout: deadline }), GuestLimitError);
  const ms = performance.now() - started;
  assert.ok(ms < 2 * deadline + 50, `ended after ${ms.toFixed(0)} ms`);
});
