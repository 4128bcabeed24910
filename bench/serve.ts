/**
 * The HTTP servers, end to end, with `examples/hello.wasm`: each server alone in its own process
 * (or processes), driven by wrk in another process over loopback, keep-alive. Two groups:
 *
 * - **one core**: every server pinned to core 0 and wrk to core 1 (taskset): bare Node `http`,
 *   `cowpool serve` (guests on the JavaScript thread), `cowpool serve --threads 1` (the cost of the
 *   hop to a worker thread when there is no core to gain) and the same CGI server making a fresh
 *   instance per request. The bar: `cowpool serve` at least 85% of bare Node.
 * - **two cores**: nothing pinned (wrk shares the two cores with the servers): `cowpool serve
 *   --threads 2` (one process, guests on two worker threads), `--workers 2` (two processes) and two
 *   bare Node processes behind one port (node:cluster), for requests per second and memory; then
 *   the two cowpool servers again with a guest that computes for 1 ms a request
 *   (`test/fixtures/spin.wasm?busy=1`), where the hop to a thread no longer dominates.
 *
 * Rounds alternate the servers (A, B, C, A, B, C, …), so that the drifting load of a shared machine
 * weighs on each alike; a server's figure is its median round, its range the fastest and slowest
 * round. Besides wrk's requests per second, each round reads the server's CPU time (utime + stime
 * of its processes, from /proc) and reports it per request: CPU time counts a neighbour's load much
 * less than wall time does. RSS is the sum over the server's processes after its last round. The
 * machine's load average is recorded beside the figures.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import type { Measurement } from './measure.ts';

interface Server {
  name: string;
  args: string[];
}

const HELLO = ['examples/hello.wasm', '--port', '0', '--quiet'];
const ONE_CORE: Server[] = [
  { name: 'bare Node http', args: ['bench/servers/bare.mjs', '0'] },
  { name: 'cowpool serve', args: ['bin/cowpool.js', 'serve', ...HELLO] },
  { name: 'cowpool serve --threads 1', args: ['bin/cowpool.js', 'serve', ...HELLO, '--threads', '1'] },
  { name: 'fresh instance per request', args: ['bench/servers/fresh.mjs', '0', 'examples/hello.wasm'] },
];
const BUSY = ['test/fixtures/spin.wasm', '--port', '0', '--quiet'];
const TWO_CORES_BUSY: Server[] = [
  { name: 'cowpool serve --workers 2, 1 ms guest', args: ['bin/cowpool.js', 'serve', ...BUSY, '--workers', '2'] },
  { name: 'cowpool serve --threads 2, 1 ms guest', args: ['bin/cowpool.js', 'serve', ...BUSY, '--threads', '2'] },
];
const TWO_CORES: Server[] = [
  { name: 'two bare Node processes', args: ['bench/servers/bare-cluster.mjs', '2'] },
  { name: 'cowpool serve --workers 2', args: ['bin/cowpool.js', 'serve', ...HELLO, '--workers', '2'] },
  { name: 'cowpool serve --threads 2', args: ['bin/cowpool.js', 'serve', ...HELLO, '--threads', '2'] },
];

/** Clock ticks per second of /proc's CPU times (USER_HZ: 100 on every Linux that Node runs on). */
const TICKS_PER_SECOND = 100;

/** Runs the HTTP benchmark; needs `wrk` (Debian: apt-get install wrk) and the built package (`npm run build`). */
export async function benchServe(quick: boolean): Promise<Measurement[]> {
  if (spawnSync('wrk', ['--version']).error) {
    console.error('serve benchmark skipped: wrk is not installed (apt-get install wrk)');
    return [];
  }
  const pin = spawnSync('taskset', ['--version']).error === undefined;
  const rounds = quick ? 2 : 5;
  const seconds = quick ? 2 : 5;
  const results: Measurement[] = [];
  results.push(
    ...(await group(`HTTP hello world, one core${pin ? '' : ' (not pinned: no taskset)'}, keep-alive, 16 connections`, ONE_CORE, {
      pinServer: pin ? '0' : undefined,
      pinClient: pin ? '1' : undefined,
      connections: 16,
      rounds,
      seconds,
    })),
  );
  results.push(
    ...(await group('HTTP hello world, two cores shared with wrk, keep-alive, 32 connections', TWO_CORES, {
      pinServer: undefined,
      pinClient: undefined,
      connections: 32,
      rounds,
      seconds,
    })),
  );
  results.push(
    ...(await group('HTTP, a guest computing 1 ms, two cores shared with wrk, keep-alive, 32 connections', TWO_CORES_BUSY, {
      pinServer: undefined,
      pinClient: undefined,
      connections: 32,
      rounds,
      seconds,
      path: '/?busy=1',
    })),
  );
  return results;
}

interface GroupOptions {
  /** The core (taskset list) of the servers, or undefined to leave them unpinned. */
  pinServer: string | undefined;
  pinClient: string | undefined;
  connections: number;
  rounds: number;
  seconds: number;
  /** The request's path and query. Default `/`. */
  path?: string;
}

interface Round {
  rps: number;
  cpuUsPerRequest: number;
  p50: string;
  p99: string;
}

/** Starts every server of `servers`, measures them in alternating rounds, stops them; one measurement each. */
async function group(title: string, servers: Server[], options: GroupOptions): Promise<Measurement[]> {
  const running: { server: Server; child: ChildProcess; port: number; rounds: Round[] }[] = [];
  try {
    for (const server of servers) running.push({ server, ...(await startServer(server, options.pinServer)), rounds: [] });
    for (const { port } of running) wrk(port, 1, options); // warm-up: JIT, caches, the workers' first connections
    const load: number[] = [];
    for (let r = 0; r < options.rounds; r++) {
      for (const entry of running) {
        const pids = processTree(entry.child.pid!);
        const cpu0 = cpuTicks(pids);
        const run = wrk(entry.port, options.seconds, options);
        const cpu = (cpuTicks(pids) - cpu0) / TICKS_PER_SECOND;
        entry.rounds.push({ rps: run.rps, cpuUsPerRequest: (cpu * 1e6) / run.requests, p50: run.p50, p99: run.p99 });
      }
      load.push(loadavg()[0]!);
    }
    const baseline = median(running[0]!.rounds.map((round) => round.rps));
    return running.map(({ server, child, rounds }) => {
      const rps = rounds.map((round) => round.rps).sort((a, b) => a - b);
      const middle = rounds.find((round) => round.rps === median(rps))!;
      return {
        group: title,
        name: server.name,
        nsPerOp: 1e9 / median(rps),
        minNsPerOp: 1e9 / rps[rps.length - 1]!,
        maxNsPerOp: 1e9 / rps[0]!,
        operations: Math.round(rps.reduce((a, b) => a + b, 0) * options.seconds),
        extra: {
          requestsPerSecond: Math.round(median(rps)),
          range: `${Math.round(rps[0]!)}–${Math.round(rps[rps.length - 1]!)}`,
          ofFirst: `${((median(rps) / baseline) * 100).toFixed(1)}%`,
          cpuUsPerRequest: Number(median(rounds.map((round) => round.cpuUsPerRequest)).toFixed(1)),
          rssMiB: Number((rssBytes(processTree(child.pid!)) / 2 ** 20).toFixed(1)),
          p50: middle.p50,
          p99: middle.p99,
          rounds: rounds.length,
          loadAverage: load.map((l) => l.toFixed(1)).join(' '),
        },
      };
    });
  } finally {
    for (const { child } of running) child.kill('SIGTERM');
    await Promise.all(
      running.map(({ child }) => new Promise((resolve) => (child.exitCode !== null ? resolve(0) : child.once('exit', resolve)))),
    );
  }
}

async function startServer(server: Server, pin: string | undefined): Promise<{ child: ChildProcess; port: number }> {
  const [command, args] = pin ? ['taskset', ['-c', pin, process.execPath, ...server.args]] : [process.execPath, server.args];
  const child = spawn(command as string, args as string[], { stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  child.stdout!.setEncoding('utf8').on('data', (chunk: string) => (out += chunk));
  for (let i = 0; i < 400; i++) {
    const match = /(?:ready |at http:\/\/127\.0\.0\.1:)(\d+)/.exec(out);
    if (match) return { child, port: Number(match[1]) };
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
  child.kill();
  throw new Error(`${server.name} did not start: ${out}`);
}

function wrk(port: number, seconds: number, options: GroupOptions): { rps: number; requests: number; p50: string; p99: string } {
  const args = ['-t1', `-c${options.connections}`, `-d${seconds}s`, '--latency', `http://127.0.0.1:${port}${options.path ?? '/'}`];
  const run = options.pinClient
    ? spawnSync('taskset', ['-c', options.pinClient, 'wrk', ...args], { encoding: 'utf8' })
    : spawnSync('wrk', args, { encoding: 'utf8' });
  const rps = Number(/Requests\/sec:\s+([\d.]+)/.exec(run.stdout)?.[1] ?? NaN);
  const requests = Number(/(\d+) requests in/.exec(run.stdout)?.[1] ?? NaN);
  const p50 = /^\s+50%\s+(\S+)/m.exec(run.stdout)?.[1] ?? '?';
  const p99 = /^\s+99%\s+(\S+)/m.exec(run.stdout)?.[1] ?? '?';
  if (!Number.isFinite(rps) || /Non-2xx/.test(run.stdout)) throw new Error(`wrk failed: ${run.stdout}${run.stderr}`);
  return { rps, requests, p50, p99 };
}

/** `pid` and every process descended from it (a cluster's workers). */
function processTree(pid: number): number[] {
  const children = new Map<number, number[]>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const stat = readStat(Number(entry));
    if (stat === undefined) continue;
    const parent = Number(stat[1]);
    children.set(parent, [...(children.get(parent) ?? []), Number(entry)]);
  }
  const tree = [pid];
  for (let i = 0; i < tree.length; i++) tree.push(...(children.get(tree[i]!) ?? []));
  return tree;
}

/** The fields of /proc/PID/stat after the command name (so field 4 of the manual, ppid, is [1]), or undefined once it is gone. */
function readStat(pid: number): string[] | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  } catch {
    return undefined;
  }
}

/** User and system CPU time of `pids`, every thread included, in clock ticks. */
function cpuTicks(pids: number[]): number {
  let ticks = 0;
  for (const pid of pids) {
    const stat = readStat(pid);
    // utime and stime are fields 14 and 15 of the manual: [11] and [12] here.
    if (stat !== undefined) ticks += Number(stat[11]) + Number(stat[12]);
  }
  return ticks;
}

/** Resident memory of `pids` in bytes (VmRSS; pages a cluster's processes share are counted in each). */
function rssBytes(pids: number[]): number {
  let bytes = 0;
  for (const pid of pids) {
    try {
      bytes += Number(/VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0) * 1024;
    } catch {
      // gone
    }
  }
  return bytes;
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)]!;
}
