/**
 * Start-up: how long creating a sandbox or a pool takes in a new process, cold (an empty cache:
 * the module is prepared, the setup run, the image made) and warm (the prepared pool read from
 * the cache), and how long `cowpool serve` takes from its start to its first 200.
 *
 * Every measurement is a process of its own (`create-child.ts`, or the CLI), since what is
 * measured is what a new process pays: nothing compiled, probed or cached in memory yet. The
 * contenders take turns, one process each per round, so that the load of a shared machine weighs
 * on each alike; each row is the median over the rounds, with the fastest and slowest. Each cold
 * round gets a new empty cache directory; the warm rounds share one, filled before they start.
 * cowpool runs as a user installs it (`npm pack`, unpacked into a project's node_modules: see
 * `test/support/installed-package.ts`); a checkout pays about 2 ms more per warm start, for the
 * fingerprint of its code that keys its cache (`pool/cache/fingerprint.ts`).
 */
import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { request } from 'node:http';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { installPackage } from '../test/support/installed-package.ts';
import { summarize, type Measurement } from './measure.ts';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const CHILD = fileURLToPath(new URL('./create-child.ts', import.meta.url));

/** A case: its name, and one run of it with the cache in `cacheDir`, in wall and CPU ms. */
interface Case {
  group: string;
  name: string;
  run(cacheDir: string): Promise<{ ms: number; cpuMs?: number }>;
  /** Cold: each run gets a new, empty cache directory; warm: all share one, filled first by `fill`. */
  cold: boolean;
  fill?(cacheDir: string): unknown;
}

/** Runs the create benchmark. */
export async function benchCreate(quick: boolean): Promise<Measurement[]> {
  const installed = installPackage();
  try {
    return await measure(quick ? 3 : 9, installed.packageDir);
  } finally {
    installed.remove();
  }
}

/** The rounds, with cowpool installed in `pkg`. */
async function measure(rounds: number, pkg: string): Promise<Measurement[]> {
  const cli = join(pkg, 'bin', 'cowpool.js');
  const cases: Case[] = [];
  for (const [what, label] of [
    ['quickjs-sandbox', 'QuickJSSandbox.create()'],
    ['sqlite-sandbox', 'SqliteSandbox.create()'],
    ['quickjs-pool', 'InstancePool.create(QuickJS module)'],
    ['sqlite-pool', 'InstancePool.create(SQLite module)'],
  ] as const) {
    for (const cold of [true, false]) {
      cases.push({
        group: `create in a new process: ${label}`,
        name: cold ? 'cold (empty cache)' : 'warm (cached)',
        cold,
        run: (dir) => child(pkg, what, dir),
      });
    }
  }
  for (const [wasm, size] of [
    ['examples/hello.wasm', 'a 477-byte module, too small to cache'],
    ['examples/sqlite.wasm', 'SQLite, 700 KB'],
  ] as const) {
    for (const cold of [true, false]) {
      cases.push({
        group: `cowpool serve: start to first 200, ${size}`,
        name: cold ? 'cold (empty cache)' : 'warm (cowpool warm first)',
        cold,
        run: (dir) => serveToFirst200(cli, wasm, dir),
        fill: (dir) => execFileSync(process.execPath, [cli, 'warm', join(ROOT, wasm), '--cache-dir', dir], { stdio: 'ignore' }),
      });
    }
  }
  const warmDir = mkdtempSync(join(tmpdir(), 'cowpool-bench-warm-'));
  const times = cases.map(() => [] as number[]);
  const cpu = cases.map(() => [] as number[]);
  try {
    // Fill the warm cases' cache: one run each (or what the case says), not measured.
    for (const c of cases) if (!c.cold) await (c.fill ?? c.run)(warmDir);
    for (let round = 0; round < rounds; round++) {
      for (const [i, c] of cases.entries()) {
        const dir = c.cold ? mkdtempSync(join(tmpdir(), 'cowpool-bench-cold-')) : warmDir;
        try {
          const { ms, cpuMs } = await c.run(dir);
          times[i]!.push(ms * 1e6);
          if (cpuMs !== undefined) cpu[i]!.push(cpuMs);
        } finally {
          if (c.cold) rmSync(dir, { recursive: true, force: true });
        }
      }
    }
  } finally {
    rmSync(warmDir, { recursive: true, force: true });
  }
  return cases.map((c, i) => {
    const m = summarize(c.group, c.name, times[i]!, 1);
    const cpus = cpu[i]!.sort((a, b) => a - b);
    if (cpus.length > 0) m.extra = { cpuMsMedian: +cpus[Math.floor(cpus.length / 2)]!.toFixed(1) };
    return m;
  });
}

/** One creation in a new process (`create-child.ts`). */
async function child(pkg: string, what: string, cacheDir: string): Promise<{ ms: number; cpuMs: number }> {
  const out = execFileSync(process.execPath, ['--import', 'tsx', CHILD, what], {
    encoding: 'utf8',
    env: { ...process.env, COWPOOL_CACHE_DIR: cacheDir, COWPOOL_BENCH_PACKAGE: pkg },
  });
  return JSON.parse(out.trim().split('\n').pop()!) as { ms: number; cpuMs: number };
}

/** Starts `cowpool serve <wasm>` (the CLI at `cli`) and polls its port until a GET answers 200: the milliseconds from the spawn. */
async function serveToFirst200(cli: string, wasm: string, cacheDir: string): Promise<{ ms: number }> {
  const port = await freePort();
  const started = performance.now();
  const server = spawn(process.execPath, [cli, 'serve', join(ROOT, wasm), '--port', String(port), '--quiet'], {
    stdio: ['ignore', 'ignore', 'inherit'],
    env: { ...process.env, COWPOOL_CACHE_DIR: cacheDir },
  });
  try {
    for (;;) {
      if (server.exitCode !== null) throw new Error(`cowpool serve ${wasm} exited with ${server.exitCode}`);
      if ((await status(port)) === 200) return { ms: performance.now() - started };
      await new Promise((resolve) => setTimeout(resolve, 2));
      if (performance.now() - started > 30_000) throw new Error(`cowpool serve ${wasm} did not answer within 30 s`);
    }
  } finally {
    server.kill('SIGTERM');
    await new Promise((resolve) => (server.exitCode !== null ? resolve(undefined) : server.once('exit', resolve)));
  }
}

/** The status of a GET / on the port, or 0 when nothing answers yet. */
function status(port: number): Promise<number> {
  return new Promise((resolve) => {
    const req = request({ host: '127.0.0.1', port, path: '/?q=SELECT+1', agent: false }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.on('error', () => resolve(0));
    req.end();
  });
}

/** A port nothing listens on now. */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.once('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const address = probe.address();
      probe.close(() => resolve(typeof address === 'object' && address ? address.port : 0));
    });
  });
}
