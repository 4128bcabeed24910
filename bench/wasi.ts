/**
 * The per-use file-system overlay of cowpool/wasi: what it costs a use that writes no files, against
 * the same preopen read-only. Two guests' uses (wasi-probe through WasiCommand.runSync, one pooled
 * instance): one reading a 4 KiB file two directories down, one touching no file. The contenders
 * run interleaved, in alternating order, in many short batches, and each reports the median batch:
 * on a shared 2-core machine drift would otherwise favour whichever ran first. A use that writes a
 * file into the overlay is measured too, for scale.
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { WasiCommand, type WasiRunInput } from '../src/wasi/index.ts';
import type { Measurement } from './measure.ts';

const probe = readFileSync(new URL('../test/fixtures/wasi-probe.wasm', import.meta.url));

/** Runs the WASI overlay benchmark. */
export async function benchWasi(quick: boolean): Promise<Measurement[]> {
  const rounds = quick ? 6 : 40;
  const batch = 100;
  const dir = mkdtempSync(join(tmpdir(), 'cowpool-bench-wasi-'));
  mkdirSync(join(dir, 'a', 'b'), { recursive: true });
  writeFileSync(join(dir, 'a', 'b', 'page.html'), '<p>hello</p>\n'.repeat(315));
  try {
    const readonly = await WasiCommand.create(probe, { preopens: [{ guestPath: '/data', hostPath: dir, mode: 'readonly' }], pool: { max: 1 } });
    const overlay = await WasiCommand.create(probe, { preopens: [{ guestPath: '/data', hostPath: dir, mode: 'overlay' }], pool: { max: 1 } });
    const read: WasiRunInput = { args: ['probe', 'read', '/data/a/b/page.html'] };
    const none: WasiRunInput = { args: ['probe', 'return', '0'] };
    const write: WasiRunInput = { args: ['probe', 'write', '/data/a/b/new.txt'] };
    const readGroup = 'WASI use reading a 4 KiB file at /data/a/b, writing none';
    const noneGroup = 'WASI use touching no file, one preopen';
    const cases: [string, string, WasiCommand, WasiRunInput][] = [
      [readGroup, 'readonly preopen', readonly, read],
      [readGroup, 'overlay preopen', overlay, read],
      [readGroup, 'overlay preopen, writing a 4 B file instead', overlay, write],
      [noneGroup, 'readonly preopen', readonly, none],
      [noneGroup, 'overlay preopen', overlay, none],
    ];
    for (const [, , command, input] of cases) {
      if (command.runSync(input).exitCode !== 0) throw new Error(`bench guest failed: ${input.args!.join(' ')}`);
      for (let i = 0; i < 1000; i++) command.runSync(input); // past V8's tier-up
    }
    const perOp: number[][] = cases.map(() => []);
    for (let round = 0; round < rounds; round++) {
      const order = round % 2 === 0 ? cases.map((_, i) => i) : cases.map((_, i) => cases.length - 1 - i);
      for (const i of order) {
        const [, , command, input] = cases[i]!;
        const t0 = process.hrtime.bigint();
        for (let k = 0; k < batch; k++) command.runSync(input);
        perOp[i]!.push(Number(process.hrtime.bigint() - t0) / batch);
      }
    }
    await readonly.close();
    await overlay.close();
    return cases.map(([group, name], i) => {
      const sorted = perOp[i]!.sort((a, b) => a - b);
      return {
        group,
        name,
        nsPerOp: sorted[Math.floor(sorted.length / 2)]!,
        minNsPerOp: sorted[0]!,
        maxNsPerOp: sorted[sorted.length - 1]!,
        operations: rounds * batch,
      };
    });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
