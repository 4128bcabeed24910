// The public surface of the pool: typed per-instance state from setup(host) (sync or async),
// typed exports, read-only host facts and the deadline check for host functions, and options
// validated with the closest known name for a typo.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { AcquireTimeoutError, GuestTimeoutError, InstancePool, InvalidArgumentError, type InstanceHost } from '../src/index.ts';
import { openMemfds } from './support/fds.ts';
import { wat } from './support/wat.ts';

const counter = wat(`(module (import "env" "next" (func $next (result i32))) (memory 1)
  (data (i32.const 0) "x")
  (func (export "ask") (result i32) call $next))`);

interface Counter {
  ask(): number;
}

/** Per-instance state: counts the calls one pooled instance served. */
class Tally {
  calls = 0;
}

test('setup(host) gives each pooled instance its own typed state, built once', async () => {
  let built = 0;
  const pool = await InstancePool.create<Counter, Tally, { add: number }>(counter, {
    max: 2,
    setup: (host) => {
      built++;
      const tally = new Tally();
      return { imports: { env: { next: () => (tally.calls += host.context?.add ?? 1) } }, state: tally };
    },
  });
  for (let i = 0; i < 3; i++) {
    const seen = await pool.run(
      (instance, context, host) => {
        const value = instance.exports.ask();
        const calls: number = host.state.calls; // typed: no cast
        return { value, calls, add: context?.add };
      },
      { add: 10 },
    );
    assert.deepEqual(seen, { value: 10 * (i + 1), calls: 10 * (i + 1), add: 10 });
  }
  assert.equal(built, 1, 'setup runs once per pooled instance');
  const [a, b] = [await pool.acquire({ add: 1 }), await pool.acquire({ add: 1 })];
  assert.notEqual(a.host.state, b.host.state, 'each instance has its own state');
  assert.equal(built, 2);
  a.release();
  b.release();
  await pool.close();
});

test('the state type is inferred from setup when no type arguments are given', async () => {
  const pool = await InstancePool.create(counter, {
    setup: (host: InstanceHost<{ label: string }>) => ({
      imports: { env: { next: () => host.state.label.length } },
      state: { label: 'four' },
    }),
  });
  assert.equal(await pool.run((_, __, host) => host.state.label), 'four');
  await pool.close();
});

test('an async setup works with create, instances made on demand; createSync refuses it and leaks nothing', async () => {
  const before = openMemfds();
  const setup = async (host: InstanceHost<Tally>) => {
    await new Promise((resolve) => setImmediate(resolve));
    const tally = new Tally();
    return { imports: { env: { next: () => ++tally.calls + (host.context === undefined ? 0 : 100) } }, state: tally };
  };
  const pool = await InstancePool.create<Counter, Tally>(counter, { setup, min: 0, max: 2 });
  assert.equal(pool.stats().instances, 0);
  assert.throws(
    () => pool.runSync((i) => i.exports.ask()),
    (err: unknown) => {
      assert.ok(err instanceof AcquireTimeoutError);
      assert.match(err.message, /an async options.setup is still building one/);
      return true;
    },
  );
  const results = await Promise.all([pool.run((i) => i.exports.ask()), pool.run((i) => i.exports.ask()), pool.run((i) => i.exports.ask())]);
  // Three calls, each counted by the instance that served it (which one serves which is the pool's choice).
  assert.equal(results.length, 3);
  assert.ok(results.every((n) => n >= 1 && n <= 3));
  await new Promise((resolve) => setImmediate(resolve)); // the second setup may finish after the three uses
  assert.equal(pool.stats().instances, 2, 'both created on demand, for the two callers that found none');
  assert.equal(pool.stats().created, 2);
  assert.equal(typeof pool.runSync((i) => i.exports.ask()), 'number', 'runSync once an instance is idle');
  await pool.close();

  assert.throws(() => InstancePool.createSync(counter, { setup }), /options.setup returned a promise; use InstancePool.create/);
  await assert.rejects(InstancePool.create(counter, { setup: () => Promise.reject(new Error('no database')) }), /no database/);
  await new Promise((resolve) => setImmediate(resolve)); // the refused setup finishes, then its slot is closed
  await new Promise((resolve) => setImmediate(resolve));
  assert.equal(openMemfds(), before, 'failed constructions closed their images');
});

test('host facts are read-only; checkDeadline lets a blocking host function end the use at its deadline', async () => {
  const blocking = wat(`(module (import "env" "block" (func $block)) (memory 1) (func (export "go") call $block))`);
  let seen: { deadline: number; timeout: number } | undefined;
  const pool = await InstancePool.create<{ go(): void }, undefined>(blocking, {
    interruptible: true,
    setup: (host) => ({
      imports: {
        env: {
          block: () => {
            seen = { deadline: host.deadline, timeout: host.timeout };
            for (;;) host.checkDeadline();
          },
        },
      },
    }),
  });
  await assert.rejects(
    pool.run((i) => i.exports.go(), undefined, { timeout: 20 }),
    (err: unknown) => {
      assert.ok(err instanceof GuestTimeoutError);
      assert.equal(err.timeoutMs, 20);
      return true;
    },
  );
  assert.equal(seen!.timeout, 20);
  assert.ok(Number.isFinite(seen!.deadline));
  const lease = await pool.acquire();
  assert.equal(lease.host.deadline, Infinity);
  assert.equal(lease.host.timeLeft(), Infinity);
  assert.throws(() => ((lease.host as unknown as { deadline: number }).deadline = 0), TypeError);
  assert.throws(() => ((lease.host as unknown as { context: unknown }).context = 1), TypeError);
  lease.release();
  await pool.close();
});

test('the imports option still works (object or function), and not together with setup', async () => {
  const fromObject = await InstancePool.create<Counter>(counter, { imports: { env: { next: () => 5 } } });
  assert.equal(await fromObject.run((i) => i.exports.ask()), 5);
  await fromObject.close();
  const fromFunction = await InstancePool.create<Counter, undefined, number>(counter, {
    imports: (host) => ({ env: { next: () => host.context ?? 0 } }),
  });
  assert.equal(await fromFunction.run((i) => i.exports.ask(), 9), 9);
  await fromFunction.close();
  await assert.rejects(InstancePool.create(counter, { imports: {}, setup: () => ({}) }), /give options.setup or options.imports, not both/);
});

test('unknown option keys are rejected with the closest known name', async () => {
  const cases: [object, RegExp][] = [
    [{ maxInstances: 4 }, /^options: unknown option 'maxInstances'; did you mean 'max'\?/],
    [{ interruptable: true }, /unknown option 'interruptable'; did you mean 'interruptible'\?/],
    [{ keepresident: 1 }, /did you mean 'keepResident'\?/],
    [{ zzz: 1 }, /^options: unknown option 'zzz' \(known: setup, imports, max/],
    [{ timeout: 5 }, /^options.timeout belongs to each use: pool.run\(fn, context, \{ timeout \}\)/],
  ];
  for (const [options, message] of cases) {
    await assert.rejects(InstancePool.create(counter, options as never), (err: unknown) => {
      assert.ok(err instanceof InvalidArgumentError);
      assert.match(err.message, message);
      return true;
    });
  }
  const pool = await InstancePool.create<Counter>(counter, { imports: { env: { next: () => 1 } } });
  await assert.rejects(
    pool.run((i) => i.exports.ask(), undefined, { timeOut: 5 } as never),
    /unknown option 'timeOut'; did you mean 'timeout'\?/,
  );
  assert.throws(() => pool.runSync((i) => i.exports.ask(), undefined, { signal: 'stop' } as never), /signal must be an AbortSignal/);
  assert.deepEqual([pool.stats().idle, pool.stats().leased], [1, 0], 'rejected options took nothing');
  await pool.close();
});

test('a pool that fails to be made leaves no memfd open', async () => {
  const before = openMemfds();
  await assert.rejects(
    InstancePool.create(counter, { initialize: 'nope', imports: { env: { next: () => 1 } } }),
    /exports no function of that name/,
  );
  await assert.rejects(InstancePool.create(counter), /module imports function "env"."next"/);
  assert.throws(() => InstancePool.createSync(counter, { setup: () => ({ imports: { env: {} } }) }), /"env"."next"/);
  await assert.rejects(
    InstancePool.create(counter, {
      setup: () => {
        throw new Error('setup failed');
      },
    }),
    /setup failed/,
  );
  await assert.rejects(InstancePool.create(counter, { setup: () => null as never }), /options.setup must return \{ imports\?, state\? \}/);
  assert.equal(openMemfds(), before);
});
