// readModule over modules that exercise every section and every encoding form, each checked
// field by field and round-tripped through an empty rewrite (which must give back the same bytes).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { binary, enableV8Feature, name, section, uleb, wat } from './support/wasm.ts';
import { readModule } from '../src/module/reader.ts';
import { rewriteModule } from '../src/module/rewrite.ts';
import { MalformedModuleError } from '../src/errors.ts';
import type { ModuleInfo } from '../src/module/types.ts';

/** Reads `bytes`, checks the empty rewrite is the identity and the sections tile the file. */
function read(bytes: Uint8Array): ModuleInfo {
  const info = readModule(bytes);
  assert.deepEqual(rewriteModule(bytes, info, {}), bytes, 'an empty rewrite must return the input bytes');
  let at = 8;
  for (const s of info.sections) {
    assert.equal(s.range.start, at, `section ${s.name} starts where the previous one ended`);
    at = s.range.end;
  }
  assert.equal(at, bytes.length);
  return info;
}

test('an empty module has no sections', () => {
  const info = read(binary());
  assert.equal(info.sections.length, 0);
  assert.equal(info.memories.length, 0);
  assert.equal(info.start, undefined);
});

test('imports of every kind, numbered per kind, before the defined ones', () => {
  const bytes = wat(`(module
    (type $v (func))
    (import "env" "f0" (func (param i32) (result i64 f32)))
    (import "env" "t0" (table 1 10 externref))
    (import "env" "g0" (global i32))
    (import "env" "f1" (func))
    (import "env" "m0" (memory 2 5))
    (import "env" "g1" (global (mut f64)))
    (import "env" "e0" (tag (param i32)))
    (func $a) (func $b (result i32 i64) (i32.const 1) (i64.const 2))
    (table 3 funcref) (global (mut i64) (i64.const 7)) (tag)
    (export "b" (func $b)) (export "mem" (memory 0)) (export "g" (global 2)))`);
  const info = read(bytes);
  assert.deepEqual(
    info.imports.map((i) => [i.module, i.name, i.kind, i.index]),
    [
      ['env', 'f0', 'function', 0],
      ['env', 't0', 'table', 0],
      ['env', 'g0', 'global', 0],
      ['env', 'f1', 'function', 1],
      ['env', 'm0', 'memory', 0],
      ['env', 'g1', 'global', 1],
      ['env', 'e0', 'tag', 0],
    ],
  );
  const [f0, t0, g0, , m0, g1, e0] = info.imports;
  assert.equal(f0?.kind === 'function' && info.types[f0.typeIndex]?.results.join(), 'i64,f32');
  assert.deepEqual(t0?.kind === 'table' && t0.table, { element: 'externref', min: 1, max: 10, table64: false });
  assert.deepEqual(g0?.kind === 'global' && g0.global, { type: 'i32', mutable: false });
  assert.deepEqual(m0?.kind === 'memory' && m0.memory, { min: 2, max: 5, shared: false, memory64: false });
  assert.deepEqual(g1?.kind === 'global' && g1.global, { type: 'f64', mutable: true });
  assert.equal(e0?.kind === 'tag' && e0.tag.attribute, 0);
  assert.deepEqual(
    [info.importedFunctionCount, info.importedTableCount, info.importedMemoryCount, info.importedGlobalCount, info.importedTagCount],
    [2, 1, 1, 2, 1],
  );
  assert.equal(info.functions.length, 2);
  assert.deepEqual(info.types[info.functions[1] ?? -1], { params: [], results: ['i32', 'i64'] });
  assert.deepEqual(
    info.code.map((c) => c.functionIndex),
    [2, 3],
  );
  assert.equal(info.globals[0]?.index, 2);
  assert.deepEqual(info.exports, [
    { name: 'b', kind: 'function', index: 3 },
    { name: 'mem', kind: 'memory', index: 0 },
    { name: 'g', kind: 'global', index: 2 },
  ]);
  assert.equal(info.tags.length, 1);
  assert.ok(WebAssembly.validate(bytes));
});

test('globals: value types, mutability and constant initializers', () => {
  const bytes = wat(`(module
    (import "env" "base" (global $base i32))
    (func $f)
    (global i32 (i32.const -1))
    (global (mut i64) (i64.const -9223372036854775808))
    (global f32 (f32.const 1.5))
    (global (mut f64) (f64.const -0.25))
    (global v128 (v128.const i32x4 1 2 3 4))
    (global (mut funcref) (ref.func $f))
    (global (mut externref) (ref.null extern))
    (global i32 (global.get $base))
    (global i32 (i32.add (global.get $base) (i32.mul (i32.const 3) (i32.sub (i32.const 5) (i32.const 1)))))
    (global i64 (i64.mul (i64.add (i64.const 2) (i64.const 3)) (i64.sub (i64.const 10) (i64.const 3))))
    (elem declare func $f))`);
  const info = read(bytes);
  assert.deepEqual(
    info.globals.map((g) => [g.index, g.type, g.mutable]),
    [
      [1, 'i32', false],
      [2, 'i64', true],
      [3, 'f32', false],
      [4, 'f64', true],
      [5, 'v128', false],
      [6, 'funcref', true],
      [7, 'externref', true],
      [8, 'i32', false],
      [9, 'i32', false],
      [10, 'i64', false],
    ],
  );
  const init = (i: number): unknown => info.globals[i]?.init.instrs;
  assert.deepEqual(init(0), [{ op: 'i32.const', value: -1 }]);
  assert.deepEqual(init(1), [{ op: 'i64.const', value: -(2n ** 63n) }]);
  assert.deepEqual(init(2), [{ op: 'f32.const', value: 1.5 }]);
  assert.deepEqual(init(3), [{ op: 'f64.const', value: -0.25 }]);
  assert.deepEqual(init(4), [{ op: 'v128.const', bytes: new Uint8Array([1, 0, 0, 0, 2, 0, 0, 0, 3, 0, 0, 0, 4, 0, 0, 0]) }]);
  assert.deepEqual(init(5), [{ op: 'ref.func', functionIndex: 0 }]);
  assert.deepEqual(init(6), [{ op: 'ref.null', heapType: 'extern' }]);
  assert.deepEqual(init(7), [{ op: 'global.get', globalIndex: 0 }]);
  assert.deepEqual(
    (info.globals[8]?.init.instrs ?? []).map((i) => i.op),
    ['global.get', 'i32.const', 'i32.const', 'i32.const', 'i32.sub', 'i32.mul', 'i32.add'],
  );
  // The recorded ranges are the exact bytes: the initializer ends with `end`.
  for (const g of info.globals) {
    assert.equal(bytes[g.init.range.end - 1], 0x0b);
    assert.equal(g.range.end, g.init.range.end);
  }
  assert.ok(enableV8Feature(bytes, '--experimental-wasm-extended-const'), 'V8 accepts extended-const');
});

test('element segments in all eight encodings', () => {
  const expr = (...b: number[]): number[] => [...b, 0x0b];
  const bytes = binary(
    section(1, [1, 0x60, 0, 0]),
    section(3, [1, 0]),
    section(4, [2, 0x70, 0, 2, 0x70, 0, 2]),
    section(9, [
      8,
      ...[0x00, ...expr(0x41, 0), 1, 0],
      ...[0x01, 0x00, 1, 0],
      ...[0x02, 1, ...expr(0x41, 0), 0x00, 1, 0],
      ...[0x03, 0x00, 1, 0],
      ...[0x04, ...expr(0x41, 1), 1, ...expr(0xd2, 0)],
      ...[0x05, 0x70, 2, ...expr(0xd0, 0x70), ...expr(0xd2, 0)],
      ...[0x06, 1, ...expr(0x41, 1), 0x70, 1, ...expr(0xd0, 0x70)],
      ...[0x07, 0x70, 1, ...expr(0xd2, 0)],
    ]),
    section(10, [1, 2, 0, 0x0b]),
  );
  const info = read(bytes);
  assert.deepEqual(
    info.elements.map((e) => [e.flags, e.mode, e.table, e.offset?.instrs, e.type, e.functions, e.expressions?.map((x) => x.instrs)]),
    [
      [0, 'active', 0, [{ op: 'i32.const', value: 0 }], 'funcref', [0], undefined],
      [1, 'passive', undefined, undefined, 'funcref', [0], undefined],
      [2, 'active', 1, [{ op: 'i32.const', value: 0 }], 'funcref', [0], undefined],
      [3, 'declarative', undefined, undefined, 'funcref', [0], undefined],
      [4, 'active', 0, [{ op: 'i32.const', value: 1 }], 'funcref', undefined, [[{ op: 'ref.func', functionIndex: 0 }]]],
      [
        5,
        'passive',
        undefined,
        undefined,
        'funcref',
        undefined,
        [[{ op: 'ref.null', heapType: 'func' }], [{ op: 'ref.func', functionIndex: 0 }]],
      ],
      [6, 'active', 1, [{ op: 'i32.const', value: 1 }], 'funcref', undefined, [[{ op: 'ref.null', heapType: 'func' }]]],
      [7, 'declarative', undefined, undefined, 'funcref', undefined, [[{ op: 'ref.func', functionIndex: 0 }]]],
    ],
  );
  assert.ok(WebAssembly.validate(bytes));
});

test('data segments: active on memory 0, passive, active with an explicit memory; datacount', () => {
  const bytes = binary(
    section(1, [1, 0x60, 0, 0]),
    section(3, [1, 0]),
    section(5, [1, 0, 1]),
    section(12, [3]),
    section(10, [1, 2, 0, 0x0b]),
    section(11, [3, 0x00, 0x41, 0, 0x0b, 1, 0x61, 0x01, 2, 0x62, 0x62, 0x02, 0x00, 0x41, 8, 0x0b, 1, 0x63]),
  );
  const info = read(bytes);
  assert.equal(info.dataCount, 3);
  const text = (i: number): string => {
    const d = info.dataSegments[i];
    return d === undefined ? '' : new TextDecoder().decode(bytes.subarray(d.data.start, d.data.end));
  };
  assert.deepEqual(
    info.dataSegments.map((d, i) => [d.flags, d.mode, d.memory, d.offset?.instrs, text(i)]),
    [
      [0, 'active', 0, [{ op: 'i32.const', value: 0 }], 'a'],
      [1, 'passive', 0, undefined, 'bb'],
      [2, 'active', 0, [{ op: 'i32.const', value: 8 }], 'c'],
    ],
  );
  assert.ok(WebAssembly.validate(bytes));
});

test('tables: plain, bounded, externref, and the 0x40 form with an initializer', () => {
  const bytes = binary(
    section(1, [1, 0x60, 0, 0]),
    section(3, [1, 0]),
    section(4, [3, 0x70, 0x00, 1, 0x6f, 0x01, 2, 9, 0x40, 0x00, 0x70, 0x00, 4, 0xd2, 0x00, 0x0b]),
    section(10, [1, 2, 0, 0x0b]),
  );
  const info = read(bytes);
  assert.deepEqual(info.tables, [
    { element: 'funcref', min: 1, table64: false },
    { element: 'externref', min: 2, max: 9, table64: false },
    { element: 'funcref', min: 4, table64: false, init: { instrs: [{ op: 'ref.func', functionIndex: 0 }], range: { start: 33, end: 36 } } },
  ]);
});

test('memories: limits, shared, memory64', () => {
  const shared = read(wat('(module (memory 1 4 shared))'));
  assert.deepEqual(shared.memories, [{ min: 1, max: 4, shared: true, memory64: false }]);
  const m64 = read(wat('(module (memory i64 3 70000))'));
  assert.deepEqual(m64.memories, [{ min: 3, max: 70000, shared: false, memory64: true }]);
  const big = read(binary(section(5, [1, 0x05, ...uleb(2 ** 40), ...uleb(2 ** 41)])));
  assert.deepEqual(big.memories, [{ min: 2 ** 40, max: 2 ** 41, shared: false, memory64: true }]);
  const pages = read(binary(section(5, [1, 0x08, 1, 0])));
  assert.deepEqual(pages.memories, [{ min: 1, shared: false, memory64: false, pageSizeLog2: 0 }]);
});

test('start, custom sections anywhere, and section records', () => {
  const bytes = binary(
    section(0, [...name('first'), 1, 2, 3]),
    section(1, [1, 0x60, 0, 0]),
    section(3, [1, 0]),
    section(0, [...name('between'), 0xff]),
    section(8, [0]),
    section(10, [1, 2, 0, 0x0b]),
    section(0, [...name('name')]),
  );
  const info = read(bytes);
  assert.equal(info.start, 0);
  assert.deepEqual(
    info.sections.map((s) => [s.id, s.name, s.customName]),
    [
      [0, 'custom', 'first'],
      [1, 'type', undefined],
      [3, 'function', undefined],
      [0, 'custom', 'between'],
      [8, 'start', undefined],
      [10, 'code', undefined],
      [0, 'custom', 'name'],
    ],
  );
  const between = info.sections[3];
  assert.ok(between !== undefined);
  assert.deepEqual(between.body, { start: between.range.start + 2, end: between.range.end });
  assert.ok(WebAssembly.validate(bytes));
});

test('code bodies: ranges and local groups, without decoding instructions', () => {
  const bytes = wat('(module (func (param i32) (local i32 i32 i64 v128 externref) (nop)) (func))');
  const info = read(bytes);
  assert.deepEqual(info.code[0]?.locals, [
    { count: 2, type: 'i32' },
    { count: 1, type: 'i64' },
    { count: 1, type: 'v128' },
    { count: 1, type: 'externref' },
  ]);
  const body = info.code[0];
  assert.ok(body !== undefined);
  assert.deepEqual(Array.from(bytes.subarray(body.instructions.start, body.instructions.end)), [0x01, 0x0b]);
  assert.deepEqual(info.code[1]?.locals, []);
});

test('GC type definitions are rejected as unsupported, naming the form and its offset', () => {
  for (const [form, label] of [
    [0x5f, 'struct'],
    [0x5e, 'array'],
    [0x4e, 'rec'],
    [0x50, 'sub'],
  ] as const) {
    const bytes = binary(section(1, [2, 0x60, 0, 0, form, 0]));
    assert.throws(
      () => readModule(bytes),
      (err: unknown) =>
        err instanceof MalformedModuleError &&
        err.section === 'type' &&
        err.offset === 14 &&
        err.reason.startsWith(`unsupported: GC proposal type definition '${label}'`),
    );
  }
});

test('GC-proposal reference value types are decoded (analysis refuses them later)', () => {
  const bytes = binary(section(1, [1, 0x60, 3, 0x6e, 0x63, 0x70, 0x64, 0x00, 1, 0x6c]));
  assert.deepEqual(readModule(bytes).types, [{ params: ['anyref', 'funcref', '(ref 0)'], results: ['i31ref'] }]);
});
