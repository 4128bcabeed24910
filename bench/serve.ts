/**
 * The HTTP server, end to end: `cowpool serve examples/hello.wasm` against the same CGI server
 * creating a fresh instance per request, and against a bare Node http server answering "hello",
 * all three measured in one run with the same load: wrk on loopback, keep-alive, 16 connections,
 * one thread. On a 2-core machine the server and wrk are pinned to different cores.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import type { Measurement } from './measure.ts';

interface Contender {
  name: string;
  args: string[];
}

const CONTENDERS: Contender[] = [
  { name: 'bare Node http', args: ['bench/servers/bare.mjs', '0'] },
  { name: 'cowpool serve', args: ['bin/cowpool.js', 'serve', 'examples/hello.wasm', '--port', '0', '--quiet'] },
  { name: 'fresh instance per request', args: ['bench/servers/fresh.mjs', '0', 'examples/hello.wasm'] },
];

/** Runs the HTTP benchmark; needs `wrk` (Debian: apt-get install wrk). */
export async function benchServe(quick: boolean): Promise<Measurement[]> {
  if (spawnSync('wrk', ['--version']).error) {
    console.error('serve benchmark skipped: wrk is not installed (apt-get install wrk)');
    return [];
  }
  const pin = spawnSync('taskset', ['--version']).error === undefined;
  const seconds = quick ? 2 : 8;
  const results: Measurement[] = [];
  for (const contender of CONTENDERS) {
    const { child, port } = await startServer(contender, pin);
    try {
      wrk(port, 1, pin); // warm-up
      const run = wrk(port, seconds, pin);
      results.push({
        group: 'HTTP hello world, keep-alive, 16 connections',
        name: contender.name,
        nsPerOp: 1e9 / run.rps,
        minNsPerOp: 1e9 / run.rps,
        maxNsPerOp: 1e9 / run.rps,
        operations: Math.round(run.rps * seconds),
        extra: { requestsPerSecond: Math.round(run.rps), p50: run.p50, p99: run.p99 },
      });
    } finally {
      child.kill('SIGTERM');
    }
  }
  return results;
}

async function startServer(contender: Contender, pin: boolean): Promise<{ child: ChildProcess; port: number }> {
  const [command, args] = pin ? ['taskset', ['-c', '0', process.execPath, ...contender.args]] : [process.execPath, contender.args];
  const child = spawn(command as string, args as string[], { stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  child.stdout!.setEncoding('utf8').on('data', (chunk: string) => (out += chunk));
  for (let i = 0; i < 200; i++) {
    const match = /(?:ready |at http:\/\/127\.0\.0\.1:)(\d+)/.exec(out);
    if (match) return { child, port: Number(match[1]) };
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
  child.kill();
  throw new Error(`${contender.name} did not start: ${out}`);
}

function wrk(port: number, seconds: number, pin: boolean): { rps: number; p50: string; p99: string } {
  const args = ['-t1', '-c16', `-d${seconds}s`, '--latency', `http://127.0.0.1:${port}/`];
  const run = pin ? spawnSync('taskset', ['-c', '1', 'wrk', ...args], { encoding: 'utf8' }) : spawnSync('wrk', args, { encoding: 'utf8' });
  const rps = Number(/Requests\/sec:\s+([\d.]+)/.exec(run.stdout)?.[1] ?? NaN);
  const p50 = /^\s+50%\s+(\S+)/m.exec(run.stdout)?.[1] ?? '?';
  const p99 = /^\s+99%\s+(\S+)/m.exec(run.stdout)?.[1] ?? '?';
  if (!Number.isFinite(rps)) throw new Error(`wrk failed: ${run.stdout}${run.stderr}`);
  return { rps, p50, p99 };
}
