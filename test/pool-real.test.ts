// Real toolchain output through the pool: hash-wasm's SHA-256 (C built with clang, from npm), used
// the way its own JS does, compared with node:crypto, and checked for state leaking between uses.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { InstancePool } from '../src/index.ts';
import { hashWasmBytes, type Sha256 } from './support/hash-wasm.ts';

function sha256(exports: Sha256, input: Uint8Array, finish = true): string {
  const at = exports.Hash_GetBuffer();
  exports.Hash_Init(256);
  for (let done = 0; done < input.length; done += 16384) {
    const chunk = input.subarray(done, done + 16384);
    new Uint8Array(exports.memory.buffer).set(chunk, at);
    exports.Hash_Update(chunk.length);
  }
  if (!finish) return '';
  exports.Hash_Final();
  return Buffer.from(exports.memory.buffer, at, 32).toString('hex');
}

test('hash-wasm SHA-256 through the pool matches node:crypto, use after use', async () => {
  const bytes = hashWasmBytes('sha256');
  const pool = await InstancePool.create<Sha256>(bytes, { max: 1 });
  const description = pool.describe();
  assert.equal(description.mechanism, 'reuse', description.mechanismReason);
  assert.ok(description.restoredGlobals >= 1, 'the exported __stack_pointer is restored');
  const inputs = ['', 'abc', 'x'.repeat(100_000), 'cowpool'].map((s) => Buffer.from(s));
  for (const input of inputs) {
    const expected = createHash('sha256').update(input).digest('hex');
    assert.equal(await pool.run((i) => sha256(i.exports, input)), expected);
    // A use that leaves a hash half done must not influence the next one.
    await pool.run((i) => sha256(i.exports, Buffer.from('leftover state'), false));
  }
  const fresh = new WebAssembly.Instance(new WebAssembly.Module(bytes)).exports as unknown as Sha256;
  const freshMemory = Buffer.from(fresh.memory.buffer);
  const pooledMemory = await pool.run((i) => Buffer.from(i.exports.memory.buffer));
  assert.ok(pooledMemory.equals(freshMemory), "pooled memory equals a fresh instance's");
  await pool.close();
});

// A C program built with clang for wasm32-wasi (test/fixtures/secret.c, rebuilt by
// examples/build.sh): a secret it writes into a global, a heap buffer and a 2 MiB static array is
// gone by the next use, for both mechanisms.
for (const mechanism of ['reuse', 'reinstantiate'] as const) {
  test(`${mechanism}: a clang-built WASI program cannot see the previous use's secret`, async () => {
    const { WasiHost } = await import('../src/wasi/index.ts');
    const bytes = readFileSync(new URL('./fixtures/secret.wasm', import.meta.url));
    const pool = await InstancePool.create(bytes, {
      mechanism,
      max: 1,
      setup: () => {
        const wasi = new WasiHost();
        return { imports: wasi.imports, state: wasi };
      },
    });
    const request = (query: string) =>
      pool.run((instance, _context, host) => {
        let out = '';
        host.state.run(instance, {
          args: ['secret.wasm'],
          env: [`QUERY_STRING=${query}`],
          stdin: new Uint8Array(0),
          stdout: (chunk: Uint8Array) => (out += Buffer.from(chunk).toString()),
          stderr: () => {},
        });
        return out.slice(out.indexOf('\n\n') + 2).trim();
      });
    assert.equal(await request('write=SECRET-4242'), 'stored');
    assert.equal(await request('read'), 'clean');
    assert.equal(await request('read'), 'clean');
    assert.equal(pool.stats().retirements, 0, 'the program does not grow its memory');
    await pool.close();
  });
}
