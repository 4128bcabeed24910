/**
 * One contender of `bench/threads.ts`, alone in a process of its own (so that no other case's
 * threads, heap or JIT state weigh on it): `node --import tsx bench/threads-child.ts <case> <args…>`
 * prints one JSON line. Sandboxes come from the build (`dist/`) when there is one, so that worker
 * threads start as a user's would (from the sources, each thread first registers tsx).
 *
 * - `latency <threads> <script> <batch> <batches>`: one client, a QuickJS `eval` awaited at a time:
 *   ns per use of each batch (median over batches in the parent);
 * - `throughput <threads> <script> <clients> <ms>`: `clients` evals in flight for `ms`: uses per s;
 * - `stall <threads> <rounds>`: the main event loop's delay (`monitorEventLoopDelay`, 1 ms
 *   resolution) while 2 uses each spin 200 ms, `rounds` times: p50, p99 and max in ms;
 * - `footprint <threads> <contexts>`: a sandbox with `contexts` contexts (threads: one each), each
 *   having run one use: ms from before loading cowpool to ready, and RSS and PSS in bytes.
 */
import { existsSync, readFileSync } from 'node:fs';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import type * as QuickJSModule from '../src/quickjs/index.ts';

type QuickJS = typeof QuickJSModule;

/** The scripts by name: the two, a 1 ms loop (throughput with room for two cores), the spin. */
export const SCRIPTS: Record<string, string> = {
  add: '1 + 2',
  loop100: 'let s = 0; for (let i = 0; i < 100; i++) s += i; s',
  loop1ms: 'const end = Date.now() + 1; let n = 0; while (Date.now() < end) n++; n',
  spin200: 'const end = Date.now() + 200; while (Date.now() < end); 0',
};

async function load(): Promise<QuickJS> {
  const built = new URL('../dist/quickjs/index.js', import.meta.url);
  return (existsSync(fileURLToPath(built)) ? await import(built.href) : await import('../src/quickjs/index.ts')) as QuickJS;
}

function memory(): { rss: number; pss: number } {
  const rollup = readFileSync('/proc/self/smaps_rollup', 'utf8');
  const kib = (field: string) => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(rollup)?.[1] ?? NaN) * 1024;
  return { rss: kib('Rss'), pss: kib('Pss') };
}

const [what, ...args] = process.argv.slice(2);
const started = performance.now();
const { QuickJSSandbox } = await load();
const threads = Number(args[0]);

if (what === 'latency') {
  const [, script, batch, batches] = args;
  const code = SCRIPTS[script!]!;
  const sandbox = await QuickJSSandbox.create(threads > 0 ? { threads } : { max: 1 });
  for (let i = 0; i < Number(batch) * 2; i++) await sandbox.eval(code);
  const perOp: number[] = [];
  for (let b = 0; b < Number(batches); b++) {
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < Number(batch); i++) await sandbox.eval(code);
    perOp.push(Number(process.hrtime.bigint() - t0) / Number(batch));
  }
  await sandbox.close();
  console.log(JSON.stringify({ perOp }));
} else if (what === 'throughput') {
  const [, script, clients, ms] = args;
  const code = SCRIPTS[script!]!;
  const sandbox = await QuickJSSandbox.create(threads > 0 ? { threads } : { max: Number(clients) });
  for (let i = 0; i < 200; i++) await sandbox.eval(code);
  let done = 0;
  const until = performance.now() + Number(ms);
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: Number(clients) }, async () => {
      while (performance.now() < until) {
        await sandbox.eval(code);
        done++;
      }
    }),
  );
  const seconds = (performance.now() - t0) / 1000;
  await sandbox.close();
  console.log(JSON.stringify({ perSecond: done / seconds }));
} else if (what === 'stall') {
  const rounds = Number(args[1]);
  const sandbox = await QuickJSSandbox.create(threads > 0 ? { threads, timeout: 2000 } : { timeout: 2000 });
  await sandbox.eval('1');
  const histogram = monitorEventLoopDelay({ resolution: 1 });
  // On the calling thread a use runs inside the call: each is started from its own turn of the
  // loop, and the loop turns a while before and after, so that the histogram sees the stalls.
  const turn = (): Promise<unknown> => new Promise((resolve) => setImmediate(() => resolve(sandbox.eval(SCRIPTS.spin200!))));
  histogram.enable();
  await sleep(20);
  for (let r = 0; r < rounds; r++) await Promise.all([turn(), turn()]);
  await sleep(20);
  histogram.disable();
  await sandbox.close();
  const ms = (ns: number) => ns / 1e6;
  console.log(JSON.stringify({ p50: ms(histogram.percentile(50)), p99: ms(histogram.percentile(99)), max: ms(histogram.max) }));
} else if (what === 'footprint') {
  const contexts = Number(args[1]);
  const sandbox = await QuickJSSandbox.create(threads > 0 ? { threads } : { max: contexts, min: contexts });
  // Every context runs a use (all at once: each thread, or each pooled context, takes one).
  await Promise.all(Array.from({ length: contexts }, () => sandbox.eval(SCRIPTS.loop100!)));
  const startMs = performance.now() - started;
  console.log(JSON.stringify({ startMs, ...memory() }));
  // The parent sums the processes' memory while they all are alive: wait to be told to go.
  process.stdin.once('data', () => void sandbox.close().then(() => process.exit(0)));
} else {
  throw new Error(`threads-child: unknown case ${what}`);
}
