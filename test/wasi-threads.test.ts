/**
 * WasiCommand with `threads` against real worker threads and real guests (issue 17): output as the
 * guest writes it (callbacks on this thread, `stream()` really streaming), the same results as on
 * this thread (`runSync`, a command without threads), a use after a hostile use as pristine as a
 * fresh command's, a guest stopped by the fuel counter keeping its thread and one no check reaches
 * stopped with it, an abort while the guest runs, a callback that throws; a guest holding a host
 * file when its thread is ended leaks no descriptor, and close() closes every memfd.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { AbortedError, GuestTimeoutError, WasiCommand, type WasiCommandOptions } from '../src/wasi/index.ts';
import { InvalidArgumentError } from '../src/errors.ts';
import { openMemfds } from './support/fds.ts';
import { wat } from './support/wat.ts';

const LINES = readFileSync(new URL('../examples/lines.wasm', import.meta.url));
const PROBE = readFileSync(new URL('./fixtures/wasi-probe.wasm', import.meta.url));

/** A command that opens `held.txt` of its first preopen (fd 3) for reading, says so, and spins without a host call. */
const HOLDER = wat(`(module
  (import "wasi_snapshot_preview1" "path_open" (func $open (param i32 i32 i32 i32 i32 i64 i64 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_write" (func $write (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (data (i32.const 16) "held.txt")
  (data (i32.const 64) "\\50\\00\\00\\00\\05\\00\\00\\00")
  (data (i32.const 80) "open\\n")
  (func (export "_start")
    (drop (call $open (i32.const 3) (i32.const 0) (i32.const 16) (i32.const 8) (i32.const 0) (i64.const 2) (i64.const 0) (i32.const 0) (i32.const 32)))
    (drop (call $write (i32.const 1) (i32.const 64) (i32.const 1) (i32.const 40)))
    (loop $l (br $l))))`);

/** This process's descriptors open on `path`. */
function openOn(path: string): number {
  let count = 0;
  for (const fd of readdirSync('/proc/self/fd')) {
    try {
      if (readlinkSync(`/proc/self/fd/${fd}`) === path) count++;
    } catch {
      // closed meanwhile
    }
  }
  return count;
}

function lines(options: WasiCommandOptions = {}) {
  return WasiCommand.create(LINES, { threads: 2, ...options });
}

test('output comes back as the guest writes it, and the results are those of this thread', async () => {
  const memfds = openMemfds('cowpool-image');
  const onThreads = await lines();
  const here = await WasiCommand.create(LINES);
  try {
    assert.equal(openMemfds('cowpool-image'), memfds + 2, 'one image per command, whatever the threads');
    for (const args of [
      ['lines', '5'],
      ['lines', '0'],
      ['lines', '40'],
    ]) {
      const expected = await here.run({ args });
      assert.deepEqual(await onThreads.run({ args }), expected, args.join(' '));
      assert.deepEqual(onThreads.runSync({ args }), expected, 'runSync, on this thread');
    }
    const chunks: string[] = [];
    const result = await onThreads.run({
      args: ['lines', '4'],
      onStdout: (c) => chunks.push(`o:${c}`),
      onStderr: (c) => chunks.push(`e:${c}`),
    });
    assert.deepEqual(chunks, ['o:out 0\n', 'o:out 1\n', 'e:err 2\n', 'o:out 3\n']);
    assert.equal(result.exitCode, 0);
    assert.equal(result.stdout.length, 0, 'streamed, not kept');
    const stats = onThreads.stats();
    assert.equal(stats.threads?.completed, 4, 'the promise forms ran on the threads, runSync here');
    assert.equal(onThreads.describe().threads?.threads, 2);
  } finally {
    await onThreads.close();
    await here.close();
  }
  assert.equal(openMemfds('cowpool-image'), memfds);
});

test('stream() streams while the guest runs; leaving early stops the thread', async () => {
  const command = await lines({ timeout: 10_000 });
  try {
    const stream = command.stream({ args: ['lines', '3', 'spin'] });
    let settled = false;
    void stream.result.then(() => (settled = true));
    const seen: string[] = [];
    for await (const chunk of stream) {
      seen.push(chunk.data.toString());
      if (seen.length === 3) break;
    }
    assert.deepEqual(seen, ['out 0\n', 'out 1\n', 'err 2\n']);
    assert.equal(settled, false, 'the chunks came while the guest still ran');
    const result = await stream.result;
    assert.ok(result.error instanceof AbortedError, 'leaving gave the use up: its thread was stopped');
    assert.equal((await command.run({ args: ['lines', '2'] })).stdout.toString(), 'out 0\nout 1\n');
    assert.equal(command.stats().threads?.replaced, 1);
  } finally {
    await command.close();
  }
});

test('a guest the fuel counter stops keeps its thread; an abort while it runs and a throwing callback stop the thread', async () => {
  const command = await lines({ timeout: 200 });
  try {
    const soft = await command.run({ args: ['lines', '2', 'spin'] });
    assert.ok(soft.error instanceof GuestTimeoutError);
    assert.equal(soft.stdout.toString(), 'out 0\nout 1\n', 'the output before the deadline is kept');
    assert.equal(command.stats().threads?.replaced, 0);

    const controller = new AbortController();
    const aborted = await command.run({
      args: ['lines', '2', 'spin'],
      timeout: 10_000,
      signal: controller.signal,
      onStdout: (chunk) => {
        if (chunk.toString() === 'out 1\n') controller.abort('seen enough');
      },
    });
    assert.ok(aborted.error instanceof AbortedError);
    assert.equal(aborted.exitCode, undefined);
    await assert.rejects(
      command.run({
        args: ['lines', '3'],
        onStdout: () => {
          throw new RangeError('callback');
        },
      }),
      (err: unknown) => err instanceof RangeError && err.message === 'callback',
    );
    await assert.rejects(command.run({ args: ['lines', '1'], signal: AbortSignal.abort() }), /did not run/);
    assert.equal((await command.run({ args: ['lines', '1'] })).exitCode, 0);
    assert.equal(command.stats().threads?.replaced, 2);
  } finally {
    await command.close();
  }
});

test('a guest holding a host file when its thread is ended leaks no descriptor; close() closes every memfd', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'cowpool-wasi-threads-'));
  const held = join(dir, 'held.txt');
  writeFileSync(held, 'held');
  const memfds = openMemfds('cowpool-image');
  const command = await WasiCommand.create(HOLDER, {
    threads: 1,
    grace: 50,
    preopens: [{ guestPath: '/data', hostPath: dir, mode: 'readonly' }],
  });
  try {
    let opened = 0;
    const result = await command.run({
      timeout: 300,
      onStdout: () => {
        opened = openOn(held);
      },
    });
    assert.equal(opened, 1, 'the guest had the file open when it said so');
    assert.ok(result.error instanceof GuestTimeoutError, 'no fuel counter (no command timeout): the thread was ended');
    assert.match(result.error.message, /worker thread/);
    for (let i = 0; i < 100 && openOn(held) > 0; i++) await sleep(10);
    assert.equal(openOn(held), 0, 'the descriptor went with the thread');
    assert.equal(command.stats().threads?.replaced, 1);
  } finally {
    await command.close();
    rmSync(dir, { recursive: true });
  }
  assert.equal(openMemfds('cowpool-image'), memfds);
});

test('differential: on every thread, a use after a hostile use (files written, memory dirtied) equals a fresh command', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'cowpool-wasi-threads-'));
  try {
    const options: WasiCommandOptions = { preopens: [{ guestPath: '/data', hostPath: dir }] };
    const fresh = await WasiCommand.create(PROBE, options);
    const expected = await fresh.run({ args: ['probe', 'read', '/data/x'] });
    await fresh.close();
    const command = await WasiCommand.create(PROBE, { ...options, threads: 2 });
    try {
      await Promise.all(Array.from({ length: 6 }, () => command.run({ args: ['probe', 'write', '/data/x'] })));
      const seen = await Promise.all(Array.from({ length: 6 }, () => command.run({ args: ['probe', 'read', '/data/x'] })));
      for (const result of seen) assert.deepEqual(result, expected);
      assert.deepEqual(readdirSync(dir), [], 'the overlay kept the host directory untouched');
    } finally {
      await command.close();
    }
  } finally {
    rmSync(dir, { recursive: true });
  }
});

test('with threads, code options and pool sizing are refused, saying why', async () => {
  await assert.rejects(
    WasiCommand.create(LINES, { threads: 1, clock: { now: () => 0n } as never }),
    (err: unknown) => err instanceof InvalidArgumentError && /options\.clock is code/.test(err.message),
  );
  await assert.rejects(WasiCommand.create(LINES, { threads: 1, pool: { max: 2 } }), /options\.pool\.max does not apply with threads/);
  await assert.rejects(WasiCommand.create(LINES, { grace: 10 }), /options\.grace applies to uses on worker threads/);
});
