// virtualizeMemorySize: a module whose memory.size/memory.grow read and grow a global answers every
// sequence of sizes and grows exactly as the original does, while its real memory is larger, and
// through the pool a guest that grows on every use keeps its slot.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { wat } from './support/wasm.ts';
import { readModule } from '../src/module/reader.ts';
import { virtualizeMemorySize } from '../src/module/virtual-memory.ts';
import { InstancePool } from '../src/pool/index.ts';

const GUEST = `(module (import "env" "memory" (memory 1 40))
  (func (export "size") (result i32) (memory.size))
  (func (export "grow") (param i32) (result i32) (memory.grow (local.get 0)))
  (func (export "poke") (param i32) (i32.store8 (local.get 0) (i32.const 1))))`;

test('any sequence of sizes, grows and stores answers as the original, on a larger real memory (property)', () => {
  const original = wat(GUEST);
  const virtualized = virtualizeMemorySize(original, readModule(original));
  assert.equal(virtualized.replaced, 2);
  const virtualModule = new WebAssembly.Module(virtualized.bytes);
  const originalModule = new WebAssembly.Module(original);
  const step = fc.oneof(
    fc.record({ op: fc.constant('size' as const) }),
    fc.record({ op: fc.constant('grow' as const), n: fc.oneof(fc.integer({ min: 0, max: 6 }), fc.constant(100), fc.constant(-1)) }),
    fc.record({ op: fc.constant('poke' as const), at: fc.nat({ max: 10 * 65536 }) }),
  );
  fc.assert(
    fc.property(fc.integer({ min: 1, max: 12 }), fc.array(step, { maxLength: 20 }), (realPages, steps) => {
      const a = new WebAssembly.Instance(originalModule, { env: { memory: new WebAssembly.Memory({ initial: 1, maximum: 40 }) } });
      const b = new WebAssembly.Instance(virtualModule, { env: { memory: new WebAssembly.Memory({ initial: realPages, maximum: 40 }) } });
      const call = (instance: WebAssembly.Instance, s: (typeof steps)[number]) => {
        try {
          if (s.op === 'size') return (instance.exports.size as () => number)();
          if (s.op === 'grow') return (instance.exports.grow as (n: number) => number)(s.n);
          const guestSize = (instance.exports.size as () => number)() * 65536;
          // Past the guest's size the two differ by design (the real memory may be there): skip.
          if (s.at >= guestSize) return 'out of bounds';
          (instance.exports.poke as (at: number) => void)(s.at);
          return 'ok';
        } catch (err) {
          return `trap: ${(err as Error).message}`;
        }
      };
      for (const s of steps) assert.deepEqual(call(b, s), call(a, s), JSON.stringify(s));
    }),
    { numRuns: 200 },
  );
});

test('a module that never reads or grows its memory is left as it is; a 64-bit memory is refused', () => {
  const quiet = wat('(module (memory 1) (func (export "f") (i32.store (i32.const 0) (i32.const 1))))');
  assert.equal(virtualizeMemorySize(quiet, readModule(quiet)).bytes, quiet);
  const wide = wat('(module (memory i64 1) (func (drop (memory.size))))');
  assert.throws(() => virtualizeMemorySize(wide, readModule(wide)), /64-bit/);
});

test('pooled: a guest that grows on every use keeps its slot with virtualMemorySize + learn, and sees fresh sizes', async () => {
  // Like Rust's allocator after a reset: asks for 2 more pages on every use, whatever the room.
  const bytes = wat(`(module (memory (export "memory") 1 64)
    (func (export "use") (result i32 i32 i32 i32) (local $old i32)
      (memory.size)
      (local.tee $old (memory.grow (i32.const 2)))
      (i32.load (i32.mul (local.get $old) (i32.const 65536)))
      (i32.store (i32.mul (local.get $old) (i32.const 65536)) (i32.const 7))
      (memory.size)))`);
  const fresh = () => (new WebAssembly.Instance(new WebAssembly.Module(bytes)).exports.use as () => number[])();
  const expected = fresh();
  assert.deepEqual(expected, [1, 1, 0, 3]);
  for (const options of [{}, { interruptible: true }, { mechanism: 'reinstantiate' as const }]) {
    const pool = await InstancePool.create(bytes, { max: 1, virtualMemorySize: true, initialMemory: 'learn', ...options });
    for (let i = 0; i < 5; i++) {
      assert.deepEqual(await pool.run((instance) => (instance.exports.use as () => number[])()), expected, `use ${i + 1}`);
    }
    assert.equal(pool.stats().retirements, 1, 'only the first use, which taught the size');
    assert.equal(pool.describe().memory?.initialPages, 3);
    assert.equal(pool.describe().virtualMemorySize, true);
    await pool.close();
  }

  const plain = await InstancePool.create(bytes, { max: 1, initialMemory: 'learn' });
  for (let i = 0; i < 3; i++) await plain.run((instance) => (instance.exports.use as () => number[])());
  assert.equal(plain.stats().retirements, 3, 'without it, the reset allocator grows past any room');
  await plain.close();
  await assert.rejects(InstancePool.create(wat('(module (func (export "f")))'), { virtualMemorySize: true }), /no memory to virtualize/);
});
