// analyzeStart: which start functions can run once at image time (they only write the module's own
// memory and globals) and which cannot, with the reason; then the proof that a pure one, run once,
// leaves exactly what a fresh instance's start leaves.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { wat } from './support/wasm.ts';
import { readModule } from '../src/module/reader.ts';
import { analyzeStart } from '../src/module/start-analysis.ts';

const analyze = (text: string) => {
  const bytes = wat(text);
  return analyzeStart(readModule(bytes), bytes);
};

test('no start function', () => {
  assert.deepEqual(analyze('(module (func (export "f")))'), { kind: 'none' });
});

test('a start function that fills memory and sets globals, through calls, is pure', () => {
  const result = analyze(`(module (memory 1) (global $g (mut i32) (i32.const 0))
    (func $fill (memory.fill (i32.const 0) (i32.const 7) (i32.const 100)))
    (func $init (call $fill) (global.set $g (i32.const 5)) (i32.store (i32.const 200) (memory.size)))
    (start $init))`);
  assert.deepEqual(result, { kind: 'pure', function: 1 });
});

const IMPURE: [string, string, RegExp][] = [
  ['calls an import', '(import "env" "log" (func $log)) (func $s (call $log))', /calls the import "env"."log"/],
  [
    'calls an import through another function',
    '(import "env" "log" (func $log)) (func $h (call $log)) (func $s (call $h))',
    /through function 1\) calls the import/,
  ],
  ['makes an indirect call', '(type $t (func)) (table 1 funcref) (func $s (call_indirect (type $t) (i32.const 0)))', /indirect call/],
  [
    'reads an imported global',
    '(import "env" "seed" (global $seed i32)) (global $g (mut i32) (i32.const 0)) (func $s (global.set $g (global.get $seed)))',
    /imported global "env"."seed"/,
  ],
  ['grows memory', '(func $s (drop (memory.grow (i32.const 1))))', /grows memory/],
  ['changes a table', '(table 1 funcref) (func $s (table.set (i32.const 0) (ref.func $s)))', /changes a table/],
  ['drops a segment', '(data $d "x") (func $s (data.drop $d))', /drops a segment/],
];
for (const [what, body, reason] of IMPURE) {
  test(`a start function that ${what} is impure, and says so`, () => {
    const result = analyze(`(module ${body} (memory 1) (start $s))`);
    assert.equal(result.kind, 'impure');
    assert.match((result as { reason: string }).reason, reason);
  });
}

test('an imported start function is impure', () => {
  const result = analyze('(module (import "env" "go" (func $go)) (start $go))');
  assert.equal(result.kind, 'impure');
  assert.match((result as { reason: string }).reason, /is the import "env"."go"/);
});

// The point of "pure": running it once and snapshotting memory and globals equals what a fresh
// instance's start leaves. Random stores and global writes, checked against V8.
test("a pure start function run once leaves exactly what a fresh instance's start leaves (property)", () => {
  fc.assert(
    fc.property(
      fc.array(fc.record({ at: fc.nat({ max: 65530 }), value: fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 }) }), { maxLength: 8 }),
      fc.integer({ min: -1000, max: 1000 }),
      (stores, globalValue) => {
        const text = `(module (memory (export "m") 1) (global $g (export "g") (mut i32) (i32.const 0))
          (func $s ${stores.map((s) => `(i32.store (i32.const ${s.at}) (i32.const ${s.value}))`).join(' ')}
            (global.set $g (i32.const ${globalValue})))
          (start $s))`;
        const bytes = wat(text);
        assert.equal(analyzeStart(readModule(bytes), bytes).kind, 'pure');
        const a = new WebAssembly.Instance(new WebAssembly.Module(bytes));
        const b = new WebAssembly.Instance(new WebAssembly.Module(bytes));
        assert.deepEqual(
          Buffer.from((a.exports.m as WebAssembly.Memory).buffer),
          Buffer.from((b.exports.m as WebAssembly.Memory).buffer),
          'a pure start is deterministic',
        );
        assert.equal((a.exports.g as WebAssembly.Global).value, globalValue);
      },
    ),
    { numRuns: 30 },
  );
});
