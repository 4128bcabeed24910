// MemoryImage and MemorySlot against real V8 memories and the real kernel: Wasmtime's slot matrix
// (cow.rs reset_with_pagemap), a differential property test against fresh instances, and the
// invariants a reset must keep, for every strategy.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import {
  MemoryImage,
  MemorySlot,
  chooseStrategy,
  resolveStrategy,
  selfCheck,
  COPY_THRESHOLD,
  type ResetStrategy,
} from '../src/memory/index.ts';
import { Category, kernelBehaviour, PageMap, pagemapSupport } from '../src/pagemap/index.ts';
import { nativeSupport, PAGE_SIZE } from '../src/sys/index.ts';
import { wat } from './support/wat.ts';

const P = PAGE_SIZE;
const pagemapSkip = pagemapSupport().supported ? false : `PAGEMAP_SCAN unavailable: ${pagemapSupport().reason}`;
const strategies: { strategy: ResetStrategy; skip: string | false }[] = [
  { strategy: 'pagemap', skip: pagemapSkip },
  { strategy: 'madvise', skip: false },
  { strategy: 'copy', skip: false },
];
const KEEP_RESIDENT = [0, P, 10 * P, 1 << 20, 10 << 20];

/** A module that writes to an imported memory, so that writes come from wasm code too. */
const writer = new WebAssembly.Module(
  wat(`(module (import "env" "memory" (memory 1))
    (func (export "fill") (param i32 i32 i32) local.get 0 local.get 2 local.get 1 memory.fill)
    (func (export "grow") (param i32) (result i32) local.get 0 memory.grow))`),
);
function wasmWriter(slot: MemorySlot) {
  const { exports } = new WebAssembly.Instance(writer, { env: { memory: slot.memory } });
  return {
    fill: exports.fill as (address: number, length: number, value: number) => void,
    grow: exports.grow as (pages: number) => number,
  };
}

function assertBytes(actual: Uint8Array, expected: Uint8Array, context: string): void {
  assert.equal(actual.length, expected.length, `${context}: length`);
  for (let i = 0; i < actual.length; i++) {
    if (actual[i] !== expected[i]) {
      assert.fail(`${context}: byte ${i} (page ${Math.floor(i / P)}) is ${actual[i]}, expected ${expected[i]}`);
    }
  }
}

test('the self-check passes for every strategy this host can run, and auto takes the best', () => {
  const check = selfCheck();
  assert.deepEqual(check.strategies.copy, { ok: true });
  if (nativeSupport().available) assert.deepEqual(check.strategies.madvise, { ok: true });
  // The contract holds on every kernel that has PAGEMAP_SCAN, with or without the zero page.
  if (pagemapSupport().supported) assert.deepEqual(check.strategies.pagemap, { ok: true });
  else assert.equal(check.strategies.pagemap.ok, false);
  assert.ok(check.kernel.description.length > 0);
  const best = pagemapSupport().supported ? 'pagemap' : nativeSupport().available ? 'madvise' : 'copy';
  assert.equal(chooseStrategy().strategy, best);
  assert.equal(chooseStrategy(16 << 20).strategy, best, 'a large memory is never copied while a native reset works');
  // A memory of 128 KiB is not copied either: one scan costs less than comparing it (auto-strategy.ts).
  assert.equal(chooseStrategy(128 << 10).strategy, best);
  const small = chooseStrategy(COPY_THRESHOLD);
  // Copying a memory keeps untouched pages unpopulated only where reads map the zero page.
  assert.equal(small.strategy, check.kernel.zeroPage === false ? best : 'copy');
  if (small.strategy !== 'pagemap') assert.match(small.reason ?? '', /\w/, 'a reason is given');
});

test('auto takes the best strategy whose own check passed, and says why in words', () => {
  const ok = { ok: true } as const;
  const failed = (reason: string) => ({ ok: false, reason }) as const;
  const host = (pagemap: boolean, madvise: boolean, zeroPage: boolean | undefined) => ({
    strategies: {
      pagemap: pagemap ? ok : failed('ENOTTY: this kernel has no PAGEMAP_SCAN ioctl (Linux 6.7 or later is needed)'),
      madvise: madvise ? ok : failed('koffi could not be loaded'),
      copy: ok,
    },
    kernel: { zeroPage, writtenOutsideUffd: undefined, description: 'a host' },
  });
  const big = 16 << 20;
  assert.deepEqual(chooseStrategy(big, host(true, true, false)), { strategy: 'pagemap' });
  assert.deepEqual(chooseStrategy(64 << 10, host(true, true, true)), { strategy: 'pagemap' });
  assert.equal(chooseStrategy(COPY_THRESHOLD, host(true, true, true)).strategy, 'copy');
  // Without the zero page, comparing a memory would populate every page: pagemap instead.
  assert.deepEqual(chooseStrategy(COPY_THRESHOLD, host(true, true, false)), { strategy: 'pagemap' });
  const madvise = chooseStrategy(big, host(false, true, undefined));
  assert.equal(madvise.strategy, 'madvise');
  assert.match(madvise.reason!, /pagemap is unavailable \(ENOTTY: .*Linux 6\.7 or later/);
  const copy = chooseStrategy(big, host(false, false, undefined));
  assert.equal(copy.strategy, 'copy');
  assert.match(copy.reason!, /madvise is unavailable \(koffi could not be loaded\)/);
});

test('a span finer than the host page is widened to whole pages, in the bytes and the memfd', () => {
  // module/image.ts renders spans 4 KiB-aligned; on a kernel with 16 or 64 KiB pages that is finer
  // than a page. A span starting 100 bytes into a page stands for that case on any host.
  const image = MemoryImage.create({ start: P + 100, bytes: new Uint8Array([7, 8]) }, 65536);
  assert.equal(image.start, P);
  assert.equal(image.length, P);
  assert.deepEqual([...image.bytes.subarray(99, 103)], [0, 7, 8, 0]);
  const slot = MemorySlot.create(image, { strategy: nativeSupport().available ? 'madvise' : 'copy' });
  const memory = new Uint8Array(slot.memory.buffer);
  assert.deepEqual([...memory.subarray(P + 99, P + 103)], [0, 7, 8, 0], 'the mapped image reads back');
  assert.equal(
    memory.some((b, i) => b !== 0 && i !== P + 100 && i !== P + 101),
    false,
  );
  slot.close();
  image.close();
  assert.equal(MemoryImage.create({ start: P + 100, bytes: new Uint8Array(0) }, 65536, { memfd: false }).length, 0);
});

test('MemoryImage keeps the page-aligned non-zero span, in a sealed memfd', () => {
  const contents = new Uint8Array(65536);
  contents[5 * P + 10] = 1;
  contents[7 * P] = 2;
  const image = MemoryImage.fromContents(contents);
  assert.equal(image.start, 5 * P);
  assert.equal(image.length, 3 * P);
  assert.equal(image.bytes[10], 1);
  assert.equal(image.bytes[2 * P], 2);
  assert.equal(typeof image.fd, 'number');
  const empty = MemoryImage.fromContents(new Uint8Array(65536));
  assert.equal(empty.length, 0);
  // The memfd covers the whole initial memory, holes included, so that reads stay shared.
  assert.equal(typeof empty.fd, nativeSupport().available ? 'number' : 'undefined');
  const plain = MemoryImage.fromContents(new Uint8Array(65536), { memfd: false });
  assert.equal(plain.fd, undefined);
  assert.equal(resolveStrategy('auto', plain), 'copy', 'auto copies an image it cannot map');
  assert.equal(MemorySlot.create(plain, { strategy: resolveStrategy('auto', plain) }).strategy, 'copy');
  assert.throws(() => MemorySlot.create(plain, { strategy: 'madvise' }), /built without a memfd/);
  assert.throws(() => MemoryImage.create({ start: -1, bytes: new Uint8Array(1) }, 65536), {
    code: 'COWPOOL_ERR_INVALID_ARGUMENT',
  });
  assert.throws(() => MemoryImage.create({ start: 15 * P, bytes: new Uint8Array(2 * P) }, 65536), /does not fit/);
  image.close();
  assert.throws(() => image.fd, { code: 'COWPOOL_ERR_CLOSED' });
});

// Wasmtime's matrix: a 3-page image at page 3 (image page k filled with k + 1), every write pattern
// before, inside, after and across the image, for every keepResident budget.
const WRITE_PATTERNS = [
  ...Array.from({ length: 9 }, (_, p) => [p]),
  [0, 1],
  [1],
  [2, 3],
  [3, 4, 5],
  [0, 1, 2],
  [0, 3, 6],
  [2, 3, 4, 5, 6],
  [4, 5, 6, 7],
  [4, 5, 8],
  [15],
  [0, 15],
];
for (const { strategy, skip } of strategies) {
  test(`${strategy}: Wasmtime's reset matrix over every keepResident`, { skip }, () => {
    const span = new Uint8Array(3 * P);
    for (let k = 0; k < 3; k++) span.fill(k + 1, k * P, (k + 1) * P);
    const image = MemoryImage.create({ start: 3 * P, bytes: span }, 65536);
    const pristine = new Uint8Array(65536);
    pristine.set(span, 3 * P);
    for (const keepResident of KEEP_RESIDENT) {
      const slot = MemorySlot.create(image, { strategy, keepResident });
      const wasm = wasmWriter(slot);
      assertBytes(new Uint8Array(slot.memory.buffer), pristine, `${strategy} keepResident=${keepResident} at start`);
      for (const [i, pattern] of WRITE_PATTERNS.entries()) {
        slot.lease();
        for (const page of pattern) {
          if (i % 2 === 0) new Uint8Array(slot.memory.buffer).fill(0xff, page * P, (page + 1) * P);
          else wasm.fill(page * P, P, 0xff);
        }
        const report = slot.reset();
        assert.equal(report.grew, false);
        assertBytes(
          new Uint8Array(slot.memory.buffer),
          pristine,
          `${strategy} keepResident=${keepResident} after writing pages [${pattern}]`,
        );
      }
      slot.close();
    }
    image.close();
  });
}

test('pagemap: reads do not dirty, a restored page is found again, the budget is kept', { skip: pagemapSkip }, () => {
  const image = MemoryImage.create({ start: 0, bytes: new Uint8Array(4 * P).fill(9) }, 65536);
  const slot = MemorySlot.create(image, { strategy: 'pagemap', keepResident: 4 * P });
  const view = () => new Uint8Array(slot.memory.buffer);

  slot.lease();
  let sum = 0;
  for (let p = 0; p < 16; p++) sum += view()[p * P]!;
  assert.equal(sum, 4 * 9);
  assert.equal(slot.reset().dirtyPages, 0, 'reads leave no private page');

  slot.lease();
  view()[1 * P] = 1;
  view()[10 * P] = 1;
  let report = slot.reset();
  assert.equal(report.strategy, 'pagemap');
  assert.equal(report.dirtyPages, 2);
  assert.equal(report.bytesRestored, P);
  assert.equal(report.bytesZeroed, P);
  assert.equal(report.bytesDecommitted, 0);
  assert.equal(report.syscalls, 1, 'one ioctl, no madvise');

  slot.lease();
  view()[1 * P] = 2;
  report = slot.reset();
  assert.equal(view()[1 * P], 9, 'a page restored in place and written again is restored again');
  assert.equal(report.dirtyPages, 2, 'restored pages stay private: the sticky set');

  slot.lease();
  for (let p = 0; p < 8; p++) view()[p * P] = 3;
  report = slot.reset();
  assert.equal(report.dirtyPages, 4, 'the scan stops at the keepResident budget');
  assert.ok(report.bytesDecommitted > 0, 'and discards the rest');
  assertBytes(view().subarray(0, 4 * P), new Uint8Array(4 * P).fill(9), 'image after budget');
  assertBytes(view().subarray(4 * P), new Uint8Array(65536 - 4 * P), 'zeros after budget');
  slot.close();
  image.close();
});

test('pagemap: the sticky set is decommitted when far larger than what uses write', { skip: pagemapSkip }, () => {
  const image = MemoryImage.create({ start: 0, bytes: new Uint8Array(P).fill(1) }, 16 * 65536);
  const slot = MemorySlot.create(image, { strategy: 'pagemap', keepResident: 1 << 20 });
  const strategiesSeen: string[] = [];
  const write = (pages: number) => {
    slot.lease();
    const view = new Uint8Array(slot.memory.buffer);
    for (let p = 0; p < pages; p++) view[p * P] = 7;
    const report = slot.reset();
    strategiesSeen.push(`${report.strategy}:${report.dirtyPages}`);
  };
  write(2); // measures a real write set of 2 pages
  write(100); // one large use: 100 pages now stay private, 100 > 2 * w + 16
  write(2); // so this reset decommits everything
  write(2); // and this scan sees only what the use wrote
  write(2);
  assert.deepEqual(strategiesSeen, ['pagemap:2', 'pagemap:100', 'madvise:0', 'pagemap:2', 'pagemap:2']);
  slot.close();
});

test('trim gives back what an idle slot holds; the next use still starts from the image', () => {
  for (const strategy of ['pagemap', 'madvise', 'copy'] as const) {
    if (strategy === 'pagemap' && pagemapSkip) continue;
    const image = MemoryImage.create({ start: 0, bytes: new Uint8Array(2 * P).fill(3) }, 16 * 65536);
    const slot = MemorySlot.create(image, { strategy, keepResident: 1 << 20 });
    const held = () =>
      PageMap.open().scan(slot.memory.buffer, {
        categoryInverted: Category.FILE,
        categoryMask: Category.FILE | Category.PRESENT,
        returnMask: 0,
      }).pages;
    slot.lease();
    const view = new Uint8Array(slot.memory.buffer);
    view[0] = 9;
    view[5 * P] = 9;
    slot.reset();
    if (strategy === 'pagemap') {
      assert.equal(held(), 2, 'pagemap: the written pages were restored in place and are held');
      assert.equal(slot.trim(), slot.memory.buffer.byteLength);
      assert.equal(held(), 0, 'pagemap: trimmed, nothing private is left');
    }
    assert.equal(slot.trim(), 0, `${strategy}: nothing (more) to give back`);
    assert.deepEqual([view[0], view[5 * P], view[P]], [3, 0, 3], `${strategy}: the image shows through`);
    slot.lease();
    assert.equal(slot.trim(), 0, 'a leased slot is not trimmed');
    slot.reset();
    slot.close();
    image.close();
  }
});

test("two slots sharing one image do not see each other's writes", () => {
  const image = MemoryImage.create({ start: P, bytes: new Uint8Array(P).fill(5) }, 65536);
  for (const { strategy, skip } of strategies) {
    if (skip) continue;
    const a = MemorySlot.create(image, { strategy });
    const b = MemorySlot.create(image, { strategy });
    a.lease();
    b.lease();
    new Uint8Array(a.memory.buffer).fill(0xaa, P, 2 * P);
    new Uint8Array(a.memory.buffer)[0] = 0xaa;
    assert.equal(new Uint8Array(b.memory.buffer)[P], 5, `${strategy}: b sees the image, not a's write`);
    assert.equal(new Uint8Array(b.memory.buffer)[0], 0);
    a.reset();
    b.reset();
    a.close();
    b.close();
  }
  assert.equal(image.closed, false, 'the caller still holds the image');
  image.close();
});

test('slot states are enforced', () => {
  const image = MemoryImage.create({ start: 0, bytes: new Uint8Array(0) }, 65536);
  const slot = MemorySlot.create(image, { strategy: 'copy' });
  assert.throws(() => slot.reset(), { code: 'COWPOOL_ERR_INTERNAL' });
  slot.lease();
  assert.throws(() => slot.lease(), { code: 'COWPOOL_ERR_INTERNAL' });
  slot.reset();
  slot.close();
  assert.equal(slot.state, 'closed');
  assert.throws(() => slot.lease(), /lease\(\) of a closed slot/);
  assert.throws(() => MemorySlot.create(image, { strategy: 'fast' as never }), /options.strategy must be/);
  assert.throws(() => resolveStrategy('fast' as never, image), /options.strategy must be 'auto', 'pagemap'/);
  // A slot takes a concrete strategy: `auto` is resolved above it, once.
  assert.throws(() => MemorySlot.create(image, { strategy: 'auto' as never }), /resolve 'auto' with resolveStrategy first/);
  assert.throws(() => MemorySlot.create(image, { strategy: 'copy', keepResident: -1 }), /options.keepResident/);
});

/** Random image as data segments, plus a fresh instance of a module declaring them, to compare with. */
const imageArbitrary = fc
  .record({
    pages: fc.integer({ min: 1, max: 3 }),
    segments: fc.array(fc.record({ at: fc.nat({ max: 3 * 65536 - 1 }), bytes: fc.uint8Array({ minLength: 1, maxLength: 300 }) }), {
      maxLength: 6,
    }),
  })
  .map(({ pages, segments }) => ({
    pages,
    segments: segments.map((s) => ({ at: s.at % (pages * 65536 - s.bytes.length), bytes: s.bytes })),
  }));
const writeArbitrary = fc.array(
  fc.record({
    at: fc.nat({ max: 4 * 65536 - 1 }),
    length: fc.integer({ min: 1, max: 3 * P }),
    value: fc.integer({ min: 0, max: 255 }),
    fromWasm: fc.boolean(),
  }),
  { maxLength: 12 },
);

function freshMemory(pages: number, segments: { at: number; bytes: Uint8Array }[]): Uint8Array {
  const data = segments
    .map((s) => `(data (i32.const ${s.at}) "${[...s.bytes].map((b) => '\\' + b.toString(16).padStart(2, '0')).join('')}")`)
    .join('\n');
  const instance = new WebAssembly.Instance(new WebAssembly.Module(wat(`(module (memory (export "m") ${pages}) ${data})`)));
  return new Uint8Array((instance.exports.m as WebAssembly.Memory).buffer);
}

for (const { strategy, skip } of strategies) {
  test(`${strategy}: after any writes and growth, memory equals a fresh instance's (property)`, { skip }, () => {
    fc.assert(
      fc.property(
        imageArbitrary,
        fc.array(fc.record({ writes: writeArbitrary, grow: fc.integer({ min: 0, max: 2 }) }), { minLength: 1, maxLength: 4 }),
        fc.constantFrom(...KEEP_RESIDENT),
        ({ pages, segments }, uses, keepResident) => {
          const fresh = freshMemory(pages, segments);
          const image = MemoryImage.fromContents(fresh);
          const slot = MemorySlot.create(image, { strategy, keepResident });
          const wasm = wasmWriter(slot);
          try {
            for (const use of uses) {
              slot.lease();
              if (use.grow > 0) wasm.grow(use.grow);
              const size = slot.memory.buffer.byteLength;
              for (const w of use.writes) {
                const at = w.at % size;
                const length = Math.min(w.length, size - at);
                if (w.fromWasm) wasm.fill(at, length, w.value);
                else new Uint8Array(slot.memory.buffer).fill(w.value, at, at + length);
              }
              const report = slot.reset();
              const after = new Uint8Array(slot.memory.buffer);
              assert.equal(report.grew, after.length > fresh.length);
              if (report.grew) {
                // A grown memory cannot shrink: the slot is retired, its memory left as it is.
                assert.equal(slot.state, 'closed');
                assert.equal(report.bytesRestored + report.bytesZeroed + report.bytesDecommitted, 0, 'no work on a retired memory');
                break;
              }
              assertBytes(after, fresh, `${strategy} keepResident=${keepResident}`);
            }
          } finally {
            slot.close();
            image.close();
          }
        },
      ),
      { numRuns: 40 },
    );
  });
}

test('copy: a reset writes back only the pages that differ from the image', () => {
  const image = MemoryImage.create({ start: 2 * P, bytes: new Uint8Array(2 * P).fill(4) }, 4 * 65536);
  const slot = MemorySlot.create(image, { strategy: 'copy' });
  slot.lease();
  const view = new Uint8Array(slot.memory.buffer);
  view[0] = 1; // outside the span
  view[3 * P + 5] = 1; // inside it
  view[40 * P] = 0; // written with the byte it already held: unchanged
  const report = slot.reset();
  assert.equal(report.bytesRestored + report.bytesZeroed, 2 * P);
  assert.equal(report.bytesUnchanged, 4 * 65536 - 2 * P);
  assert.equal(view[0], 0);
  assert.equal(view[3 * P + 5], 4);
  slot.close();
  image.close();
});

test('copy: pages a use never wrote stay unpopulated where the kernel has a zero page', (t) => {
  const kernel = kernelBehaviour();
  if (kernel.zeroPage !== true) {
    t.skip(`this kernel ${kernel.zeroPage === false ? 'has no shared zero page: every read populates a page' : 'cannot be probed'}`);
    return;
  }
  const image = MemoryImage.create({ start: 0, bytes: new Uint8Array(P).fill(4) }, 16 * 65536);
  const slot = MemorySlot.create(image, { strategy: 'copy' });
  for (let use = 0; use < 3; use++) {
    slot.lease();
    new Uint8Array(slot.memory.buffer)[(5 + use) * P] = 9;
    slot.reset();
  }
  // Private pages with contents: the image page (copied in at creation) and those the uses wrote.
  const { pages } = PageMap.open().scan(slot.memory.buffer, {
    categoryInverted: Category.PFNZERO,
    categoryMask: Category.PFNZERO | Category.PRESENT,
    returnMask: 0,
  });
  assert.ok(pages <= 4, `the compare reads left ${pages} pages populated, expected at most 4`);
  slot.close();
  image.close();
});
