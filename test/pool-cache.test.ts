/**
 * The cache of prepared pools: a second pool of the same module and options is assembled from the
 * cache (preparation does not run: the setup hook that a pure start function's run would call is
 * not called) and behaves exactly as the first; what shapes the result changes the key; a damaged,
 * truncated or misplaced entry is never used, and is rewritten; an unwritable directory or a cache
 * turned off costs nothing but the cache; concurrent writers leave a whole entry. Real files in a
 * temporary directory, real pools, real child processes.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, truncateSync, writeFileSync, renameSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { InstancePool, type PoolOptions } from '../src/index.ts';
import { QuickJSSandbox } from '../src/quickjs/index.ts';
import { SqliteSandbox } from '../src/sqlite/index.ts';
import { cacheLocation, checkCacheOption } from '../src/pool/cache/settings.ts';
import { decodeEntry, encodeEntry } from '../src/pool/cache/entry.ts';
import { driveAsync } from '../src/pool/sync-or-async.ts';
import { preparedPool } from '../src/pool/build.ts';
import { checkPreparedPool, FROM_PREPARED, FROM_PREPARED_SYNC } from '../src/pool/prepared-pool.ts';
import { InvalidArgumentError } from '../src/errors.ts';
import { wat } from './support/wat.ts';
import { main } from '../src/cli/main.ts';
import { serve } from '../src/serve/index.ts';
import type { PreparedMessage } from '../src/pool/build.ts';
import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import { openMemfds } from './support/fds.ts';

/** A directory of its own for each test's cache. */
function cacheDir(): string {
  return mkdtempSync(join(tmpdir(), 'cowpool-cache-test-'));
}

function entries(dir: string): string[] {
  try {
    return readdirSync(join(dir, 'prepared-1'))
      .filter((name) => !name.endsWith('.tmp'))
      .map((name) => join(dir, 'prepared-1', name));
  } catch {
    return [];
  }
}

/**
 * A module over the size the cache takes (a 70 KiB data segment), with a start function that only
 * writes its own memory and globals (run once, when the image is made) and a mutable global.
 */
const BIG = wat(`(module (memory 2 4)
  (global $g (mut i32) (i32.const 5))
  (data (i32.const 1024) "${'\\2a'.repeat(70 * 1024)}")
  (func $start (i32.store (i32.const 8) (i32.const 4242)) (global.set $g (i32.const 9)))
  (start $start)
  (func (export "bump") (result i32)
    (global.set $g (i32.add (global.get $g) (i32.const 1)))
    (i32.store (i32.const 8) (i32.add (i32.load (i32.const 8)) (i32.const 1)))
    (i32.add (i32.load (i32.const 8)) (i32.mul (global.get $g) (i32.const 100000))))
  (func (export "byte") (param i32) (result i32) (i32.load8_u (local.get 0))))`);

type Big = { bump(): number; byte(at: number): number };

/** Pool options that count the setup calls: a pure start function's run calls setup once more. */
function counted(dir: string, extra: PoolOptions = {}): { options: PoolOptions; calls: () => number } {
  let calls = 0;
  return {
    options: {
      min: 1,
      max: 1,
      setup: () => {
        calls++;
        return {};
      },
      cache: { dir },
      ...extra,
    },
    calls: () => calls,
  };
}

async function behaviour(pool: InstancePool<Big>): Promise<unknown[]> {
  const seen: unknown[] = [];
  for (let i = 0; i < 3; i++) seen.push(await pool.run((instance) => instance.exports.bump()));
  seen.push(
    await pool.run((instance) => [instance.exports.byte(1024), instance.exports.byte(1024 + 70 * 1024 - 1), instance.exports.byte(9)]),
  );
  seen.push(pool.describe());
  return seen;
}

test('a second pool of the same module and options comes from the cache and behaves as the first', async () => {
  const dir = cacheDir();
  try {
    const first = counted(dir);
    const cold = await InstancePool.create<Big>(BIG, first.options);
    const coldBehaviour = await behaviour(cold);
    await cold.close();
    assert.equal(first.calls(), 2, 'the start function ran with setup imports once, and one member was made');
    assert.equal(entries(dir).length, 1, 'one entry was stored');

    const second = counted(dir);
    const warm = await InstancePool.create<Big>(BIG, second.options);
    assert.equal(second.calls(), 1, 'nothing was prepared: only the member called setup');
    assert.deepEqual(await behaviour(warm), coldBehaviour);
    assert.equal(coldBehaviour[0], 4243 + 10 * 100000, 'every use starts where the start function left');
    await warm.close();

    const sync = counted(dir);
    const warmSync = InstancePool.createSync<Big>(BIG, sync.options);
    assert.equal(sync.calls(), 1);
    assert.deepEqual(await behaviour(warmSync), coldBehaviour);
    await warmSync.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('what shapes the prepared pool is in the key; what does not is not', async () => {
  const dir = cacheDir();
  try {
    const make = async (extra: PoolOptions, source: Uint8Array = BIG) => {
      const pool = await InstancePool.create(source, { cache: { dir }, min: 0, ...extra });
      await pool.close();
      return entries(dir).length;
    };
    assert.equal(await make({}), 1);
    assert.equal(
      await make({ max: 3, keepResident: 0, strategy: 'madvise', initialMemory: 4 * 65536 }),
      1,
      'pool settings share the entry',
    );
    assert.equal(await make({ interruptible: true }), 2);
    assert.equal(await make({ interruptible: 'loops' }), 3);
    assert.equal(await make({ mechanism: 'reinstantiate' }), 4);
    assert.equal(await make({ virtualMemorySize: true }), 5);
    const other = BIG.slice();
    other[other.indexOf(0x2a, other.length / 2)] = 0x2b; // one byte of the data segment
    assert.equal(await make({}, other), 6);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('what the cache never holds: small modules, options.initialize, a pool with the cache off', async () => {
  const dir = cacheDir();
  const saved = process.env.COWPOOL_CACHE;
  try {
    const small = wat(`(module (memory 1) (func (export "f") (result i32) (i32.const 1)))`);
    await (await InstancePool.create(small, { cache: { dir } })).close();
    const init = wat(`(module (memory 2) (data (i32.const 0) "${'\\01'.repeat(70 * 1024)}")
      (func (export "init") (i32.store (i32.const 0) (i32.const 7))) (func (export "f") (result i32) (i32.load (i32.const 0))))`);
    await (await InstancePool.create(init, { cache: { dir }, initialize: 'init' })).close();
    await (await InstancePool.create(BIG, { cache: false })).close();
    assert.deepEqual(entries(dir), []);
    process.env.COWPOOL_CACHE = 'off';
    await (await InstancePool.create(BIG, { cache: { dir } })).close();
    assert.deepEqual(entries(dir), [], 'COWPOOL_CACHE=off wins over the option');
  } finally {
    if (saved === undefined) delete process.env.COWPOOL_CACHE;
    else process.env.COWPOOL_CACHE = saved;
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a truncated, damaged or misplaced entry is not used, and the next preparation rewrites it', async () => {
  const dir = cacheDir();
  try {
    const cold = counted(dir);
    const reference = await InstancePool.create<Big>(BIG, cold.options);
    const expected = await behaviour(reference);
    await reference.close();
    const [path] = entries(dir);
    assert.ok(path);
    const whole = readFileSync(path);
    const damages: [string, () => void][] = [
      ['truncated', () => truncateSync(path, whole.length - 100)],
      ['a flipped byte', () => writeFileSync(path, Buffer.from(whole).fill(0x55, whole.length - 50, whole.length - 49))],
      ['empty', () => writeFileSync(path, '')],
      ['not ours', () => writeFileSync(path, 'hello')],
      ['another key', () => writeFileSync(path, encodeEntry('0'.repeat(64), decodeEntry(path.slice(-64), whole) as never))],
    ];
    for (const [what, damage] of damages) {
      damage();
      const run = counted(dir);
      const pool = await InstancePool.create<Big>(BIG, run.options);
      assert.equal(run.calls(), 2, `${what}: prepared afresh`);
      assert.deepEqual(await behaviour(pool), expected, what);
      await pool.close();
      assert.deepEqual(readFileSync(path), whole, `${what}: rewritten whole`);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a cache directory that cannot be made costs only the cache, and leaves nothing open', async () => {
  const dir = cacheDir();
  try {
    const file = join(dir, 'a-file');
    writeFileSync(file, '');
    const before = openMemfds();
    for (let i = 0; i < 2; i++) {
      const run = counted(join(file, 'cache'));
      const pool = await InstancePool.create<Big>(BIG, run.options);
      assert.equal(run.calls(), 2, 'prepared each time');
      assert.equal(await pool.run((instance) => instance.exports.bump()), 4243 + 10 * 100000);
      await pool.close();
    }
    assert.equal(openMemfds(), before);
    assert.deepEqual(readdirSync(dir), ['a-file']);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('concurrent writers of one key leave one whole entry, which the next process uses', async () => {
  const dir = cacheDir();
  try {
    const script = `
      import { SqliteSandbox } from ${JSON.stringify(new URL('../src/sqlite/index.ts', import.meta.url).href)};
      const setup = 'CREATE TABLE t(x); INSERT INTO t VALUES (41)';
      const db = await SqliteSandbox.create({ setup, cache: { dir: ${JSON.stringify(dir)} } });
      console.log(JSON.stringify(db.execSync('SELECT x + 1 AS y FROM t')));
      await db.close();`;
    const run = () =>
      new Promise<string>((resolve, reject) => {
        const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
          stdio: ['ignore', 'pipe', 'inherit'],
        });
        let out = '';
        child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
        child.on('error', reject);
        child.on('exit', (code) => (code === 0 ? resolve(out.trim()) : reject(new Error(`exit ${code}`))));
      });
    const outputs = await Promise.all([run(), run(), run()]);
    assert.equal(new Set(outputs).size, 1, outputs.join(' / '));
    const [path, ...others] = entries(dir);
    assert.ok(path && others.length === 0, 'one entry');
    assert.equal(typeof decodeEntry(path.slice(-64), readFileSync(path)), 'object', 'whole');
    assert.equal(await run(), outputs[0]);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a sandbox with a setup comes from the cache: the same state, logs and limits, and another setup is another entry', async () => {
  const dir = cacheDir();
  try {
    const setup = 'globalThis.greet = (who) => `hello ${who} ${counter++}`; var counter = 1; console.log("set up", 40 + 2);';
    const make = () => QuickJSSandbox.create({ setup, cache: { dir }, min: 1 });
    const cold = await make();
    const coldResult = [await cold.call('greet', ['ada']), await cold.call('greet', ['bob']), cold.setupLogs, cold.stats().setupBytes];
    await cold.close();
    assert.equal(entries(dir).length, 1);
    const stored = statSync(entries(dir)[0]!).mtimeMs;
    const warm = await make();
    assert.deepEqual(
      [await warm.call('greet', ['ada']), await warm.call('greet', ['bob']), warm.setupLogs, warm.stats().setupBytes],
      coldResult,
    );
    assert.deepEqual(coldResult.slice(0, 2), ['hello ada 1', 'hello bob 1']);
    assert.equal(await warm.eval('Math.random() !== Math.random()'), true);
    await warm.close();
    assert.equal(entries(dir).length, 1, 'used, not stored again');
    assert.ok(statSync(entries(dir)[0]!).mtimeMs >= stored);
    await (await QuickJSSandbox.create({ setup: `${setup} counter = 5;`, cache: { dir }, min: 0 })).close();
    await (await QuickJSSandbox.create({ setup, memoryLimit: 16 * 2 ** 20, cache: { dir }, min: 0 })).close();
    await (await QuickJSSandbox.create({ setup, setupFilename: 'other.js', cache: { dir }, min: 0 })).close();
    assert.equal(entries(dir).length, 4);

    const sql = 'CREATE TABLE t(x); INSERT INTO t VALUES (1), (2)';
    const dbs = [await SqliteSandbox.create({ setup: sql, cache: { dir } }), await SqliteSandbox.create({ setup: sql, cache: { dir } })];
    const answers = dbs.map((db) => db.execSync('INSERT INTO t VALUES (3); SELECT count(*) AS n, random() AS r FROM t')[0]!.values[0]!);
    assert.deepEqual(
      answers.map((row) => row[0]),
      [3, 3],
    );
    assert.notEqual(answers[0]![1], answers[1]![1], 'the PRNG is seeded per use, cached or not');
    for (const db of dbs) await db.close();
    assert.equal(entries(dir).length, 5);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a prepared pool is plain data: cloned, it builds a pool that behaves as the original, and a bad one is refused', async () => {
  const made = await driveAsync(preparedPool(BIG, { cache: false }));
  const clone = checkPreparedPool(structuredClone(made.prepared));
  const original = await InstancePool.create<Big>(BIG, { cache: false });
  const fromClone = await InstancePool[FROM_PREPARED]<Big>(clone);
  const fromCloneSync = InstancePool[FROM_PREPARED_SYNC]<Big>(clone, {}, { module: made.module });
  const expected = await behaviour(original);
  assert.deepEqual(await behaviour(fromClone), expected);
  assert.deepEqual(await behaviour(fromCloneSync), expected);
  for (const pool of [original, fromClone, fromCloneSync]) await pool.close();
  for (const bad of [
    null,
    {},
    { ...clone, bytes: 'x' },
    { ...clone, plan: { ...clone.plan, mechanism: 'magic' } },
    { ...clone, image: { ...clone.image, start: -1 } },
  ]) {
    assert.throws(() => checkPreparedPool(bad), InvalidArgumentError);
  }
  await assert.rejects(InstancePool[FROM_PREPARED](null as never), InvalidArgumentError);
});

test('the cache option and the environment: where the cache is, or why there is none', () => {
  assert.deepEqual(cacheLocation({ dir: undefined }, { HOME: '/h', XDG_CACHE_HOME: '/x' }), { dir: '/x/cowpool' });
  assert.deepEqual(cacheLocation({ dir: undefined }, { XDG_CACHE_HOME: 'relative', COWPOOL_CACHE_DIR: '/c' }), { dir: '/c' });
  assert.deepEqual(cacheLocation({ dir: '/o' }, { COWPOOL_CACHE_DIR: '/c' }), { dir: '/o' });
  assert.deepEqual(cacheLocation({ dir: '/o' }, { COWPOOL_CACHE: 'OFF' }), { off: 'COWPOOL_CACHE=OFF' });
  assert.deepEqual(cacheLocation(false, {}), { off: 'options.cache is false' });
  assert.deepEqual(checkCacheOption('options.cache', undefined), { dir: undefined });
  assert.throws(() => checkCacheOption('options.cache', 'yes'), /options.cache must be true, false or \{ dir \}/);
  assert.throws(() => checkCacheOption('options.cache', { dri: '/x' }), /unknown option 'dri'; did you mean 'dir'/);
  assert.throws(() => InstancePool.createSync(BIG, { cache: { dir: '' } }), /options.cache.dir must be a directory path/);
});

// An entry renamed to another key's name is another key's: used only if its own key matches.
test('an entry under the wrong name is not used', async () => {
  const dir = cacheDir();
  try {
    await (await InstancePool.create(BIG, { cache: { dir }, min: 0 })).close();
    await (await InstancePool.create(BIG, { cache: { dir }, min: 0, interruptible: true })).close();
    // a: the entry without the fuel counter; b: the one with it. a is renamed to b's key.
    const interruptible = (path: string) =>
      (decodeEntry(path.slice(-64), readFileSync(path)) as { plan: { interruptible: unknown } }).plan.interruptible;
    const [a, b] = entries(dir).sort((x, y) => Number(interruptible(x)) - Number(interruptible(y)));
    assert.deepEqual([interruptible(a!), interruptible(b!)], [false, true]);
    renameSync(a!, b!);
    const run = counted(dir, { interruptible: true });
    await (await InstancePool.create(BIG, run.options)).close();
    assert.equal(run.calls(), 2, 'prepared afresh');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('cowpool warm prepares what cowpool serve and the sandboxes then find in the cache', async () => {
  const dir = cacheDir();
  const saved = process.env.COWPOOL_CACHE_DIR;
  const seen: PreparedMessage[] = [];
  const listener = (message: unknown) => seen.push(message as PreparedMessage);
  subscribe('cowpool:pool:prepared', listener);
  const log = console.log;
  const printed: string[] = [];
  console.log = (...args: unknown[]) => void printed.push(args.join(' '));
  try {
    const setupFile = join(dir, 'setup.sql');
    const sql = 'CREATE TABLE t(x); INSERT INTO t VALUES (42)';
    writeFileSync(setupFile, sql);
    assert.equal(await main(['warm', 'sqlite', setupFile, '--cache-dir', dir]), 0);
    assert.equal(await main(['warm', 'examples/sqlite.wasm', '--cache-dir', dir]), 0);
    assert.equal(await main(['warm', 'examples/hello.wasm', '--cache-dir', dir]), 0);
    assert.match(printed.join('\n'), /sqlite with .*setup\.sql prepared into .*prepared-1\/[0-9a-f]{64}/);
    assert.match(printed.join('\n'), /hello\.wasm needs no cache: the module is 477 bytes/);
    assert.equal(entries(dir).length, 2);
    seen.length = 0;
    const db = await SqliteSandbox.create({ setup: sql, cache: { dir } });
    assert.deepEqual(db.execSync('SELECT x FROM t')[0]!.values, [[42]]);
    await db.close();
    process.env.COWPOOL_CACHE_DIR = dir;
    const server = await serve({ wasm: 'examples/sqlite.wasm', port: 0 });
    await server.close();
    assert.deepEqual(
      seen.map((m) => m.cache.kind),
      ['hit', 'hit'],
    );
    assert.equal(await main(['warm', 'quickjs', '--cache-dir', dir]), 0);
    assert.equal(await main(['warm', 'quickjs', '--cache-dir', dir]), 0);
    assert.match(printed.at(-1)!, /quickjs is prepared already/);
  } finally {
    console.log = log;
    unsubscribe('cowpool:pool:prepared', listener);
    if (saved === undefined) delete process.env.COWPOOL_CACHE_DIR;
    else process.env.COWPOOL_CACHE_DIR = saved;
    rmSync(dir, { recursive: true, force: true });
  }
});
