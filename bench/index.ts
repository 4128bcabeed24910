/**
 * `npm run bench`: cowpool's benchmarks, one entry point. Writes bench/results/latest.json and a
 * self-contained bench/results/latest.html, and prints a table.
 *
 *     npm run bench                      # everything
 *     npm run bench -- --scope reset     # one scope: reset, memory, pool, glue, flite, serve, wasi, quickjs, sqlite, create, threads
 *     npm run bench -- --quick           # shorter runs (a smoke test of the benchmark itself)
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus, totalmem, release } from 'node:os';
import { parseArgs } from 'node:util';
import { formatNs, type Measurement } from './measure.ts';
import { benchReset } from './reset.ts';
import { benchMemory } from './memory.ts';
import { selfCheck } from '../src/memory/index.ts';
import { renderHtml } from './report.ts';

const { values } = parseArgs({
  options: {
    scope: { type: 'string', default: 'reset,memory,pool,glue,flite,wasi,serve,quickjs,sqlite,create,threads' },
    quick: { type: 'boolean', default: false },
  },
});
const scopes = new Set(values.scope!.split(','));
const quick = values.quick!;
const results: Measurement[] = [];
const environment = {
  date: new Date().toISOString(),
  node: process.version,
  v8: process.versions.v8,
  kernel: release(),
  cpu: cpus()[0]?.model ?? 'unknown',
  cores: cpus().length,
  memoryGiB: Math.round(totalmem() / 2 ** 30),
  // What kind of host produced the figures: the behaviours that differ between Linux kernels, and
  // which reset strategies passed their self-check here.
  pageBehaviours: selfCheck().kernel.description,
  strategies: Object.entries(selfCheck().strategies)
    .map(([name, check]) => (check.ok ? `${name}: ok` : `${name}: unavailable (${check.reason})`))
    .join('; '),
};

if (scopes.has('reset')) results.push(...benchReset(quick));
if (scopes.has('memory')) results.push(...benchMemory(quick));
if (scopes.has('pool')) {
  const { benchPool } = await import('./pool.ts').catch(() => ({ benchPool: undefined }));
  if (benchPool) results.push(...(await benchPool(quick)));
}
if (scopes.has('glue')) {
  const { benchGlue } = await import('./glue.ts');
  results.push(...(await benchGlue(quick)));
}
if (scopes.has('flite')) {
  const { benchFlite } = await import('./flite.ts');
  results.push(...(await benchFlite(quick)));
}
if (scopes.has('wasi')) {
  const { benchWasi } = await import('./wasi.ts');
  results.push(...(await benchWasi(quick)));
}
if (scopes.has('serve')) {
  const { benchServe } = await import('./serve.ts').catch(() => ({ benchServe: undefined }));
  if (benchServe) results.push(...(await benchServe(quick)));
}
if (scopes.has('quickjs')) {
  const { benchQuickJS } = await import('./quickjs.ts');
  results.push(...(await benchQuickJS(quick)));
}
if (scopes.has('sqlite')) {
  const { benchSqlite } = await import('./sqlite.ts');
  results.push(...(await benchSqlite(quick)));
}
if (scopes.has('create')) {
  const { benchCreate } = await import('./create.ts');
  results.push(...(await benchCreate(quick)));
}
if (scopes.has('threads')) {
  const { benchThreads } = await import('./threads.ts');
  results.push(...(await benchThreads(quick)));
}

mkdirSync(new URL('./results/', import.meta.url), { recursive: true });
const report = { environment, results };
writeFileSync(new URL('./results/latest.json', import.meta.url), JSON.stringify(report, null, 2));
writeFileSync(new URL('./results/latest.html', import.meta.url), renderHtml(report));

console.log(`${environment.node} on ${environment.cpu} (${environment.cores} cores), Linux ${environment.kernel}`);
console.log(`kernel: ${environment.pageBehaviours}\nstrategies: ${environment.strategies}`);
let group = '';
for (const r of results) {
  if (r.group !== group) {
    group = r.group;
    console.log(`\n${group}`);
  }
  const base = results.find((x) => x.group === r.group);
  const ratio = base && base !== r ? `  ${(base.nsPerOp / r.nsPerOp).toFixed(1)}x vs ${base.name}` : '';
  const extra = r.extra ? `  ${JSON.stringify(r.extra)}` : '';
  if (r.unavailable) console.log(`  ${r.name.padEnd(36)} unavailable: ${r.unavailable}`);
  else console.log(`  ${r.name.padEnd(36)} ${formatNs(r.nsPerOp).padStart(12)}${ratio}${extra}`);
}
console.log('\nwrote bench/results/latest.json and bench/results/latest.html');
