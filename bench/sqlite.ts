/**
 * cowpool/sqlite against sql.js, in three groups:
 *
 * - a small use, the same SQL per use for every contender, each use on a pristine database: sql.js
 *   fresh (its glue evaluated afresh on a new instance, the compiled module cached:
 *   `GluePool.runFresh`, what a pristine use costs without cowpool), sql.js pooled through
 *   cowpool/glue (default, and its recipe reuse + tableReserve), and `SqliteSandbox.execSync`
 *   (sql.js's wasm hosted without its glue). Contenders run batch by batch in turns, each charged
 *   the process CPU time of its own batches; then the sandbox once more, alone;
 * - an existing database of 100 MiB (8 MiB with `--quick`), a point update and a select of the
 *   same row per use: the sandbox over it (prepared statements, and the same SQL through `exec`)
 *   against sql.js loading the database per use (`new SQL.Database(bytes)`) and against one shared
 *   sql.js database that every use writes to. Each contender runs in its own process
 *   (`sqlite-database.ts`), so that its RSS (after its uses, and the peak) is its own;
 * - a prepared statement against the same SQL through `exec`, on a small database.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GluePool } from '../src/glue/index.ts';
import { SqliteSandbox } from '../src/sqlite/index.ts';
import { sqljsGlue } from '../test/support/glue.ts';
import { loadSqlJs } from '../test/support/sqljs.ts';
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
  results.push(...(await benchDatabase(quick)));
  results.push(...(await benchStatements(quick)));
  return results;
}

/** Rows of about 230 bytes: this many make a MiB of database file. */
const ROWS_PER_MIB = 4600;

/** A database file of about `mib` MiB (one table of `rows` rows), made once per machine with sql.js. */
async function databaseFile(mib: number): Promise<{ path: string; rows: number }> {
  const rows = mib * ROWS_PER_MIB;
  const path = join(tmpdir(), `cowpool-bench-${mib}mib.db`);
  if (!existsSync(path)) {
    const SQL = await loadSqlJs();
    const db = new SQL.Database();
    db.exec(
      'CREATE TABLE items(id INTEGER PRIMARY KEY, name TEXT, n INTEGER, payload TEXT); BEGIN; ' +
        `WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM c LIMIT ${rows}) ` +
        "INSERT INTO items SELECT i, 'item ' || i, i % 1000, hex(randomblob(100)) FROM c; COMMIT",
    );
    writeFileSync(path, db.export());
    db.close();
  }
  return { path, rows };
}

/** The existing-database group; see the module comment. */
async function benchDatabase(quick: boolean): Promise<Measurement[]> {
  const mib = quick ? 8 : 100;
  const { path, rows } = await databaseFile(mib);
  const group = `sqlite: a ${mib} MiB database, a point update and a select per use`;
  const modes: [string, string, number][] = [
    ['sqljs-load', 'sql.js: new SQL.Database(bytes) per use', quick ? 5 : 30],
    ['sqljs-shared', 'sql.js: one shared database (leaks)', quick ? 200 : 5000],
    ['sandbox-statements', 'SqliteSandbox.batchSync, statements', quick ? 200 : 5000],
    ['sandbox-exec', 'SqliteSandbox.execSync', quick ? 200 : 5000],
  ];
  const script = new URL('./sqlite-database.ts', import.meta.url).pathname;
  return modes.map(([mode, name, uses]) => {
    const out = execFileSync(process.execPath, ['--expose-gc', '--import', 'tsx', script, mode, path, String(uses), String(rows)], {
      encoding: 'utf8',
      maxBuffer: 1 << 20,
    });
    const r = JSON.parse(out.trim().split('\n').pop()!) as Record<string, number>;
    return {
      group,
      name,
      nsPerOp: r.nsPerOp!,
      minNsPerOp: r.minNsPerOp!,
      maxNsPerOp: r.maxNsPerOp!,
      operations: r.operations!,
      extra: { cpuUsPerOp: r.cpuUsPerOp!, rssMiB: r.rssMiB!, peakRssMiB: r.peakRssMiB!, setupMs: r.setupMs! },
    };
  });
}

/** A prepared statement against the same SQL through `exec`, both on a pristine database per use. */
async function benchStatements(quick: boolean): Promise<Measurement[]> {
  const options = quick ? { batch: 10, batches: 5, budgetMs: 800 } : { batch: 50, batches: 15, budgetMs: 6000 };
  const select = 'SELECT id, name, n FROM items WHERE id = ?';
  const db = await SqliteSandbox.create({
    setup:
      'CREATE TABLE items(id INTEGER PRIMARY KEY, name TEXT, n INTEGER); ' +
      "WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM c LIMIT 10000) INSERT INTO items SELECT i, 'item ' || i, i FROM c",
    statements: { select },
    max: 1,
  });
  let i = 0;
  const contenders: Contender[] = [
    { name: 'SqliteSandbox.execSync', op: () => db.execSync(select, [1 + (i++ % 10000)]) },
    { name: 'SqliteSandbox.querySync, prepared', op: () => db.querySync('select', [1 + (i++ % 10000)]) },
  ];
  for (let k = 0; k < (quick ? 20 : 200); k++) for (const c of contenders) c.op();
  const results = await interleaved(`sqlite: ${select}, prepared against exec`, contenders, options);
  await db.close();
  return results;
}
