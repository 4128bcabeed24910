/**
 * The `threads` scope of `npm run bench`: what putting a sandbox's uses on worker threads costs and
 * buys (issue 17), QuickJS as the sandbox. Every contender runs alone in a process of its own
 * (`threads-child.ts`), one after the other, so that none shares cores, heap or JIT state with
 * another; on a shared machine, run the scope on its own and note the load.
 *
 * - event-loop delay on the calling thread while 2 uses each spin 200 ms (target: p99 ≤ 5 ms with
 *   threads; on the calling thread every spin stops the loop);
 * - one client, QuickJS `1 + 2` and a 100-iteration script: latency on the calling thread
 *   (`threads: 0`) against one thread (target: at most 25 µs above);
 * - throughput with 2 threads against 1 (target ≥ 1.6x on 2 cores), 4 clients in flight, and on
 *   the calling thread for reference;
 * - start-up and memory of 4 contexts as 4 threads of one process against 4 processes, and of 16
 *   contexts as 16 threads against 4 processes × 4 contexts (a thread runs one use at a time on one
 *   context, so a process of N threads has N contexts).
 *
 * Latency and delay rows are ns (the table's unit); throughput rows are ns per use, uses per second
 * beside them; footprint rows are start-up ns, memory beside.
 */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { summarize, type Measurement } from './measure.ts';

const CHILD = fileURLToPath(new URL('./threads-child.ts', import.meta.url));

/** Runs one child to its JSON line (`keep`: leave it running, for the footprint's sums). */
function child(args: string[], keep = false): Promise<{ result: Record<string, unknown>; release: () => Promise<void> }> {
  return new Promise((resolve, reject) => {
    const proc = spawn(process.execPath, ['--import', 'tsx', CHILD, ...args], { stdio: ['pipe', 'pipe', 'inherit'] });
    let out = '';
    const exited = new Promise<void>((done) => proc.once('exit', () => done()));
    proc.stdout.on('data', (chunk: Buffer) => {
      out += chunk.toString();
      const line = out.indexOf('\n');
      if (line < 0) return;
      const result = JSON.parse(out.slice(0, line)) as Record<string, unknown>;
      const release = async () => {
        proc.stdin.end('go\n');
        await exited;
      };
      if (!keep) proc.stdin.end();
      resolve({ result, release });
    });
    proc.once('exit', (code) => {
      if (out.indexOf('\n') < 0) reject(new Error(`threads-child ${args.join(' ')} exited with ${code} before answering`));
    });
  });
}

/** Runs the threads benchmark. */
export async function benchThreads(quick: boolean): Promise<Measurement[]> {
  const results: Measurement[] = [];

  const stallGroup = 'threads: event-loop delay of the calling thread while 2 uses each spin 200 ms (QuickJS)';
  for (const threads of [0, 2]) {
    const { result } = await child(['stall', String(threads), quick ? '2' : '5']);
    const p99 = result.p99 as number;
    results.push({
      ...summarize(stallGroup, threads === 0 ? 'on the calling thread (threads: 0), p99' : `threads: ${threads}, p99`, [p99 * 1e6], 1),
      extra: { p50Ms: +(result.p50 as number).toFixed(2), maxMs: +(result.max as number).toFixed(2) },
    });
  }

  const batch = quick ? 200 : 1000;
  const batches = quick ? 5 : 15;
  for (const [script, label] of [
    ['add', '`1 + 2`'],
    ['loop100', 'a 100-iteration loop'],
  ] as const) {
    const group = `threads: one client, QuickJS ${label}, latency per eval`;
    for (const threads of [0, 1]) {
      const { result } = await child(['latency', String(threads), script, String(batch), String(batches)]);
      results.push(
        summarize(
          group,
          threads === 0 ? 'on the calling thread (threads: 0)' : 'on a worker thread (threads: 1)',
          result.perOp as number[],
          batch,
        ),
      );
    }
  }

  for (const [script, label] of [
    ['loop100', 'a 100-iteration loop'],
    ['loop1ms', 'a 1 ms loop'],
  ] as const) {
    const group = `threads: throughput, 4 clients, QuickJS ${label}`;
    for (const threads of [1, 2, 0]) {
      const { result } = await child(['throughput', String(threads), script, '4', quick ? '1000' : '4000']);
      const perSecond = result.perSecond as number;
      const name = threads === 0 ? 'on the calling thread (threads: 0, max: 4)' : `threads: ${threads}`;
      results.push({ ...summarize(group, name, [1e9 / perSecond], 1), extra: { usesPerSecond: Math.round(perSecond) } });
    }
  }

  for (const [contexts, processes] of [
    [4, 4],
    [16, 4],
  ] as const) {
    const group = `threads: start-up (to every context's first use) and memory, ${contexts} QuickJS contexts`;
    const contenders = [
      { name: `1 process, threads: ${contexts}`, runs: [['footprint', String(contexts), String(contexts)]] },
      {
        name: `${processes} processes × ${contexts / processes} context${contexts / processes > 1 ? 's' : ''} (threads: 0)`,
        runs: Array.from({ length: processes }, () => ['footprint', '0', String(contexts / processes)]),
      },
    ];
    for (const contender of contenders) {
      const t0 = performance.now();
      const running = await Promise.all(contender.runs.map((args) => child(args, true)));
      const wallMs = performance.now() - t0;
      const sum = (key: string) => running.reduce((total, r) => total + (r.result[key] as number), 0);
      await Promise.all(running.map((r) => r.release()));
      results.push({
        ...summarize(group, contender.name, [wallMs * 1e6], 1),
        extra: { rssMiB: +(sum('rss') / 2 ** 20).toFixed(1), pssMiB: +(sum('pss') / 2 ** 20).toFixed(1) },
      });
    }
  }
  return results;
}
