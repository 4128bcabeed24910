// The instruction walker over real function bodies, one module per feature group, assembled by
// wabt. For each body the walker must end exactly on the final `end`, see the opcodes the group
// uses, and count the same instructions as wabt's own decoder prints.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { allFeatures, binary, section, uleb, wabt, wat } from './support/wasm.ts';
import { readModule } from '../src/module/reader.ts';
import { walkInstructions, type Instruction } from '../src/module/instructions.ts';
import { Op } from '../src/module/opcodes.ts';
import { MalformedModuleError } from '../src/errors.ts';

/** Instruction lines wabt prints per function (the final `end` is not printed). */
function wabtInstructionCounts(bytes: Uint8Array): number[] {
  const m = wabt.readWasm(bytes, { check: true, ...allFeatures });
  try {
    const text = m.toText({});
    return text
      .split('\n  (func ')
      .slice(1)
      .map(
        (f) =>
          f
            .split('\n')
            .slice(1)
            .filter((l) => l.startsWith('    ') && !l.trim().startsWith('(')).length,
      );
  } finally {
    m.destroy();
  }
}

/** Walks every body; returns the opcodes seen with their index immediates. */
function walkAll(bytes: Uint8Array): { opcodes: Set<number>; seen: { opcode: number; indices: number[] }[] } {
  const info = readModule(bytes);
  const wabtCounts = wabtInstructionCounts(bytes);
  const opcodes = new Set<number>();
  const seen: { opcode: number; indices: number[] }[] = [];
  for (const [i, body] of info.code.entries()) {
    const count = walkInstructions(bytes, body.instructions, (ins: Instruction) => {
      opcodes.add(ins.opcode);
      seen.push({ opcode: ins.opcode, indices: [...ins.indices] });
    });
    assert.equal(count, (wabtCounts[i] ?? 0) + 1, `function ${i}: walker and wabt disagree on the instruction count`);
  }
  return { opcodes, seen };
}

function assertSees(opcodes: Set<number>, expected: number[]): void {
  for (const op of expected) assert.ok(opcodes.has(op), `expected opcode 0x${op.toString(16)} to be seen`);
}

test('MVP control flow, memory, numeric, sign extension and saturating truncation', () => {
  const bytes = wat(`(module
    (type $t (func (param i32) (result i32)))
    (table 2 funcref) (memory 1) (global $g (mut i64) (i64.const -5))
    (func $f (type $t) (param i32) (result i32) (local f32 f64 i64)
      (block $out (result i32)
        (block $b
          (loop $l
            (br_if $l (i32.eqz (local.get 0)))
            (br_table $l $b $l (local.get 0))))
        (if (result i32) (local.get 0) (then (i32.const 1)) (else (br $out (i32.const 2)))))
      (drop)
      (i32.store8 offset=3 (i32.const 0) (i32.load16_u offset=70000 align=1 (i32.const 0)))
      (i64.store32 (i32.const 0) (i64.load32_s (i32.const 8)))
      (f64.store (i32.const 0) (f64.load (i32.const 8)))
      (f32.store (i32.const 0) (f32.const -1.5))
      (global.set $g (i64.extend32_s (i64.const 0x7fffffffffffffff)))
      (local.set 3 (i64.trunc_sat_f64_u (local.tee 2 (f64.const 1e300))))
      (drop (i32.trunc_sat_f32_s (local.get 1)))
      (drop (i32.extend8_s (i32.extend16_s (i32.const -1))))
      (drop (memory.grow (memory.size)))
      (drop (select (i32.const 1) (i32.const 2) (i32.const 0)))
      (nop)
      (if (i32.const 0) (then (unreachable)))
      (return (call_indirect (type $t) (i32.const 0) (call $f (i32.const 0)))))
  )`);
  const { opcodes } = walkAll(bytes);
  assertSees(opcodes, [
    Op.block,
    Op.loop,
    Op.if,
    Op.else,
    0x0c,
    0x0d,
    0x0e,
    0x0f,
    Op.call,
    Op.callIndirect,
    0x20,
    0x21,
    0x22,
    Op.globalSet,
    0x2f,
    0x3a,
    0x34,
    0x3e,
    0x2b,
    0x39,
    0x38,
    Op.memorySize,
    Op.memoryGrow,
    0x43,
    0x44,
    0xc4,
    0xc0,
    0xc1,
    0xfc0000,
    0xfc0007,
    0x1b,
    0x00,
    0x01,
  ]);
  assert.ok(WebAssembly.validate(bytes));
});

test('bulk memory, reference types and typed select', () => {
  const bytes = wat(`(module
    (memory 1) (table $t 4 funcref) (table $e 2 externref)
    (data $d "abc") (elem $el func $f)
    (func $f (param externref) (result externref)
      (memory.init $d (i32.const 0) (i32.const 0) (i32.const 1))
      (data.drop $d)
      (memory.copy (i32.const 1) (i32.const 0) (i32.const 1))
      (memory.fill (i32.const 0) (i32.const 0) (i32.const 1))
      (table.init $t $el (i32.const 0) (i32.const 0) (i32.const 1))
      (elem.drop $el)
      (table.copy $t $t (i32.const 1) (i32.const 0) (i32.const 1))
      (drop (table.grow $e (local.get 0) (i32.const 1)))
      (drop (table.size $e))
      (table.fill $e (i32.const 0) (ref.null extern) (i32.const 1))
      (table.set $e (i32.const 0) (table.get $e (i32.const 1)))
      (drop (ref.is_null (ref.func $f)))
      (select (result externref) (local.get 0) (ref.null extern) (i32.const 1)))
  )`);
  const { opcodes, seen } = walkAll(bytes);
  assertSees(opcodes, [
    Op.memoryInit,
    Op.dataDrop,
    Op.memoryCopy,
    Op.memoryFill,
    Op.tableInit,
    Op.elemDrop,
    Op.tableCopy,
    Op.tableGrow,
    Op.tableSize,
    Op.tableFill,
    Op.tableGet,
    Op.tableSet,
    Op.refNull,
    0xd1,
    Op.refFunc,
    0x1c,
  ]);
  assert.deepEqual(seen.find((s) => s.opcode === Op.tableGrow)?.indices, [1]);
  assert.deepEqual(seen.find((s) => s.opcode === Op.tableInit)?.indices, [0, 0]);
  assert.deepEqual(seen.find((s) => s.opcode === Op.memoryInit)?.indices, [0, 0]);
  assert.ok(WebAssembly.validate(bytes));
});

test('multi-value blocks with type-index block types, and tail calls', () => {
  const bytes = wat(`(module
    (type $pair (func (param i32) (result i32 i32)))
    (type $un (func (param i32) (result i32)))
    (table 1 funcref) (elem (i32.const 0) $g)
    (func $g (param i32) (result i32)
      (local.get 0)
      (block (type $pair) (param i32) (result i32 i32) (local.get 0))
      (i32.add)
      (return_call $g))
    (func (param i32) (result i32)
      (return_call_indirect (type $un) (local.get 0) (i32.const 0))))`);
  const { opcodes } = walkAll(bytes);
  assertSees(opcodes, [Op.block, Op.returnCall, Op.returnCallIndirect]);
  assert.ok(WebAssembly.validate(bytes));
});

test('legacy exception handling: try, catch, catch_all, rethrow, delegate, throw', () => {
  const bytes = wat(`(module
    (tag $e (param i32))
    (func (result i32)
      (try (result i32)
        (do (try (do (throw $e (i32.const 1))) (delegate 0)) (i32.const 0))
        (catch $e)
        (catch_all (try (do) (catch_all (rethrow 0))) (i32.const 2)))))`);
  const { opcodes } = walkAll(bytes);
  assertSees(opcodes, [Op.try, Op.catch, Op.catchAll, Op.rethrow, Op.delegate, Op.throw]);
  assert.ok(WebAssembly.validate(bytes));
});

test('new exception handling: try_table with every catch kind, throw_ref', () => {
  const bytes = wat(`(module
    (tag $e (param i32))
    (func (result i32)
      (block $h (result i32 exnref)
        (block $a (result exnref)
          (block $b (result i32)
            (block $c
              (try_table (catch $e $b) (catch_ref $e $h) (catch_all $c) (catch_all_ref $a)
                (throw $e (i32.const 3))))
            (return (i32.const 0)))
          (return))
        (throw_ref))
      (throw_ref)))`);
  const { opcodes } = walkAll(bytes);
  assertSees(opcodes, [Op.tryTable, Op.throwRef, Op.throw]);
});

test('SIMD: memargs, lanes, v128.const, shuffle, load/store lane, and the rest', () => {
  const bytes = wat(`(module (memory 1)
    (func (param v128) (result v128)
      (v128.store offset=16 (i32.const 0) (v128.load8x8_s (i32.const 0)))
      (drop (v128.load64_splat (i32.const 0)))
      (drop (v128.load32_zero (i32.const 0)))
      (drop (v128.load16_lane 7 (i32.const 0) (local.get 0)))
      (v128.store64_lane offset=8 1 (i32.const 0) (local.get 0))
      (drop (i8x16.extract_lane_u 15 (local.get 0)))
      (drop (f64x2.replace_lane 1 (local.get 0) (f64.const 2)))
      (drop (i8x16.shuffle 0 1 2 3 4 5 6 7 8 9 10 11 12 13 14 31 (local.get 0) (local.get 0)))
      (drop (i32x4.dot_i16x8_s (local.get 0) (local.get 0)))
      (drop (f64x2.convert_low_i32x4_u (local.get 0)))
      (drop (v128.any_true (local.get 0)))
      (drop (i16x8.extmul_high_i8x16_u (local.get 0) (local.get 0)))
      (v128.bitselect (v128.const i64x2 -1 0x7fffffffffffffff) (local.get 0) (v128.const f32x4 1 2 3 4))))`);
  const { opcodes } = walkAll(bytes);
  assertSees(
    opcodes,
    [
      0xfd000b, 0xfd0001, 0xfd000a, 0xfd005c, 0xfd0055, 0xfd005b, 0xfd0016, 0xfd0022, 0xfd000d, 0xfd00ba, 0xfd00ff, 0xfd0053, 0xfd009f,
      0xfd000c, 0xfd0052,
    ],
  );
  assert.ok(WebAssembly.validate(bytes));
});

test('relaxed SIMD (sub-opcodes above 0xff, two-byte LEB)', () => {
  const bytes = wat(`(module (func (param v128) (result v128)
    (i32x4.relaxed_dot_i8x16_i7x16_add_s (local.get 0) (local.get 0) (i8x16.relaxed_swizzle (local.get 0) (local.get 0)))))`);
  const { opcodes } = walkAll(bytes);
  assertSees(opcodes, [0xfd0100, 0xfd0113]);
});

test('threads: atomic loads, stores, read-modify-write, cmpxchg, wait, notify, fence', () => {
  const bytes = wat(`(module (memory 1 1 shared)
    (func (result i32)
      (atomic.fence)
      (i64.atomic.store32 offset=8 (i32.const 0) (i64.atomic.load16_u (i32.const 0)))
      (drop (i32.atomic.rmw8.add_u (i32.const 0) (i32.const 1)))
      (drop (i64.atomic.rmw32.cmpxchg_u (i32.const 0) (i64.const 1) (i64.const 2)))
      (drop (memory.atomic.wait32 (i32.const 0) (i32.const 0) (i64.const 0)))
      (drop (memory.atomic.wait64 (i32.const 0) (i64.const 0) (i64.const 0)))
      (memory.atomic.notify (i32.const 0) (i32.const 1))))`);
  const { opcodes } = walkAll(bytes);
  assertSees(opcodes, [Op.atomicFence, 0xfe001d, 0xfe0015, 0xfe0020, 0xfe004e, 0xfe0001, 0xfe0002, 0xfe0000]);
  assert.ok(WebAssembly.validate(bytes));
});

test('the instruction offsets and indices the visitor reports are exact', () => {
  // body: 0 locals; global.get 0; call 1; end
  const body = [0x00, 0x23, 0x00, 0x10, 0x81, 0x00, 0x0b];
  const bytes = binary(
    section(1, [1, 0x60, 0, 0]),
    section(3, [2, 0, 0]),
    section(6, [1, 0x7f, 0, 0x41, 0, 0x0b]),
    section(10, [2, ...uleb(body.length), ...body, 2, 0, 0x0b]),
  );
  const info = readModule(bytes);
  const first = info.code[0];
  assert.ok(first !== undefined);
  const seen: [number, number, number[]][] = [];
  walkInstructions(bytes, first.instructions, (i) => seen.push([i.opcode, i.offset, [...i.indices]]));
  const start = first.instructions.start;
  // call 1 is encoded with a padded (non-minimal) LEB, which is allowed.
  assert.deepEqual(seen, [
    [Op.globalGet, start, [0]],
    [Op.call, start + 2, [1]],
    [Op.end, start + 5, []],
  ]);
});

test('a body the walker cannot finish exactly is malformed, with the offset', () => {
  const cases: { body: number[]; reason: RegExp; at: number }[] = [
    { body: [0x00, 0x01, 0x0b, 0x01, 0x0b], reason: /2 byte\(s\) after the function's final end/, at: 3 },
    { body: [0x00, 0x02, 0x40, 0x0b], reason: /ends before its final end/, at: 4 },
    { body: [0x00, 0xc5, 0x0b], reason: /unknown opcode 0xc5/, at: 1 },
    { body: [0x00, 0xfd, 0x9a, 0x01, 0x0b], reason: /unknown opcode 0xfd 0x9a/, at: 1 },
    { body: [0x00, 0xfc, 0x12, 0x0b], reason: /unknown opcode 0xfc 0x12/, at: 1 },
    { body: [0x00, 0xfe, 0x04, 0x0b], reason: /unknown opcode 0xfe 0x4/, at: 1 },
    { body: [0x00, 0xfb, 0x00, 0x0b], reason: /unsupported: GC proposal instruction 0xfb 0x0/, at: 1 },
    { body: [0x00, 0x41, 0x80, 0x80, 0x80, 0x80, 0x80, 0x0b], reason: /too long for s32/, at: 2 },
    { body: [0x00, 0xfe, 0x03, 0x01, 0x0b], reason: /expects a 0x00 byte/, at: 3 },
    { body: [0x00, 0x18, 0x00, 0x0b], reason: /delegate outside a try block/, at: 1 },
  ];
  for (const c of cases) {
    const bytes = binary(section(1, [1, 0x60, 0, 0]), section(3, [1, 0]), section(10, [1, ...uleb(c.body.length), ...c.body]));
    const info = readModule(bytes);
    const body = info.code[0];
    assert.ok(body !== undefined);
    assert.throws(
      () => walkInstructions(bytes, body.instructions),
      (err: unknown) => {
        assert.ok(err instanceof MalformedModuleError, String(err));
        assert.equal(err.code, 'COWPOOL_ERR_MALFORMED_MODULE');
        assert.equal(err.section, 'code');
        assert.match(err.reason, c.reason);
        assert.equal(err.offset, body.range.start + c.at, `${err.reason}: offset`);
        return true;
      },
    );
  }
});
