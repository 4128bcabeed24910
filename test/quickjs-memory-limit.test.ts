/**
 * QuickJS's `memoryLimit` bounds bytes, not allocations: every block counts its allocator chunk
 * (`src/quickjs/heap-accounting.ts`). Hostile scripts (many small strings, arrays, objects, 10 KB
 * strings, one big string, typed arrays) are stopped at about a use's own limit, far below the
 * sandbox's, with a `GuestMemoryLimitError`; the next use is pristine; a use that allocates and
 * frees far more than its limit in total is not stopped (frees and reallocations are counted
 * back).
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { GuestMemoryLimitError, QuickJSError, QuickJSSandbox } from '../src/quickjs/index.ts';

const MIB = 2 ** 20;
const LIMIT = MIB;

/** Hostile scripts: `body` allocates one item of about `bytes` bytes of payload, `n` counts them. */
const STORMS: Record<string, { body: string; bytes: number; share?: number }> = {
  'many small strings': { body: 'a.push("s" + n)', bytes: 2 },
  'many arrays': { body: 'a.push([n, n, n])', bytes: 24 },
  'many objects': { body: 'a.push({ n, m: n })', bytes: 16 },
  'strings of 10 KB': { body: 'a.push("x".repeat(10_000) + n)', bytes: 10_000, share: 0.6 },
  'typed arrays of 4 KiB': { body: 'a.push(new Uint8Array(4096))', bytes: 4096, share: 0.6 },
  'one string grown by appending': { body: 'a[0] = (a[0] ?? "") + "xxxxxxxxxxxxxxxx"; a[1] = 0', bytes: 16, share: 0.3 },
  'one string made larger each time': { body: 'a[0] = "x".repeat(1024 * (n + 1))', bytes: 1024, share: 0.3 },
};

/** Runs `body` until it throws; the script's own count of what it held (then dropped). */
const counting = (body: string) => `const a = []; let n = 0; try { for (;;) { ${body}; n++ } } catch (e) { a.length = 0; [n, String(e)] }`;
const uncaught = (body: string) => `globalThis.leak = []; const a = globalThis.leak; let n = 0; for (;;) { ${body}; n++ }`;

let sandbox: QuickJSSandbox;

before(async () => {
  sandbox = await QuickJSSandbox.create({ memoryLimit: 16 * MIB, timeout: 20_000, max: 1 });
});

after(async () => {
  await sandbox.close();
});

describe('a use is stopped at about its own memoryLimit', () => {
  for (const [name, storm] of Object.entries(STORMS)) {
    test(`${name}: GuestMemoryLimitError at the use's limit, and the next use is pristine`, async () => {
      const before = sandbox.stats();
      await assert.rejects(sandbox.eval(uncaught(storm.body), { memoryLimit: LIMIT }), (err: unknown) => {
        assert.ok(err instanceof GuestMemoryLimitError, String(err));
        assert.equal(err.limitBytes, LIMIT);
        return true;
      });
      assert.equal(await sandbox.eval('typeof leak'), 'undefined', 'the next use is pristine');
      assert.equal(sandbox.evalSync('1 + 2'), 3);
      const stats = sandbox.stats();
      assert.equal(stats.memoryLimits, before.memoryLimits + 1);
      assert.equal(stats.pool.retirements, 0, 'the memory never grew');

      // Caught by the script: how much it held when the limit stopped it.
      const [count, error] = sandbox.evalSync<[number, string]>(counting(storm.body), { memoryLimit: LIMIT });
      assert.match(error, /out of memory|null/);
      const held = count * storm.bytes;
      assert.ok(held <= LIMIT, `${count} items of ${storm.bytes} bytes: ${held} bytes under a limit of ${LIMIT}`);
      if (storm.share !== undefined) assert.ok(held >= storm.share * LIMIT, `only ${held} bytes held under a limit of ${LIMIT}`);
    });
  }

  test('what a use can hold follows its limit, not the sandbox’s', () => {
    const held = (limit: number) =>
      sandbox.evalSync<[number, string]>(counting(STORMS['strings of 10 KB']!.body), { memoryLimit: limit })[0];
    const one = held(MIB);
    const four = held(4 * MIB);
    const whole = held(16 * MIB);
    assert.ok(four > 3.5 * one && four < 4.5 * one + 10, `1 MiB: ${one} strings, 4 MiB: ${four}`);
    assert.ok(whole > 3.5 * four, `4 MiB: ${four} strings, 16 MiB: ${whole}`);
  });

  test('the pages a storm writes are about its limit, not the whole memory', async () => {
    // A fresh sandbox: pages restored in place stay private, and a reset scans them again.
    const fresh = await QuickJSSandbox.create({ memoryLimit: 16 * MIB, timeout: 20_000, max: 1 });
    try {
      fresh.evalSync('1');
      const before = fresh.stats().pool;
      assert.throws(() => fresh.evalSync(uncaught('a.push("x".repeat(1000) + n)'), { memoryLimit: LIMIT }), GuestMemoryLimitError);
      const stats = fresh.stats().pool;
      if (stats.resets.pagemap === before.resets.pagemap) return; // no PAGEMAP_SCAN here: no page count
      const pages = stats.dirtyPages - before.dirtyPages;
      assert.ok(pages * 4096 < 1.5 * LIMIT, `${pages} pages written under a limit of ${LIMIT} bytes`);
    } finally {
      await fresh.close();
    }
  });
});

describe('what is freed is counted back', () => {
  test('a use that allocates and frees a hundred times its limit is not stopped', () => {
    const churn = `
      let total = 0;
      for (let i = 0; i < 2000; i++) {
        let s = '';
        for (let j = 0; j < 40; j++) s += 'x'.repeat(50);
        const arr = [];
        for (let j = 0; j < 50; j++) arr.push({ j, t: [j] });
        const buf = new Uint8Array(8192);
        const m = new Map(arr.map((o) => [o.j, o]));
        total += s.length + arr.length + buf.length + m.size;
      }
      total`;
    assert.equal(sandbox.evalSync(churn, { memoryLimit: LIMIT }), 2000 * (2000 + 50 + 8192 + 50));
  });

  test('after churn, the limit stops a storm where it stops one without churn', () => {
    const storm = counting(STORMS['strings of 10 KB']!.body);
    const fresh = sandbox.evalSync<[number, string]>(storm, { memoryLimit: LIMIT })[0];
    const churned = sandbox.evalSync<[number, string]>(
      `for (let i = 0; i < 500; i++) { let s = ''; for (let j = 0; j < 100; j++) s += 'y'.repeat(40); [s, {}, [1, 2]] } ${storm}`,
      { memoryLimit: LIMIT },
    )[0];
    assert.ok(Math.abs(churned - fresh) <= 2, `${fresh} strings without churn, ${churned} after`);
  });

  test('cyclic garbage is collected before the limit ends a use that keeps little', () => {
    const cycles = 'for (let i = 0; i < 200_000; i++) { const o = { i }; o.self = o } "done"';
    assert.equal(sandbox.evalSync(cycles, { memoryLimit: LIMIT }), 'done');
  });

  test('a script that catches its out-of-memory error and goes on succeeds', () => {
    const code = 'let caught = false; try { "x".repeat(64 * 1024 * 1024) } catch (e) { caught = e instanceof InternalError } caught';
    assert.equal(sandbox.evalSync(code, { memoryLimit: LIMIT }), true);
  });

  test('a script that throws its own error after an out-of-memory error is the script’s exception', () => {
    const code = 'try { "x".repeat(64 * 1024 * 1024) } catch { throw new TypeError("mine") }';
    assert.throws(
      () => sandbox.evalSync(code, { memoryLimit: LIMIT }),
      (err: unknown) => err instanceof QuickJSError && err.guestName === 'TypeError',
    );
  });
});

describe('the setup script', () => {
  test('what the setup script holds counts toward every use’s limit', async () => {
    const heavy = await QuickJSSandbox.create({ setup: 'globalThis.kept = "k".repeat(3 * 1024 * 1024)', memoryLimit: 8 * MIB, max: 1 });
    try {
      assert.throws(() => heavy.evalSync('"x".repeat(2 * 1024 * 1024).length', { memoryLimit: 4 * MIB }), GuestMemoryLimitError);
      assert.equal(heavy.evalSync('"x".repeat(2 * 1024 * 1024).length', { memoryLimit: 8 * MIB }), 2 * MIB);
      assert.equal(heavy.evalSync('kept.length'), 3 * MIB);
    } finally {
      await heavy.close();
    }
  });

  test('an out-of-memory error the setup script caught does not make a use’s exception a memory limit', async () => {
    const setup = 'try { "x".repeat(16 * 1024 * 1024) } catch (e) { globalThis.error = String(e) } 0';
    const caught = await QuickJSSandbox.create({ setup, memoryLimit: 8 * MIB, max: 1 });
    try {
      assert.equal(caught.evalSync('error'), 'InternalError: out of memory');
      assert.throws(
        () => caught.evalSync('throw null'),
        (err: unknown) => err instanceof QuickJSError && err.message === 'Thrown: null',
      );
    } finally {
      await caught.close();
    }
  });

  test('a setup script runs under the sandbox’s memoryLimit', async () => {
    await assert.rejects(
      QuickJSSandbox.create({ setup: 'globalThis.kept = []; for (;;) kept.push("x".repeat(1000))', memoryLimit: 4 * MIB }),
      (err: unknown) => err instanceof GuestMemoryLimitError && err.limitBytes === 4 * MIB,
    );
  });
});
