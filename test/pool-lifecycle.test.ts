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
  GuestTrapError,
  InstancePool,
  InvalidArgumentError,
  PoolClosedError,
} from '../src/index.ts';
import { TEST_HOOKS } from '../src/pool/test-hooks.ts';
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
    await assert.rejects(
      pool.run((i) => i.exports.spin(), undefined, { timeout: 30 }),
      GuestTimeoutError,
    );
    assert.equal(await pool.run((i) => i.exports.ready()), 16, 'and the pool goes on after the timeout');
    await pool.close();
  });
}

test('a use option the pool rejects costs no instance (timeout on a pool that is not interruptible)', async () => {
  const pool = await InstancePool.create<Spin>(spinModule, { max: 1 });
  await assert.rejects(
    pool.run((i) => i.exports.touch(0), undefined, { timeout: 50 }),
    (err: unknown) => {
      assert.ok(err instanceof InvalidArgumentError);
      assert.equal(err.message, 'a timeout needs a pool created with options.interruptible: true');
      return true;
    },
  );
  assert.throws(() => pool.runSync((i) => i.exports.touch(0), undefined, { timeout: 50 }), InvalidArgumentError);
  await assert.rejects(pool.acquire(undefined, { timeout: 50 }), InvalidArgumentError);
  const stats = pool.stats();
  assert.deepEqual({ instances: stats.instances, idle: stats.idle, leased: stats.leased }, { instances: 1, idle: 1, leased: 0 });
  // With max: 1, a lost instance would make this wait forever; the acquire timeout turns that into a failure.
  const lease = await pool.acquire(undefined, { acquireTimeout: 2000 });
  lease.release();
  await pool.close();
});

test("a reset that fails retires the instance, keeps the use's result, is counted, and close() still resolves", async () => {
  const before = openMemfds();
  let failures = 0;
  const pool = await InstancePool.create<Spin>(spinModule, {
    max: 1,
    [TEST_HOOKS]: {
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
  assert.equal(
    pool.runSync((i) => i.exports.touch(200)),
    1,
    'runSync returns the result (a new instance, pristine)',
  );
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
  await assert.rejects(
    pool.run((i) => i.exports.touch(0), undefined, { signal: aborted }),
    (err: unknown) => {
      assert.ok(err instanceof AbortedError);
      assert.equal(err.code, 'COWPOOL_ERR_ABORTED');
      assert.equal(err.cause, reason);
      return true;
    },
  );
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

test('idle instances give back their written pages after trimIdleAfter, and their next use is pristine', async () => {
  const bytes = wat(`(module (memory (export "memory") 8) (data (i32.const 8) "\\07")
    (func (export "use") (result i32) (local $before i32)
      (local.set $before (i32.add (i32.load8_u (i32.const 8)) (i32.load8_u (i32.const 70000))))
      (i32.store8 (i32.const 8) (i32.const 1)) (i32.store8 (i32.const 70000) (i32.const 1))
      (local.get $before)))`);
  const pool = await InstancePool.create<{ use(): number }>(bytes, { max: 3, min: 0, trimIdleAfter: 20 });
  try {
    const leases = await Promise.all([pool.acquire(), pool.acquire(), pool.acquire()]);
    for (const lease of leases) assert.equal(lease.instance.exports.use(), 7);
    for (const lease of leases) lease.release();
    const pagemap = pool.describe().strategy === 'pagemap';
    for (let i = 0; i < 100 && pool.stats().trims < (pagemap ? 3 : 0); i++) await new Promise((r) => setTimeout(r, 10));
    assert.equal(pool.stats().trims, pagemap ? 3 : 0, 'each idle pagemap instance trimmed once (other strategies hold nothing)');
    for (let i = 0; i < 5; i++)
      assert.equal(await pool.run((instance) => instance.exports.use()), 7, 'a trimmed instance starts from the image');
  } finally {
    await pool.close();
  }
  await assert.rejects(
    InstancePool.create(bytes, { trimIdleAfter: -1 }),
    (e: unknown) => e instanceof InvalidArgumentError && /trimIdleAfter/.test(e.message),
  );
});

test('a guest that runs out of stack is a GuestTrapError, like a trap, and the next use is pristine', async () => {
  const bytes = wat(`(module (memory (export "memory") 1) (func $r (export "recurse") (i32.store (i32.const 0) (i32.const 9)) (call $r))
    (func (export "peek") (result i32) (i32.load (i32.const 0))))`);
  const pool = await InstancePool.create<{ recurse(): void; peek(): number }>(bytes, { max: 1 });
  try {
    await assert.rejects(
      pool.run((i) => i.exports.recurse()),
      (e: unknown) => e instanceof GuestTrapError && e.cause instanceof RangeError,
    );
    assert.throws(() => pool.runSync((i) => i.exports.recurse()), GuestTrapError);
    assert.equal(
      pool.runSync((i) => i.exports.peek()),
      0,
    );
  } finally {
    await pool.close();
  }
});

test("options.interruptible is true, false or 'loops'", async () => {
  await assert.rejects(
    InstancePool.create(spinModule, { interruptible: 'calls' as never }),
    (e: unknown) => e instanceof InvalidArgumentError && /true, false or 'loops', not calls/.test(e.message),
  );
});

test('one plan: every combination of mechanism, interruptible and initialize is honoured together', async () => {
  for (const mechanism of ['auto', 'reuse', 'reinstantiate'] as const) {
    for (const interruptible of [false, true, 'loops'] as const) {
      for (const initialize of [undefined, 'init']) {
        const what = JSON.stringify({ mechanism, interruptible, initialize });
        const pool = await InstancePool.create<Spin>(spinModule, {
          mechanism,
          interruptible,
          ...(initialize ? { initialize } : {}),
          max: 1,
        });
        const description = pool.describe();
        assert.equal(description.mechanism, mechanism === 'auto' ? 'reuse' : mechanism, what);
        assert.equal(description.interruptible, interruptible, what);
        assert.equal(description.initialized, initialize !== undefined, what);
        assert.equal(
          await pool.run((i) => 'cowpool:fuel' in i.exports),
          interruptible !== false,
          `${what}: the fuel counter is there iff interruptible`,
        );
        assert.equal(await pool.run((i) => i.exports.ready()), initialize ? 16 : 0, `${what}: the initialized state`);
        if (interruptible)
          await assert.rejects(
            pool.run((i) => i.exports.spin(), undefined, { timeout: 5 }),
            GuestTimeoutError,
            what,
          );
        await pool.close();
      }
    }
  }
});

// Issue 12: start functions that only write the module's own memory and globals run once, when the
// image is made, so `reuse` stays possible; every use still sees what a fresh instance's start left.
test('a start function that only writes memory and globals runs once at image time; reuse, fresh-equivalent', async () => {
  const bytes = wat(`(module (memory (export "memory") 1) (global $g (export "g") (mut i32) (i32.const 1))
    (func $zero (memory.fill (i32.const 0) (i32.const 9) (i32.const 4096)))
    (func $s (call $zero) (global.set $g (i32.const 2)))
    (start $s)
    (func (export "use") (result i32)
      (global.set $g (i32.add (global.get $g) (i32.const 10)))
      (i32.store8 (i32.const 17) (i32.const 1))
      (i32.add (global.get $g) (i32.load8_u (i32.const 100)))))`);
  const pool = await InstancePool.create(bytes, { max: 1 });
  const description = pool.describe();
  assert.equal(description.mechanism, 'reuse');
  assert.match(description.mechanismReason, /start function only writes the module's own memory and globals, so it ran once/);
  const fresh = new WebAssembly.Instance(new WebAssembly.Module(bytes));
  const expected = (fresh.exports.use as () => number)();
  for (let i = 0; i < 3; i++) {
    const [result, memory] = await pool.run(
      (instance) =>
        [
          (instance.exports.use as () => number)(),
          // A copy: the view would show the reset memory once the use is over.
          new Uint8Array((instance.exports.memory as WebAssembly.Memory).buffer, 0, 8192).slice(),
        ] as const,
    );
    assert.equal(result, expected, 'the global starts where the start function left it, every use');
    assert.deepEqual(memory, new Uint8Array((fresh.exports.memory as WebAssembly.Memory).buffer, 0, 8192));
  }
  await pool.close();
});

test('a cost rule is a preference: mechanism reuse overrides it; a safety rule refuses, saying which kind', async () => {
  // 300 table entries: over the restore limit of 256, a cost rule.
  const big = wat(`(module (memory 1) (table 300 300 funcref) (func $f) (elem (i32.const 0) $f)
    (func (export "set") (table.set (i32.const 5) (ref.func $f))))`);
  const auto = await InstancePool.create(big);
  assert.equal(auto.describe().mechanism, 'reinstantiate');
  assert.match(auto.describe().mechanismReason, /a cost rule, limit 256: mechanism 'reuse' overrides it/);
  await auto.close();
  const forced = await InstancePool.create(big, { mechanism: 'reuse' });
  assert.equal(forced.describe().mechanism, 'reuse');
  assert.match(forced.describe().mechanismReason, /options.mechanism is 'reuse' \(auto would not: restoring 300 table entries/);
  assert.equal(forced.describe().restoredTables, 1);
  await forced.close();
  const dropping = wat(`(module (memory 1) (data $d "x") (func (export "f") (data.drop $d)))`);
  await assert.rejects(InstancePool.create(dropping, { mechanism: 'reuse' }), /reuse is not safe for this module: a use can run data.drop/);
});

test('initialize takes arguments; a WASI _start as initializer is refused with what to do instead', async () => {
  const bytes = wat(`(module (memory 1) (global $n (mut i32) (i32.const 0))
    (func (export "init") (param i32 i64) (global.set $n (i32.add (local.get 0) (i32.wrap_i64 (local.get 1)))))
    (func (export "get") (result i32) (global.get $n)))`);
  const pool = await InstancePool.create(bytes, { initialize: { name: 'init', args: [40, 2n] } });
  assert.equal(await pool.run((i) => (i.exports.get as () => number)()), 42);
  await pool.close();
  await assert.rejects(
    InstancePool.create(bytes, { initialize: { name: 'init', args: ['x' as never] } }),
    /initialize.args must be an array of numbers/,
  );
  await assert.rejects(
    InstancePool.create(bytes, { initialize: { name: 'init', arguments: [] } as never }),
    /unknown option 'arguments' \(known: name, args\)/,
  );
  const command = wat(`(module (import "wasi_snapshot_preview1" "proc_exit" (func $exit (param i32))) (memory (export "memory") 1)
    (func (export "_start") (call $exit (i32.const 0))))`);
  await assert.rejects(
    InstancePool.create(command, { initialize: '_start', imports: { wasi_snapshot_preview1: { proc_exit: () => {} } } }),
    /'_start', a WASI command's whole program .* run the command once per use with cowpool\/wasi/,
  );
  const throwing = wat(`(module (import "env" "boom" (func $boom)) (memory 1) (func (export "init") (call $boom)))`);
  await assert.rejects(
    InstancePool.create(throwing, {
      initialize: 'init',
      imports: {
        env: {
          boom: () => {
            throw new TypeError('no host here');
          },
        },
      },
    }),
    (err: Error & { code?: string }) =>
      err.code === 'COWPOOL_ERR_NOT_POOLABLE' && /options.initialize 'init' failed \(TypeError: no host here\)/.test(err.message),
  );
});

// Issue 12: guests whose allocator grows memory on every use keep their slot when the pool gives
// memories more room (a number of bytes, or what uses were seen to need); opt-in, since memory.size
// at the start of a use is then larger than a fresh instance's.
test('initialMemory: a guest that grows every use keeps its slot; learn finds the size itself', async () => {
  // Like a malloc that needs 3 pages of heap per use: grows when the memory is smaller than that.
  const bytes = wat(`(module (memory (export "memory") 1 8)
    (func (export "use") (result i32)
      (if (i32.lt_u (memory.size) (i32.const 3)) (then (drop (memory.grow (i32.sub (i32.const 3) (memory.size))))))
      (i32.store (i32.const 131072) (i32.const 5))
      (memory.size)))`);
  const run = (pool: InstancePool) => pool.run((i) => (i.exports.use as () => number)());
  const memfdsBefore = openMemfds();

  const plain = await InstancePool.create(bytes, { max: 1 });
  for (let i = 0; i < 3; i++) await run(plain);
  assert.equal(plain.stats().retirements, 3, 'without room, every use costs the slot');
  await plain.close();

  const roomy = await InstancePool.create(bytes, { max: 1, initialMemory: 3 * 65536 - 100 });
  assert.equal(roomy.describe().memory?.initialPages, 3, 'rounded up to whole pages');
  for (let i = 0; i < 3; i++) assert.equal(await run(roomy), 3);
  assert.equal(roomy.stats().retirements, 0);
  assert.equal(roomy.stats().created, 1);
  await roomy.close();

  const learning = await InstancePool.create(bytes, { max: 1, initialMemory: 'learn' });
  for (let i = 0; i < 4; i++) assert.equal(await run(learning), 3);
  assert.equal(learning.stats().retirements, 1, 'only the first use, which taught the size');
  assert.equal(learning.describe().memory?.initialPages, 3);
  await learning.close();

  // An allocator that grows on every use whatever its room (Rust's, in brotli-wasm): learning
  // stops once a memory that started at the learned size grew again, instead of ratcheting up.
  const greedy = wat(`(module (memory (export "memory") 1 100)
    (func (export "use") (result i32) (drop (memory.grow (i32.const 2))) (memory.size)))`);
  const ratchet = await InstancePool.create(greedy, { max: 1, initialMemory: 'learn' });
  for (let i = 0; i < 6; i++) await ratchet.run((i) => (i.exports.use as () => number)());
  assert.equal(ratchet.describe().memory?.initialPages, 3, 'learned once (1 + 2 pages), then stopped');
  await ratchet.close();

  await assert.rejects(InstancePool.create(bytes, { initialMemory: 9 * 65536 }), /over the module's maximum of 8/);
  await assert.rejects(InstancePool.create(bytes, { initialMemory: -1 }), /initialMemory must be a positive number of bytes or 'learn'/);
  assert.equal(openMemfds(), memfdsBefore, 'every image, the learned ones included, is closed');
});
