// rewriteModule against V8: the rewritten module, instantiated the way the pool does it, must
// behave exactly like a fresh instance of the original.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { binary, name, section, wat } from './support/wasm.ts';
import { readModule } from '../src/module/reader.ts';
import { keepOnlyExports, rewriteModule, type RewritePlan } from '../src/module/rewrite.ts';
import { evaluateDataImage, renderImage } from '../src/module/image.ts';
import { InvalidArgumentError, ModuleNotPoolableError } from '../src/errors.ts';

const MEMORY_IMPORT = { module: 'cowpool', name: 'memory' };

function rewrite(bytes: Uint8Array, plan: RewritePlan): Uint8Array {
  const out = rewriteModule(bytes, readModule(bytes), plan);
  assert.ok(WebAssembly.validate(out), 'rewritten module must validate');
  readModule(out); // and be well-formed by our own reader, section order included
  return out;
}

/** A pooled memory as the pool prepares it: the module's limits, pre-filled with its image. */
function pooledMemory(bytes: Uint8Array, importedGlobal: (i: number) => number | undefined = () => undefined): WebAssembly.Memory {
  const image = evaluateDataImage(readModule(bytes), bytes, importedGlobal);
  const memory = new WebAssembly.Memory({ initial: image.minPages, ...(image.maxPages !== undefined ? { maximum: image.maxPages } : {}) });
  const span = renderImage(image);
  new Uint8Array(memory.buffer).set(span.bytes, span.start);
  return memory;
}

/** Calls an export, returning its result or the trap as `trap: <message>`. */
function call(instance: WebAssembly.Instance, fn: string, ...args: number[]): unknown {
  try {
    return (instance.exports[fn] as (...a: number[]) => unknown)(...args);
  } catch (err) {
    assert.ok(err instanceof WebAssembly.RuntimeError, String(err));
    return `trap: ${err.message}`;
  }
}

const SEGMENTS = wat(`(module
  (import "env" "base" (global $base i32))
  (memory (export "mem") 1 3)
  (global $seen (mut i32) (i32.const 0))
  (data $a (i32.const 16) "active-A")
  (data $p "passive!")
  (data $b (global.get $base) "active-B")
  (data $c (i32.const 60000) "\\01\\02\\03")
  (func $start (global.set $seen (i32.load8_u (i32.const 16))))
  (start $start)
  (func (export "seen") (result i32) (global.get $seen))
  (func (export "read") (param i32) (result i32) (i32.load8_u (local.get 0)))
  (func (export "write") (param i32 i32) (i32.store8 (local.get 0) (local.get 1)))
  (func (export "initA") (param i32 i32 i32) (memory.init $a (local.get 0) (local.get 1) (local.get 2)))
  (func (export "initB") (param i32 i32 i32) (memory.init $b (local.get 0) (local.get 1) (local.get 2)))
  (func (export "initP") (param i32 i32 i32) (memory.init $p (local.get 0) (local.get 1) (local.get 2)))
  (func (export "dropP") (data.drop $p))
  (func (export "dropA") (data.drop $a))
  (func (export "size") (result i32) (memory.size))
  (func (export "grow") (param i32) (result i32) (memory.grow (local.get 0))))`);

type Step = [fn: string, ...args: number[]];

/** Runs `steps` on a fresh original and on the rewritten module over a pooled memory; compares. */
function compare(base: number, steps: readonly Step[]): void {
  const original = new WebAssembly.Instance(new WebAssembly.Module(SEGMENTS), { env: { base } });
  const rewritten = rewrite(SEGMENTS, { importMemory: MEMORY_IMPORT, stripActiveData: true });
  const memory = pooledMemory(SEGMENTS, () => base);
  const pooled = new WebAssembly.Instance(new WebAssembly.Module(rewritten), { env: { base }, cowpool: { memory } });
  assert.equal(pooled.exports['mem'], memory, 'the exported memory is the pooled one');
  for (const [fn, ...args] of [['seen'], ...steps] as Step[]) {
    assert.deepEqual(call(pooled, fn, ...args), call(original, fn, ...args), `${fn}(${args.join(', ')})`);
  }
  const a = new Uint8Array((original.exports['mem'] as WebAssembly.Memory).buffer);
  assert.equal(Buffer.compare(new Uint8Array(memory.buffer), a), 0, 'memories differ after the same steps');
}

test('importMemory + stripActiveData: same behaviour as a fresh original, segment by segment', () => {
  compare(1000, [
    ['read', 16],
    ['read', 1007],
    ['read', 60002],
    ['initA', 0, 0, 0], // a dropped (formerly active) segment: length 0 at 0 succeeds
    ['initA', 0, 0, 1], // anything else traps
    ['initA', 0, 1, 0],
    ['initB', 100, 0, 0],
    ['initB', 100, 0, 2],
    ['initP', 200, 0, 8], // passive segments still work
    ['read', 207],
    ['initP', 200, 4, 5],
    ['dropA'],
    ['initA', 0, 0, 0],
    ['dropP'],
    ['initP', 0, 0, 0],
    ['initP', 0, 0, 1],
    ['write', 5, 99],
    ['size'],
    ['grow', 1],
    ['size'],
    ['initA', 131072, 0, 0],
  ]);
});

test('importMemory + stripActiveData: random step sequences behave the same (property)', () => {
  const fns = ['read', 'write', 'initA', 'initB', 'initP', 'dropP', 'dropA', 'size'] as const;
  const step = fc
    .tuple(fc.constantFrom(...fns), fc.nat({ max: 70000 }), fc.nat({ max: 10 }), fc.nat({ max: 10 }))
    .map(([fn, a, b, c]): Step => (fn.startsWith('init') ? [fn, a, b, c] : fn === 'write' ? [fn, a, b] : fn === 'read' ? [fn, a] : [fn]));
  fc.assert(
    fc.property(fc.nat({ max: 65000 }), fc.array(step, { maxLength: 12 }), (base, steps) => compare(base, steps)),
    { numRuns: 40 },
  );
});

test('importMemory keeps the limits, adds one memory import and defines no memory', () => {
  const out = rewrite(SEGMENTS, { importMemory: MEMORY_IMPORT });
  const info = readModule(out);
  assert.equal(info.memories.length, 0);
  const imp = info.imports.at(-1);
  assert.deepEqual(imp?.kind === 'memory' && [imp.module, imp.name, imp.index, imp.memory], [
    'cowpool',
    'memory',
    0,
    { min: 1, max: 3, shared: false, memory64: false },
  ]);
  assert.deepEqual(WebAssembly.Module.exports(new WebAssembly.Module(out)), WebAssembly.Module.exports(new WebAssembly.Module(SEGMENTS)));
  // Without stripActiveData, the segments are written into the imported memory at instantiation.
  const memory = new WebAssembly.Memory({ initial: 1, maximum: 3 });
  new WebAssembly.Instance(new WebAssembly.Module(out), { env: { base: 300 }, cowpool: { memory } });
  assert.equal(new TextDecoder().decode(new Uint8Array(memory.buffer, 300, 8)), 'active-B');
});

test('a module without an import section gets one in the right place; custom sections stay put', () => {
  const bytes = binary(
    section(0, [...name('first')]),
    section(1, [1, 0x60, 0, 1, 0x7f]),
    section(0, [...name('after-type')]),
    section(3, [1, 0]),
    section(5, [1, 0x01, 1, 2]),
    section(7, [1, ...name('f'), 0, 0]),
    section(10, [1, 4, 0, 0x3f, 0x00, 0x0b]),
    section(11, [1, 0, 0x41, 0, 0x0b, 1, 42]),
    section(0, [...name('last')]),
  );
  const out = rewrite(bytes, { importMemory: MEMORY_IMPORT, stripActiveData: true });
  assert.deepEqual(
    readModule(out).sections.map((s) => s.customName ?? s.name),
    ['first', 'type', 'after-type', 'import', 'function', 'export', 'code', 'data', 'last'],
  );
  const memory = pooledMemory(bytes);
  assert.equal(new Uint8Array(memory.buffer)[0], 42);
  const instance = new WebAssembly.Instance(new WebAssembly.Module(out), { cowpool: { memory } });
  assert.equal(call(instance, 'f'), 1);
  // Even with no other section before it.
  const bare = binary(section(5, [1, 0, 1]));
  assert.deepEqual(
    readModule(rewrite(bare, { importMemory: MEMORY_IMPORT })).sections.map((s) => s.name),
    ['import'],
  );
});

test('an already-imported memory is renamed, or left alone when the name already matches', () => {
  const bytes = wat('(module (import "env" "f" (func)) (import "env" "mem" (memory 1 2)) (import "x" "y" (global i32)))');
  assert.deepEqual(rewrite(bytes, { importMemory: { module: 'env', name: 'mem' } }), bytes);
  const out = rewrite(bytes, { importMemory: MEMORY_IMPORT });
  assert.deepEqual(
    readModule(out).imports.map((i) => [i.module, i.name, i.kind]),
    [
      ['env', 'f', 'function'],
      ['cowpool', 'memory', 'memory'],
      ['x', 'y', 'global'],
    ],
  );
  assert.throws(() => rewrite(bytes, { importMemory: { module: 'env', name: 'f' } }), /already imports a function as "env"."f"/);
});

test('importMemory refuses modules without a memory or with several', () => {
  const none = wat('(module)');
  assert.throws(() => rewrite(none, { importMemory: MEMORY_IMPORT }), InvalidArgumentError);
  const two = binary(section(2, [1, ...name('a'), ...name('m'), 2, 0, 1]), section(5, [1, 0, 1]));
  assert.throws(() => rewriteModule(two, readModule(two), { importMemory: MEMORY_IMPORT }), ModuleNotPoolableError);
});

const GLOBALS = wat(`(module
  (import "env" "imp" (global $imp (mut i32)))
  (global $sp (mut i32) (i32.const 1024))
  (global $big (mut i64) (i64.const -5))
  (global $f (mut f32) (f32.const 1.5))
  (global $d (mut f64) (f64.const 2.25))
  (global $ro i32 (i32.const 7))
  (global $shown (export "shown") (mut i32) (i32.const 3))
  (table $hidden 2 funcref) (table $public (export "public") 1 funcref)
  (func $one (result i32) (i32.const 1))
  (func $two (result i32) (i32.const 2))
  (elem (table $hidden) (i32.const 0) func $one $two)
  (func (export "use") (result i32)
    (global.set $sp (i32.sub (global.get $sp) (i32.const 16)))
    (global.set $big (i64.add (global.get $big) (i64.const 1)))
    (global.set $f (f32.mul (global.get $f) (f32.const 2)))
    (global.set $d (f64.neg (global.get $d)))
    (global.get $sp))
  (func (export "callHidden") (param i32) (result i32) (call_indirect (result i32) (local.get 0))))`);

test('exportGlobals exposes every internal mutable global with its live value; JS can restore it', () => {
  const out = rewrite(GLOBALS, { exportGlobals: { prefix: 'cowpool:global:' } });
  const exports = WebAssembly.Module.exports(new WebAssembly.Module(out)).filter((e) => e.kind === 'global');
  assert.deepEqual(
    exports.map((e) => e.name),
    ['shown', 'cowpool:global:1', 'cowpool:global:2', 'cowpool:global:3', 'cowpool:global:4'],
  );
  const instance = new WebAssembly.Instance(new WebAssembly.Module(out), {
    env: { imp: new WebAssembly.Global({ value: 'i32', mutable: true }, 0) },
  });
  const g = (i: number): WebAssembly.Global => instance.exports[`cowpool:global:${i}`] as WebAssembly.Global;
  const fresh = [g(1).value, g(2).value, g(3).value, g(4).value];
  assert.deepEqual(fresh, [1024, -5n, 1.5, 2.25]);
  assert.equal(call(instance, 'use'), 1008);
  assert.deepEqual([g(1).value, g(2).value, g(3).value, g(4).value], [1008, -4n, 3, -2.25]);
  // Restoring from the captured values makes the next use behave like the first.
  [1, 2, 3, 4].forEach((i, k) => (g(i).value = fresh[k]));
  assert.equal(call(instance, 'use'), 1008);
});

test('exportTables exposes internal tables with their entries', () => {
  const out = rewrite(GLOBALS, { exportTables: { prefix: 'cowpool:table:' } });
  const instance = new WebAssembly.Instance(new WebAssembly.Module(out), {
    env: { imp: new WebAssembly.Global({ value: 'i32', mutable: true }, 0) },
  });
  const table = instance.exports['cowpool:table:0'] as WebAssembly.Table;
  assert.equal(table.length, 2);
  assert.equal((table.get(1) as () => number)(), 2);
  assert.equal(instance.exports['cowpool:table:1'], undefined, 'the exported table keeps only its own name');
  table.set(1, table.get(0));
  assert.equal(call(instance, 'callHidden', 1), 1);
});

test('generated export names must not collide', () => {
  const both = wat('(module (global (mut i32) (i32.const 0)) (table 1 funcref))');
  assert.throws(
    () => rewrite(both, { exportGlobals: { prefix: 'x' }, exportTables: { prefix: 'x' } }),
    (err: unknown) =>
      err instanceof InvalidArgumentError &&
      err.message === 'plan.exportTables.prefix "x" gives table 0 the export name "x0", which is already taken',
  );
  assert.doesNotThrow(() => rewrite(both, { exportGlobals: { prefix: 'g' }, exportTables: { prefix: 't' } }));
  const clash = wat('(module (global (mut i32) (i32.const 0)) (func (export "g0")))');
  assert.throws(() => rewrite(clash, { exportGlobals: { prefix: 'g' } }), /"g0", which is already taken/);
});

test('globalInits replaces initial values of numeric globals', () => {
  const out = rewrite(GLOBALS, {
    exportGlobals: { prefix: 'g' },
    globalInits: new Map<number, number | bigint>([
      [1, 4096],
      [2, 2n ** 63n - 1n],
      [3, 0.1],
      [4, -0],
      [5, 0xffffffff],
    ]),
  });
  const instance = new WebAssembly.Instance(new WebAssembly.Module(out), {
    env: { imp: new WebAssembly.Global({ value: 'i32', mutable: true }, 0) },
  });
  const v = (n: string): unknown => (instance.exports[n] as WebAssembly.Global).value;
  assert.deepEqual([v('g1'), v('g2'), v('g3'), v('g4'), v('shown')], [4096, 2n ** 63n - 1n, Math.fround(0.1), -0, 3]);
  assert.ok(Object.is(v('g4'), -0));
  assert.equal(readModule(out).globals[4]?.init.instrs[0]?.op, 'i32.const');
  assert.deepEqual(readModule(out).globals[4]?.init.instrs, [{ op: 'i32.const', value: -1 }]);
});

test('globalInits rejects values that do not fit the global', () => {
  const bad: [Map<number, number | bigint>, RegExp][] = [
    [new Map([[0, 1]]), /global 0 is imported/],
    [new Map([[99, 1]]), /global 99 does not exist/],
    [new Map([[1, 1.5]]), /integer in \[-2\^31, 2\^32\) for an i32 global, got 1.5/],
    [new Map([[1, 2 ** 32]]), /for an i32 global/],
    [new Map([[2, 2n ** 64n]]), /for an i64 global/],
    [new Map([[3, 1n]]), /must be a number for an f32 global/],
  ];
  for (const [inits, reason] of bad) {
    assert.throws(
      () => rewrite(GLOBALS, { globalInits: inits }),
      (err: unknown) => err instanceof InvalidArgumentError && reason.test(err.message),
      String(reason),
    );
  }
  const refs = wat('(module (global (mut externref) (ref.null extern)))');
  assert.throws(() => rewrite(refs, { globalInits: new Map([[0, 1]]) }), /only i32, i64, f32 and f64 globals/);
});

test('removeStart drops the start section only', () => {
  const bytes = wat(`(module (memory (export "m") 1) (func $s (i32.store8 (i32.const 0) (i32.const 9))) (start $s)
    (func (export "s") (call $s)))`);
  const out = rewrite(bytes, { removeStart: true });
  assert.equal(readModule(out).start, undefined);
  const instance = new WebAssembly.Instance(new WebAssembly.Module(out));
  const mem = new Uint8Array((instance.exports['m'] as WebAssembly.Memory).buffer);
  assert.equal(mem[0], 0);
  call(instance, 's');
  assert.equal(mem[0], 9);
  assert.deepEqual(rewrite(wat('(module)'), { removeStart: true }), wat('(module)'));
});

test('stripActiveData keeps the data count and the indices memory.init and data.drop use', () => {
  const bytes = wat(`(module (memory 1) (data "p0") (data (i32.const 0) "a1") (data "p2")
    (func (export "f") (memory.init 2 (i32.const 0) (i32.const 0) (i32.const 2)) (data.drop 1)))`);
  const info = readModule(bytes);
  const out = readModule(rewrite(bytes, { stripActiveData: true }));
  assert.equal(out.dataCount, info.dataCount);
  assert.deepEqual(
    out.dataSegments.map((d) => [d.mode, d.data.end - d.data.start]),
    [
      ['passive', 2],
      ['passive', 0],
      ['passive', 2],
    ],
  );
});

test('keepOnlyExports keeps the named exports, whatever their kind, and nothing else changes', () => {
  const bytes = wat(`(module (memory (export "mem") 1) (global (export "g") i32 (i32.const 5))
    (func $f (export "f") (result i32) (i32.const 1)) (func (export "h") (result i32) (call $f)))`);
  const kept = keepOnlyExports(bytes, readModule(bytes), new Set(['h', 'g']));
  assert.ok(WebAssembly.validate(kept));
  assert.deepEqual(
    readModule(kept).exports.map((e) => e.name),
    ['g', 'h'],
  );
  const exports = new WebAssembly.Instance(new WebAssembly.Module(kept)).exports;
  assert.equal((exports.h as () => number)(), 1);
  assert.equal((exports.g as WebAssembly.Global).value, 5);
  const none = keepOnlyExports(bytes, readModule(bytes), new Set());
  assert.ok(WebAssembly.validate(none));
  assert.equal(readModule(none).exports.length, 0);
  assert.equal(readModule(none).code.length, 2, 'the functions stay');
});
