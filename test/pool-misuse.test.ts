/**
 * A caller's mistakes answered with a typed error that says what to do, and never at another use's
 * expense (issue 18, findings 7 to 9): exports kept past their use stop working (`ClosedError`),
 * a use nested inside another that holds every instance fails fast (`NestedUseError`) instead of
 * waiting forever, and arguments that are not what a method takes are `InvalidArgumentError`s.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  AcquireTimeoutError,
  CallerError,
  ClosedError,
  InstancePool,
  InvalidArgumentError,
  NestedUseError,
  type UseFunction,
} from '../src/index.ts';
import { wat } from './support/wat.ts';

interface Box {
  memory: WebAssembly.Memory;
  write(value: number): void;
  read(): number;
}

const BOX = wat(`(module (memory (export "memory") 1)
  (func (export "write") (param i32) (i32.store (i32.const 64) (local.get 0)))
  (func (export "read") (result i32) (i32.load (i32.const 64))))`);

const SECRET = 0x5ec7e7;

for (const mechanism of ['reuse', 'reinstantiate'] as const) {
  test(`${mechanism}: exports kept past their use throw ClosedError, during a later use and after it`, async () => {
    const pool = await InstancePool.create<Box>(BOX, { max: 1, mechanism });
    const kept = await pool.run((i) => i.exports);
    const keptInstance = pool.runSync((i) => i);
    await pool.run((i) => {
      i.exports.write(SECRET);
      // The later use holds the member the kept exports came from: they must not read its secret.
      assert.throws(() => kept.read(), ClosedError);
      assert.throws(() => keptInstance.exports, ClosedError);
      assert.equal(i.exports.read(), SECRET, 'the use itself sees what it wrote');
    });
    assert.throws(
      () => kept.read(),
      (err: unknown) => {
        assert.ok(err instanceof ClosedError && err instanceof CallerError);
        assert.match(err.message, /^the instance of a use that ended \(its export 'read'; keep results, not the instance/);
        return true;
      },
    );
    assert.throws(() => kept.memory, ClosedError, 'the memory is an export like the others');
    assert.throws(() => Object.getOwnPropertyDescriptor(kept, 'read'), ClosedError, 'a descriptor carries the value');
    assert.throws(() => ({ ...kept }), ClosedError);
    // A name the exports lack still reads undefined (`Promise.resolve` looks for `then`).
    assert.equal((kept as unknown as Record<string, unknown>)['then'], undefined);
    await pool.close();
  });
}

test('a lease from acquire(): its instance works until release and throws ClosedError after', async () => {
  const pool = await InstancePool.create<Box>(BOX, { max: 1 });
  const lease = await pool.acquire();
  const exports = lease.instance.exports;
  exports.write(7);
  assert.equal(exports.read(), 7);
  lease.release();
  assert.throws(() => exports.read(), ClosedError);
  assert.throws(() => lease.instance.exports, ClosedError);
  assert.equal(await pool.run((i) => i.exports.read()), 0, 'the next use is pristine');
  await pool.close();
});

test('the view a use gets is an instance in every way a use can tell, and the exports are the real ones', async () => {
  const pool = await InstancePool.create<Box>(BOX, { max: 1 });
  await pool.run((i, _context, host) => {
    assert.ok(i instanceof WebAssembly.Instance);
    assert.equal(Object.prototype.toString.call(i), '[object WebAssembly.Instance]');
    assert.equal(i.constructor, WebAssembly.Instance);
    assert.equal(i.exports, i.exports, 'one exports object per use');
    assert.equal(i.exports.read, host.instance!.exports['read'], 'the functions are the instance’s own');
    assert.ok(i.exports.memory instanceof WebAssembly.Memory);
    assert.ok('write' in i.exports);
    assert.deepEqual(Object.keys(i.exports).sort(), ['memory', 'read', 'write']);
  });
  // A use may return the exports (or the instance): resolving the promise reads `then`, which they lack.
  const returned = await pool.run((i) => i.exports);
  assert.throws(() => returned.read(), ClosedError);
  await pool.close();
});

test('a function taken out of the exports escapes the view (the README warns): it reads the current use', async () => {
  // This pins down the documented limit, so that a change to it is a decision, not an accident.
  const pool = await InstancePool.create<Box>(BOX, { max: 1 });
  const read = await pool.run((i) => i.exports.read);
  await pool.run((i) => {
    i.exports.write(SECRET);
    assert.equal(read(), SECRET);
  });
  await pool.close();
});

test('a nested use that only its enclosing use could serve fails fast with NestedUseError (max 1)', async () => {
  const pool = await InstancePool.create<Box>(BOX, { max: 1 });
  const started = performance.now();
  // run inside run: the enclosing function awaits the nested use, which waits for the enclosing one.
  await assert.rejects(
    pool.run(() => pool.run((i) => i.exports.read())),
    (err: unknown) => {
      assert.ok(err instanceof NestedUseError && err instanceof CallerError);
      assert.equal(err.max, 1);
      assert.match(err.message, /^run\(\) was called inside a use of the same pool, .*\(options\.max is 1\), so it would wait forever/);
      return true;
    },
  );
  await assert.rejects(
    pool.run(async () => await pool.run((i) => i.exports.read())),
    NestedUseError,
  );
  assert.throws(() => pool.runSync(() => pool.runSync((i) => i.exports.read())), /^NestedUseError: runSync\(\) was called inside/);
  await assert.rejects(
    pool.run(() => pool.acquire()),
    /^NestedUseError: acquire\(\) was called inside/,
  );
  await assert.rejects(
    pool.runSync(() => pool.run(() => 1)),
    NestedUseError,
    'a run() begun inside runSync',
  );
  assert.ok(performance.now() - started < 1000, 'no wait');
  // The failed nesting took nothing: the pool serves the next use.
  assert.deepEqual([pool.stats().leased, pool.stats().waiting], [0, 0]);
  assert.equal(await pool.run((i) => i.exports.read()), 0);
  await pool.close();
});

test('nesting is fine while there is room, or while a use outside this stack holds an instance', async () => {
  const pool = await InstancePool.create<Box>(BOX, { max: 2 });
  assert.equal(await pool.run(() => pool.run((i) => i.exports.read())), 0, 'max 2: the nested use takes the second instance');
  assert.equal(
    pool.runSync(() => pool.runSync(() => 5)),
    5,
  );
  // Both instances held, one by a lease outside this stack: its release serves the nested use.
  const outside = await pool.acquire();
  const nested = pool.run(() => pool.run(() => 'served'));
  setTimeout(() => outside.release(), 20);
  assert.equal(await nested, 'served');
  await pool.close();
});

test('a use nested after an await is not on the stack: acquireTimeout bounds its wait', async () => {
  const pool = await InstancePool.create<Box>(BOX, { max: 1 });
  await assert.rejects(
    pool.run(async () => {
      await null;
      return pool.run(() => 1, undefined, { acquireTimeout: 50 });
    }),
    AcquireTimeoutError,
  );
  await pool.close();
});

test('every public method refuses arguments of the wrong type with InvalidArgumentError, and takes nothing', async () => {
  const pool = await InstancePool.create<Box>(BOX, { max: 1 });
  const notFunctions: unknown[] = [5, null, undefined, 'read', {}];
  for (const fn of notFunctions) {
    const what = fn === null ? 'null' : typeof fn;
    const message = new RegExp(`^run\\(fn\\) needs a function \\(instance, context, host\\) => result, not ${what}$`);
    await assert.rejects(pool.run(fn as UseFunction<Box, undefined, unknown, unknown>), (err: unknown) => {
      assert.ok(err instanceof InvalidArgumentError, String(fn));
      assert.match(err.message, message);
      return true;
    });
    assert.throws(
      () => pool.runSync(fn as UseFunction<Box, undefined, unknown, unknown>),
      /^InvalidArgumentError: runSync\(fn\) needs a function/,
    );
  }
  for (const options of [5, 'fast', null, { timeOut: 5 }, { acquireTimeout: -1 }, { signal: 'stop' }]) {
    await assert.rejects(
      pool.run(() => 1, undefined, options as never),
      InvalidArgumentError,
      JSON.stringify(options),
    );
    assert.throws(() => pool.runSync(() => 1, undefined, options as never), InvalidArgumentError, JSON.stringify(options));
    await assert.rejects(pool.acquire(undefined, options as never), InvalidArgumentError, JSON.stringify(options));
  }
  await assert.rejects(InstancePool.create(5 as never), InvalidArgumentError);
  assert.throws(() => InstancePool.createSync(BOX, 5 as never), InvalidArgumentError);
  // run() rejects, never throws: a caller's .catch sees every failure.
  assert.doesNotThrow(() => void pool.run(5 as never).catch(() => {}));
  assert.deepEqual([pool.stats().leased, pool.stats().uses], [0, 0], 'no argument error cost an instance');
  await pool.close();
});
