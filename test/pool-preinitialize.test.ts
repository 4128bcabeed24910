// Pre-initialization, the one pipeline (src/pool/preinitialize/): an export or a host's function
// runs once, and every use starts from the snapshot it leaves. Compared with a fresh instance that
// ran the same initialization; the host's function form (internal, the sandboxes') is driven here
// directly, with what it brings besides the call: its own imports, the exports to keep, headroom.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { GuestTrapError, InstancePool, InvalidArgumentError } from '../src/index.ts';
import type { InternalPoolOptions } from '../src/pool/options.ts';
import { INITIALIZER, type FunctionInitializer } from '../src/pool/preinitialize/initializer.ts';
import { memorySnapshot } from '../src/pool/preinitialize/snapshot.ts';
import { candidateRanges, dataRuns } from '../src/memory/data-pages.ts';
import { kernelBehaviour } from '../src/pagemap/index.ts';
import { openMemfds } from './support/fds.ts';
import { wat } from './support/wat.ts';

interface Started {
  init(): void;
  g(): number;
  h(): number;
  m(): number;
}

/** A start function that sets a global and memory, and an initializer that sets another global. */
const started = wat(`(module (memory 1) (global $g (mut i32) (i32.const 0)) (global $h (mut i32) (i32.const 0))
  (func $start (global.set $g (i32.const 5)) (i32.store (i32.const 0) (i32.const 9)))
  (start $start)
  (func (export "init") (global.set $h (i32.const 7)))
  (func (export "g") (result i32) (global.get $g))
  (func (export "h") (result i32) (global.get $h))
  (func (export "m") (result i32) (i32.load (i32.const 0))))`);

for (const mechanism of ['reuse', 'reinstantiate'] as const) {
  test(`${mechanism}: with an initializer, what the start function set is kept too (the start function goes)`, async () => {
    const fresh = new WebAssembly.Instance(new WebAssembly.Module(started)).exports as unknown as Started;
    fresh.init();
    const pool = await InstancePool.create<Started>(started, { initialize: 'init', mechanism, max: 1 });
    try {
      for (let i = 0; i < 2; i++) {
        const seen = await pool.run((inst) => [inst.exports.g(), inst.exports.h(), inst.exports.m()]);
        assert.deepEqual(seen, [fresh.g(), fresh.h(), fresh.m()]);
      }
    } finally {
      await pool.close();
    }
  });
}

interface Counter {
  bump(by: number): number;
  read(): number;
  extra(): number;
}

/** A guest set up by many calls with arguments, which returns a pointer; `extra` is an export no host calls (dropped). */
const counter = wat(`(module (import "host" "seed" (func $seed (result i32))) (memory 1 4)
  (global $sp (mut i32) (i32.const 1024)) (global $calls (mut i32) (i32.const 0))
  (func (export "bump") (param $by i32) (result i32)
    (global.set $calls (i32.add (global.get $calls) (i32.const 1)))
    (i32.store (i32.const 2048) (i32.add (i32.load (i32.const 2048)) (local.get $by)))
    (i32.load (i32.const 2048)))
  (func (export "seed") (result i32) (i32.store (i32.const 4096) (call $seed)) (i32.const 4096))
  (func (export "read") (result i32) (i32.add (i32.load (i32.const 2048)) (i32.mul (global.get $calls) (i32.const 1000))))
  (func (export "extra") (result i32) (global.get $sp)))`);

/** The host's initialization of `counter`: three calls, the last returning where it put the seed. */
function counterInitializer(
  captured: (initialization: { result: { seedAt: number }; usedBytes: number }) => void,
  overrides: Partial<FunctionInitializer<{ seedAt: number }>> = {},
): FunctionInitializer<{ seedAt: number }> {
  return {
    kind: 'function',
    name: 'the counter initialization',
    imports: () => ({ host: { seed: () => 77 } }),
    run: (instance) => {
      const x = instance.exports as unknown as Counter & { seed(): number };
      x.bump(2);
      x.bump(3);
      return { seedAt: x.seed() };
    },
    keepExports: new Set(['bump', 'read', 'seed']),
    captured,
    ...overrides,
  };
}

test('a host function initializes with its own imports and many calls; uses start from its snapshot', async () => {
  let snapshot: { result: { seedAt: number }; usedBytes: number } | undefined;
  const options: InternalPoolOptions = {
    max: 1,
    // The uses' imports differ from initialization's (which seeded 77).
    imports: { host: { seed: () => 1 } },
    [INITIALIZER]: counterInitializer((s) => (snapshot = s), { headroom: { bytes: 3 * 65536, option: 'roomForUses' } }),
  };
  const pool = await InstancePool.create<Counter>(counter, options);
  try {
    assert.ok(snapshot);
    assert.deepEqual(snapshot.result, { seedAt: 4096 });
    assert.equal(snapshot.usedBytes, 4097, 'up to the seed, the last non-zero byte');
    const described = pool.describe();
    assert.equal(described.initialized, true);
    assert.equal(described.memory?.initialPages, 4, 'what was used and the headroom, in whole pages');
    for (let i = 0; i < 3; i++) {
      assert.equal(await pool.run((inst) => inst.exports.bump(10)), 15, 'every use starts from the snapshot');
      assert.equal(await pool.run((inst) => inst.exports.read()), 2005);
    }
    const exports = await pool.run((inst) => Object.keys(inst.exports).sort());
    const own = exports.filter((name) => !name.startsWith('cowpool:global:'));
    assert.deepEqual(own, ['bump', 'read', 'seed'], "only the kept exports, and the pool's own");
    assert.equal(await pool.run((_inst, _context, host) => host.memory?.buffer.byteLength), 4 * 65536);
  } finally {
    await pool.close();
  }
});

test('headroom past the maximum is refused with the numbers, and nothing stays open', async () => {
  const before = openMemfds();
  const options: InternalPoolOptions = {
    imports: { host: { seed: () => 1 } },
    [INITIALIZER]: counterInitializer(() => {}, { headroom: { bytes: 4 * 65536, option: 'roomForUses' } }),
  };
  await assert.rejects(InstancePool.create(counter, options), (err: unknown) => {
    assert.ok(err instanceof InvalidArgumentError, String(err));
    assert.equal(
      err.message,
      "roomForUses leaves no room: the memory can hold at most 262144 bytes (the module's maximum), " +
        'initialization left 4097 in use, and a use needs 262144 more for this roomForUses',
    );
    return true;
  });
  assert.equal(openMemfds(), before);
});

test("a host function's failures: a trap is typed and named, its own errors pass through; it excludes options.initialize", async () => {
  const trap = counterInitializer(() => {}, {
    run: () => {
      throw new WebAssembly.RuntimeError('unreachable');
    },
  });
  await assert.rejects(
    InstancePool.create(counter, { imports: { host: { seed: () => 1 } }, [INITIALIZER]: trap } as InternalPoolOptions),
    (err: unknown) => err instanceof GuestTrapError && /the counter initialization trapped: unreachable/.test(err.message),
  );
  const own = new TypeError('the host says no');
  const refusing = counterInitializer(() => {}, {
    run: () => {
      throw own;
    },
  });
  const refused: InternalPoolOptions = { imports: { host: { seed: () => 1 } }, [INITIALIZER]: refusing };
  await assert.rejects(InstancePool.create(counter, refused), (err) => err === own);
  await assert.rejects(
    InstancePool.create(counter, { initialize: 'bump', [INITIALIZER]: counterInitializer(() => {}) } as InternalPoolOptions),
    /options.initialize cannot be given to a pool that the counter initialization initializes/,
  );
});

test('a host function may wait: create awaits its promise (calls made after it are in the snapshot); createSync refuses it and closes what it opened', async () => {
  let snapshot: { result: { seedAt: number }; usedBytes: number } | undefined;
  const waiting = (failWith?: Error) =>
    counterInitializer((s) => (snapshot = s), {
      headroom: { bytes: 3 * 65536, option: 'roomForUses' },
      run: async (instance) => {
        const x = instance.exports as unknown as Counter & { seed(): number };
        x.bump(2);
        await new Promise((resolve) => setTimeout(resolve, 10));
        if (failWith) throw failWith;
        x.bump(3);
        return { seedAt: x.seed() };
      },
    });
  const pool = await InstancePool.create<Counter>(counter, {
    max: 1,
    imports: { host: { seed: () => 1 } },
    [INITIALIZER]: waiting(),
  } as InternalPoolOptions);
  try {
    assert.deepEqual(snapshot?.result, { seedAt: 4096 });
    assert.equal(await pool.run((inst) => inst.exports.bump(10)), 15, 'what ran after the wait is in the image');
  } finally {
    await pool.close();
  }
  const own = new TypeError('the host says no, later');
  await assert.rejects(
    InstancePool.create(counter, { imports: { host: { seed: () => 1 } }, [INITIALIZER]: waiting(own) } as InternalPoolOptions),
    (err) => err === own,
  );
  const before = openMemfds();
  assert.throws(
    () => InstancePool.createSync(counter, { imports: { host: { seed: () => 1 } }, [INITIALIZER]: waiting() } as InternalPoolOptions),
    (err: unknown) =>
      err instanceof InvalidArgumentError &&
      err.message === 'the counter initialization waited for a promise, which createSync cannot; use create',
  );
  assert.equal(openMemfds(), before);
});

test('the memory scan finds the first and last non-zero bytes and the page-aligned span, as a byte loop does', () => {
  const byByte = (bytes: Uint8Array) => ({ first: bytes.findIndex((b) => b !== 0), last: bytes.findLastIndex((b) => b !== 0) });
  fc.assert(
    fc.property(
      fc.integer({ min: 0, max: 20 * 4096 + 100 }),
      fc.array(fc.record({ at: fc.nat(), value: fc.integer({ min: 1, max: 255 }) }), { maxLength: 4 }),
      (length, writes) => {
        const bytes = new Uint8Array(length);
        for (const { at, value } of writes) if (length > 0) bytes[at % length] = value;
        const expected = byByte(bytes);
        const snap = memorySnapshot(bytes);
        assert.equal(snap.usedBytes, expected.last + 1, `${length} ${JSON.stringify(writes)}`);
        if (expected.first >= 0) assert.equal(snap.start, expected.first - (expected.first % 4096));
        // The runs hold every non-zero byte, and only blocks that have one.
        for (const { at } of writes)
          if (length > 0) assert.ok(snap.runs.some((r) => r.start <= (at % length) - snap.start && (at % length) - snap.start < r.end));
        for (const r of snap.runs) assert.ok(snap.bytes.subarray(r.start, r.end).some((b) => b !== 0));
        assert.equal(snap.start % 4096, 0);
        assert.equal(snap.bytes.length % 4096, 0);
        if (expected.first >= 0) {
          assert.ok(snap.start <= expected.first && expected.last < snap.start + snap.bytes.length);
          const inMemory = Math.min(snap.bytes.length, length - snap.start);
          assert.deepEqual(snap.bytes.subarray(0, inMemory), bytes.subarray(snap.start, snap.start + inMemory));
          assert.ok(
            snap.bytes.subarray(inMemory).every((b) => b === 0),
            'padding past the memory is zero',
          );
        } else assert.equal(snap.bytes.length, 0);
      },
    ),
    { numRuns: 300 },
  );
});

test("the kernel's candidates (PAGEMAP_SCAN) leave out only zero pages: a snapshot finds the same data with them as without", (t) => {
  const memory = new WebAssembly.Memory({ initial: 64 });
  const candidates = candidateRanges(memory.buffer);
  if (candidates === undefined) return t.skip('PAGEMAP_SCAN with the zero-page category is unavailable here');
  const bytes = new Uint8Array(memory.buffer);
  // Written, written with zeros, only read, untouched: only written pages can be candidates.
  bytes[3 * 4096 + 5] = 1;
  bytes.fill(0, 9 * 4096, 11 * 4096);
  bytes[20 * 4096] = 7;
  let sink = 0;
  for (let page = 30; page < 40; page++) sink += bytes[page * 4096]!;
  assert.equal(sink, 0);
  const scanned = candidateRanges(memory.buffer)!;
  assert.deepEqual(dataRuns(bytes, scanned), dataRuns(bytes));
  assert.deepEqual(dataRuns(bytes), [
    { start: 3 * 4096, end: 4 * 4096 },
    { start: 20 * 4096, end: 21 * 4096 },
  ]);
  // Where a read maps the shared zero page; elsewhere it makes a private page, a candidate that compares as zero.
  if (kernelBehaviour().zeroPage === true) {
    assert.ok(!scanned.some((r) => r.start <= 35 * 4096 && 35 * 4096 < r.end), 'a page only read is no candidate');
  }
  assert.deepEqual(memorySnapshot(bytes, scanned), memorySnapshot(bytes));
});
