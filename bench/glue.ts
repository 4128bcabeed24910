/**
 * Packages with JavaScript glue (cowpool/glue): each use on a fresh glue and a fresh instance (what
 * being pristine costs without cowpool: `runFresh`, the compiled module cached) against
 * `GluePool.run` (the glue evaluated afresh on a pooled, reset instance), measured in turns; a
 * package with a recipe (`tuned`: sql.js's reuse + tableReserve) gets a third row. `GLUE_CASE=sql`
 * (a prefix of the group) runs one package only.
 */
import { GluePool, type GluePoolOptions } from '../src/glue/index.ts';
import { brotliGlue, onigurumaGlue, resvgGlue, sqljsGlue } from '../test/support/glue.ts';
import { sha256Glue } from '../test/support/hash-wasm.ts';
import { interleaved, measureAsync, type Contender, type Measurement } from './measure.ts';

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Api = any;

interface Case {
  group: string;
  options: GluePoolOptions<Api>;
  use: (api: Api) => unknown;
  /** Its allocator grows memory on every use: also measured with `virtualMemorySize` + `initialMemory: 'learn'`. */
  grows?: boolean;
  /** Also measured pooled with these pool options (a row of its own, named by `label`). */
  tuned?: { label: string; pool: NonNullable<GluePoolOptions<Api>['pool']> };
}

const svg = '<svg xmlns="http://www.w3.org/2000/svg" width="64" height="64"><circle cx="32" cy="32" r="20" fill="teal"/></svg>';
const text = new TextEncoder().encode('cowpool gives every request a fresh instance. '.repeat(40));
const input = Buffer.alloc(4096, 7);

const allCases: Case[] = [
  {
    group: "sql.js (emscripten): ATTACH '/shared.db', create, insert, count",
    options: sqljsGlue(),
    use: (SQL) => {
      const db = new SQL.Database();
      const n = db.exec("ATTACH '/shared.db' AS s; CREATE TABLE s.t(x); INSERT INTO s.t VALUES (1); SELECT count(*) FROM s.t")[0]
        .values[0][0];
      db.close();
      return n;
    },
    // The sql.js recipe: its exported table grows only from JS (addFunction), so room for it makes
    // reuse possible; reuse is forced over the cost rule (537 entries to restore, ~35 us).
    tuned: { label: 'GluePool.run, reuse + tableReserve 16', pool: { mechanism: 'reuse', tableReserve: 16 } },
  },
  {
    group: 'vscode-oniguruma (embind): one scanner, one match',
    options: onigurumaGlue(),
    use: (onig) => onig.createOnigScanner(['[0-9]+', '([a-z])\\1']).findNextMatchSync(onig.createOnigString('cowpool 2026 aab'), 0).index,
  },
  {
    group: 'brotli-wasm (wasm-bindgen): compress and decompress 1.8 KiB',
    options: brotliGlue(),
    use: (brotli) => brotli.decompress(brotli.compress(text)).length,
    grows: true,
  },
  {
    group: '@resvg/resvg-wasm (wasm-bindgen): render a 64x64 SVG to PNG',
    options: resvgGlue(),
    use: (resvg) => new resvg.Resvg(svg).render().asPng().length,
    grows: true,
  },
  {
    group: 'hash-wasm (its own loader): createSHA256 and hash 4 KiB',
    options: sha256Glue(),
    use: (hasher) => hasher.init().update(input).digest(),
  },
];
const cases = allCases.filter((c) => !process.env.GLUE_CASE || c.group.startsWith(process.env.GLUE_CASE));

/**
 * Adds the process CPU time per operation (`cpuUsPerOp`, warm-up included): on a shared 2-core
 * machine wall time also counts the neighbours, CPU time much less so.
 */
async function withCpu(batch: number, run: () => Promise<Measurement>): Promise<Measurement> {
  const before = process.cpuUsage();
  const m = await run();
  const used = process.cpuUsage(before);
  const operations = m.operations + 2 * batch; // measureAsync warms up with two batches
  m.extra = { cpuUsPerOp: Math.round((used.user + used.system) / operations) };
  return m;
}

function collect(): void {
  (globalThis as { gc?: () => void }).gc?.();
}

/** A package whose allocator grows every use, pooled with room for it and the guest's size virtualized. */
async function grownCase(c: Case, options: { batch: number; batches: number; budgetMs: number }, warmUp: number): Promise<Measurement> {
  const pool = await GluePool.create<Api>({ ...c.options, pool: { max: 1, initialMemory: 'learn', virtualMemorySize: true } });
  for (let i = 0; i < warmUp; i++) await pool.run(c.use);
  collect();
  const before = pool.stats();
  const m = await withCpu(options.batch, () =>
    measureAsync(c.group, 'GluePool.run, virtualMemorySize + learn', () => pool.run(c.use), options),
  );
  const after = pool.stats();
  m.extra = {
    ...m.extra,
    retiredPerUse: ((after.retirements - before.retirements) / (after.uses - before.uses)).toFixed(2),
    learnedPages: pool.describe().memory?.initialPages ?? 0,
  };
  await pool.close();
  return m;
}

/** Runs the glue benchmark. */
export async function benchGlue(quick: boolean): Promise<Measurement[]> {
  const options = quick ? { batch: 10, batches: 5, budgetMs: 800 } : { batch: 20, batches: 15, budgetMs: 4000 };
  const warmUp = quick ? 20 : 150;
  const results: Measurement[] = [];
  for (const c of cases) {
    const pool = await GluePool.create<Api>({ ...c.options, pool: { max: 1 } });
    const tuned = c.tuned ? await GluePool.create<Api>({ ...c.options, pool: { max: 1, ...c.tuned.pool } }) : undefined;
    const contenders: Contender[] = [
      { name: 'fresh glue + new Instance', op: () => pool.runFresh(c.use) },
      { name: 'GluePool.run', op: () => pool.run(c.use) },
      ...(tuned && c.tuned ? [{ name: c.tuned.label, op: () => tuned.run(c.use) }] : []),
    ];
    // All contenders warmed up first: the pooled module is a rewritten one, tiered up by V8 apart
    // from the fresh one, and measuring one of them while another warms would compare tiers.
    for (let i = 0; i < warmUp; i++) for (const contender of contenders) await contender.op();
    collect();
    const before = [pool.stats(), tuned?.stats()];
    const measured = await interleaved(c.group, contenders, options);
    const pooledPools = [pool, tuned];
    for (const [i, p] of pooledPools.entries()) {
      const m = measured[i + 1];
      const was = before[i];
      if (p === undefined || m === undefined || was === undefined) continue;
      const now = p.stats();
      m.extra = {
        ...m.extra,
        mechanism: p.describe().mechanism,
        retiredPerUse: ((now.retirements - was.retirements) / (now.uses - was.uses)).toFixed(2),
      };
    }
    results.push(...measured);
    await pool.close();
    await tuned?.close();
    if (c.grows) results.push(await grownCase(c, options, warmUp));
  }
  return results;
}
