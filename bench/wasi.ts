/**
 * The per-use file-system overlay of cowpool/wasi: what it costs a use that writes no files, against
 * the same preopen read-only. Two guests' uses (wasi-probe through WasiCommand.runSync, one pooled
 * instance): one reading a 4 KiB file two directories down, one touching no file. The contenders
 * run interleaved, in alternating order, in many short batches, and each reports the median batch
 * in CPU time (user + system of this process, `process.cpuUsage()`): on a shared 2-core machine,
 * wall time mostly measures the neighbours, and drift would favour whichever ran first. A use that
 * writes a file into the overlay is measured too, for scale.
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { WasiCommand, WasiHost, type PreopenMode, type WasiRunInput } from '../src/wasi/index.ts';
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
    const readonly = await WasiCommand.create(probe, {
      preopens: [{ guestPath: '/data', hostPath: dir, mode: 'readonly' }],
      pool: { max: 1 },
    });
    const overlay = await WasiCommand.create(probe, {
      preopens: [{ guestPath: '/data', hostPath: dir, mode: 'overlay' }],
      pool: { max: 1 },
    });
    const read: WasiRunInput = { args: ['probe', 'read', '/data/a/b/page.html'] };
    const none: WasiRunInput = { args: ['probe', 'return', '0'] };
    const write: WasiRunInput = { args: ['probe', 'write', '/data/a/b/new.txt'] };
    const readGroup = 'WASI use reading a 4 KiB file at /data/a/b, writing none';
    const noneGroup = 'WASI use touching no file, one preopen';
    const hostGroup = 'host calls alone: begin, open a/b/page.html, read 4 KiB, close, end';
    const use = (command: WasiCommand, input: WasiRunInput) => () => void command.runSync(input);
    const cases: [string, string, () => void][] = [
      [readGroup, 'readonly preopen', use(readonly, read)],
      [readGroup, 'overlay preopen', use(overlay, read)],
      [readGroup, 'overlay preopen, writing a 4 B file instead', use(overlay, write)],
      [noneGroup, 'readonly preopen', use(readonly, none)],
      [noneGroup, 'overlay preopen', use(overlay, none)],
      [hostGroup, 'readonly preopen', hostCalls(dir, 'readonly')],
      [hostGroup, 'overlay preopen', hostCalls(dir, 'overlay')],
    ];
    for (const [, , op] of cases) for (let i = 0; i < 1000; i++) op(); // past V8's tier-up
    for (const [command, input] of [
      [readonly, read],
      [overlay, read],
      [overlay, write],
    ] as const) {
      if (command.runSync(input).exitCode !== 0) throw new Error(`bench guest failed: ${input.args!.join(' ')}`);
    }
    const perOp: number[][] = cases.map(() => []);
    for (let round = 0; round < rounds; round++) {
      const order = round % 2 === 0 ? cases.map((_, i) => i) : cases.map((_, i) => cases.length - 1 - i);
      for (const i of order) {
        const op = cases[i]![2];
        const t0 = process.cpuUsage();
        for (let k = 0; k < batch; k++) op();
        const used = process.cpuUsage(t0);
        perOp[i]!.push(((used.user + used.system) * 1000) / batch);
      }
    }
    await readonly.close();
    await overlay.close();
    return cases.map(([group, name], i) => {
      const sorted = perOp[i]!.sort((a, b) => a - b);
      return {
        group,
        name: `${name} (CPU time)`,
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

/** One use's host calls without a guest: what the file system itself costs, per mode. */
function hostCalls(dir: string, mode: PreopenMode): () => void {
  const host = new WasiHost({ preopens: [{ guestPath: '/data', hostPath: dir, mode }] });
  const memory = new WebAssembly.Memory({ initial: 2 });
  host.bindMemory(memory);
  const wasi = host.imports.wasi_snapshot_preview1 as Record<string, (...args: (number | bigint)[]) => number>;
  const view = new DataView(memory.buffer);
  const path = new TextEncoder().encode('a/b/page.html');
  new Uint8Array(memory.buffer).set(path, 0x1000);
  view.setUint32(0x200, 0x8000, true); // one iovec: 16 KiB at 0x8000
  view.setUint32(0x204, 0x4000, true);
  const context = { args: ['bench'], env: [], stdin: new Uint8Array(0), stdout() {}, stderr() {} };
  const FD_READ = 2n;
  return () => {
    host.begin(context);
    if (wasi.path_open!(3, 1, 0x1000, path.length, 0, FD_READ, 0n, 0, 0x100) !== 0) throw new Error('bench: path_open failed');
    const fd = view.getUint32(0x100, true);
    wasi.fd_read!(fd, 0x200, 1, 0x104);
    wasi.fd_close!(fd);
    host.end();
  };
}
