// options.tableReserve: an exported table that only JavaScript can grow (emscripten's addFunction)
// gets room up front, so a kept instance (reuse) can serve every use: each use starts with the
// same size and the same entries whatever the uses before it set or grew, and a use that grows
// past the room costs its member instead of leaking its size.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { InstancePool, InvalidArgumentError } from '../src/index.ts';
import { wat } from './support/wat.ts';

/** A table of 3 entries exported with no maximum; `call(i)` calls entry i (a function returning i32). */
function tableModule(limits = '3', extra = ''): Uint8Array {
  return wat(`(module (memory 1)
    (type $rt (func (result i32)))
    (table $t (export "t") ${limits} funcref)
    (func $one (result i32) i32.const 1) (func $two (result i32) i32.const 2)
    (elem (i32.const 0) $one $two $one)
    (func (export "one") (result i32) i32.const 1)
    (func (export "seven") (result i32) i32.const 7)
    (func (export "call") (param i32) (result i32) (call_indirect $t (type $rt) (local.get 0)))
    ${extra})`);
}

interface T {
  t: WebAssembly.Table;
  seven(): number;
  call(i: number): number;
}

/** What a use sees of the table: its length and, for each entry, null or what calling it returns. */
function look(t: WebAssembly.Table, call: (i: number) => number): (number | null)[] {
  return Array.from({ length: t.length }, (_, i) => (t.get(i) === null ? null : call(i)));
}

test('without room, a JS-growable table forces reinstantiate, and the reason names tableReserve', async () => {
  const pool = await InstancePool.create(tableModule());
  assert.equal(pool.describe().mechanism, 'reinstantiate');
  assert.match(pool.describe().mechanismReason, /exported with room to grow: options.tableReserve gives it room/);
  assert.deepEqual(pool.describe().reservedTables, []);
  await pool.close();
  await assert.rejects(InstancePool.create(tableModule(), { mechanism: 'reuse' }), /reuse is not safe for this module: table 0 may grow/);
});

test('with room, reuse keeps one instance and every use starts with the same table (room included), whatever the last one set', async () => {
  const pool = await InstancePool.create<T>(tableModule(), { tableReserve: 4, max: 1 });
  try {
    const description = pool.describe();
    assert.equal(description.mechanism, 'reuse', description.mechanismReason);
    assert.deepEqual(description.reservedTables, [{ name: 't', reserve: 4 }]);
    const start = [1, 2, 1, null, null, null, null]; // 3 declared entries and 4 of room, null
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.record({ sets: fc.array(fc.nat(6), { maxLength: 5 }) }), { minLength: 1, maxLength: 6 }),
        async (uses) => {
          for (const use of uses) {
            const seen = await pool.run((inst) => {
              const { t, seven, call } = inst.exports;
              const before = look(t, call);
              for (const i of use.sets) t.set(i, seven);
              return before;
            });
            assert.deepEqual(seen, start);
          }
        },
      ),
      { numRuns: 30 },
    );
    assert.equal(pool.stats().created, 1, 'one member served every use');
    assert.equal(pool.stats().retirements, 0);
  } finally {
    await pool.close();
  }
});

test('a use that grows the table (past its room) retires its member; the next use is pristine', async () => {
  const pool = await InstancePool.create<T>(tableModule(), { tableReserve: 2, max: 1 });
  try {
    await pool.run((inst) => {
      inst.exports.t.grow(1, inst.exports.seven);
      assert.equal(inst.exports.call(5), 7);
    });
    assert.equal(pool.stats().retirements, 1);
    assert.deepEqual(await pool.run((inst) => look(inst.exports.t, inst.exports.call)), [1, 2, 1, null, null]);
    assert.equal(pool.stats().created, 2);
  } finally {
    await pool.close();
  }
});

test('the room stays within the table maximum; a table the module grows itself still forces reinstantiate', async () => {
  const bounded = await InstancePool.create<T>(tableModule('3 5'), { tableReserve: 8, mechanism: 'reuse' });
  assert.deepEqual(bounded.describe().reservedTables, [{ name: 't', reserve: 2 }]);
  assert.equal(await bounded.run((inst) => inst.exports.t.length), 5);
  await bounded.close();
  const grows = await InstancePool.create(tableModule('3', '(func (export "g") (drop (table.grow $t (ref.null func) (i32.const 1))))'), {
    tableReserve: 8,
  });
  assert.equal(grows.describe().mechanism, 'reinstantiate');
  assert.match(grows.describe().mechanismReason, /the module runs table.grow on it/);
  await grows.close();
});

test('tableReserve must be a non-negative integer', async () => {
  for (const bad of [-1, 1.5, '4', Number.NaN]) {
    await assert.rejects(InstancePool.create(tableModule(), { tableReserve: bad as number }), InvalidArgumentError);
  }
});
