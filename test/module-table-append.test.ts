// TableAppend against V8: functions appended at the end of the function table are called by
// pointer (call_indirect through their new entries), every existing entry still calls what it did,
// the table's limits grow by exactly what was appended, and a host table is exported at its size.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { wat } from './support/wasm.ts';
import { readModule } from '../src/module/reader.ts';
import { TableAppend } from '../src/module/table-append.ts';
import { ByteWriter } from '../src/module/writer.ts';
import { UnsupportedError } from '../src/errors.ts';

/** A module with a table of `size` entries (max `max`), entry i returning 100 + i, and `call(i)` calling entry i. */
function tableModule(size: number, max: number | undefined): Uint8Array {
  const funcs = Array.from({ length: size }, (_, i) => `(func $f${i} (result i32) (i32.const ${100 + i}))`).join('\n');
  const refs = Array.from({ length: size }, (_, i) => `$f${i}`).join(' ');
  return wat(`(module
    (type $r (func (result i32)))
    (type $add (func (param i32 i32) (result i32)))
    (table ${size} ${max ?? ''} funcref)
    ${funcs}
    ${size > 0 ? `(elem (i32.const 0) func ${refs})` : ''}
    (func (export "call") (param i32) (result i32) (call_indirect (type $r) (local.get 0)))
    (func (export "add") (param i32 i32 i32) (result i32) (call_indirect (type $add) (local.get 1) (local.get 2) (local.get 0))))`);
}

/** The body `(local.get 0) (local.get 1) i32.add (i32.const k) i32.add`, size-prefixed. */
function adder(k: number): Uint8Array {
  const code = new ByteWriter().u32(0).u8(0x20).u32(0).u8(0x20).u32(1).u8(0x6a).u8(0x41).s32(k).u8(0x6a).u8(0x0b).finish();
  return new ByteWriter().u32(code.length).bytes(code).finish().slice();
}

test('appended functions are called through their new entries; existing entries and limits hold', () => {
  fc.assert(
    fc.property(
      fc.integer({ min: 0, max: 12 }),
      fc.option(fc.integer({ min: 0, max: 20 }), { nil: undefined }),
      fc.integer({ min: 1, max: 6 }),
      fc.boolean(),
      (size, extra, count, hostTable) => {
        const max = extra === undefined ? undefined : size + extra;
        const bytes = tableModule(size, max);
        const rewrite = new TableAppend(bytes, readModule(bytes), 'the test guest');
        const type = rewrite.i32Type(2, 1);
        assert.equal(type, 1, 'an existing (i32, i32) -> i32 type is reused');
        const entries = Array.from({ length: count }, (_, k) => rewrite.addFunction(type, adder(k * 1000)));
        assert.deepEqual(
          entries,
          Array.from({ length: count }, (_, k) => size + k),
        );
        if (hostTable) assert.equal(rewrite.addHostTable(1, 'host'), 1);
        const out = rewrite.emit();
        assert.ok(WebAssembly.validate(out));
        const info = readModule(out);
        assert.equal(info.tables[0]!.min, size + count);
        assert.equal(info.tables[0]!.max, max === undefined ? undefined : Math.max(max, size + count));
        const instance = new WebAssembly.Instance(new WebAssembly.Module(out));
        const exports = instance.exports as {
          call(i: number): number;
          add(i: number, a: number, b: number): number;
          host?: WebAssembly.Table;
        };
        for (let i = 0; i < size; i++) assert.equal(exports.call(i), 100 + i);
        for (const [k, entry] of entries.entries()) assert.equal(exports.add(entry, 3, 4), 7 + k * 1000);
        assert.throws(() => exports.add(size + count, 1, 2), WebAssembly.RuntimeError, 'nothing past the appended entries');
        if (hostTable) {
          assert.equal(exports.host!.length, 1);
          assert.throws(() => exports.host!.grow(1), RangeError, 'the host table cannot grow');
        }
      },
    ),
    { numRuns: 60 },
  );
});

test('a type the module lacks is appended once; a module without one defined funcref table is refused', () => {
  const bytes = tableModule(2, undefined);
  const rewrite = new TableAppend(bytes, readModule(bytes), 'the test guest');
  const added = rewrite.i32Type(3, 0);
  assert.equal(added, readModule(bytes).types.length);
  assert.equal(rewrite.i32Type(3, 0), added);
  const noTable = wat('(module (func (export "f")))');
  assert.throws(
    () => new TableAppend(noTable, readModule(noTable), 'the test guest'),
    (err: unknown) => err instanceof UnsupportedError && /the test guest.*one defined funcref table/.test(err.message),
  );
  const imported = wat('(module (import "env" "t" (table 1 funcref)))');
  assert.throws(() => new TableAppend(imported, readModule(imported), 'the test guest'), UnsupportedError);
});
