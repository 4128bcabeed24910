/**
 * One contender of `bench/sqlite.ts`'s database case, in its own process so that its RSS is its
 * own: `node --expose-gc --import tsx bench/sqlite-database.ts <mode> <database> <uses>` runs
 * `uses` uses, each a point update and a select of the same row, and prints JSON: the median time
 * per use over batches, the CPU time per use, and RSS (after the uses, and the peak).
 *
 * - `sandbox-statements`: `SqliteSandbox({ database })`, each use `batchSync` of two prepared statements;
 * - `sandbox-exec`: the same sandbox, each use `execSync` of the two statements' SQL;
 * - `sqljs-load`: sql.js, each use loading the database afresh (`new SQL.Database(bytes)`), as a
 *   pristine use costs without cowpool;
 * - `sqljs-shared`: sql.js, one database for every use (prepared statements): the fastest, and each
 *   use sees what the ones before wrote.
 */
import { readFileSync } from 'node:fs';
import { SqliteSandbox } from '../src/sqlite/index.ts';
import { loadSqlJs } from '../test/support/sqljs.ts';

const UPDATE = 'UPDATE items SET n = n + 1 WHERE id = ?';
const SELECT = 'SELECT * FROM items WHERE id = ?';

const [mode, path, usesText, rowsText] = process.argv.slice(2);
const uses = Number(usesText);
const rows = Number(rowsText);

/** RSS now and at its peak, in bytes. */
function rss(): { rss: number; peak: number } {
  (globalThis as { gc?: () => void }).gc?.();
  const status = readFileSync('/proc/self/status', 'utf8');
  const kib = (field: string) => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? NaN) * 1024;
  return { rss: kib('VmRSS'), peak: kib('VmHWM') };
}

/** The row a use touches: spread over the table, the same sequence for every contender. */
const rowOf = (i: number) => 1 + ((i * 7919) % rows);

let op: (i: number) => unknown;
let close = (): unknown => undefined;
const bytes = new Uint8Array(readFileSync(path!));
const t0 = performance.now();
if (mode === 'sandbox-statements' || mode === 'sandbox-exec') {
  const db = await SqliteSandbox.create({ database: bytes, statements: { update: UPDATE, select: SELECT }, max: 1 });
  op =
    mode === 'sandbox-statements'
      ? (i) =>
          db.batchSync([
            { statement: 'update', params: [rowOf(i)] },
            { statement: 'select', params: [rowOf(i)] },
          ])
      : (i) => db.execSync(`${UPDATE}; ${SELECT}`, [rowOf(i)]);
  close = () => db.close();
} else if (mode === 'sqljs-load' || mode === 'sqljs-shared') {
  const SQL = await loadSqlJs();
  if (mode === 'sqljs-load') {
    op = (i) => {
      const db = new SQL.Database(bytes);
      db.run(UPDATE, [rowOf(i)]);
      const result = db.exec(SELECT, [rowOf(i)]);
      db.close();
      return result;
    };
  } else {
    // eslint-disable-next-line @typescript-eslint/no-explicit-any -- sql.js's Statement, untyped
    const db = new SQL.Database(bytes) as any;
    const update = db.prepare(UPDATE);
    const select = db.prepare(SELECT);
    op = (i) => {
      update.run([rowOf(i)]);
      select.bind([rowOf(i)]);
      select.step();
      const row = select.get();
      select.reset();
      return row;
    };
  }
} else {
  throw new Error(`unknown mode ${mode}`);
}
const setupMs = performance.now() - t0;
const batch = Math.max(1, Math.floor(uses / 10));
for (let i = 0; i < batch; i++) op(i);
const perUse: number[] = [];
const cpu0 = process.cpuUsage();
for (let done = 0; done < uses; done += batch) {
  const start = process.hrtime.bigint();
  for (let k = 0; k < batch; k++) op(done + k);
  perUse.push(Number(process.hrtime.bigint() - start) / batch);
}
const cpu = process.cpuUsage(cpu0);
const memory = rss();
await close();
perUse.sort((a, b) => a - b);
console.log(
  JSON.stringify({
    mode,
    nsPerOp: perUse[Math.floor(perUse.length / 2)],
    minNsPerOp: perUse[0],
    maxNsPerOp: perUse[perUse.length - 1],
    operations: batch * perUse.length,
    cpuUsPerOp: Math.round((cpu.user + cpu.system) / (batch * perUse.length)),
    setupMs: Math.round(setupMs),
    rssMiB: Math.round(memory.rss / 2 ** 20),
    peakRssMiB: Math.round(memory.peak / 2 ** 20),
  }),
);
