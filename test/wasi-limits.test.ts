/**
 * The limits of a WASI use that host calls meet (issue 18, finding 2 and the output limit): the
 * deadline is checked in every host call that can take time or produce output, so a guest doing
 * megabytes of work per loop iteration still ends within twice its deadline plus 50 ms; the output
 * a use may write is bounded, and passing it ends the use with GuestOutputLimitError; a use holds
 * a bounded number of descriptors; and the options of WasiCommand and WasiHost reject keys they do
 * not know.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DEFAULT_OUTPUT_LIMIT, WasiCommand, WasiHost, type UseDeadline } from '../src/wasi/index.ts';
import { GuestOutputLimitError, GuestTimeoutError, InvalidArgumentError } from '../src/errors.ts';
import { fixture as compiled, runGuest, wat } from './fixtures/wasi-guests.ts';
import { WasiDriver } from './support/wasi-driver.ts';
import { Errno, Rights } from '../src/wasi/abi.ts';

const fixture = (name: string) => readFileSync(new URL(`./fixtures/${name}.wasm`, import.meta.url));
const flood = fixture('flood');
let dir: string;
before(() => {
  dir = mkdtempSync(join(tmpdir(), 'cowpool-limits-'));
});
after(() => rmSync(dir, { recursive: true, force: true }));

/** A flood command with a deadline, a writable /data, and `outputLimit`. */
const floodCommand = (timeout: number, outputLimit?: number) =>
  WasiCommand.create(flood, {
    preopens: [{ guestPath: '/data', hostPath: dir }],
    timeout,
    ...(outputLimit !== undefined ? { outputLimit } : {}),
    pool: { max: 1 },
  });

describe('the deadline is checked inside host calls', () => {
  // Each of these does megabytes of work per loop iteration: before the fix, the fuel counter's
  // check every 100 000 iterations ended them after 0.8 s (a 1 MiB pwrite), 6.5 s (random_get of
  // 1 MiB) or 10 s and 2 GiB of output (64 KiB writes to stdout), for a 200 ms deadline.
  for (const what of ['file&chunk=1048576', 'read&chunk=1048576', 'random&chunk=1048576']) {
    test(`${what}: the use ends with GuestTimeoutError within 2 × its deadline + 50 ms`, async () => {
      const command = await floodCommand(200, 2 ** 30);
      try {
        const started = performance.now();
        const result = await command.run({ env: { QUERY_STRING: what } });
        const elapsed = performance.now() - started;
        assert.ok(result.error instanceof GuestTimeoutError, String(result.error));
        assert.ok(elapsed < 2 * 200 + 50, `ended after ${elapsed.toFixed(0)} ms`);
        assert.ok(elapsed >= 190, `ended after ${elapsed.toFixed(0)} ms, before its deadline`);
        // A use's own deadline, shorter, holds as well.
        const short = performance.now();
        assert.ok((await command.run({ env: { QUERY_STRING: what }, timeout: 50 })).error instanceof GuestTimeoutError);
        assert.ok(performance.now() - short < 2 * 50 + 50, `ended after ${(performance.now() - short).toFixed(0)} ms`);
      } finally {
        await command.close();
      }
    });
  }

  for (const stream of ['stdout', 'stderr']) {
    test(`${stream}: a write flood ends at the deadline in fd_write, whatever the sinks do with it`, () => {
      // Sinks that keep nothing, so that only the deadline can stop the guest (WasiCommand keeps the
      // output: there the output limit stops it first, see below).
      const owner = { deadline: Infinity, checkDeadline: () => assert.fail('no deadline yet') };
      const host = new WasiHost({ deadline: owner });
      const module = compiled('flood');
      let bytes = 0;
      const sink = (chunk: Uint8Array) => {
        bytes += chunk.length;
        // The module is not instrumented: without the check in fd_write it would never end.
        if (performance.now() - started > 5000) throw new Error('fd_write did not check the deadline');
      };
      const context = { args: ['flood', stream], env: [], stdin: new Uint8Array(0), stdout: sink, stderr: sink };
      const instance = new WebAssembly.Instance(module, host.imports);
      const started = performance.now();
      Object.assign(owner, {
        deadline: started + 200,
        checkDeadline() {
          if (performance.now() >= started + 200) throw new GuestTimeoutError(200);
        },
      });
      assert.throws(() => host.run(instance, context), GuestTimeoutError);
      const elapsed = performance.now() - started;
      assert.ok(elapsed >= 195 && elapsed < 2 * 200 + 50, `ended after ${elapsed.toFixed(0)} ms, ${bytes} bytes written`);
    });
  }

  test('WasiHost reads the deadline from its owner, cuts a sleep there, and asks nothing when there is none', () => {
    let checks = 0;
    const owner: UseDeadline & { deadline: number } = {
      deadline: Infinity,
      checkDeadline() {
        checks++;
        if (performance.now() >= this.deadline) throw new GuestTimeoutError(50);
      },
    };
    const host = new WasiHost({ deadline: owner });
    const probe = compiled('wasi-probe');
    assert.equal(runGuest(host, probe, { args: ['p', 'lines', '3'] }).code, 0);
    assert.equal(checks, 0, 'no deadline: not even a clock read');
    owner.deadline = performance.now() + 50;
    const started = performance.now();
    assert.throws(() => runGuest(host, compiled('sleep')), GuestTimeoutError);
    const elapsed = performance.now() - started;
    assert.ok(elapsed >= 45 && elapsed < 2 * 50 + 50, `a 60 s sleep ended after ${elapsed.toFixed(0)} ms`);
    assert.ok(checks > 0);
    owner.deadline = performance.now() - 1;
    assert.throws(() => runGuest(host, probe, { args: ['p', 'lines', '3'] }), GuestTimeoutError, 'the first write ends a late use');
    assert.throws(() => new WasiHost({ deadline: { deadline: 0 } as unknown as UseDeadline }), /options\.deadline must be/);
  });
});

describe('the output limit', () => {
  test('a guest flooding stdout or stderr is stopped at the default 16 MiB with GuestOutputLimitError, at once', async () => {
    const command = await floodCommand(10_000);
    try {
      for (const stream of ['stdout', 'stderr'] as const) {
        const started = performance.now();
        const result = await command.run({ env: { QUERY_STRING: stream } });
        assert.ok(result.error instanceof GuestOutputLimitError, String(result.error));
        assert.equal(result.error.limitBytes, DEFAULT_OUTPUT_LIMIT);
        assert.equal(result.error.code, 'COWPOOL_ERR_GUEST_OUTPUT_LIMIT');
        assert.equal(result.exitCode, undefined);
        const kept = result.stdout.length + result.stderr.length;
        assert.ok(kept <= DEFAULT_OUTPUT_LIMIT && kept > DEFAULT_OUTPUT_LIMIT - 65536, `${kept} bytes kept`);
        assert.ok(performance.now() - started < 2000, 'not waiting for the deadline');
      }
      // Per use: a smaller limit, and none at all for a use that needs more (here ended by its deadline).
      const small = await command.run({ env: { QUERY_STRING: 'stdout' }, outputLimit: 100_000 });
      assert.ok(small.error instanceof GuestOutputLimitError && small.error.limitBytes === 100_000);
      assert.ok(small.stdout.length <= 100_000);
      const unlimited = await command.run({ env: { QUERY_STRING: 'stdout&chunk=1' }, outputLimit: Infinity, timeout: 100 });
      assert.ok(unlimited.error instanceof GuestTimeoutError, String(unlimited.error));
    } finally {
      await command.close();
    }
    // The next use of a command is healthy.
    const probe = await WasiCommand.create(fixture('wasi-probe'), { outputLimit: 1000 });
    assert.ok((await probe.run({ args: ['p', 'lines', '500'] })).error instanceof GuestOutputLimitError);
    const fine = await probe.run({ args: ['p', 'lines', '3'] });
    assert.equal(fine.exitCode, 0);
    assert.equal(fine.error, undefined);
    await probe.close();
  });

  test('stdout and stderr count together; the write that would pass the limit reaches no sink', () => {
    // Writes 600 bytes to stdout, then 600 to stderr, then exits 0.
    const guest = new WebAssembly.Module(
      wat(`(module
        (import "wasi_snapshot_preview1" "fd_write" (func $write (param i32 i32 i32 i32) (result i32)))
        (memory (export "memory") 1)
        (data (i32.const 0) "\\10\\00\\00\\00\\58\\02\\00\\00")
        (func (export "_start")
          (drop (call $write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8)))
          (drop (call $write (i32.const 2) (i32.const 0) (i32.const 1) (i32.const 8)))))`),
    );
    const host = new WasiHost();
    assert.equal(runGuest(host, guest).code, 0, 'no limit');
    let seen = 0;
    const context = (outputLimit: number) => ({
      args: [],
      env: [],
      stdin: new Uint8Array(0),
      stdout: (chunk: Uint8Array) => void (seen += chunk.length),
      stderr: (chunk: Uint8Array) => void (seen += chunk.length),
      outputLimit,
    });
    assert.throws(() => host.run(new WebAssembly.Instance(guest, host.imports), context(1000)), GuestOutputLimitError);
    assert.equal(seen, 600, 'stdout passed, stderr (which would have made 1200) never reached its sink');
    seen = 0;
    assert.equal(host.run(new WebAssembly.Instance(guest, host.imports), context(1200)), 0, 'exactly the limit is allowed');
    assert.equal(seen, 1200);
    assert.throws(
      () => host.run(new WebAssembly.Instance(guest, host.imports), context(-1)),
      /context\.outputLimit must be a whole number/,
    );
  });
});

describe('open files', () => {
  test('a use holds at most 1024 descriptors (EMFILE past them), and every host fd is closed when it ends', () => {
    writeFileSync(join(dir, 'host.txt'), 'on the host');
    const hostFds = () => readdirSync('/proc/self/fd').length;
    const driver = new WasiDriver(new WasiHost({ preopens: [{ guestPath: '/data', hostPath: dir }] }));
    const before_ = hostFds();
    let opened = 0;
    for (let i = 0; i < 2000; i++) {
      const fd = driver.open('host.txt', 0, Rights.FD_READ); // read through a host fd, nothing copied
      if (typeof fd === 'string') {
        assert.equal(fd, `errno ${Errno.MFILE}`);
        break;
      }
      opened++;
    }
    assert.equal(opened, 1024 - 4, 'fds 0-2 and the preopen count too');
    assert.equal(hostFds() - before_, opened, 'each holds a host fd');
    driver.end();
    assert.equal(hostFds(), before_, 'the end of the use closed them all');
    driver.begin();
    assert.equal(typeof driver.open('host.txt', 0, Rights.FD_READ), 'number', 'the next use has all its descriptors');
    driver.end();
  });
});

describe('unknown options are refused with the closest name', () => {
  test('WasiCommand.create, run() and WasiHost', async () => {
    const trap = fixture('trap');
    await assert.rejects(WasiCommand.create(trap, { timeOut: 5 } as never), /unknown option 'timeOut'; did you mean 'timeout'\?/);
    await assert.rejects(WasiCommand.create(trap, { outputlimit: 5 } as never), /did you mean 'outputLimit'\?/);
    await assert.rejects(WasiCommand.create(trap, { outputLimit: -1 }), /options\.outputLimit must be a whole number of bytes/);
    const command = await WasiCommand.create(trap);
    try {
      await assert.rejects(command.run({ cwd: '/' } as never), (err: Error) => {
        assert.ok(err instanceof InvalidArgumentError);
        assert.match(
          err.message,
          /^run\(\) input: unknown option 'cwd' \(known: args, env, stdin, timeout, outputLimit, signal, onStdout, onStderr\)$/,
        );
        return true;
      });
      assert.throws(() => command.runSync({ timeOut: 5 } as never), /unknown option 'timeOut'; did you mean 'timeout'\?/);
      await assert.rejects(command.run({ outputLimit: 1.5 }), /input\.outputLimit must be a whole number/);
    } finally {
      await command.close();
    }
    assert.throws(
      () => new WasiHost({ overlaylimit: 5 } as never),
      /WasiHost options: unknown option 'overlaylimit'; did you mean 'overlayLimit'\?/,
    );
    assert.throws(
      () => new WasiHost({ preopens: [{ guestPath: '/d', hostPath: dir, readonly: true } as never] }),
      /options\.preopens\[0\]: unknown option 'readonly'/,
    );
  });
});
