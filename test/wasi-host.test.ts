// The WASI host running real C guests (wasi-libc): test/fixtures/wasi-probe.c names one probe per
// argv[1]. Every run uses a plain `new WebAssembly.Instance`, as the brief for the host asks.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { WasiHost } from '../src/wasi/wasi-host.ts';
import { WasiExit } from '../src/wasi/wasi-exit.ts';
import { InvalidArgumentError } from '../src/errors.ts';
import type { WasiContext } from '../src/wasi/context.ts';
import { Errno } from '../src/wasi/abi.ts';
import { fixture, runGuest, wat } from './fixtures/wasi-guests.ts';

const probe = fixture('wasi-probe');
let root: string; // tmp/ holds outside.txt and data/ (the granted directory)
let data: string;

before(() => {
  root = mkdtempSync(join(tmpdir(), 'cowpool-wasi-'));
  data = join(root, 'data');
  mkdirSync(join(data, 'sub'), { recursive: true });
  writeFileSync(join(data, 'hello.txt'), 'hello from the host\n');
  writeFileSync(join(data, 'sub', 'inner.txt'), 'inner\n');
  writeFileSync(join(data, 'digits.txt'), '0123456789');
  writeFileSync(join(root, 'outside.txt'), 'must never be read\n');
  symlinkSync('hello.txt', join(data, 'inside-link')); // stays inside
  symlinkSync('..', join(data, 'escape-link')); // leads out
  symlinkSync(join(root, 'outside.txt'), join(data, 'absolute-link')); // absolute, outside
});
after(() => rmSync(root, { recursive: true, force: true }));

const withData = () => new WasiHost({ preopens: [{ guestPath: '/data', hostPath: data }] });

describe('standard streams, args and environment', () => {
  test('args reach argv unchanged, including spaces, unicode and empty strings', () => {
    const args = ['probe', 'args', 'two words', 'ünïcødé ✓', ''];
    const run = runGuest(new WasiHost(), probe, { args });
    assert.equal(run.code, 0);
    assert.equal(run.stdout, args.map((a, i) => `${i}:${a}\n`).join(''));
  });

  test('env as K=V strings and as a record', () => {
    const asList = runGuest(new WasiHost(), probe, { args: ['p', 'env'], env: ['A=1', 'B=x=y', 'EMPTY='] });
    assert.equal(asList.stdout, 'A=1\nB=x=y\nEMPTY=\n');
    const asRecord = runGuest(new WasiHost(), probe, { args: ['p', 'getenv', 'GREETING'], env: { GREETING: 'héllo wörld' } });
    assert.equal(asRecord.stdout, 'héllo wörld\n');
  });

  test('stdin is read to the end through many small reads; stderr goes to its own sink', () => {
    const body = 'line one\nline two with "quotes"\n\u0000binary\u00ff end';
    const run = runGuest(new WasiHost(), probe, { args: ['p', 'cat'], stdin: body });
    assert.equal(run.code, 0);
    assert.equal(run.stdout, body);
    assert.equal(run.stderr, `read ${Buffer.byteLength(body)} bytes\n`);
  });

  test('stdout is not a tty, so stdio buffers fully: 200 printf lines arrive in a few writes', () => {
    assert.equal(runGuest(new WasiHost(), probe, { args: ['p', 'isatty'] }).stdout, 'isatty 0 0 0\n');
    const run = runGuest(new WasiHost(), probe, { args: ['p', 'lines', '200'] });
    assert.equal(run.stdout.split('\n').length, 201);
    assert.ok(run.stdoutWrites <= 5, `expected block buffering, got ${run.stdoutWrites} writes`);
  });
});

describe('exit status', () => {
  for (const [how, code] of [
    ['exit', 0],
    ['exit', 7],
    ['exit', 255],
    ['return', 0],
    ['return', 3],
  ] as const) {
    test(`${how}(${code}) → ${code}`, () => {
      assert.equal(runGuest(new WasiHost(), probe, { args: ['p', how, String(code)] }).code, code);
    });
  }

  test('a trap is rethrown as the RuntimeError, output before it was delivered, and the host stays usable', () => {
    const host = new WasiHost();
    const chunks: string[] = [];
    const instance = new WebAssembly.Instance(probe, host.imports);
    assert.throws(
      () =>
        host.run(instance, {
          args: ['p', 'trap'],
          env: [],
          stdin: new Uint8Array(0),
          stdout: (c) => chunks.push(Buffer.from(c).toString()),
          stderr: () => {},
        }),
      WebAssembly.RuntimeError,
    );
    assert.equal(chunks.join(''), 'before trap\n');
    assert.equal(host.inUse, false, 'run() ends the use even when the guest traps');
    assert.equal(runGuest(host, probe, { args: ['p', 'return', '4'] }).code, 4);
  });

  test('an error thrown by a sink ends the run with that error (not EFAULT)', () => {
    const host = new WasiHost();
    const stop = new Error('response too large');
    const instance = new WebAssembly.Instance(probe, host.imports);
    assert.throws(
      () =>
        host.run(instance, {
          args: ['p', 'args'],
          env: [],
          stdin: new Uint8Array(0),
          stdout: () => {
            throw stop;
          },
          stderr: () => {},
        }),
      (error) => error === stop,
    );
  });
});

describe('clocks, randomness, sleep', () => {
  test('realtime is now, monotonic does not go back, resolution is 1 ns', () => {
    const run = runGuest(new WasiHost(), probe, { args: ['p', 'clock'] });
    const fields = Object.fromEntries(
      run.stdout
        .trim()
        .split('\n')
        .map((l) => l.split(' ')),
    );
    const now = Date.now() / 1000;
    assert.ok(Math.abs(Number(fields['realtime']) - now) < 5, run.stdout);
    assert.ok(Math.abs(Number(fields['time']) - now) < 5, run.stdout);
    assert.equal(fields['monotonic_ok'], '1');
    assert.equal(fields['res'], '1');
  });

  test('getentropy and arc4random_buf get random bytes', () => {
    const run = runGuest(new WasiHost(), probe, { args: ['p', 'random'] });
    const entropyZeros = Number(/^entropy_zeros (\d+)$/m.exec(run.stdout)?.[1]);
    const zeros = Number(/^zeros (\d+)$/m.exec(run.stdout)?.[1]);
    // 256 random bytes hold about 1 zero; 200000 hold about 781 (σ ≈ 28). Unfilled: all zeros.
    assert.ok(entropyZeros < 12, run.stdout);
    assert.ok(zeros > 500 && zeros < 1100, run.stdout);
  });

  test('a custom random source is used', () => {
    const host = new WasiHost({ random: (target) => target.fill(0) });
    const run = runGuest(host, probe, { args: ['p', 'random'] });
    assert.match(run.stdout, /^entropy_zeros 256\n/);
  });

  test('nanosleep and usleep sleep through poll_oneoff', () => {
    const run = runGuest(new WasiHost(), probe, { args: ['p', 'sleep', '25'] });
    const slept = [...run.stdout.matchAll(/slept_ms (\d+)/g)].map((m) => Number(m[1]));
    assert.equal(slept.length, 2, run.stdout);
    for (const ms of slept) assert.ok(ms >= 24 && ms < 1000, run.stdout);
    assert.match(run.stdout, /^nanosleep 0 /);
  });

  test('sleep goes through options.clock.sleep with the requested nanoseconds', () => {
    const sleeps: bigint[] = [];
    const host = new WasiHost({ clock: { sleep: (ns) => void sleeps.push(ns) } });
    runGuest(host, probe, { args: ['p', 'sleep', '1500'] });
    assert.deepEqual(sleeps, [1_500_000_000n, 1_500_000_000n]);
  });
});

describe('files under a granted directory', () => {
  const open = (host: WasiHost, path: string) => runGuest(host, probe, { args: ['p', 'read', path] });

  test('a file in the granted directory can be read', () => {
    const run = open(withData(), '/data/hello.txt');
    assert.equal(run.code, 0);
    assert.equal(run.stdout, 'hello from the host\n');
    assert.equal(open(withData(), '/data/sub/inner.txt').stdout, 'inner\n');
    assert.equal(open(withData(), '/data/sub/../hello.txt').stdout, 'hello from the host\n');
  });

  test('a symlink that stays inside is followed', () => {
    assert.equal(open(withData(), '/data/inside-link').stdout, 'hello from the host\n');
  });

  for (const path of ['/data/../outside.txt', '/data/sub/../../outside.txt', '/data/escape-link/outside.txt', '/data/absolute-link']) {
    test(`escaping is refused with ENOTCAPABLE: ${path}`, () => {
      const run = open(withData(), path);
      assert.equal(run.code, 2);
      assert.match(run.stdout, /failed: errno 76 /);
      assert.doesNotMatch(run.stdout, /must never be read/);
    });
  }

  test('under a read-only preopen, opening for writing is refused with EROFS and changes nothing', () => {
    const readOnly = () => new WasiHost({ preopens: [{ guestPath: '/data', hostPath: data, mode: 'readonly' }] });
    const create = runGuest(readOnly(), probe, { args: ['p', 'write', '/data/new.txt'] });
    assert.match(create.stdout, /open for write failed: errno 69 /);
    assert.equal(existsSync(join(data, 'new.txt')), false);
    const truncate = runGuest(readOnly(), probe, { args: ['p', 'write', '/data/hello.txt'] });
    assert.match(truncate.stdout, /open for write failed: errno 69 /);
    assert.equal(readFileSync(join(data, 'hello.txt'), 'utf8'), 'hello from the host\n');
  });

  test('without a grant, file access fails with an errno and the guest keeps running', () => {
    for (const path of ['/data/hello.txt', '/etc/passwd', 'hello.txt']) {
      const run = open(new WasiHost(), path);
      assert.equal(run.code, 2, run.stdout);
      assert.match(run.stdout, /failed: errno \d+/);
    }
  });

  test('stat, readdir and seek', () => {
    assert.equal(runGuest(withData(), probe, { args: ['p', 'stat', '/data/digits.txt'] }).stdout, 'size 10 dir 0 reg 1\n');
    const subSize = statSync(join(data, 'sub')).size;
    assert.equal(runGuest(withData(), probe, { args: ['p', 'stat', '/data/sub'] }).stdout, `size ${subSize} dir 1 reg 0\n`);
    const listing = runGuest(withData(), probe, { args: ['p', 'ls', '/data'] })
      .stdout.trim()
      .split('\n')
      .sort();
    assert.deepEqual(listing, ['absolute-link 0', 'digits.txt 0', 'escape-link 0', 'hello.txt 0', 'inside-link 0', 'sub 1']);
    const seek = runGuest(withData(), probe, { args: ['p', 'seek', '/data/digits.txt'] }).stdout;
    assert.equal(seek, `end 10 mid 2 read 1 char 2 tell 3\nstdout seek -1 errno ${Errno.SPIPE}\n`);
  });

  test('files a guest leaves open are closed at the end of the use', () => {
    const count = () => readdirSync('/proc/self/fd').length;
    const host = withData();
    const beforeRun = count();
    const run = runGuest(host, probe, { args: ['p', 'leak', '/data/hello.txt'] });
    assert.match(run.stdout, /^fds 4 5\n$/);
    assert.equal(count(), beforeRun);
  });
});

describe('one host, many uses', () => {
  test('consecutive uses see only their own args, env and stdin', () => {
    const host = withData();
    const a = runGuest(host, probe, { args: ['p', 'env'], env: ['ONLY_A=1'] });
    const b = runGuest(host, probe, { args: ['p', 'env'], env: { ONLY_B: '2' } });
    assert.equal(a.stdout, 'ONLY_A=1\n');
    assert.equal(b.stdout, 'ONLY_B=2\n');
    const c = runGuest(host, probe, { args: ['p', 'cat'], stdin: 'first body' });
    const d = runGuest(host, probe, { args: ['p', 'cat'], stdin: 'second' });
    assert.equal(c.stdout, 'first body');
    assert.equal(d.stdout, 'second');
    const e = runGuest(host, probe, { args: ['p', 'args', 'x'] });
    assert.equal(e.stdout, '0:p\n1:args\n2:x\n');
  });

  test('the imports object is the same frozen object across uses', () => {
    const host = new WasiHost();
    const imports = host.imports;
    runGuest(host, probe, { args: ['p', 'return', '0'] });
    runGuest(host, probe, { args: ['p', 'return', '0'] });
    assert.equal(host.imports, imports);
    assert.ok(Object.isFrozen(imports) && Object.isFrozen(imports['wasi_snapshot_preview1']));
  });

  test('memory growth during a run: output written after memory.grow arrives intact', () => {
    // grow.wasm is a CGI guest; it reads the size from QUERY_STRING.
    const run = runGuest(new WasiHost(), fixture('grow'), { env: ['QUERY_STRING=8'] });
    const [, beforePages, afterPages, sum] = /ok (\d+) (\d+) (\d+)/.exec(run.stdout) ?? [];
    assert.ok(Number(afterPages) >= Number(beforePages) + 128, run.stdout);
    assert.equal(Number(sum), 128 * 0xab, 'the guest read back what it wrote');
  });

  test('bindMemory: a module that imports its memory runs on whatever memory is bound', () => {
    // What the pool does after rewriting a module to import its memory: one host, many memories.
    const module = new WebAssembly.Module(
      wat(`(module
        (import "wasi_snapshot_preview1" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))
        (import "env" "memory" (memory 1))
        (func (export "_start")
          ;; iovec at 0: the 6 bytes at 16
          (i32.store (i32.const 0) (i32.const 16))
          (i32.store (i32.const 4) (i32.const 6))
          (drop (call $fd_write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8)))))`),
    );
    const host = new WasiHost();
    for (const text of ['first!', 'second']) {
      const memory = new WebAssembly.Memory({ initial: 1 });
      new Uint8Array(memory.buffer).set(new TextEncoder().encode(text), 16);
      const instance = new WebAssembly.Instance(module, { ...host.imports, env: { memory } });
      host.bindMemory(memory);
      const out: string[] = [];
      host.run(instance, {
        args: [],
        env: [],
        stdin: new Uint8Array(0),
        stdout: (c) => out.push(Buffer.from(c).toString()),
        stderr: () => {},
      });
      assert.equal(out.join(''), text);
    }
  });

  test('output of a host call made between uses is dropped', () => {
    const host = new WasiHost();
    const module = new WebAssembly.Module(
      wat(`(module
        (import "wasi_snapshot_preview1" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))
        (memory (export "memory") 1)
        (func (export "write") (result i32)
          (i32.store (i32.const 0) (i32.const 16))
          (i32.store (i32.const 4) (i32.const 1))
          (call $fd_write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8))))`),
    );
    const instance = new WebAssembly.Instance(module, host.imports);
    host.bindMemory(instance.exports['memory'] as WebAssembly.Memory);
    const seen: Uint8Array[] = [];
    host.begin({ args: [], env: [], stdin: new Uint8Array(0), stdout: (c) => seen.push(c.slice()), stderr: () => {} });
    assert.equal((instance.exports['write'] as () => number)(), 0);
    host.end();
    assert.equal((instance.exports['write'] as () => number)(), 0);
    assert.equal(seen.length, 1);
  });
});

describe('lifecycle and validation', () => {
  const context = { args: [], env: [], stdin: new Uint8Array(0), stdout: () => {}, stderr: () => {} };

  test('begin() twice without end() is refused; end() is idempotent', () => {
    const host = new WasiHost();
    host.begin(context);
    assert.throws(() => host.begin(context), InvalidArgumentError);
    host.end();
    host.end();
    host.begin(context);
    host.end();
  });

  test('malformed contexts are refused at begin()', () => {
    const host = new WasiHost();
    const bads: WasiContext[] = [
      { ...context, args: ['a\0b'] },
      { ...context, env: ['NOEQUALS'] },
      { ...context, env: ['=value'] },
      { ...context, env: { 'A=B': 'x' } },
      { ...context, env: { A: 'nul\0' } },
      { ...context, stdin: 'text' as unknown as Uint8Array },
      { ...context, stdout: undefined as unknown as () => void },
    ];
    for (const bad of bads) {
      assert.throws(() => host.begin(bad), InvalidArgumentError, JSON.stringify(bad));
    }
    assert.equal(host.inUse, false);
  });

  test('bad options are refused with the option named', () => {
    assert.throws(
      () => new WasiHost({ preopens: [{ guestPath: '/x', hostPath: join(root, 'missing') }] }),
      /options\.preopens\[0\]\.hostPath/,
    );
    assert.throws(() => new WasiHost({ preopens: [{ guestPath: '/x', hostPath: join(data, 'hello.txt') }] }), /is not a directory/);
    assert.throws(() => new WasiHost({ preopens: [{ guestPath: '', hostPath: data }] }), /guestPath/);
    assert.throws(() => new WasiHost({ clock: { sleep: 5 as unknown as () => void } }), /options\.clock\.sleep/);
    assert.throws(() => new WasiHost({ random: 'x' as unknown as () => void }), /options\.random/);
  });

  test('runCommand needs _start and a memory', () => {
    const host = new WasiHost();
    const noStart = new WebAssembly.Instance(new WebAssembly.Module(wat('(module (memory (export "memory") 1))')));
    assert.throws(() => host.runCommand(noStart), /does not export a function "_start"/);
    const noMemory = new WebAssembly.Instance(new WebAssembly.Module(wat('(module (func (export "_start")))')));
    assert.throws(() => host.runCommand(noMemory), /exports no "memory"/);
  });

  test('proc_exit unwinds with WasiExit, which carries the unsigned status', () => {
    const exit = (new WasiHost().imports['wasi_snapshot_preview1'] as Record<string, (code: number) => void>)['proc_exit'];
    assert.throws(
      () => exit?.(-1),
      (e) => e instanceof WasiExit && e.exitCode === 0xffffffff,
    );
  });
});
