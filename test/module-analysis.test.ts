// analyzeModule on hand-written modules, one behaviour per test: what code can grow, write,
// mutate or drop, which functions a use can reach, and when a module cannot be pooled.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { binary, name, section, wat } from './support/wasm.ts';
import { readModule } from '../src/module/reader.ts';
import { analyzeModule, type ModuleAnalysis } from '../src/module/analysis.ts';

function analyze(text: string): ModuleAnalysis {
  const bytes = wat(text);
  return analyzeModule(readModule(bytes), bytes);
}

function analyzeBinary(bytes: Uint8Array): ModuleAnalysis {
  return analyzeModule(readModule(bytes), bytes);
}

test('memory: defined or imported, limits, exports, and memory.grow anywhere', () => {
  const quiet = analyze('(module (memory (export "mem") 1 4) (func (drop (memory.size))))');
  assert.deepEqual(quiet.memory, {
    min: 1,
    max: 4,
    shared: false,
    memory64: false,
    index: 0,
    imported: false,
    exportNames: ['mem'],
    grows: false,
  });
  assert.deepEqual(quiet.poolable, { ok: true });

  const grows = analyze('(module (import "env" "m" (memory 2)) (func $dead (drop (memory.grow (i32.const 1)))))');
  assert.equal(grows.memory?.grows, true, 'even an unreachable function counts: any function');
  assert.equal(grows.memory?.imported, true);
  assert.deepEqual(grows.memory?.import, { module: 'env', name: 'm' });

  const none = analyze('(module (func (export "f")))');
  assert.equal(none.memory, null);
  assert.deepEqual(none.memories, []);
  assert.deepEqual(none.poolable, { ok: true }, 'no memory is poolable: there is just no image');
});

test('globals: imported or defined, mutability, type, exports, and global.set', () => {
  const a = analyze(`(module
    (import "env" "counter" (global $c (mut i32)))
    (import "env" "k" (global i64))
    (global $sp (mut i32) (i32.const 1024))
    (global $f (mut f64) (f64.const 0))
    (global $r (mut externref) (ref.null extern))
    (global $ro i32 (i32.const 1))
    (export "sp" (global $sp)) (export "sp2" (global $sp)) (export "ro" (global $ro))
    (func (export "run")
      (global.set $c (i32.const 1))
      (global.set $sp (i32.sub (global.get $sp) (i32.const 16)))))`);
  assert.deepEqual(
    a.globals.map((g) => [g.index, g.imported, g.mutable, g.type, g.exportNames, g.written]),
    [
      [0, true, true, 'i32', [], true],
      [1, true, false, 'i64', [], false],
      [2, false, true, 'i32', ['sp', 'sp2'], true],
      [3, false, true, 'f64', [], false],
      [4, false, true, 'externref', [], false],
      [5, false, false, 'i32', ['ro'], false],
    ],
  );
  assert.deepEqual(a.mutableRefGlobals, [4]);
});

test('tables: every mutating instruction marks its target table, and only it', () => {
  const a = analyze(`(module
    (import "env" "t" (table $imp 1 funcref))
    (table $set 1 externref) (table $grow 1 externref) (table $fill 1 externref)
    (table $dst 2 funcref) (table $src 2 funcref) (table $init 2 funcref) (table $ro (export "ro") 1 5 funcref)
    (elem $e func $f)
    (func $f (param externref)
      (table.set $set (i32.const 0) (local.get 0))
      (drop (table.grow $grow (local.get 0) (i32.const 1)))
      (table.fill $fill (i32.const 0) (local.get 0) (i32.const 1))
      (table.copy $dst $src (i32.const 0) (i32.const 0) (i32.const 1))
      (table.init $init $e (i32.const 0) (i32.const 0) (i32.const 1))
      (drop (table.get $ro (i32.const 0)))
      (drop (table.size $src))))`);
  assert.deepEqual(
    a.tables.map((t) => [t.index, t.imported, t.element, t.min, t.max, t.exported, t.mutated]),
    [
      [0, true, 'funcref', 1, undefined, false, false],
      [1, false, 'externref', 1, undefined, false, true],
      [2, false, 'externref', 1, undefined, false, true],
      [3, false, 'externref', 1, undefined, false, true],
      [4, false, 'funcref', 2, undefined, false, true],
      [5, false, 'funcref', 2, undefined, false, false],
      [6, false, 'funcref', 2, undefined, false, true],
      [7, false, 'funcref', 1, 5, true, false],
    ],
  );
  assert.equal(a.tableInit, true, '$f is in an element segment, so a use can reach it');
});

const DROPS = `
  (memory 1) (data $d "x") (table 1 funcref) (elem $e func $dropper)
  (func $dropper (data.drop $d) (elem.drop $e))`;

test('data.drop/elem.drop only in the start function’s call tree do not count', () => {
  const a = analyze(`(module (memory 1) (data $d "x") (table 1 funcref) (elem $e func)
    (func $init (data.drop $d) (elem.drop $e) (memory.init $d (i32.const 0) (i32.const 0) (i32.const 0)))
    (func $start (call $init))
    (start $start)
    (func (export "run") (nop)))`);
  assert.equal(a.dataDrop, false);
  assert.equal(a.elemDrop, false);
  assert.equal(a.memoryInit, false);
  assert.deepEqual(a.reachableFunctions, [2]);
});

test('data.drop reachable from an export counts, through calls and tail calls', () => {
  const a = analyze(`(module (memory 1) (data $d "x")
    (func $leaf (data.drop $d))
    (func $mid (return_call $leaf))
    (func (export "run") (call $mid))
    (func $start (call $leaf)) (start $start))`);
  assert.equal(a.dataDrop, true);
  assert.equal(a.elemDrop, false);
  assert.deepEqual(a.reachableFunctions, [0, 1, 2]);
});

test('the start function counts when it is also exported', () => {
  const a = analyze('(module (memory 1) (data $d "x") (func $s (export "again") (data.drop $d)) (start $s))');
  assert.equal(a.dataDrop, true);
});

test('call_indirect is conservative: every function in any element segment is reachable', () => {
  const a = analyze(`(module ${DROPS}
    (type $v (func))
    (func (export "run") (call_indirect (type $v) (i32.const 0))))`);
  assert.equal(a.dataDrop, true);
  assert.equal(a.elemDrop, true);
  // Even with no call_indirect anywhere, a function in a table may be called by the host.
  const b = analyze(`(module ${DROPS} (export "t" (table 0)))`);
  assert.equal(b.dataDrop, true);
});

test('functions whose references escape through ref.func in code or in global initializers are roots', () => {
  const viaCode = analyze(`(module (memory 1) (data $d "x")
    (func $hidden (data.drop $d))
    (elem declare func $hidden)
    (func (export "get") (result funcref) (ref.func $hidden)))`);
  assert.equal(viaCode.dataDrop, true);
  const viaGlobal = analyze(`(module (memory 1) (data $d "x")
    (func $hidden (data.drop $d))
    (global (export "g") funcref (ref.func $hidden)))`);
  assert.equal(viaGlobal.dataDrop, true);
  const unreachable = analyze(`(module (memory 1) (data $d "x") (func $hidden (data.drop $d)) (func (export "f")))`);
  assert.equal(unreachable.dataDrop, false);
});

test('calls to imported functions are not followed (their callbacks enter through exports)', () => {
  const a = analyze(`(module (import "env" "cb" (func $cb)) (memory 1) (data $d "x")
    (func (export "run") (call $cb)) (func $other (data.drop $d)))`);
  assert.equal(a.dataDrop, false);
  assert.deepEqual(a.reachableFunctions, [1]);
});

test('not poolable: several memories, memory64, shared memory, GC reference types', () => {
  const two = analyzeBinary(binary(section(2, [1, ...name('a'), ...name('m'), 2, 0, 1]), section(5, [1, 0, 1])));
  assert.equal(two.poolable.ok, false);
  assert.match(two.poolable.ok ? '' : two.poolable.reason, /2 memories \(multi-memory\)/);
  assert.deepEqual(
    two.memories.map((m) => [m.index, m.imported]),
    [
      [0, true],
      [1, false],
    ],
  );

  const m64 = analyze('(module (memory i64 1))');
  assert.deepEqual(m64.poolable, { ok: false, reason: 'memory 0 is a 64-bit memory (memory64)' });
  assert.equal(m64.memory?.memory64, true);

  const shared = analyze('(module (memory 1 2 shared))');
  assert.equal(shared.poolable.ok, false);
  assert.match(shared.poolable.ok ? '' : shared.poolable.reason, /memory 0 is shared/);

  // (global (mut anyref) (ref.null any))
  const gc = analyzeBinary(binary(section(6, [1, 0x6e, 1, 0xd0, 0x6e, 0x0b])));
  assert.deepEqual(gc.poolable, { ok: false, reason: 'the module uses GC-proposal reference types (anyref in global 0)' });

  const gcLocal = analyzeBinary(binary(section(1, [1, 0x60, 0, 0]), section(3, [1, 0]), section(10, [1, 5, 1, 1, 0x64, 0x70, 0x0b])));
  assert.match(gcLocal.poolable.ok ? '' : gcLocal.poolable.reason, /\(ref func\) in a local of function 0/);
});
