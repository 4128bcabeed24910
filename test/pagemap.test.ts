// PAGEMAP_SCAN against the real kernel: Wasmtime's ioctl matrix (sys/unix/pagemap.rs), plus resume
// across a full region buffer and scans of live WebAssembly memories.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  Category as C,
  PageMap,
  pagemapSupport,
  categoryNames,
  kernelBehaviour,
  type ScanOptions,
  type ScanResult,
} from '../src/pagemap/index.ts';
import { wat } from './support/wat.ts';
import { mmapAnonymous, munmap, PAGE_SIZE, viewAt, type Address } from '../src/sys/index.ts';

const support = pagemapSupport();
const skip = support.supported ? false : `PAGEMAP_SCAN unavailable: ${support.reason}`;
const P = PAGE_SIZE;
const ALL = support.categories;

/*
 * Kernels differ in two behaviours these tests meet (see src/pagemap/behaviour.ts): whether a read
 * of untouched anonymous memory maps the shared zero page, and whether WRITTEN is reported outside
 * uffd-wp ranges. They are probed first, and Wasmtime's expectations are computed from a model of
 * the pages under this kernel's behaviours instead of being written for one kernel.
 */
const kernel = kernelBehaviour();
const W = kernel.writtenOutsideUffd === 'every-present-page' ? C.WRITTEN : 0;
/** The categories of a page only read, and of a page written, on this kernel. */
const READ = C.PRESENT | W | (kernel.zeroPage ? C.PFNZERO : 0);
const WRITE = C.PRESENT | W;

/**
 * What a scan reports for pages in the given states (untouched pages: no categories), following
 * the kernel's filter: a page matches when, after inversion, it has every bit of the mask and one
 * of anyOf; runs of matching pages with the same returned categories merge.
 */
function model(states: Record<number, 'read' | 'written'>, count: number, o: ScanOptions): [number, number, number][] {
  const runs: [number, number, number][] = [];
  for (let page = 0; page < count; page++) {
    const state = states[page];
    const categories = state === 'read' ? READ : state === 'written' ? WRITE : 0;
    const x = categories ^ (o.categoryInverted ?? 0);
    const mask = o.categoryMask ?? 0;
    if ((x & mask) !== mask || (o.categoryAnyOf && (x & o.categoryAnyOf) === 0)) continue;
    const returned = categories & (o.returnMask ?? ALL);
    const last = runs.at(-1);
    if (last && last[1] === page && last[2] === returned) last[1] = page + 1;
    else runs.push([page, page + 1, returned]);
  }
  return runs;
}

/** Ten fresh anonymous private pages, as Wasmtime's tests use. */
function scratch(t: { after: (fn: () => void) => void }, pages = 10) {
  const address = mmapAnonymous(pages * P);
  t.after(() => munmap(address, pages * P));
  const bytes = new Uint8Array(viewAt(address, pages * P));
  let sink = 0;
  return {
    target: { address: address as bigint, length: pages * P },
    address: address as Address,
    read: (...pageList: number[]) => pageList.forEach((p) => (sink += bytes[p * P]!)),
    write: (...pageList: number[]) => pageList.forEach((p) => (bytes[p * P] = 1 + (sink & 0))),
  };
}

/** Regions as [firstPage, endPage, categories] triples, for compact assertions. */
function pages(result: ScanResult): [number, number, number][] {
  return result.regions.map((r) => [r.start / P, r.end / P, r.categories]);
}

/*
 * Never-touched pages: kernels with "fs/proc: fix PAGEMAP_SCAN written state for unpopulated ptes"
 * (7.2, backported to stable) report a hole inside an existing page table as WRITTEN in the
 * generic scan path, and those that also have the fix "for PMD holes" report a hole without a page
 * table the same way; earlier kernels report no categories for either. Which one a fresh mapping
 * gets depends on where it lands. Wasmtime's matrix assumed no categories, so where holes matter
 * the masks below also require PRESENT, which holds on every kernel.
 */

test('support probe reports the reset categories and a reason when unsupported', () => {
  if (support.supported) {
    const needed = C.FILE | C.PRESENT | C.SWAPPED;
    assert.equal(support.categories & needed, needed);
    assert.equal(support.reason, undefined);
  } else {
    assert.match(support.reason ?? '', /^E[A-Z]+: /);
    assert.equal(support.categories, 0);
  }
  assert.equal(pagemapSupport(), support, 'probed once per process');
});

test('no pages returned for untouched memory', { skip }, (t) => {
  const pm = PageMap.open();
  const { target } = scratch(t);
  const result = pm.scan(target, { categoryMask: C.PRESENT, returnMask: ALL });
  assert.deepEqual(pages(result), []);
  assert.equal(result.walkEnd, 10 * P);
  assert.equal(result.stop, 'complete');
  const written = pm.scan(target, { categoryMask: C.WRITTEN, returnMask: ALL });
  for (const region of written.regions) {
    assert.equal(region.categories, C.WRITTEN, 'a hole is at most WRITTEN (see above), never PRESENT');
  }
});

test('empty region', { skip }, (t) => {
  const pm = PageMap.open();
  const { address } = scratch(t);
  const result = pm.scan({ address: address + BigInt(P), length: 0 }, { categoryMask: C.WRITTEN });
  assert.deepEqual(result.regions, []);
  assert.equal(result.stop, 'complete');
  assert.equal(result.calls, 0);
});

test('basic page flags', { skip }, (t) => {
  const pm = PageMap.open();
  const m = scratch(t);
  m.read(0);
  m.write(1, 2);
  m.read(3, 5, 6);
  const options = { categoryMask: C.WRITTEN | C.PRESENT, returnMask: C.WRITTEN | C.PRESENT | C.PFNZERO };
  const result = pm.scan(m.target, options);
  const states = { 0: 'read', 1: 'written', 2: 'written', 3: 'read', 5: 'read', 6: 'read' } as const;
  assert.deepEqual(pages(result), model(states, 10, options));
  if (kernel.zeroPage && W) {
    // Wasmtime's expectation, on the kernel it was written for.
    const WPZ = C.WRITTEN | C.PRESENT | C.PFNZERO;
    const WP = C.WRITTEN | C.PRESENT;
    assert.deepEqual(pages(result), [
      [0, 1, WPZ],
      [1, 3, WP],
      [3, 4, WPZ],
      [5, 7, WPZ],
    ]);
  }
  assert.equal(result.walkEnd, 10 * P);
});

test('only written pages', { skip }, (t) => {
  const pm = PageMap.open();
  const m = scratch(t);
  m.read(0);
  m.write(1, 2);
  m.read(3, 5, 6);
  const options = {
    categoryInverted: C.PFNZERO,
    categoryMask: C.WRITTEN | C.PRESENT | C.PFNZERO,
    returnMask: C.WRITTEN | C.PRESENT | C.PFNZERO,
  };
  const result = pm.scan(m.target, options);
  const states = { 0: 'read', 1: 'written', 2: 'written', 3: 'read', 5: 'read', 6: 'read' } as const;
  assert.deepEqual(pages(result), model(states, 10, options));
  if (kernel.zeroPage && W) assert.deepEqual(pages(result), [[1, 3, C.WRITTEN | C.PRESENT]]);
});

test('region limit without resume stops at the first unreported region', { skip }, (t) => {
  const pm = PageMap.open();
  const m = scratch(t);
  m.read(0);
  m.write(1);
  m.read(2);
  m.write(3);
  const one = pm.scan(m.target, { maxRegions: 1, resume: false, returnMask: C.PRESENT | C.PFNZERO });
  // Untouched pages match too (no mask): the first run is page 0 alone where its read mapped the
  // zero page, pages 0 and 1 together where the read made a private page like the write.
  const first = model({ 0: 'read', 1: 'written', 2: 'read', 3: 'written' }, 10, { returnMask: C.PRESENT | C.PFNZERO })[0]!;
  assert.deepEqual(pages(one), [first]);
  assert.equal(one.walkEnd, first[1] * P);
  assert.equal(one.stop, 'max-regions');
  const merged = pm.scan(m.target, { maxRegions: 1, resume: false, returnMask: C.PRESENT });
  assert.deepEqual(pages(merged), [[0, 4, C.PRESENT]]);
  assert.equal(merged.walkEnd, 4 * P);
  assert.equal(merged.stop, 'max-regions');
});

test('page limit', { skip }, (t) => {
  const pm = PageMap.open();
  const m = scratch(t);
  m.read(0, 1, 2, 3);
  const result = pm.scan(m.target, { categoryMask: C.PRESENT, maxPages: 2, returnMask: ALL });
  assert.deepEqual(
    pages(result).map(([a, b]) => [a, b]),
    [[0, 2]],
  );
  assert.equal(result.walkEnd, 2 * P);
  assert.equal(result.stop, 'max-pages');
  assert.equal(result.pages, 2);
});

test('page limit with hole', { skip }, (t) => {
  const pm = PageMap.open();
  const m = scratch(t);
  m.read(0, 2, 3);
  const result = pm.scan(m.target, { categoryMask: C.WRITTEN | C.PRESENT, maxPages: 2, returnMask: ALL });
  if (!W) {
    // WRITTEN is never reported outside uffd-wp here: nothing matches a mask that requires it.
    assert.deepEqual(pages(result), []);
    assert.equal(result.stop, 'complete');
    return;
  }
  assert.deepEqual(
    pages(result).map(([a, b]) => [a, b]),
    [
      [0, 1],
      [2, 3],
    ],
  );
  assert.equal(result.walkEnd, 3 * P);
  assert.equal(result.stop, 'max-pages');
});

test('resume continues past a full region buffer until the range is done', { skip }, (t) => {
  const pm = PageMap.open();
  const m = scratch(t, 64);
  const written = Array.from({ length: 32 }, (_, i) => i * 2);
  m.write(...written);
  const options = { categoryMask: C.PRESENT, returnMask: 0, maxRegions: 4 };
  const resumed = pm.scan(m.target, options);
  assert.deepEqual(
    pages(resumed),
    written.map((p) => [p, p + 1, 0]),
  );
  assert.equal(resumed.stop, 'complete');
  assert.equal(resumed.walkEnd, 64 * P);
  assert.ok(resumed.calls >= 8, `expected at least 8 ioctl calls, made ${resumed.calls}`);

  const stopped = pm.scan(m.target, { ...options, resume: false });
  assert.equal(stopped.regions.length, 4);
  assert.equal(stopped.stop, 'max-regions');
  assert.equal(stopped.walkEnd, 8 * P, 'walkEnd is where the first unreported run starts');

  const budget = pm.scan(m.target, { ...options, maxPages: 10 });
  assert.equal(budget.pages, 10);
  assert.equal(budget.stop, 'max-pages');
  assert.equal(budget.regions.at(-1)?.start, 18 * P);
});

test('resume joins a run split across two calls', { skip }, (t) => {
  const pm = PageMap.open();
  const m = scratch(t, 16);
  m.write(0, 2, 3, 4, 5);
  // Alternating categories force region boundaries: page 2 written, 3 read-only zero page, …
  const result = pm.scan(m.target, { categoryMask: C.PRESENT, returnMask: 0, maxRegions: 1 });
  assert.deepEqual(pages(result), [
    [0, 1, 0],
    [2, 6, 0],
  ]);
});

test('a live WebAssembly.Memory: exactly the pages written from wasm and from JS', { skip }, () => {
  const pm = PageMap.open();
  const wasm = wat(`(module (memory (export "m") 8)
    (func (export "poke") (param i32) local.get 0 i32.const 7 i32.store8))`);
  const instance = new WebAssembly.Instance(new WebAssembly.Module(wasm));
  const memory = instance.exports.m as WebAssembly.Memory;
  const poke = instance.exports.poke as (address: number) => void;
  const dirty = {
    categoryInverted: C.PFNZERO | C.FILE,
    categoryMask: C.PFNZERO | C.FILE,
    categoryAnyOf: C.PRESENT | C.SWAPPED,
    returnMask: 0,
  };
  assert.deepEqual(pm.scan(memory.buffer, dirty).regions, []);
  poke(5 * P + 17);
  poke(6 * P);
  poke(40 * P + P - 1);
  const bytes = new Uint8Array(memory.buffer);
  bytes[100 * P + 3] = 9;
  let sink = 0;
  for (let p = 110; p < 120; p++) sink += bytes[p * P]!;
  assert.equal(sink, 0);
  const result = pm.scan(memory.buffer, dirty);
  // V8's memory is anonymous: where the kernel has no zero page, the pages only read are private too.
  const readRun: [number, number, number][] = kernel.zeroPage ? [] : [[110, 120, 0]];
  assert.deepEqual(pages(result), [[5, 7, 0], [40, 41, 0], [100, 101, 0], ...readRun]);
  const reads = pm.scan(memory.buffer, { categoryMask: C.PFNZERO, returnMask: 0 });
  assert.deepEqual(pages(reads), kernel.zeroPage ? [[110, 120, 0]] : []);

  memory.grow(1);
  new Uint8Array(memory.buffer)[8 * 65536] = 1;
  const grown = pm.scan(memory.buffer, { ...dirty, offset: 128 * P });
  assert.deepEqual(pages(grown), [[128, 129, 0]], 'grown pages are scanned after re-reading memory.buffer');
});

test('bad arguments are rejected before the kernel sees them', { skip }, () => {
  const pm = PageMap.open();
  const memory = new WebAssembly.Memory({ initial: 1 });
  const expectInvalid = (fn: () => unknown, pattern: RegExp) =>
    assert.throws(fn, (err: Error & { code?: string }) => {
      assert.equal(err.code, 'COWPOOL_ERR_INVALID_ARGUMENT');
      assert.match(err.message, pattern);
      return true;
    });
  expectInvalid(() => pm.scan(memory.buffer, { offset: 100 }), /options.offset 100 is not a non-negative multiple/);
  expectInvalid(() => pm.scan(memory.buffer, { offset: 2 * 65536 }), /past the end of the 65536-byte target/);
  expectInvalid(() => pm.scan(memory.buffer, { length: 65537 }), /past the end of the 65536-byte target/);
  expectInvalid(() => pm.scan(memory.buffer, { categoryMask: 1 << 12 }), /options.categoryMask: 4096 has bits/);
  expectInvalid(() => pm.scan(memory.buffer, { maxPages: -1 }), /maxPages must be an integer/);
  expectInvalid(() => pm.scan(memory.buffer, { maxRegions: 0 }), /maxRegions must be an integer of at least 1/);
  expectInvalid(() => pm.scan({ address: 4097n, length: 4096 }), /not page-aligned/);
  const old = memory.buffer;
  memory.grow(1);
  expectInvalid(() => pm.scan(old), /detached/);
  pm.close();
  assert.throws(() => pm.scan(memory.buffer), { code: 'COWPOOL_ERR_CLOSED' });
});

test('category names', () => {
  assert.deepEqual(categoryNames(C.WRITTEN | C.PRESENT | C.GUARD), ['WRITTEN', 'PRESENT', 'GUARD']);
});

test('a prepared scan runs again and again like scan', { skip }, (t) => {
  const pm = PageMap.open();
  const m = scratch(t, 16);
  const options = { categoryMask: C.PRESENT, returnMask: 0, maxRegions: 2 };
  const prepared = pm.prepare(m.target, options);
  const collect = () => {
    const seen: [number, number][] = [];
    const summary = prepared.run((start, end) => seen.push([start / P, end / P]));
    return { seen, summary };
  };
  assert.deepEqual(collect().seen, []);
  m.write(1, 4, 9, 12);
  const { seen, summary } = collect();
  assert.deepEqual(seen, [
    [1, 2],
    [4, 5],
    [9, 10],
    [12, 13],
  ]);
  assert.equal(summary.stop, 'complete');
  assert.equal(summary.calls, 2, 'resumed once past the 2-region buffer');
  assert.deepEqual(
    pages(pm.scan(m.target, options)).map(([a, b]) => [a, b]),
    seen,
    'scan agrees',
  );
  assert.throws(() => pm.prepare(m.target, { maxRegions: 0 }), { code: 'COWPOOL_ERR_INVALID_ARGUMENT' });
});
