/**
 * WasiCommand's streamed output, signal and disposal (issue 19, item 10), with real C guests:
 * - streamed output (callbacks, `stream()`) is the buffered output, complete and in the order the
 *   guest wrote it, each chunk a copy the receiver keeps;
 * - a use aborted before it began (or while it waited) does not run and rejects; one aborted while
 *   it runs is stopped at its next host call, or at its next fuel check in a loop that makes none,
 *   and its instance is pristine for the next use; a use's signal never reaches another use;
 * - the output limit and the deadline hold for streamed uses;
 * - `Symbol.asyncDispose` closes the command;
 * - examples/wasi-stream.mjs prints what the README says.
 *
 * examples/lines.c writes line i ("out i" or "err i", each one write) to stderr when
 * i % 3 == 2 and to stdout otherwise; `args: ['lines', n, 'spin']` then spins without host calls.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { getEventListeners } from 'node:events';
import {
  AbortedError,
  GuestOutputLimitError,
  GuestTimeoutError,
  WasiCommand,
  WasiRunStream,
  type WasiCommandOptions,
  type WasiOutputChunk,
  type WasiRunResult,
} from '../src/wasi/index.ts';
import { InvalidArgumentError, PoolClosedError } from '../src/errors.ts';

const LINES = readFileSync(new URL('../examples/lines.wasm', import.meta.url));

/** What lines.c writes for `lines` lines, as the chunks it writes. */
function expectedChunks(lines: number): { stream: 'stdout' | 'stderr'; text: string }[] {
  return Array.from({ length: lines }, (_, i) =>
    i % 3 === 2 ? { stream: 'stderr' as const, text: `err ${i}\n` } : { stream: 'stdout' as const, text: `out ${i}\n` },
  );
}

/** A command over lines.c with one instance, so that every use after the first reuses it. */
const streamCommand = (options: WasiCommandOptions = {}) =>
  WasiCommand.create(LINES, { programName: 'lines', pool: { max: 1 }, ...options });

/** Collects what callbacks receive, in order. */
function collector() {
  const chunks: { stream: 'stdout' | 'stderr'; data: Buffer }[] = [];
  return {
    chunks,
    onStdout: (data: Buffer) => void chunks.push({ stream: 'stdout', data }),
    onStderr: (data: Buffer) => void chunks.push({ stream: 'stderr', data }),
    text: (stream: 'stdout' | 'stderr') => Buffer.concat(chunks.filter((c) => c.stream === stream).map((c) => c.data)).toString(),
  };
}

const asText = (chunks: readonly { stream: 'stdout' | 'stderr'; data: Buffer }[]) =>
  chunks.map((c) => ({ stream: c.stream, text: c.data.toString() }));

test('streamed output is the buffered output, complete and in the order written, in chunks the receiver keeps', async () => {
  const command = await streamCommand();
  try {
    // 3000 lines: past the stream's queue compaction (every 1024 chunks read).
    for (const lines of [0, 1, 5, 3000]) {
      const args = ['lines', String(lines)];
      const buffered = await command.run({ args });
      assert.equal(buffered.exitCode, 0);
      const expected = expectedChunks(lines);
      assert.equal(
        buffered.stdout.toString(),
        expected
          .filter((c) => c.stream === 'stdout')
          .map((c) => c.text)
          .join(''),
      );
      assert.equal(
        buffered.stderr.toString(),
        expected
          .filter((c) => c.stream === 'stderr')
          .map((c) => c.text)
          .join(''),
      );

      // Callbacks, async and sync. Compared after the use ended: had a chunk been a view into guest
      // memory, every one would show the last line the guest formatted in its buffer.
      for (const form of ['run', 'runSync'] as const) {
        const seen = collector();
        const input = { args, onStdout: seen.onStdout, onStderr: seen.onStderr };
        const result: WasiRunResult = form === 'run' ? await command.run(input) : command.runSync(input);
        assert.deepEqual(asText(seen.chunks), expected, `${form}: ${lines} lines, one chunk per write, in order`);
        assert.equal(seen.text('stdout'), buffered.stdout.toString());
        assert.equal(seen.text('stderr'), buffered.stderr.toString());
        assert.deepEqual(result, { exitCode: 0, stdout: Buffer.alloc(0), stderr: Buffer.alloc(0), error: undefined }, 'streamed, not kept');
        assert.ok(seen.chunks.every((c) => Buffer.isBuffer(c.data)));
      }

      // One stream callback, the other stream kept.
      const stdoutOnly = collector();
      const mixed = await command.run({ args, onStdout: stdoutOnly.onStdout });
      assert.equal(stdoutOnly.text('stdout'), buffered.stdout.toString());
      assert.deepEqual(mixed.stderr, buffered.stderr);
      assert.equal(mixed.stdout.length, 0);

      // The async iterable.
      const stream = command.stream({ args });
      assert.ok(stream instanceof WasiRunStream);
      const chunks: WasiOutputChunk[] = [];
      for await (const chunk of stream) chunks.push(chunk);
      assert.deepEqual(asText(chunks), expected, `stream(): ${lines} lines`);
      assert.deepEqual(await stream.result, { exitCode: 0, stdout: Buffer.alloc(0), stderr: Buffer.alloc(0), error: undefined });
    }
  } finally {
    await command.close();
  }
});

test('stream(): the use begins after the call returns, the result can be awaited before or without reading, one reader', async () => {
  const command = await streamCommand();
  try {
    const uses = command.stats().uses;
    const stream = command.stream({ args: ['lines', '4'] });
    assert.equal(command.stats().uses, uses, 'not run inside stream()');
    assert.equal((await stream.result).exitCode, 0, 'the result without reading');
    const read: string[] = [];
    for await (const { data } of stream) read.push(data.toString());
    assert.deepEqual(read, ['out 0\n', 'out 1\n', 'err 2\n', 'out 3\n'], 'the chunks wait for the reader');
    assert.throws(() => stream[Symbol.asyncIterator](), InvalidArgumentError, 'read once');

    // Leaving the loop early drops the rest; the use that ran keeps its result.
    const early = command.stream({ args: ['lines', '100'] });
    let n = 0;
    for await (const _chunk of early) if (++n === 3) break;
    assert.equal((await early.result).exitCode, 0);
  } finally {
    await command.close();
  }
});

test('a use aborted before it began does not run: run and stream reject, runSync throws, with AbortedError', async () => {
  const command = await streamCommand();
  try {
    const signal = AbortSignal.abort('not today');
    const uses = command.stats().uses;
    const seen = collector();
    const notRun = (err: unknown) => {
      assert.ok(err instanceof AbortedError, String(err));
      assert.equal(err.code, 'COWPOOL_ERR_ABORTED');
      assert.equal(err.cause, 'not today');
      assert.match(err.message, /before it started; it did not run/);
      return true;
    };
    await assert.rejects(command.run({ args: ['lines', '3'], signal, onStdout: seen.onStdout }), notRun);
    assert.throws(() => command.runSync({ args: ['lines', '3'], signal, onStdout: seen.onStdout }), notRun);
    const stream = command.stream({ args: ['lines', '3'], signal });
    await assert.rejects(stream.result, notRun);
    await assert.rejects(async () => {
      for await (const _chunk of stream) assert.fail('no output from a use that did not run');
    }, notRun);
    assert.equal(seen.chunks.length, 0);
    assert.equal(command.stats().uses, uses, 'no instance was used');
  } finally {
    await command.close();
  }
});

test('a use aborted while it waits for an instance does not run; so does a stream whose reader leaves while it waits', async () => {
  const command = await streamCommand();
  const lease = await command.pool.acquire(); // the only instance
  try {
    const controller = new AbortController();
    const waiting = command.run({ args: ['lines', '3'], signal: controller.signal });
    const stream = command.stream({ args: ['lines', '3'] });
    const reader = stream[Symbol.asyncIterator]();
    const next = reader.next();
    await new Promise((resolve) => setImmediate(resolve));
    assert.equal(command.stats().waiting, 2);
    controller.abort();
    await assert.rejects(waiting, AbortedError);
    await reader.return!();
    assert.deepEqual(await next, { value: undefined, done: true });
    await assert.rejects(stream.result, AbortedError);
    assert.equal(command.stats().waiting, 0);
  } finally {
    lease.release();
    await command.close();
  }
});

test('a use aborted while it loops in host calls is stopped at its next one; the instance is pristine for the next use', async () => {
  // No timeout: the module is not instrumented, only the check in fd_write can stop it.
  const command = await streamCommand({ outputLimit: Infinity });
  try {
    for (const form of ['run', 'runSync'] as const) {
      const controller = new AbortController();
      let stdoutChunks = 0;
      const stderrChunks: string[] = [];
      const input = {
        args: ['lines', '-1'],
        signal: controller.signal,
        onStdout: () => {
          if (++stdoutChunks === 1000) controller.abort('enough');
        },
        onStderr: (chunk: Buffer) => void stderrChunks.push(chunk.toString()),
      };
      const result = form === 'run' ? await command.run(input) : command.runSync(input);
      assert.ok(result.error instanceof AbortedError, `${form}: ${String(result.error)}`);
      assert.match(result.error.message, /aborted while it ran; the guest was stopped/);
      assert.equal(result.error.cause, 'enough');
      assert.equal(result.exitCode, undefined);
      assert.equal(stdoutChunks, 1000, `${form}: the write after the abort reached no callback`);
      // Stdout chunk 1000 is line 1498; lines 2, 5, …, 1496 went to stderr before it.
      assert.equal(stderrChunks.length, 499);
      assert.equal(stderrChunks.at(-1), 'err 1496\n');
      assert.equal(getEventListeners(controller.signal, 'abort').length, 0, 'the use removed its listener');
      const next = await command.run({ args: ['lines', '3'] });
      assert.deepEqual([next.exitCode, next.stdout.toString(), next.stderr.toString()], [0, 'out 0\nout 1\n', 'err 2\n']);
    }
  } finally {
    await command.close();
  }
});

test('a use aborted while it spins in pure wasm is stopped at its next fuel check (with a timeout set), long before its deadline', async () => {
  const command = await streamCommand({ timeout: 60_000 });
  try {
    const controller = new AbortController();
    const lines: string[] = [];
    const started = performance.now();
    const result = await command.run({
      args: ['lines', '2', 'spin'],
      signal: controller.signal,
      // The last write: after it the guest makes no host call, so only the fuel counter sees the abort.
      onStdout: (chunk) => {
        lines.push(chunk.toString());
        if (lines.length === 2) controller.abort();
      },
    });
    const elapsed = performance.now() - started;
    assert.ok(result.error instanceof AbortedError, String(result.error));
    assert.ok(elapsed < 5000, `stopped after ${elapsed.toFixed(0)} ms, deadline 60 s`);
    assert.deepEqual(lines, ['out 0\n', 'out 1\n']);
    // The same instance, pristine; and the deadline still ends a spin nobody aborts.
    assert.equal((await command.run({ args: ['lines', '2'] })).stdout.toString(), 'out 0\nout 1\n');
    const late = await command.run({ args: ['lines', '2', 'spin'], timeout: 100, onStdout: () => {} });
    assert.ok(late.error instanceof GuestTimeoutError, String(late.error));
    assert.equal(command.stats().instances, 1);
  } finally {
    await command.close();
  }
});

test('a signal aborted after its use ended reaches no other use; an abort after the last check leaves the result alone', async () => {
  const command = await streamCommand();
  try {
    const controller = new AbortController();
    assert.equal((await command.run({ args: ['lines', '1'], signal: controller.signal })).exitCode, 0);
    // The next use, on the same instance, aborts the old signal from its own callback.
    const next = await command.run({ args: ['lines', '6'], onStdout: () => controller.abort() });
    assert.equal(next.exitCode, 0);
    assert.equal(next.stderr.toString(), 'err 2\nerr 5\n', 'ran to its end');
    // Aborted in its last write: the guest makes no host call that checks after it, and returns.
    const last = new AbortController();
    const finished = await command.run({ args: ['lines', '3'], signal: last.signal, onStderr: () => last.abort() });
    assert.deepEqual([finished.exitCode, finished.error, finished.stdout.toString()], [0, undefined, 'out 0\nout 1\n']);
  } finally {
    await command.close();
  }
});

test('streamed bytes count against the output limit; the deadline holds for streamed uses', async () => {
  const command = await streamCommand({ outputLimit: 10_000, timeout: 10_000 });
  try {
    // Callbacks: what they received is what the limit allowed.
    let bytes = 0;
    const result = await command.run({
      args: ['lines', '-1'],
      onStdout: (c) => void (bytes += c.length),
      onStderr: (c) => void (bytes += c.length),
    });
    assert.ok(result.error instanceof GuestOutputLimitError, String(result.error));
    assert.equal(result.error.limitBytes, 10_000);
    assert.ok(bytes <= 10_000 && bytes > 10_000 - 16, `${bytes} bytes streamed`);

    // The iterable: the chunks held for the reader are bounded the same way.
    const stream = command.stream({ args: ['lines', '-1'], outputLimit: 5000 });
    let streamed = 0;
    for await (const { data } of stream) streamed += data.length;
    assert.ok(streamed <= 5000 && streamed > 5000 - 16, `${streamed} bytes streamed`);
    const streamedResult = await stream.result;
    assert.ok(streamedResult.error instanceof GuestOutputLimitError && streamedResult.error.limitBytes === 5000);

    // No limit: the deadline ends it, within twice the deadline plus 50 ms.
    const started = performance.now();
    const timed = await command.run({ args: ['lines', '-1'], outputLimit: Infinity, timeout: 200, onStdout: () => {}, onStderr: () => {} });
    const elapsed = performance.now() - started;
    assert.ok(timed.error instanceof GuestTimeoutError, String(timed.error));
    assert.ok(elapsed >= 190 && elapsed < 2 * 200 + 50, `ended after ${elapsed.toFixed(0)} ms`);
  } finally {
    await command.close();
  }
});

test('a callback that throws ends the use, which rejects with that very error, even one the WASI host would turn into an errno', async () => {
  const command = await streamCommand();
  try {
    const failures = [
      new Error('sink broke'),
      new RangeError('out of range'),
      Object.assign(new Error('EPIPE'), { syscall: 'write', code: 'EPIPE' }),
    ];
    for (const failure of failures) {
      await assert.rejects(
        command.run({
          args: ['lines', '5'],
          onStderr: () => {
            throw failure;
          },
        }),
        (err) => err === failure,
      );
      assert.throws(
        () =>
          command.runSync({
            args: ['lines', '5'],
            onStdout: () => {
              throw failure;
            },
          }),
        (err) => err === failure,
      );
    }
    assert.equal((await command.run({ args: ['lines', '2'] })).stdout.toString(), 'out 0\nout 1\n');
  } finally {
    await command.close();
  }
});

test('malformed inputs are refused at once, naming the key', async () => {
  const command = await streamCommand();
  try {
    assert.throws(
      () => command.stream({ onStdout: () => {} } as never),
      /^InvalidArgumentError: stream\(\) input: unknown option 'onStdout'.*\(known: args, env, stdin, timeout, outputLimit, signal\)$/,
    );
    assert.throws(() => command.stream(null as never), InvalidArgumentError);
    await assert.rejects(command.run({ signal: {} as never }), /input\.signal must be an AbortSignal/);
    await assert.rejects(command.run({ onStdout: 'log' as never }), /input\.onStdout must be a function/);
    assert.throws(() => command.runSync({ onstderr: () => {} } as never), /unknown option 'onstderr'; did you mean 'onStderr'\?/);
  } finally {
    await command.close();
  }
});

test('Symbol.asyncDispose closes the command: its instances are released, and later uses are refused', async () => {
  const command = await streamCommand();
  assert.equal((await command.run({ args: ['lines', '1'] })).exitCode, 0);
  await command[Symbol.asyncDispose]();
  assert.equal(command.stats().instances, 0);
  await assert.rejects(command.run(), PoolClosedError);
  const stream = command.stream();
  await assert.rejects(stream.result, PoolClosedError);
  await assert.rejects(async () => {
    for await (const _chunk of stream) assert.fail('no output');
  }, PoolClosedError);
  await command[Symbol.asyncDispose](); // idempotent
});

test('examples/wasi-stream.mjs (the README example) prints what its comments say, through cowpool/wasi', () => {
  const out = execFileSync(process.execPath, ['examples/wasi-stream.mjs'], { encoding: 'utf8' });
  assert.equal(
    out,
    [
      'out 0',
      'out 1',
      'out 3',
      'stopped: COWPOOL_ERR_ABORTED',
      'stdout: out 0',
      'stdout: out 1',
      'stderr: err 2',
      'stdout: out 3',
      'exit 0',
      '',
    ].join('\n'),
  );
});
