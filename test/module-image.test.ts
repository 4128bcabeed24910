// Initial memory images against V8: the image cowpool renders from a module's data segments must
// equal, byte for byte, the memory of a freshly instantiated copy of that module.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { binary, enableV8Feature, name, section, uleb, wat } from './support/wasm.ts';
import { readModule } from '../src/module/reader.ts';
import { evaluateDataImage, IMAGE_ALIGNMENT, renderImage, type DataImage } from '../src/module/image.ts';
import { ImportMissingError, InvalidArgumentError, ModuleNotPoolableError } from '../src/errors.ts';

/** How a generated segment computes its offset. */
type Offset = { kind: 'const'; value: number } | { kind: 'global' } | { kind: 'global+const'; value: number };

interface Segment {
  readonly offset: Offset;
  readonly bytes: Uint8Array;
}

function s32(n: number): number[] {
  const out: number[] = [];
  let v = n | 0;
  for (;;) {
    const b = v & 0x7f;
    v >>= 7;
    if ((v === 0 && (b & 0x40) === 0) || (v === -1 && (b & 0x40) !== 0)) return [...out, b];
    out.push(b | 0x80);
  }
}

function offsetExpr(o: Offset): number[] {
  switch (o.kind) {
    case 'const':
      return [0x41, ...s32(o.value), 0x0b];
    case 'global':
      return [0x23, 0, 0x0b];
    case 'global+const':
      return [0x23, 0, 0x41, ...s32(o.value), 0x6a, 0x0b];
  }
}

/** A module importing `env.base` (i32), exporting memory 0 of `pages` pages, with the segments. */
function moduleWith(pages: number, segments: readonly Segment[]): Uint8Array {
  const data = segments.flatMap((s) => [0x00, ...offsetExpr(s.offset), ...uleb(s.bytes.length), ...s.bytes]);
  return binary(
    section(2, [1, ...name('env'), ...name('base'), 0x03, 0x7f, 0x00]),
    section(5, [1, 0x00, ...uleb(pages)]),
    section(7, [1, ...name('memory'), 0x02, 0]),
    section(11, [...uleb(segments.length), ...data]),
  );
}

/** Checks memory equals the rendered image: the span's bytes inside it, zeros outside. */
function assertMemoryIsImage(memory: Uint8Array, image: DataImage): void {
  const rendered = renderImage(image);
  assert.equal(rendered.start % IMAGE_ALIGNMENT, 0);
  assert.equal(rendered.bytes.length % IMAGE_ALIGNMENT, 0);
  assert.equal(memory.length, image.minPages * 65536);
  const end = rendered.start + rendered.bytes.length;
  assert.ok(end <= memory.length, `image span ${rendered.start}+${rendered.bytes.length} exceeds memory`);
  assert.equal(Buffer.compare(memory.subarray(rendered.start, end), rendered.bytes), 0, 'image bytes differ from V8 memory');
  assert.ok(
    memory.subarray(0, rendered.start).every((b) => b === 0),
    'non-zero byte before the image span',
  );
  assert.ok(
    memory.subarray(end).every((b) => b === 0),
    'non-zero byte after the image span',
  );
  // The span is the smallest aligned one: its first and last 4 KiB blocks hold a non-zero byte.
  if (rendered.bytes.length > 0) {
    assert.ok(
      rendered.bytes.subarray(0, IMAGE_ALIGNMENT).some((b) => b !== 0),
      'first block of the span is all zero',
    );
    assert.ok(
      rendered.bytes.subarray(-IMAGE_ALIGNMENT).some((b) => b !== 0),
      'last block of the span is all zero',
    );
  }
}

const extendedConst = enableV8Feature(
  moduleWith(1, [{ offset: { kind: 'global+const', value: 1 }, bytes: new Uint8Array([1]) }]),
  '--experimental-wasm-extended-const',
);

const arbBytes = fc.uint8Array({ maxLength: 300 }).chain((b) =>
  // Runs of zeros at either end test the trimming of the span.
  fc.tuple(fc.nat({ max: 5000 }), fc.nat({ max: 5000 })).map(([lead, trail]) => {
    const out = new Uint8Array(lead % 3 === 0 ? lead + b.length + trail : b.length);
    out.set(b, lead % 3 === 0 ? lead : 0);
    return out;
  }),
);

test('rendered image equals the memory of a fresh instance (random segments, offsets from globals)', () => {
  let refused = 0;
  let compared = 0;
  fc.assert(
    fc.property(
      fc.integer({ min: 1, max: 4 }),
      fc.nat({ max: 4 * 65536 }),
      fc.array(
        fc.record({
          offset: fc.oneof(
            fc.nat({ max: 4 * 65536 }).map((value): Offset => ({ kind: 'const', value })),
            fc.constant<Offset>({ kind: 'global' }),
            fc
              .integer({ min: -4096, max: 65536 })
              .map((value): Offset => ({ kind: extendedConst ? 'global+const' : 'const', value: extendedConst ? value : Math.abs(value) })),
          ),
          bytes: arbBytes,
        }),
        { maxLength: 6 },
      ),
      (pages, base, segments) => {
        const bytes = moduleWith(pages, segments);
        const info = readModule(bytes);
        let image: DataImage | undefined;
        let refusal: unknown;
        try {
          image = evaluateDataImage(info, bytes, (g) => (g === 0 ? base : undefined));
        } catch (err) {
          refusal = err;
        }
        let instance: WebAssembly.Instance | undefined;
        let failure: unknown;
        try {
          instance = new WebAssembly.Instance(new WebAssembly.Module(bytes), { env: { base } });
        } catch (err) {
          failure = err;
        }
        if (image === undefined) {
          assert.ok(refusal instanceof ModuleNotPoolableError, `unexpected refusal ${String(refusal)}`);
          assert.ok(failure instanceof WebAssembly.RuntimeError, `cowpool refused (${refusal.reason}) but V8 instantiated`);
          refused++;
          return;
        }
        assert.equal(failure, undefined, `V8 failed (${String(failure)}) but cowpool evaluated an image`);
        const memory = (instance?.exports['memory'] as WebAssembly.Memory).buffer;
        assertMemoryIsImage(new Uint8Array(memory), image);
        compared++;
      },
    ),
    { numRuns: 150 },
  );
  // Both outcomes must really have been exercised.
  assert.ok(refused > 0 && compared > 0, `refused ${refused}, compared ${compared}`);
});

test('overlapping segments: later ones win, including with zeros, and the span shrinks to fit', () => {
  const a = new Uint8Array(8192).fill(7);
  const zeros = new Uint8Array(8192);
  const bytes = moduleWith(2, [
    { offset: { kind: 'const', value: 4096 }, bytes: a },
    { offset: { kind: 'const', value: 4096 }, bytes: zeros.subarray(0, 4096) },
    { offset: { kind: 'const', value: 12287 }, bytes: new Uint8Array([0, 9]) },
  ]);
  const info = readModule(bytes);
  const image = evaluateDataImage(info, bytes, () => 0);
  assert.deepEqual(
    image.segments.map((s) => [s.index, s.offset, s.bytes.length]),
    [
      [0, 4096, 8192],
      [1, 4096, 4096],
      [2, 12287, 2],
    ],
  );
  const rendered = renderImage(image);
  assert.equal(rendered.start, 8192);
  assert.equal(rendered.bytes.length, 8192);
  assert.deepEqual([...rendered.bytes.subarray(4094, 4097)], [7, 0, 9]);
  const instance = new WebAssembly.Instance(new WebAssembly.Module(bytes), { env: { base: 0 } });
  assertMemoryIsImage(new Uint8Array((instance.exports['memory'] as WebAssembly.Memory).buffer), image);
});

test('an all-zero or empty image renders as an empty span', () => {
  assert.deepEqual(renderImage({ minPages: 1, segments: [] }), { start: 0, bytes: new Uint8Array(0) });
  assert.deepEqual(renderImage({ minPages: 1, segments: [{ index: 0, offset: 100, bytes: new Uint8Array(50) }] }), {
    start: 0,
    bytes: new Uint8Array(0),
  });
  assert.deepEqual(
    renderImage({
      minPages: 1,
      segments: [
        { index: 0, offset: 100, bytes: new Uint8Array([1]) },
        { index: 1, offset: 100, bytes: new Uint8Array([0]) },
      ],
    }),
    { start: 0, bytes: new Uint8Array(0) },
  );
});

test('limits come from memory 0, defined or imported', () => {
  const defined = wat('(module (memory 3 9) (data (i32.const 1) "x"))');
  assert.deepEqual(
    { ...evaluateDataImage(readModule(defined), defined, () => undefined), segments: [] },
    { minPages: 3, maxPages: 9, segments: [] },
  );
  const imported = wat('(module (import "env" "m" (memory 2)) (data (i32.const 1) "x"))');
  const image = evaluateDataImage(readModule(imported), imported, () => undefined);
  assert.equal(image.minPages, 2);
  assert.equal(image.maxPages, undefined);
  assert.deepEqual([...(image.segments[0]?.bytes ?? [])], [0x78]);
});

test('passive segments are not part of the image; offsets may read defined immutable globals', () => {
  const bytes = wat(`(module (import "env" "b" (global $b i32)) (global $k i32 (i32.add (global.get $b) (i32.const 10)))
    (memory 1) (data "passive") (data (global.get $k) "A"))`);
  const info = readModule(bytes);
  assert.throws(() => evaluateDataImage(info, bytes, () => 65536), ModuleNotPoolableError);
  const image = evaluateDataImage(info, bytes, () => 5);
  assert.deepEqual(
    image.segments.map((s) => [s.index, s.offset]),
    [[1, 15]],
  );
});

test('a segment past the initial memory is refused, saying which and by how much', () => {
  const bytes = moduleWith(1, [
    { offset: { kind: 'const', value: 0 }, bytes: new Uint8Array([1]) },
    { offset: { kind: 'global' }, bytes: new Uint8Array(10) },
  ]);
  assert.throws(
    () => evaluateDataImage(readModule(bytes), bytes, () => 65530),
    (err: unknown) =>
      err instanceof ModuleNotPoolableError &&
      err.code === 'COWPOOL_ERR_NOT_POOLABLE' &&
      err.reason ===
        "data segment 1 (10 bytes at offset 65530) ends 4 bytes past the end of memory 0's initial 1 page(s) (65536 bytes); instantiating the module would fail",
  );
  // A negative i32 offset is a huge unsigned one.
  const negative = moduleWith(1, [{ offset: { kind: 'const', value: -1 }, bytes: new Uint8Array(0) }]);
  assert.throws(() => evaluateDataImage(readModule(negative), negative, () => 0), /ends 4294901759 bytes past/);
});

test('an imported global the pool does not supply is a missing import', () => {
  const bytes = moduleWith(1, [{ offset: { kind: 'global' }, bytes: new Uint8Array([1]) }]);
  assert.throws(
    () => evaluateDataImage(readModule(bytes), bytes, () => undefined),
    (err: unknown) => err instanceof ImportMissingError && err.module === 'env' && err.field === 'base' && err.kind === 'global',
  );
});

test('modules without a poolable memory 0', () => {
  const none = wat('(module)');
  assert.throws(() => evaluateDataImage(readModule(none), none, () => undefined), InvalidArgumentError);
  for (const text of ['(module (memory i64 1))', '(module (memory 1 1 shared))']) {
    const bytes = wat(text);
    assert.throws(() => evaluateDataImage(readModule(bytes), bytes, () => undefined), ModuleNotPoolableError, text);
  }
  const two = binary(section(2, [1, ...name('a'), ...name('m'), 2, 0, 1]), section(5, [1, 0, 1]));
  assert.throws(() => evaluateDataImage(readModule(two), two, () => undefined), /2 memories/);
});
