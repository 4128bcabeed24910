// Real npm packages with JavaScript glue, pooled with it: an embind package (vscode-oniguruma),
// wasm-bindgen packages (brotli-wasm, @resvg/resvg-wasm) and hash-wasm's own loader. Each use must
// answer what a fresh glue on a fresh instance answers, use after use, whatever the previous use did.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import fc from 'fast-check';
import { GluePool } from '../src/glue/index.ts';
import { brotliGlue, onigurumaGlue, resvgGlue } from './support/glue.ts';
import { sha256Glue } from './support/hash-wasm.ts';

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Api = any;

test('vscode-oniguruma (embind): matches are correct use after use', async () => {
  const pool = await GluePool.create<Api>({
    ...onigurumaGlue(),
    pool: { max: 1 },
  });
  // Leaves a scanner and a string undisposed, as a careless use would.
  const firstMatch = (patterns: string[], text: string) => (onig: Api) => {
    const scanner = onig.createOnigScanner(patterns);
    const match = scanner.findNextMatchSync(onig.createOnigString(text), 0);
    return match && { index: match.index, captures: match.captureIndices.map((c: Api) => [c.start, c.end]) };
  };
  const word = fc.stringMatching(/^[a-z0-9 ]{0,40}$/);
  try {
    await fc.assert(
      fc.asyncProperty(word, async (text) => {
        const patterns = ['[0-9]+', '([a-z])\\1'];
        const pooled = await pool.run(firstMatch(patterns, text));
        assert.deepEqual(pooled, await pool.runFresh(firstMatch(patterns, text)));
        // Cross-check with JS regular expressions, which agree for these ASCII patterns.
        const found = patterns
          .map((p, index) => ({ index, m: new RegExp(p).exec(text) }))
          .filter((x) => x.m !== null)
          .sort((a, b) => a.m!.index - b.m!.index || a.index - b.index)[0];
        assert.equal(pooled?.index ?? null, found?.index ?? null);
        if (found) assert.deepEqual(pooled.captures[0], [found.m!.index, found.m!.index + found.m![0].length]);
      }),
      { numRuns: 40 },
    );
    assert.equal(pool.stats().created, 1);
  } finally {
    await pool.close();
  }
});

test('vscode-oniguruma: concurrent uses on two instances, interleaved across awaits, each match alone', async () => {
  const pool = await GluePool.create<Api>({
    ...onigurumaGlue(),
    pool: { max: 2 },
  });
  try {
    const texts = Array.from({ length: 10 }, (_, i) => `${'x'.repeat(i)}${i}${i}`);
    const found = await Promise.all(
      texts.map((text, i) =>
        pool.run(async (onig) => {
          const scanner = onig.createOnigScanner(['[0-9]+']);
          await new Promise((resolve) => setTimeout(resolve, i % 3)); // another use runs meanwhile
          const match = scanner.findNextMatchSync(onig.createOnigString(text), 0);
          return [match.captureIndices[0].start, match.captureIndices[0].end];
        }),
      ),
    );
    assert.deepEqual(
      found,
      texts.map((_, i) => [i, i + 2]),
    );
    assert.equal(pool.stats().created, 2);
  } finally {
    await pool.close();
  }
});

test('brotli-wasm (wasm-bindgen, nodejs target): round trips equal a fresh glue', async () => {
  const pool = await GluePool.create<Api>({
    ...brotliGlue(),
    pool: { max: 1 },
  });
  try {
    await fc.assert(
      fc.asyncProperty(fc.uint8Array({ maxLength: 2000 }), async (data) => {
        const pooled = await pool.run((b) => {
          const packed = b.compress(data);
          return { packed, unpacked: b.decompress(packed) };
        });
        assert.deepEqual(pooled.unpacked, data);
        assert.deepEqual(pooled.packed, await pool.runFresh((b) => b.compress(data)));
      }),
      { numRuns: 15 },
    );
  } finally {
    await pool.close();
  }
});

test('@resvg/resvg-wasm (wasm-bindgen, "initWasm once" glue): renders equal a fresh glue, every use', async () => {
  const pool = await GluePool.create<Api>({
    ...resvgGlue(), // initWasm throws "Already initialized" on a kept glue
    pool: { max: 1 },
  });
  const render = (size: number, colour: string) => (resvg: Api) => {
    const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="${size}" height="${size}"><circle cx="${size / 2}" cy="${size / 2}" r="${size / 3}" fill="${colour}"/></svg>`;
    const image = new resvg.Resvg(svg).render();
    return { width: image.width, height: image.height, png: image.asPng() as Uint8Array };
  };
  try {
    for (const [size, colour] of [
      [8, 'red'],
      [16, 'blue'],
      [8, 'red'],
      [5, 'green'],
    ] as const) {
      const pooled = await pool.run(render(size, colour));
      assert.equal(pooled.width, size);
      assert.deepEqual(pooled, await pool.runFresh(render(size, colour)));
    }
  } finally {
    await pool.close();
  }
});

test("a finished use's wasm-bindgen finalizers do not reach the next use", async () => {
  setFlagsFromString('--expose-gc');
  const gc = runInNewContext('gc') as () => void;
  const pool = await GluePool.create<Api>({
    ...resvgGlue(),
    pool: { max: 1 },
  });
  const svg = '<svg xmlns="http://www.w3.org/2000/svg" width="4" height="4"/>';
  const uncaught: unknown[] = [];
  const record = (err: unknown) => uncaught.push(err);
  process.on('uncaughtException', record);
  try {
    // Objects the use never freed, from glues kept reachable (so their registries run cleanups
    // after the use): the cleanups must not free memory that now belongs to another use.
    const kept: Api[] = [];
    for (let i = 0; i < 5; i++) {
      await pool.run((resvg) => {
        kept.push(resvg);
        for (let j = 0; j < 10; j++) new resvg.Resvg(svg).render();
      });
    }
    for (let i = 0; i < 3; i++) {
      gc();
      await new Promise((resolve) => setTimeout(resolve, 10));
      assert.equal(await pool.run((resvg) => new resvg.Resvg(svg).render().width), 4);
    }
    assert.deepEqual(uncaught, []);
    assert.equal(kept.length, 5);
  } finally {
    process.off('uncaughtException', record);
    await pool.close();
  }
});

test('hash-wasm: a hasher per use, left mid-update or not, hashes like node:crypto', async () => {
  const pool = await GluePool.create<Api>({
    ...sha256Glue(),
    pool: { max: 1 },
  });
  try {
    await fc.assert(
      fc.asyncProperty(fc.uint8Array({ maxLength: 500 }), fc.boolean(), async (data, abandon) => {
        if (abandon) await pool.run((hasher) => hasher.init().update(data)); // never digested
        const digest = await pool.run((hasher) => hasher.init().update(data).digest());
        assert.equal(digest, createHash('sha256').update(data).digest('hex'));
      }),
      { numRuns: 30 },
    );
  } finally {
    await pool.close();
  }
});
