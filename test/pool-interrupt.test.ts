/**
 * `InstanceHost.interrupt`: code outside the guest's call stack ends the current use early, with
 * its own error, at the guest's next check of the deadline (the fuel counter in a loop that makes
 * no host call, `checkDeadline` in a host function); the instance is reset as after a timeout, and
 * the interruption neither outlives its use nor reaches one that has not begun.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { GuestTimeoutError, InstancePool, InvalidArgumentError, type InstanceHost } from '../src/index.ts';
import { wat } from './support/wat.ts';

/**
 * `tick` dirties memory, calls the host once, then spins in pure wasm; `poll` calls the host
 * forever; `bump` increments a counter in memory and returns it (1 in a pristine instance).
 */
const GUEST = wat(`(module
  (import "h" "tick" (func $tick))
  (memory (export "memory") 1)
  (func (export "tick") (i32.store (i32.const 0) (i32.const 99)) (call $tick) (loop $l (br $l)))
  (func (export "poll") (loop $l (call $tick) (br $l)))
  (func (export "bump") (result i32)
    (i32.store (i32.const 0) (i32.add (i32.load (i32.const 0)) (i32.const 1)))
    (i32.load (i32.const 0))))`);

interface Exports {
  tick(): void;
  poll(): void;
  bump(): number;
}

/** A pool whose `tick` import calls `onTick(host)`. */
async function pool(onTick: (host: InstanceHost<undefined, unknown>) => void) {
  return InstancePool.create<Exports>(GUEST, {
    interruptible: true,
    max: 1,
    setup: (host) => ({ imports: { h: { tick: () => onTick(host) } } }),
  });
}

test('interrupt() ends a loop without host calls at its next fuel check, with the error given; the next use is pristine', async () => {
  const reason = new Error('stop now');
  const p = await pool((host) => host.interrupt(reason));
  try {
    const started = performance.now();
    await assert.rejects(
      p.run((x) => x.exports.tick(), undefined, { timeout: 60_000 }),
      (err) => err === reason,
    );
    assert.ok(performance.now() - started < 2000, 'not at the deadline');
    assert.equal(await p.run((x) => x.exports.bump()), 1, 'reset: memory as in a fresh instance');
    // Without a timeout the fuel check runs all the same (the module is instrumented).
    await assert.rejects(
      p.run((x) => x.exports.tick()),
      (err) => err === reason,
    );
    assert.equal(p.stats().uses, 3);
  } finally {
    await p.close();
  }
});

test('checkDeadline() in a host function throws the interruption; the first reason stands', async () => {
  let ticks = 0;
  const first = new Error('first');
  const p = await pool((host) => {
    ticks++;
    if (ticks === 3) host.interrupt(first);
    if (ticks === 4) host.interrupt(new Error('second'));
    assert.equal(host.interrupted, ticks >= 3 ? first : undefined);
    assert.equal(host.timeLeft(), ticks >= 3 ? 0 : Infinity);
    host.checkDeadline();
  });
  try {
    await assert.rejects(
      p.run((x) => x.exports.poll()),
      (err) => err === first,
    );
    assert.equal(ticks, 3, 'the call that interrupted checked the deadline and ended the use');
  } finally {
    await p.close();
  }
});

test('interrupt() between uses does nothing, and a use does not inherit its predecessor’s', async () => {
  let host: InstanceHost<undefined, unknown> | undefined;
  let interruptNext = true;
  const p = await pool((h) => {
    host = h;
    if (interruptNext) h.interrupt(new Error('only this use'));
    else h.checkDeadline();
  });
  try {
    await assert.rejects(
      p.run((x) => x.exports.tick(), undefined, { timeout: 60_000 }),
      /only this use/,
    );
    assert.equal(host!.interrupted, undefined, 'cleared when the use ended');
    host!.interrupt(new Error('between uses'));
    assert.equal(host!.interrupted, undefined, 'ignored between uses');
    interruptNext = false;
    // The next use checks its deadline in the host call and then spins until its own timeout.
    await assert.rejects(
      p.run((x) => x.exports.tick(), undefined, { timeout: 100 }),
      GuestTimeoutError,
    );
    assert.throws(() => host!.interrupt('not an error' as never), InvalidArgumentError);
  } finally {
    await p.close();
  }
});
