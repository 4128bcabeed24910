/**
 * ThreadPool against real worker threads, real memfds and real guests (issue 17, "How we will
 * know"): the main thread's event loop keeps turning while every thread's guest spins; a looping
 * start function, a looping host call and a spinning guest are each stopped with a typed error and
 * the pool keeps serving; a reset instance equals a fresh one on every thread; close() with uses
 * in flight resolves and every memfd is closed; a thread that dies is replaced.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import fc from 'fast-check';
import { ThreadPool, type ThreadPoolOptions } from '../src/threads/index.ts';
import { metrics } from '../src/metrics/index.ts';
import { InstancePool } from '../src/index.ts';
import { GuestTimeoutError, GuestTrapError, InvalidArgumentError, PoolClosedError, ThreadExitedError } from '../src/errors.ts';
import { pagemapSupport } from '../src/pagemap/index.ts';
import type { ResetStrategy } from '../src/memory/index.ts';
import { openMemfds } from './support/fds.ts';
import { moduleBytes, moduleSpec, observe, uses, OP } from './support/random-module.ts';
import { wat } from './support/wat.ts';
import type { ContractInput } from './fixtures/threads/use-contract.ts';
import type { PreparedMessage } from '../src/pool/build.ts';

const BASIC = new URL('./fixtures/threads/use-basic.mjs', import.meta.url);
const CONTRACT = new URL('./fixtures/threads/use-contract.ts', import.meta.url);

const guest = wat(`(module
  (import "env" "hang" (func $hang))
  (import "env" "exit" (func $exit (param i32)))
  (import "env" "seen" (func $seen (result i32)))
  (memory (export "memory") 1)
  (data (i32.const 16) "hello")
  (func (export "bump") (result i32)
    (i32.store8 (i32.const 0) (i32.add (i32.load8_u (i32.const 0)) (i32.const 1)))
    (i32.load8_u (i32.const 0)))
  (func (export "seen") (result i32) call $seen)
  (func (export "spin") (loop $l (br $l)))
  (func (export "hang") call $hang)
  (func (export "exit") (param i32) local.get 0 call $exit))`);

/** Mappings of an image's memfd in this process (every thread's: they share the address space). */
function imageMappings(): number {
  return readFileSync('/proc/self/maps', 'utf8')
    .split('\n')
    .filter((line) => line.includes('/memfd:cowpool-image')).length;
}

type Basic = { op: 'bump' | 'spin' | 'hang' | 'bytes' } | { op: 'seen'; n: number } | { op: 'exit'; code: number };

function basicPool(options: Partial<ThreadPoolOptions> = {}) {
  return ThreadPool.create<Basic, unknown>(guest, { filename: BASIC, threads: 2, ...options });
}

test('uses run on the threads over one image: fresh state, the input as host.context, stats and describe', async () => {
  const memfds = openMemfds('cowpool-image');
  // madvise: a slot maps the image (copy, what auto takes for so small a memory, does not).
  const pool = await basicPool({ strategy: 'madvise' });
  assert.equal(openMemfds('cowpool-image'), memfds + 1, 'one image memfd for the process, whatever the threads');
  const bumps = (await Promise.all(Array.from({ length: 8 }, () => pool.run({ op: 'bump' })))) as { value: number; threadId: number }[];
  assert.deepEqual(
    bumps.map((b) => b.value),
    Array(8).fill(1),
    'every use starts from the image',
  );
  assert.equal(new Set(bumps.map((b) => b.threadId)).size, 2, 'both threads served');
  assert.equal(await pool.run({ op: 'seen', n: 42 }), 42, "a host function sees the use's input as host.context");
  assert.deepEqual([...((await pool.run({ op: 'bytes' })) as Uint8Array)], [...Buffer.from('hello')]);
  const stats = pool.stats();
  assert.equal(stats.uses, 10);
  assert.equal(stats.instances, 2, 'one instance per thread');
  assert.equal(stats.waiting, 0);
  assert.equal(stats.threads.threads, 2);
  assert.equal(stats.threads.completed, 10);
  assert.equal(
    stats.threads.perThread.reduce((sum, t) => sum + t.stats.uses, 0),
    10,
  );
  assert.equal(stats.resetTime.count, 10, 'every reset is in the histogram, summed over threads');
  assert.equal(
    stats.resetTime.counts.reduce((a, b) => a + b, 0),
    10,
  );
  assert.match(metrics(pool), /^cowpool_uses_total 10$/m, 'a ThreadPool is a metrics source as it is');
  const description = pool.describe();
  assert.equal(description.mechanism, 'reuse');
  assert.equal(description.max, 2);
  assert.equal(description.threads.threads, 2);
  assert.equal(description.threads.filename, BASIC.href);
  assert.ok(imageMappings() > 0, 'the threads map the image');
  await pool.close();
  assert.equal(openMemfds('cowpool-image'), memfds, 'closed with the pool');
  assert.equal(imageMappings(), 0, 'no mapping of the image remains: the threads freed their memories as they exited');
});

test("the main thread's event loop keeps turning while every thread's guest spins", async () => {
  const pool = await basicPool({ grace: 0 });
  const histogram = monitorEventLoopDelay({ resolution: 1 });
  histogram.enable();
  const spins = [pool.run({ op: 'spin' }, { timeout: 200 }), pool.run({ op: 'spin' }, { timeout: 200 })];
  const results = await Promise.allSettled(spins);
  histogram.disable();
  assert.deepEqual(
    results.map((r) => r.status === 'rejected' && r.reason instanceof GuestTimeoutError),
    [true, true],
  );
  const p99 = histogram.percentile(99) / 1e6;
  // The bench holds the strict bound (5 ms); here a loaded machine gets slack, far below the 200 ms a guest on this thread would stall it.
  assert.ok(p99 < 50, `event-loop delay p99 ${p99.toFixed(1)} ms while both threads spun`);
  await pool.close();
});

test('a spinning guest, a looping host call: each stopped with its thread, typed; the pool keeps serving', async () => {
  const pool = await basicPool({ grace: 20 });
  await assert.rejects(
    pool.run({ op: 'spin' }, { timeout: 50 }),
    (err: unknown) => err instanceof GuestTimeoutError && err.timeoutMs === 50,
  );
  await assert.rejects(pool.run({ op: 'hang' }, { timeout: 50 }), GuestTimeoutError);
  assert.equal(((await pool.run({ op: 'bump' })) as { value: number }).value, 1);
  assert.equal(pool.stats().threads.replaced, 2);
  assert.equal(pool.stats().threads.timedOut, 2);
  assert.equal(pool.stats().timeouts, 2, 'hard stops count as timeouts (what /metrics shows)');
  await pool.close();
});

test('with interruptible the fuel counter stops a spinning guest itself and the thread stays', async () => {
  const pool = await basicPool({ interruptible: true, threads: 1 });
  await assert.rejects(
    pool.run({ op: 'spin' }, { timeout: 30 }),
    (err: unknown) => err instanceof GuestTimeoutError && !/worker thread/.test(err.message),
  );
  assert.equal(((await pool.run({ op: 'bump' })) as { value: number }).value, 1);
  assert.equal(pool.stats().threads.replaced, 0);
  await pool.close();
});

test('a start function that never returns is stopped at createTimeout, with a typed error that says so', async () => {
  const looping = wat('(module (memory 1) (func $s (loop $l (br $l))) (start $s))');
  const memfds = openMemfds('cowpool-image');
  // The deadline leaves the preparing thread room to start (here, under tsx, it compiles cowpool's sources first).
  const started = performance.now();
  await assert.rejects(
    ThreadPool.create(looping, { filename: BASIC, threads: 1, createTimeout: 1500 }),
    (err: unknown) => err instanceof GuestTimeoutError && /start function or initializer did not return within 1500 ms/.test(err.message),
  );
  assert.ok(performance.now() - started < 10_000);
  // With the fuel counter, the start function stops itself at the deadline; the message says what did not return.
  await assert.rejects(
    ThreadPool.create(looping, { filename: BASIC, threads: 1, createTimeout: 1500, interruptible: true }),
    (err: unknown) => err instanceof GuestTimeoutError && /start function/.test(err.message),
  );
  assert.equal(openMemfds('cowpool-image'), memfds, 'no image was left behind');
});

test('a ThreadPool uses the cache of prepared pools: a warm one prepares nothing and behaves as the cold one', async () => {
  // Over the size the cache takes (a 70 KiB data segment), with a start function run once, at preparation.
  const big = wat(`(module (memory (export "memory") 2)
    (data (i32.const 16) "hello")
    (data (i32.const 1024) "${'\\2a'.repeat(70 * 1024)}")
    (func $start (i32.store8 (i32.const 0) (i32.const 41)))
    (start $start)
    (func (export "bump") (result i32)
      (i32.store8 (i32.const 0) (i32.add (i32.load8_u (i32.const 0)) (i32.const 1)))
      (i32.load8_u (i32.const 0))))`);
  const dir = mkdtempSync(join(tmpdir(), 'cowpool-thread-cache-'));
  const seen: PreparedMessage[] = [];
  const listen = (message: unknown) => seen.push(message as PreparedMessage);
  subscribe('cowpool:pool:prepared', listen);
  const memfds = openMemfds('cowpool-image');
  try {
    const behaviour = async (pool: ThreadPool<Basic, unknown>) => [
      ((await pool.run({ op: 'bump' })) as { value: number }).value,
      ((await pool.run({ op: 'bump' })) as { value: number }).value,
      [...((await pool.run({ op: 'bytes' })) as Uint8Array)],
      pool.describe().initialized,
    ];
    const cold = await ThreadPool.create<Basic, unknown>(big, { filename: BASIC, threads: 2, cache: { dir } });
    const expected = await behaviour(cold);
    await cold.close();
    assert.deepEqual(expected, [42, 42, [...Buffer.from('hello')], true], 'every use starts where the start function left');
    assert.equal(seen[0]?.cache.kind, 'stored', 'the cold pool prepared on a thread and stored what it made');
    assert.equal(readdirSync(join(dir, 'prepared-1')).length, 1);

    const warm = await ThreadPool.create<Basic, unknown>(big, { filename: BASIC, threads: 2, cache: { dir } });
    assert.equal(seen[1]?.cache.kind, 'hit', 'the warm pool was assembled from the cache: no preparing thread ran');
    assert.deepEqual(await behaviour(warm), expected);
    await warm.close();
    const local = await InstancePool.create<{ bump(): number }>(big, { cache: { dir } });
    assert.equal(seen[2]?.cache.kind, 'hit', 'the same entry serves an InstancePool: one prepared form, whoever made it');
    assert.equal(await local.run((instance) => instance.exports.bump()), 42);
    await local.close();
    assert.equal(openMemfds('cowpool-image'), memfds, 'every image closed with its pool');
  } finally {
    unsubscribe('cowpool:pool:prepared', listen);
    rmSync(dir, { recursive: true, force: true });
  }
});

test('close() with uses in flight lets them finish, refuses new ones, and closes every memfd', async () => {
  const memfds = openMemfds('cowpool-image');
  const pool = await basicPool({ grace: 20 });
  const inFlight = [pool.run({ op: 'bump' }), pool.run({ op: 'spin' }, { timeout: 100 }), pool.run({ op: 'bump' })];
  const closed = pool.close();
  await assert.rejects(pool.run({ op: 'bump' }), PoolClosedError);
  const outcomes = await Promise.allSettled(inFlight);
  assert.deepEqual(
    outcomes.map((o) => o.status),
    ['fulfilled', 'rejected', 'fulfilled'],
  );
  await closed;
  assert.equal(openMemfds('cowpool-image'), memfds);
});

test('close({ force }) stops uses in flight and closes every memfd', async () => {
  const memfds = openMemfds('cowpool-image');
  const pool = await basicPool();
  const spinning = pool.run({ op: 'spin' });
  await new Promise((resolve) => setTimeout(resolve, 20));
  await Promise.all([pool.close({ force: true }), assert.rejects(spinning, PoolClosedError)]);
  assert.equal(openMemfds('cowpool-image'), memfds);
});

test('a thread that dies is replaced and the pool keeps serving', async () => {
  const pool = await basicPool({ threads: 1 });
  await assert.rejects(pool.run({ op: 'exit', code: 3 }), (err: unknown) => err instanceof ThreadExitedError && err.exitCode === 3);
  assert.equal(((await pool.run({ op: 'bump' })) as { value: number }).value, 1);
  assert.equal(pool.stats().threads.replaced, 1);
  await pool.close();
});

test('an idle pool does not keep the process alive; a waiting or running use does', () => {
  const started = performance.now();
  const out = execFileSync(
    process.execPath,
    ['--import', 'tsx', fileURLToPath(new URL('./fixtures/threads/idle-exit.ts', import.meta.url))],
    {
      encoding: 'utf8',
      timeout: 30_000,
    },
  );
  assert.match(out, /"value":1/, 'the use ran to its end before the process exited');
  assert.ok(performance.now() - started < 30_000);
});

test('options: code comes from the module file, max and min do not apply, the file must exist and export a use', async () => {
  await assert.rejects(
    ThreadPool.create(guest, { filename: BASIC, setup: () => ({}) } as never),
    /options\.setup cannot be sent to a worker thread/,
  );
  await assert.rejects(ThreadPool.create(guest, { filename: BASIC, max: 4 } as never), /options\.max does not apply to a ThreadPool/);
  await assert.rejects(ThreadPool.create(guest, { filename: '/no/such/file.mjs' }), /there is no file at \/no\/such\/file\.mjs/);
  await assert.rejects(
    ThreadPool.create(guest, { filename: BASIC, thread: 2 } as never),
    /unknown option 'thread'; did you mean 'threads'/,
  );
  await assert.rejects(ThreadPool.create(guest, { filename: BASIC, strategy: 'fast' } as never), InvalidArgumentError);
  await assert.rejects(
    ThreadPool.create(guest, { filename: new URL('./fixtures/threads/error-cases-worker.ts', import.meta.url), threads: 1 }),
    /must export default the function each use runs/,
  );
});

const strategies: ResetStrategy[] = pagemapSupport().supported ? ['pagemap', 'madvise', 'copy'] : ['madvise', 'copy'];

test('the differential contract holds on every thread: a reset instance equals a fresh one', async () => {
  await fc.assert(
    fc.asyncProperty(moduleSpec, uses, fc.constantFrom(...strategies), async (spec, sequence, strategy) => {
      const module = new WebAssembly.Module(moduleBytes(spec));
      const fresh = observe(new WebAssembly.Instance(module), spec);
      const pool = await ThreadPool.create<ContractInput, { threadId: number; state?: Record<string, unknown> }>(moduleBytes(spec), {
        filename: CONTRACT,
        threads: 2,
        strategy,
      });
      const onEveryThread = async (input: ContractInput) => {
        // Both threads are idle, so two uses at once run one on each.
        const outcomes = await Promise.allSettled([pool.run(input), pool.run(input)]);
        return outcomes;
      };
      try {
        for (const ops of [undefined, ...sequence]) {
          if (ops !== undefined) {
            const traps = ops.some((o) => o.kind === OP.trap);
            for (const outcome of await onEveryThread({ spec, ops })) {
              if (traps)
                assert.ok(outcome.status === 'rejected' && outcome.reason instanceof GuestTrapError, `${strategy}: a trap arrives typed`);
              else assert.equal(outcome.status, 'fulfilled');
            }
          }
          const seen = await onEveryThread({ spec });
          const states = seen.map((o) => (o.status === 'fulfilled' ? o.value : assert.fail(String(o.reason))));
          assert.equal(new Set(states.map((s) => s.threadId)).size, 2, 'observed on both threads');
          for (const s of states) assert.deepEqual(s.state, fresh, `${strategy}, thread ${s.threadId}, after ${JSON.stringify(ops)}`);
        }
      } finally {
        await pool.close();
      }
    }),
    { numRuns: 6 },
  );
});
