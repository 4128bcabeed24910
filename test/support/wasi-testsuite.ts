// Runs WebAssembly/wasi-testsuite's preview 1 binaries (prebuilt, in ../shared/wasi-testsuite beside
// the repository) through cowpool: each test twice through one pool, every preopen an overlay, so
// the suite's own directories are never written and no fresh copy is needed.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { InstancePool, type InstanceHost } from '../../src/pool/index.ts';
import { WasiHost, type PreopenOption } from '../../src/wasi/index.ts';

/** Where the suite is expected: `shared/wasi-testsuite` beside the repository's folder. */
export const SUITE_DIR = fileURLToPath(new URL('../../../shared/wasi-testsuite/tests', import.meta.url));

/** One test of the suite: its binary and its JSON specification (defaults filled in). */
export interface SuiteTest {
  /** `c/pread-with-access` and the like. */
  readonly name: string;
  readonly wasm: string;
  readonly folder: string;
  readonly args: string[];
  readonly env: Record<string, string>;
  readonly preopens: PreopenOption[];
  readonly exitCode: number;
  readonly stdout: string | undefined;
}

/** What one run gave. */
export interface SuiteRun {
  exitCode: number | undefined;
  stdout: string;
  stderr: string;
  trap: string | undefined;
}

/** Every test of the suite, or undefined when the folder is absent. */
export function suiteTests(): SuiteTest[] | undefined {
  if (!existsSync(SUITE_DIR)) return undefined;
  const tests: SuiteTest[] = [];
  for (const language of readdirSync(SUITE_DIR).sort()) {
    const folder = join(SUITE_DIR, language, 'testsuite', 'wasm32-wasip1');
    if (!existsSync(folder)) continue;
    for (const file of readdirSync(folder).sort()) {
      if (!file.endsWith('.wasm')) continue;
      const base = basename(file, '.wasm');
      const specPath = join(folder, `${base}.json`);
      const spec = existsSync(specPath) ? (JSON.parse(readFileSync(specPath, 'utf8')) as Record<string, unknown>) : {};
      const preopens: PreopenOption[] = [];
      if (typeof spec.root === 'string') preopens.push({ guestPath: '/', hostPath: join(folder, spec.root), mode: 'overlay' });
      for (const dir of (spec.dirs as string[] | undefined) ?? [])
        preopens.push({ guestPath: dir, hostPath: join(folder, dir), mode: 'overlay' });
      tests.push({
        name: `${language}/${base}`,
        wasm: join(folder, file),
        folder,
        args: (spec.args as string[] | undefined) ?? [],
        env: (spec.env as Record<string, string> | undefined) ?? {},
        preopens,
        exitCode: (spec.exit_code as number | undefined) ?? 0,
        stdout: spec.stdout as string | undefined,
      });
    }
  }
  return tests;
}

/** Runs `test` `times` times through one pool of one instance; the results in order. */
export async function runSuiteTest(test: SuiteTest, times: number): Promise<SuiteRun[]> {
  // Entropy from a generator restarted before every run, so that a guest printing something
  // randomly seeded (Rust's HashMap order) prints the same both times.
  let seed = 0;
  const random = (bytes: Uint8Array) => {
    for (let i = 0; i < bytes.length; i++) {
      seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
      bytes[i] = seed >>> 24;
    }
  };
  const pool = await InstancePool.create(readFileSync(test.wasm), {
    max: 1,
    min: 1,
    interruptible: true,
    setup: (host: InstanceHost<WasiHost>) => {
      const wasi = new WasiHost({ preopens: test.preopens, random });
      if (host.memory) wasi.bindMemory(host.memory);
      return { imports: wasi.imports, state: wasi };
    },
  });
  const runs: SuiteRun[] = [];
  try {
    for (let i = 0; i < times; i++) {
      const out: Buffer[] = [];
      const err: Buffer[] = [];
      const run: SuiteRun = { exitCode: undefined, stdout: '', stderr: '', trap: undefined };
      seed = 1;
      try {
        run.exitCode = pool.runSync(
          (instance, _context, host) =>
            host.state.run(instance, {
              args: [basename(test.wasm), ...test.args],
              env: test.env,
              stdin: new Uint8Array(0),
              stdout: (chunk) => void out.push(Buffer.from(chunk)),
              stderr: (chunk) => void err.push(Buffer.from(chunk)),
            }),
          undefined,
          { timeout: 20_000 },
        );
      } catch (error) {
        run.trap = (error as Error).message;
      }
      run.stdout = Buffer.concat(out).toString('utf8');
      run.stderr = Buffer.concat(err).toString('utf8');
      runs.push(run);
    }
  } finally {
    await pool.close();
  }
  return runs;
}

/** Why `run` fails `test`, or undefined when it passes. */
export function failure(test: SuiteTest, run: SuiteRun): string | undefined {
  if (run.trap !== undefined) return `trap: ${run.trap}; stderr: ${run.stderr.trim().slice(0, 400)}`;
  if (run.exitCode !== test.exitCode) return `exit ${run.exitCode}, expected ${test.exitCode}; stderr: ${run.stderr.trim().slice(0, 400)}`;
  if (test.stdout !== undefined && run.stdout !== test.stdout)
    return `stdout ${JSON.stringify(run.stdout)}, expected ${JSON.stringify(test.stdout)}`;
  return undefined;
}
