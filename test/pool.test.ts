// InstancePool's behaviour: isolation, traps, growth, waiting, closing, host context, stats,
// pre-initialization, and the typed errors a user gets for bad input.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  InstancePool,
  AcquireTimeoutError,
  GuestTimeoutError,
  GuestTrapError,
  ImportMissingError,
  InvalidArgumentError,
  MalformedModuleError,
  ModuleNotPoolableError,
  PoolClosedError,
  QueueFullError,
  CapacityError,
  CowpoolError,
  type InstanceHost,
} from '../src/index.ts';
import { wat } from './support/wat.ts';

const SECRET = 'SECRET-7f3a9c';

/** A module that can write a secret anywhere in memory and into an internal global, and look for it. */
const secretModule = wat(`(module
  (memory (export "memory") 2)
  (global $g (mut i64) (i64.const 0))
  (data (i32.const 64) "public data")
  (func (export "write") (param $at i32) (param $word i64)
    (i64.store (local.get $at) (local.get $word)) (global.set $g (local.get $word)))
  (func (export "global") (result i64) global.get $g)
  (func (export "trap") (param $at i32) (i32.store8 (local.get $at) (i32.const 1)) unreachable)
  (func (export "grow") (result i32) (memory.grow (i32.const 1))))`);

const secretWord = Buffer.from(SECRET).readBigInt64LE(0);

function findSecret(instance: WebAssembly.Instance): boolean {
  const memory = Buffer.from((instance.exports.memory as WebAssembly.Memory).buffer);
  return memory.includes(Buffer.from(SECRET).subarray(0, 8)) || (instance.exports.global as () => bigint)() === secretWord;
}

for (const mechanism of ['reuse', 'reinstantiate'] as const) {
  test(`${mechanism}: a secret written anywhere is gone by the next use`, async () => {
    const pool = await InstancePool.create(secretModule, { mechanism, max: 1 });
    assert.equal(pool.describe().mechanism, mechanism);
    for (const at of [0, 64, 4095, 65536 - 8, 65536 + 12345, 2 * 65536 - 8]) {
      await pool.run((instance) => {
        (instance.exports.write as (at: number, w: bigint) => void)(at, secretWord);
        assert.ok(findSecret(instance));
      });
      assert.equal(await pool.run(findSecret), false, `secret at ${at} leaked into the next use`);
      assert.equal(
        await pool.run((i) => Buffer.from((i.exports.memory as WebAssembly.Memory).buffer).toString('latin1', 64, 75)),
        'public data',
      );
    }
    await pool.close();
  });
}

test('a guest trap rejects with GuestTrapError and leaves the pool healthy', async () => {
  const pool = await InstancePool.create(secretModule, { max: 1 });
  const trapped = pool.run((instance) => (instance.exports.trap as (at: number) => void)(100));
  await assert.rejects(trapped, (err: unknown) => {
    assert.ok(err instanceof GuestTrapError);
    assert.ok(err instanceof CowpoolError);
    assert.equal(err.code, 'COWPOOL_ERR_GUEST_TRAP');
    assert.match(err.message, /^guest trapped: unreachable/);
    assert.ok(err.cause instanceof WebAssembly.RuntimeError);
    return true;
  });
  assert.equal(await pool.run((i) => new Uint8Array((i.exports.memory as WebAssembly.Memory).buffer)[100]), 0);
  assert.throws(() => pool.runSync((i) => (i.exports.trap as (at: number) => void)(5)), GuestTrapError);
  assert.equal(pool.stats().uses, 3);
  assert.equal(pool.stats().traps, 2);
  await pool.close();
});

test('stats count traps and timeouts, and every reset lands in the reset-time histogram', async () => {
  const spin = wat(`(module (memory (export "memory") 1) (func (export "spin") (loop $l (br $l))))`);
  const pool = await InstancePool.create(spin, { max: 1, interruptible: true });
  for (let i = 0; i < 2; i++) {
    await assert.rejects(
      pool.run((instance) => (instance.exports.spin as () => void)(), undefined, { timeout: 5 }),
      GuestTimeoutError,
    );
  }
  await pool.run(() => 1);
  const stats = pool.stats();
  assert.deepEqual([stats.uses, stats.timeouts, stats.traps], [3, 2, 0]);
  const resets = stats.resets.pagemap + stats.resets.madvise + stats.resets.copy;
  assert.equal(stats.resetTime.count, resets);
  assert.equal(
    stats.resetTime.counts.reduce((a, b) => a + b, 0),
    resets,
  );
  assert.equal(stats.resetTime.sum, stats.resetNanoseconds);
  await pool.close();
});

test('a memory that grew is retired and replaced by a fresh one', async () => {
  const pool = await InstancePool.create(secretModule, { max: 1 });
  assert.equal(await pool.run((i) => (i.exports.grow as () => number)()), 2);
  const sizes = await pool.run((i) => (i.exports.memory as WebAssembly.Memory).buffer.byteLength);
  assert.equal(sizes, 2 * 65536, 'the next use sees the initial size');
  const stats = pool.stats();
  assert.equal(stats.retirements, 1);
  assert.equal(stats.created, 2);
  assert.equal(stats.instances, 1);
  await pool.close();
});

test('callers beyond max wait and are served in order; acquire can time out', async () => {
  const pool = await InstancePool.create(secretModule, { max: 1 });
  const first = await pool.acquire('first');
  const order: string[] = [];
  const waiting = ['a', 'b', 'c'].map((name) => pool.run((_, context) => void order.push(String(context)), name));
  await assert.rejects(pool.acquire('late', { acquireTimeout: 20 }), (err: unknown) => {
    assert.ok(err instanceof AcquireTimeoutError);
    assert.match((err as Error).message, /no instance became free within 20 ms \(all 1 in use\)/);
    return true;
  });
  assert.equal(pool.stats().waiting, 3);
  assert.equal(first.context, 'first');
  first.release();
  await Promise.all(waiting);
  assert.deepEqual(order, ['a', 'b', 'c']);
  assert.equal(pool.stats().waits, 4);
  assert.throws(() => first.release(), { code: 'COWPOOL_ERR_CLOSED' });
  await pool.close();
});

test('maxQueue bounds the callers in line: one more is refused at once, typed, and counted', async () => {
  const pool = await InstancePool.create(secretModule, { max: 1, maxQueue: 2 });
  const first = await pool.acquire();
  const order: number[] = [];
  const waiting = [1, 2].map((n) => pool.run(() => void order.push(n)));
  for (const call of [() => pool.run(() => order.push(3)), () => pool.acquire()]) {
    await assert.rejects(call(), (err: unknown) => {
      assert.ok(err instanceof QueueFullError && err instanceof CapacityError);
      assert.equal(err.code, 'COWPOOL_ERR_QUEUE_FULL');
      assert.equal(err.maxQueue, 2);
      assert.match(err.message, /2 uses already wait for 1 busy instance; retry later, or raise maxQueue or max/);
      return true;
    });
  }
  assert.deepEqual([pool.stats().waiting, pool.stats().waits, pool.stats().refused], [2, 2, 2]);
  first.release();
  await Promise.all(waiting);
  assert.deepEqual(order, [1, 2], 'the refused use never ran; those in line did, in order');
  await pool.run(() => order.push(4)); // room again
  // maxQueue 0: a caller that would wait is refused; one that finds a free instance is not.
  const none = await InstancePool.create(secretModule, { max: 1, maxQueue: 0 });
  const held = await none.acquire();
  await assert.rejects(none.acquire(), QueueFullError);
  held.release();
  await none.run(() => {});
  for (const maxQueue of [-1, 1.5, '2', NaN]) {
    await assert.rejects(InstancePool.create(secretModule, { maxQueue: maxQueue as number }), (err: unknown) => {
      assert.ok(err instanceof InvalidArgumentError);
      assert.match(err.message, /options\.maxQueue/);
      return true;
    });
  }
  await Promise.all([pool.close(), none.close()]);
});

test('close waits for leases, rejects waiters and later calls, and is idempotent', async () => {
  const pool = await InstancePool.create(secretModule, { max: 1 });
  const lease = await pool.acquire();
  const waiter = pool.acquire();
  let closed = false;
  const closing = pool.close().then(() => (closed = true));
  await assert.rejects(waiter, PoolClosedError);
  await assert.rejects(
    pool.run(() => 1),
    { code: 'COWPOOL_ERR_POOL_CLOSED' },
  );
  assert.throws(() => pool.runSync(() => 1), PoolClosedError);
  await new Promise((resolve) => setImmediate(resolve));
  assert.equal(closed, false, 'close waits for the lease');
  lease.release();
  await closing;
  assert.equal(closed, true);
  await pool.close();
  assert.equal(pool.stats().instances, 0);
});

test("host functions see the current use's context without re-instantiation", async () => {
  const bytes = wat(`(module (import "env" "who" (func $who (result i32))) (memory 1)
    (func (export "ask") (result i32) call $who))`);
  let bound = 0;
  const pool = await InstancePool.create(bytes, {
    max: 1,
    imports: (host: InstanceHost<unknown, { id: number }>) => {
      bound++;
      return { env: { who: () => host.context!.id } };
    },
  });
  assert.equal(pool.describe().mechanism, 'reuse');
  for (const id of [1, 2, 3]) assert.equal(await pool.run((i) => (i.exports.ask as () => number)(), { id }), id);
  assert.equal(bound, 1, 'imports are built once per pooled instance');
  await pool.close();
});

test('describe and stats say what the pool does and why', async () => {
  const started = wat(`(module (import "env" "tick" (func $tick)) (memory 1) (global $g (mut i32) (i32.const 1))
    (func $s (call $tick) (global.set $g (i32.const 2))) (start $s) (func (export "f")))`);
  const pool = await InstancePool.create(started, { keepResident: 65536, imports: { env: { tick: () => {} } } });
  const description = pool.describe();
  assert.equal(description.mechanism, 'reinstantiate');
  assert.match(description.mechanismReason, /start function calls the import "env"."tick", which a fresh instance repeats/);
  assert.equal(description.keepResident, 65536);
  assert.deepEqual(description.memory, { initialPages: 1, imageStart: 0, imageBytes: 0 });
  await pool.run((i) => (i.exports.f as () => void)());
  const stats = pool.stats();
  assert.equal(stats.uses, 1);
  assert.equal(stats.instantiations, 1);
  assert.equal(
    Object.values(stats.resets).reduce((a, b) => a + b, 0),
    1,
  );
  await pool.close();
});

for (const mechanism of ['reuse', 'reinstantiate'] as const) {
  test(`${mechanism}: pre-initialization makes every use start from the initialized state`, async () => {
    const bytes = wat(`(module (memory (export "memory") 1) (global $ready (mut i32) (i32.const 0))
      (global $count (mut i32) (i32.const 0))
      (func (export "init") (global.set $ready (i32.const 42)) (i32.store (i32.const 5000) (i32.const 7)) (drop (memory.grow (i32.const 1))))
      (func (export "use") (result i32)
        (global.set $count (i32.add (global.get $count) (i32.const 1)))
        (i32.store (i32.const 5000) (i32.add (i32.load (i32.const 5000)) (i32.const 1)))
        (i32.add (i32.mul (global.get $ready) (i32.const 1000)) (i32.add (i32.mul (global.get $count) (i32.const 100)) (i32.load (i32.const 5000))))))`);
    const pool = await InstancePool.create(bytes, { initialize: 'init', mechanism, max: 1 });
    assert.equal(pool.describe().initialized, true);
    assert.equal(pool.describe().memory?.initialPages, 2, 'the image has the size initialization left');
    for (let i = 0; i < 3; i++) assert.equal(await pool.run((inst) => (inst.exports.use as () => number)()), 42108);
    await pool.close();
  });
}

test('bad input gets a typed error that says what to do', async () => {
  await assert.rejects(InstancePool.create(new Uint8Array([0, 97, 115, 109, 2, 0, 0, 0])), (err: unknown) => {
    assert.ok(err instanceof MalformedModuleError);
    assert.equal(err.section, 'header');
    return true;
  });
  await assert.rejects(InstancePool.create(wat('(module (memory 1) (memory 1))')), (err: unknown) => {
    assert.ok(err instanceof ModuleNotPoolableError);
    assert.match(err.message, /2 memories/);
    return true;
  });
  await assert.rejects(
    InstancePool.create(wat('(module (import "env" "f" (func)) (memory 1))'), { imports: { env: {} } }),
    (err: unknown) => {
      assert.ok(err instanceof ImportMissingError);
      assert.equal(err.message, 'module imports function "env"."f" but options.imports does not provide it');
      return true;
    },
  );
  await assert.rejects(InstancePool.create(secretModule, { max: 0 }), (err: unknown) => {
    assert.ok(err instanceof InvalidArgumentError);
    assert.equal(err.message, 'options.max must be an integer of at least 1, not 0');
    return true;
  });
  await assert.rejects(InstancePool.create(secretModule, { min: 3, max: 2 }), /options.min \(3\) must not exceed options.max \(2\)/);
  await assert.rejects(InstancePool.create(secretModule, { strategy: 'fast' as never }), /options.strategy must be/);
  await assert.rejects(
    InstancePool.create(secretModule, { initialize: 'nope' }),
    /exports no function of that name \(it exports: write, global, trap, grow\)/,
  );
  await assert.rejects(InstancePool.create(new WebAssembly.Module(secretModule) as never), /pass the .wasm bytes/);
  // A JSON "__proto__" key is an own key that is not an option; inherited properties are not options.
  await assert.rejects(InstancePool.create(secretModule, JSON.parse('{"__proto__": {"max": 0}}')), /unknown option '__proto__'/);
  const pool = await InstancePool.create(secretModule, Object.create({ max: 0 }));
  assert.equal(pool.describe().max, 16, 'inherited properties are not options');
  await pool.close();
});
