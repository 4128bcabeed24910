// Malformed and unsupported binaries: each must fail with a MalformedModuleError that names the
// section, the byte offset of the offending item and the reason; and no corruption of a valid
// module may surface as any other kind of error.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { binary, header, name, section, wat } from './support/wasm.ts';
import { readModule } from '../src/module/reader.ts';
import { analyzeModule } from '../src/module/analysis.ts';
import { rewriteModule } from '../src/module/rewrite.ts';
import { MalformedModuleError } from '../src/errors.ts';

function assertMalformed(
  bytes: Uint8Array,
  section: string,
  offset: number,
  reason: RegExp,
  read: (b: Uint8Array) => unknown = readModule,
): void {
  assert.throws(
    () => read(bytes),
    (err: unknown) => {
      assert.ok(err instanceof MalformedModuleError, `expected MalformedModuleError, got ${String(err)}`);
      assert.equal(err.code, 'COWPOOL_ERR_MALFORMED_MODULE');
      assert.match(err.reason, reason);
      assert.equal(err.section, section, `section, for "${err.reason}"`);
      assert.equal(err.offset, offset, `offset, for "${err.reason}"`);
      assert.equal(err.message, `malformed module: ${err.reason} (section ${section}, byte offset ${offset})`);
      return true;
    },
  );
}

const u8 = (...b: number[]): Uint8Array => new Uint8Array(b);

test('header: empty, truncated, bad magic, bad version, a component', () => {
  assertMalformed(u8(), 'header', 0, /shorter than the 8-byte header/);
  assertMalformed(u8(0x00, 0x61, 0x73, 0x6d, 0x01, 0x00), 'header', 6, /unexpected end: the module is 6 bytes/);
  assertMalformed(
    u8(0x00, 0x61, 0x73, 0x6e, 0x01, 0, 0, 0),
    'header',
    3,
    /bad magic number: expected 00 61 73 6d \("\\0asm"\), found 00 61 73 6e/,
  );
  assertMalformed(u8(0x7f, 0x45, 0x4c, 0x46), 'header', 0, /bad magic number/);
  assertMalformed(u8(0x00, 0x61, 0x73, 0x6d, 0x02, 0, 0, 0), 'header', 4, /unsupported binary version 2/);
  assertMalformed(u8(0x00, 0x61, 0x73, 0x6d, 0x0d, 0x00, 0x01, 0x00), 'header', 6, /component/);
});

test('section framing: unknown id, size past the end, overlong size, order, duplicates, trailing bytes', () => {
  assertMalformed(binary([14, 0]), 'unknown', 8, /unknown section id 14/);
  assertMalformed(binary([1, 10, 0x00]), 'type', 9, /section size 10 runs 9 bytes past the end of the module/);
  assertMalformed(binary([1, 0x80, 0x80, 0x80, 0x80, 0x80, 0x00]), 'type', 9, /integer representation too long for u32/);
  assertMalformed(binary([1, 0x80, 0x80, 0x80, 0x80, 0x70]), 'type', 9, /integer too large for u32/);
  assertMalformed(binary([1]), 'type', 9, /unexpected end: needed 1 byte\(s\) but reached the end of the module/);
  assertMalformed(binary(section(3, [0]), section(1, [0])), 'type', 11, /type section after the function section is out of order/);
  assertMalformed(binary(section(1, [0]), section(1, [0])), 'type', 11, /duplicate type section/);
  assertMalformed(binary(section(6, [0]), section(13, [0])), 'tag', 11, /tag section after the global section is out of order/);
  assertMalformed(binary(section(1, [0, 0x60])), 'type', 11, /1 unexpected byte\(s\) after the section's contents/);
});

test('section contents: truncation inside a section, bad encodings, inconsistent counts', () => {
  const type = section(1, [1, 0x60, 0, 0]);
  assertMalformed(
    binary(section(1, [1, 0x60, 1, 0x7f]), section(0, name('x'))),
    'type',
    14,
    /needed 1 byte\(s\) but reached the end of the type section/,
  );
  assertMalformed(binary(section(1, [1, 0x60, 2, 0x7f])), 'type', 12, /vector of 2 items cannot fit in the 1 bytes left/);
  assertMalformed(binary(section(1, [1, 0x60, 1, 0x55, 0])), 'type', 13, /unknown value type 0x55/);
  assertMalformed(binary(section(1, [1, 0x61, 0, 0])), 'type', 11, /unknown type form 0x61/);
  assertMalformed(binary(section(1, [0xff, 0x01])), 'type', 10, /vector of 255 items cannot fit in the 0 bytes left/);
  assertMalformed(binary(type, section(2, [1, 1, 0xc3, ...name('x'), 0, 0])), 'import', 17, /name is not valid UTF-8/);
  assertMalformed(binary(type, section(2, [1, ...name('a'), ...name('b'), 5, 0])), 'import', 21, /unknown import kind 0x5/);
  assertMalformed(binary(type, section(2, [1, ...name('a'), ...name('b'), 0, 3])), 'import', 22, /type index 3 out of range \(1 types\)/);
  assertMalformed(binary(type, section(2, [1, ...name('a'), ...name('b'), 3, 0x7f, 2])), 'import', 23, /invalid global mutability 0x2/);
  assertMalformed(binary(section(5, [1, 0x10, 1])), 'memory', 11, /unknown memory limits flags 0x10/);
  assertMalformed(
    binary(type, section(3, [1, 0]), section(7, [1, ...name('f'), 0, 1])),
    'export',
    24,
    /export "f" refers to function 1, but there are only 1/,
  );
  assertMalformed(binary(type, section(3, [1, 0])), 'function', 14, /declares 1 functions but there is no code section/);
  assertMalformed(
    binary(type, section(3, [1, 0]), section(10, [2, 2, 0, 0x0b, 2, 0, 0x0b])),
    'code',
    20,
    /code section has 2 bodies but the function section declares 1/,
  );
  assertMalformed(binary(type, section(3, [1, 0]), section(10, [1, 2, 0, 0x01])), 'code', 23, /does not end with end/);
  assertMalformed(binary(type, section(3, [1, 0]), section(8, [3])), 'start', 20, /start function 3 out of range/);
  assertMalformed(
    binary(section(12, [2]), section(11, [1, 1, 0])),
    'data',
    13,
    /data section has 1 segments but the datacount section says 2/,
  );
  assertMalformed(binary(section(12, [2])), 'datacount', 8, /says 2 segments but there is no data section/);
  assertMalformed(binary(section(11, [1, 3])), 'data', 11, /unknown data segment flags 3/);
  assertMalformed(binary(section(9, [1, 8])), 'element', 11, /unknown element segment flags 8/);
  assertMalformed(
    binary(section(6, [1, 0x7f, 0, 0x20, 0, 0x0b])),
    'global',
    13,
    /instruction 0x20 is not allowed in a constant expression/,
  );
  assertMalformed(binary(section(6, [1, 0x7f, 0, 0x41, 0x80, 0x80, 0x80, 0x80, 0x10, 0x0b])), 'global', 14, /integer too large for s32/);
});

test('an unknown opcode in a body is reported by analysis with the code section and its offset', () => {
  const bytes = binary(section(1, [1, 0x60, 0, 0]), section(3, [1, 0]), section(10, [1, 4, 0, 0x01, 0xd9, 0x0b]));
  assertMalformed(bytes, 'code', 24, /unknown opcode 0xd9/, (b) => analyzeModule(readModule(b), b));
});

// A module with something in most sections, to corrupt.
const SEED = wat(`(module
  (type (func (param i32) (result i32)))
  (import "env" "g" (global i32))
  (import "env" "f" (func (param i32)))
  (table 2 funcref) (memory 1 2)
  (global $s (mut i32) (i32.const 1024))
  (func $run (export "run") (param i32) (result i32)
    (local i64)
    (global.set $s (i32.sub (global.get $s) (i32.const 16)))
    (if (local.get 0) (then (call 0 (local.get 0))))
    (i32.store offset=4 (global.get $s) (local.get 0))
    (call_indirect (type 0) (local.get 0) (i32.const 1)))
  (elem (i32.const 0) $run $run)
  (data (global.get 0) "hello")
  (data "passive"))`);

test('every strict prefix of a valid module is read or refused as malformed, never anything else', () => {
  const boundaries = new Set(readModule(SEED).sections.map((s) => s.range.end));
  for (let length = 0; length < SEED.length; length++) {
    const prefix = SEED.subarray(0, length);
    try {
      readModule(prefix);
      assert.ok(length === 8 || boundaries.has(length), `prefix of ${length} bytes cut inside a section but was accepted`);
    } catch (err) {
      assert.ok(err instanceof MalformedModuleError, `prefix of ${length} bytes: ${String(err)}`);
    }
  }
});

test('corrupting bytes never surfaces as anything but MalformedModuleError', () => {
  fc.assert(
    fc.property(
      fc.array(fc.tuple(fc.nat({ max: SEED.length - 1 }), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 4 }),
      (edits) => {
        const bytes = SEED.slice();
        for (const [at, value] of edits) bytes[at] = value;
        try {
          const info = readModule(bytes);
          analyzeModule(info, bytes);
          assert.deepEqual(rewriteModule(bytes, info, {}), bytes);
        } catch (err) {
          if (!(err instanceof MalformedModuleError)) throw err;
        }
      },
    ),
    { numRuns: 500 },
  );
});

test('the header constant in the helpers is the version-1 header', () => {
  assert.deepEqual(header, [0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00]);
});
