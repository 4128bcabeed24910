/**
 * The pool as users call it: `await pool.run(...)` (and `runSync`) against
 * `new WebAssembly.Instance` + the same call, for a 1 MiB memory with 2 dirty pages per use, and
 * for real guests: hash-wasm's SHA-256 (clang, from npm) and SQLite over WASI (examples/sqlite.wasm).
 */
import { readFileSync } from 'node:fs';
import { InstancePool, type InstanceHost } from '../src/index.ts';
import { WasiHost } from '../src/wasi/index.ts';
import { PAGE_SIZE } from '../src/sys/index.ts';
import { hashWasmBytes, type Sha256 } from '../test/support/hash-wasm.ts';
import { wat } from '../test/support/wat.ts';
import { measure, measureAsync, type Measurement } from './measure.ts';

const TOUCH = wat(`(module (memory (export "memory") 16)
  (data (i32.const 1024) "${'cowpool image '.repeat(64)}")
  (global $calls (mut i32) (i32.const 0))
  (func (export "touch") (param $pages i32) (local $i i32)
    (global.set $calls (i32.add (global.get $calls) (i32.const 1)))
    (block $done (loop $next
      (br_if $done (i32.ge_u (local.get $i) (local.get $pages)))
      (i32.store (i32.mul (local.get $i) (i32.const ${PAGE_SIZE})) (global.get $calls))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br $next)))))`);

/** The exports of TOUCH. */
interface Touch {
  touch(pages: number): void;
}

/** Runs the pool benchmark. */
export async function benchPool(quick: boolean): Promise<Measurement[]> {
  const options = quick ? { batches: 8, budgetMs: 800 } : {};
  const results: Measurement[] = [];

  const group = 'pool.run, 1 MiB memory, 2 dirty pages';
  const module = new WebAssembly.Module(TOUCH);
  results.push(
    measure(
      group,
      'new Instance + call',
      () => {
        (new WebAssembly.Instance(module).exports.touch as (n: number) => void)(2);
      },
      options,
    ),
  );
  const pool = await InstancePool.create<Touch>(TOUCH, { max: 1 });
  results.push(await measureAsync(group, 'await pool.run', () => pool.run((i) => i.exports.touch(2)), options));
  results.push(measure(group, 'pool.runSync', () => pool.runSync((i) => i.exports.touch(2)), options));
  const reinstantiate = await InstancePool.create<Touch>(TOUCH, { max: 1, mechanism: 'reinstantiate' });
  results.push(await measureAsync(group, 'await pool.run (reinstantiate)', () => reinstantiate.run((i) => i.exports.touch(2)), options));
  await pool.close();
  await reinstantiate.close();

  results.push(...(await sha256(options)));
  results.push(...(await sqlite(options)));
  return results;
}

async function sha256(options: object): Promise<Measurement[]> {
  const bytes = hashWasmBytes('sha256');
  const input = Buffer.alloc(4096, 7);
  const hash = (exports: Sha256) => {
    const at = exports.Hash_GetBuffer();
    exports.Hash_Init(256);
    new Uint8Array(exports.memory.buffer).set(input, at);
    exports.Hash_Update(input.length);
    exports.Hash_Final();
  };
  const group = 'hash-wasm SHA-256 of 4 KiB (npm, clang)';
  const module = new WebAssembly.Module(bytes);
  const pool = await InstancePool.create<Sha256>(bytes, { max: 1 });
  // The baseline instance is plain WebAssembly, whose exports TypeScript cannot know.
  const fresh = () => new WebAssembly.Instance(module).exports as unknown as Sha256;
  const out = [
    measure(group, 'new Instance + hash', () => hash(fresh()), options),
    await measureAsync(group, 'await pool.run', () => pool.run((i) => hash(i.exports)), options),
  ];
  await pool.close();
  return out;
}

async function sqlite(options: object): Promise<Measurement[]> {
  const bytes = readFileSync('examples/sqlite.wasm');
  const group = 'SQLite over WASI: one query on a fresh in-memory database';
  const env = ['REQUEST_METHOD=GET', 'QUERY_STRING=q=SELECT%20name%20FROM%20animals%20WHERE%20legs%3E2'];
  const context = { args: ['sqlite.wasm'], env, stdin: new Uint8Array(0), stdout: () => {}, stderr: () => {} };
  const module = new WebAssembly.Module(bytes);
  const wasi = new WasiHost();
  const pool = await InstancePool.create(bytes, {
    max: 1,
    setup: (host: InstanceHost<WasiHost>) => {
      const w = new WasiHost();
      if (host.memory) w.bindMemory(host.memory);
      return { imports: w.imports, state: w };
    },
  });
  const out = [
    measure(group, 'new Instance + query', () => void wasi.run(new WebAssembly.Instance(module, wasi.imports), context), {
      ...options,
      batch: 20,
    }),
    await measureAsync(group, 'await pool.run', () => pool.run((i, _c, host) => host.state.run(i, context)), { ...options, batch: 20 }),
  ];
  await pool.close();
  return out;
}
