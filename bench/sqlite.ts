/**
 * cowpool/sqlite against sql.js: the same SQL per use for every contender, each use on a pristine
 * database. sql.js fresh (its glue evaluated afresh on a new instance, the compiled module cached:
 * `GluePool.runFresh`, what a pristine use costs without cowpool), sql.js pooled through
 * cowpool/glue (default, and its recipe reuse + tableReserve), and `SqliteSandbox.execSync` (sql.js's
 * wasm hosted without its glue). Contenders run batch by batch in turns, each charged the process
 * CPU time of its own batches; then the sandbox once more, alone.
 */
import { GluePool } from '../src/glue/index.ts';
import { SqliteSandbox } from '../src/sqlite/index.ts';
import { sqljsGlue } from '../test/support/glue.ts';
import { interleaved, summarize, type Contender, type Measurement } from './measure.ts';

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Api = any;

const SQL = "ATTACH ':memory:' AS s; CREATE TABLE s.t(x); INSERT INTO s.t VALUES (1); SELECT count(*) FROM s.t";
const GROUP = `sqlite: ${SQL}`;

/** Runs the SQLite benchmark. */
export async function benchSqlite(quick: boolean): Promise<Measurement[]> {
  const options = quick ? { batch: 10, batches: 5, budgetMs: 800 } : { batch: 20, batches: 15, budgetMs: 6000 };
  const warmUp = quick ? 20 : 150;
  const glue = sqljsGlue();
  const use = (api: Api): unknown => {
    const db = new api.Database();
    const n = db.exec(SQL)[0].values[0][0];
    db.close();
    return n;
  };
  const pool = await GluePool.create<Api>({ ...glue, pool: { max: 1 } });
  const tuned = await GluePool.create<Api>({ ...glue, pool: { max: 1, mechanism: 'reuse', tableReserve: 16 } });
  const sandbox = await SqliteSandbox.create({ max: 1 });
  const contenders: Contender[] = [
    { name: 'sql.js: fresh glue + new Instance', op: () => pool.runFresh(use) },
    { name: 'sql.js: GluePool.run', op: () => pool.run(use) },
    { name: 'sql.js: GluePool.run, reuse + tableReserve', op: () => tuned.run(use) },
    { name: 'SqliteSandbox.execSync', op: () => sandbox.execSync(SQL)[0]!.values[0]![0] },
  ];
  for (let i = 0; i < warmUp; i++) for (const c of contenders) await c.op();
  (globalThis as { gc?: () => void }).gc?.();
  const results = await interleaved(GROUP, contenders, options);
  await pool.close();
  await tuned.close();
  // Alone in the process: interleaved with the glue, its wasm shares caches and the GC with theirs.
  const perBatch: number[] = [];
  const cpu0 = process.cpuUsage();
  for (let b = 0; b < options.batches * 5; b++) {
    const t0 = process.hrtime.bigint();
    for (let k = 0; k < options.batch; k++) sandbox.execSync(SQL);
    perBatch.push(Number(process.hrtime.bigint() - t0) / options.batch);
  }
  const used = process.cpuUsage(cpu0);
  const alone = summarize(GROUP, 'SqliteSandbox.execSync, alone', perBatch, options.batch);
  alone.extra = { cpuUsPerOp: Math.round((used.user + used.system) / alone.operations) };
  results.push(alone);
  await sandbox.close();
  return results;
}
