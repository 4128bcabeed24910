// Regression tests for the lease lifecycle's edges, one per bug found at the edges of the happy
// path: options dropped on the pre-initialization path, an instance lost to a rejected use
// option, a failing reset that answered a good use as a failure and kept close() from resolving,
// tables that forced re-instantiation though they could not grow, aborted signals ignored.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  AbortedError,
  AcquireTimeoutError,
  GuestTimeoutError,
  InstancePool,
  InvalidArgumentError,
  PoolClosedError,
} from '../src/index.ts';
import { kTestHooks } from '../src/pool/test-hooks.ts';
import { openMemfds } from './support/fds.ts';
import { wat } from './support/wat.ts';

interface Spin {
  init(): void;
  ready(): number;
  spin(): void;
  touch(at: number): number;
}

const spinModule = wat(`(module (memory (export "memory") 1)
  (data (i32.const 0) "image")
  (global $ready (mut i32) (i32.const 0))
  (func (export "init") (global.set $ready (i32.const 7)) (i32.store (i32.const 100) (i32.const 9)))
  (func (export "ready") (result i32) (i32.add (global.get $ready) (i32.load (i32.const 100))))
  (func (export "spin") (loop $l (br $l)))
  (func (export "touch") (param $at i32) (result i32)
    (i32.store (local.get $at) (i32.add (i32.load (local.get $at)) (i32.const 1))) (i32.load (local.get $at))))`);

for (const mechanism of ['reuse', 'reinstantiate'] as const) {
  test(`${mechanism}: interruptible and initialize together keep the fuel counter (a timeout stops a spin)`, async () => {
    const pool = await InstancePool.create<Spin>(spinModule, { interruptible: true, initialize: 'init', mechanism, max: 1 });
    const description = pool.describe();
    assert.equal(description.initialized, true);
    assert.equal(description.interruptible, true);
    // The instrumented module exports its fuel counter; without it the spin below would never return.
    assert.ok(await pool.run((i) => 'cowpool:fuel' in i.exports), 'the initialized module is instrumented');
    assert.equal(await pool.run((i) => i.exports.ready()), 16, 'uses start from the initialized state');
    await assert.rejects(pool.run((i) => i.exports.spin(), undefined, { timeout: 30 }), GuestTimeoutError);
    assert.equal(await pool.run((i) => i.exports.ready()), 16, 'and the pool goes on after the timeout');
    await pool.close();
  });
}

test('a use option the pool rejects costs no instance (timeout on a pool that is not interruptible)', async () => {
  const pool = await InstancePool.create<Spin>(spinModule, { max: 1 });
  await assert.rejects(pool.run((i) => i.exports.touch(0), undefined, { timeout: 50 }), (err: unknown) => {
    assert.ok(err instanceof InvalidArgumentError);
    assert.equal(err.message, 'a timeout needs a pool created with options.interruptible: true');
    return true;
  });
  assert.throws(() => pool.runSync((i) => i.exports.touch(0), undefined, { timeout: 50 }), InvalidArgumentError);
  await assert.rejects(pool.acquire(undefined, { timeout: 50 }), InvalidArgumentError);
  const stats = pool.stats();
  assert.deepEqual({ instances: stats.instances, idle: stats.idle, leased: stats.leased }, { instances: 1, idle: 1, leased: 0 });
  // With max: 1, a lost instance would make this wait forever; the acquire timeout turns that into a failure.
  const lease = await pool.acquire(undefined, { acquireTimeout: 2000 });
  lease.release();
  await pool.close();
});

test('a reset that fails retires the instance, keeps the use\'s result, is counted, and close() still resolves', async () => {
  const before = openMemfds();
  let failures = 0;
  const pool = await InstancePool.create<Spin>(spinModule, {
    max: 1,
    [kTestHooks]: {
      beforeReset: () => {
        if (failures > 0) {
          failures--;
          throw new Error('injected reset failure');
        }
      },
    },
  } as object);
  assert.ok(openMemfds() > before, 'the image holds a memfd while the pool lives');
  failures = 1;
  assert.equal(await pool.run((i) => i.exports.touch(200)), 1, 'run resolves with the result');
  failures = 1;
  assert.equal(pool.runSync((i) => i.exports.touch(200)), 1, 'runSync returns the result (a new instance, pristine)');
  failures = 1;
  const lease = await pool.acquire();
  assert.equal(lease.release(), undefined, 'release does not throw; there is no report');
  assert.equal(lease.active, false);
  assert.equal(await pool.run((i) => i.exports.touch(200)), 1, 'the replacement is pristine');
  let stats = pool.stats();
  assert.equal(stats.resetFailures, 3);
  assert.equal(stats.retirements, 3);
  assert.equal(stats.uses, 4);
  assert.deepEqual({ instances: stats.instances, idle: stats.idle, leased: stats.leased }, { instances: 1, idle: 1, leased: 0 });

  // A lease out when close() is called, whose reset then fails: close still resolves, nothing stays open.
  const last = await pool.acquire();
  const closing = pool.close();
  failures = 1;
  last.release();
  await closing;
  stats = pool.stats();
  assert.equal(stats.resetFailures, 4);
  assert.equal(stats.instances, 0);
  assert.equal(openMemfds(), before, 'every memfd the pool opened is closed');
});

test('an already-aborted signal is refused and takes nothing; aborting a wait removes the waiter', async () => {
  const pool = await InstancePool.create<Spin>(spinModule, { max: 1 });
  const reason = new Error('client went away');
  const aborted = AbortSignal.abort(reason);
  await assert.rejects(pool.run((i) => i.exports.touch(0), undefined, { signal: aborted }), (err: unknown) => {
    assert.ok(err instanceof AbortedError);
    assert.equal(err.code, 'COWPOOL_ERR_ABORTED');
    assert.equal(err.cause, reason);
    return true;
  });
  await assert.rejects(pool.acquire(undefined, { signal: aborted }), AbortedError);
  assert.throws(() => pool.runSync((i) => i.exports.touch(0), undefined, { signal: aborted }), AbortedError);
  assert.deepEqual([pool.stats().idle, pool.stats().leased, pool.stats().waits], [1, 0, 0]);

  const held = await pool.acquire();
  const controller = new AbortController();
  const waiting = pool.acquire(undefined, { signal: controller.signal });
  assert.equal(pool.stats().waiting, 1);
  controller.abort();
  await assert.rejects(waiting, AbortedError);
  assert.equal(pool.stats().waiting, 0);
  held.release();
  assert.deepEqual([pool.stats().idle, pool.stats().leased], [1, 0]);
  await pool.close();
});

test('a waiter that times out leaves the line; close rejects the rest and later calls', async () => {
  const pool = await InstancePool.create<Spin>(spinModule, { max: 1 });
  const held = await pool.acquire();
  await assert.rejects(pool.acquire(undefined, { acquireTimeout: 5 }), AcquireTimeoutError);
  const waiter = pool.acquire();
  const closing = pool.close();
  await assert.rejects(waiter, PoolClosedError);
  await assert.rejects(pool.acquire(), PoolClosedError);
  held.release();
  await closing;
  assert.equal(pool.stats().instances, 0);
});

test('a table that cannot grow does not force reinstantiate (table.set on a 4-entry funcref table)', async () => {
  const table = (extra: string, exportTable = false) =>
    wat(`(module (memory 1)
      (type $rt (func (result i32)))
      (table $t ${exportTable ? '(export "t") ' : ''}4 funcref)
      (func $a (result i32) i32.const 1) (func $b (result i32) i32.const 2)
      (elem (i32.const 0) $a $a $a $a) (elem declare func $b)
      (func (export "set") (table.set $t (i32.const 2) (ref.func $b)))
      (func (export "call") (result i32) (call_indirect $t (type $rt) (i32.const 2)))
      ${extra})`);
  interface T {
    set(): void;
    call(): number;
  }
  const pool = await InstancePool.create<T>(table(''), { max: 1 });
  const description = pool.describe();
  assert.equal(description.mechanism, 'reuse', description.mechanismReason);
  assert.equal(description.restoredTables, 1);
  for (let i = 0; i < 3; i++) {
    assert.equal(await pool.run((inst) => (inst.exports.set(), inst.exports.call())), 2);
    assert.equal(await pool.run((inst) => inst.exports.call()), 1, 'the table entry is restored');
  }
  await pool.close();

  // What really can grow still takes reinstantiate: table.grow in the module, or JS through an export.
  const grows = await InstancePool.create(table('(func (export "g") (drop (table.grow $t (ref.null func) (i32.const 1))))'));
  assert.equal(grows.describe().mechanism, 'reinstantiate');
  assert.match(grows.describe().mechanismReason, /table 0 may grow in a use \(the module runs table.grow on it\)/);
  await grows.close();
  const exported = await InstancePool.create(table('', true));
  assert.equal(exported.describe().mechanism, 'reinstantiate');
  assert.match(exported.describe().mechanismReason, /exported with room to grow/);
  await exported.close();
});

test('one plan: every combination of mechanism, interruptible and initialize is honoured together', async () => {
  for (const mechanism of ['auto', 'reuse', 'reinstantiate'] as const) {
    for (const interruptible of [false, true]) {
      for (const initialize of [undefined, 'init']) {
        const what = JSON.stringify({ mechanism, interruptible, initialize });
        const pool = await InstancePool.create<Spin>(spinModule, { mechanism, interruptible, ...(initialize ? { initialize } : {}), max: 1 });
        const description = pool.describe();
        assert.equal(description.mechanism, mechanism === 'auto' ? 'reuse' : mechanism, what);
        assert.equal(description.interruptible, interruptible, what);
        assert.equal(description.initialized, initialize !== undefined, what);
        assert.equal(await pool.run((i) => 'cowpool:fuel' in i.exports), interruptible, `${what}: the fuel counter is there iff interruptible`);
        assert.equal(await pool.run((i) => i.exports.ready()), initialize ? 16 : 0, `${what}: the initialized state`);
        if (interruptible) await assert.rejects(pool.run((i) => i.exports.spin(), undefined, { timeout: 5 }), GuestTimeoutError, what);
        await pool.close();
      }
    }
  }
});
