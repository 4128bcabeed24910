// The preview1 ABI, byte by byte: struct layouts, errno values and the "never throw" rule, by
// calling the host functions directly on a memory the test inspects, and through a module that
// imports all 46 functions with their exact witx signatures.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { WasiHost, type WasiHostOptions } from '../src/wasi/wasi-host.ts';
import { Errno, Filetype, Rights } from '../src/wasi/abi.ts';
import { PREVIEW1_FUNCTIONS } from '../src/wasi/preview1-imports.ts';
import { WasiExit } from '../src/wasi/wasi-exit.ts';
import { wat } from './fixtures/wasi-guests.ts';

let dir: string;
before(() => {
  dir = mkdtempSync(join(tmpdir(), 'cowpool-abi-'));
  mkdirSync(join(dir, 'sub'));
  writeFileSync(join(dir, 'hello.txt'), 'hello');
  symlinkSync('/etc', join(dir, 'etc-link'));
});
after(() => rmSync(dir, { recursive: true, force: true }));

type Fn = (...args: (number | bigint)[]) => number;

/** A host with one bound page of memory and helpers to read/write it. */
function setup(options: WasiHostOptions = {}, stdin = '') {
  const host = new WasiHost({ preopens: [{ guestPath: '/data', hostPath: dir, mode: 'readonly' }], ...options });
  const memory = new WebAssembly.Memory({ initial: 1 });
  host.bindMemory(memory);
  const out: string[] = [];
  const err: string[] = [];
  host.begin({
    args: ['prog', 'ärg'],
    env: ['A=1', 'LONGER=value'],
    stdin: new TextEncoder().encode(stdin),
    stdout: (c) => out.push(Buffer.from(c).toString()),
    stderr: (c) => err.push(Buffer.from(c).toString()),
  });
  const wasi = host.imports['wasi_snapshot_preview1'] as Record<string, Fn>;
  const call = (name: string, ...args: (number | bigint)[]) => (wasi[name] as Fn)(...args);
  const view = () => new DataView(memory.buffer);
  const bytes = () => new Uint8Array(memory.buffer);
  const putString = (ptr: number, s: string) => {
    const b = new TextEncoder().encode(s);
    bytes().set(b, ptr);
    return b.length;
  };
  const iovec = (at: number, pairs: [number, number][]) =>
    pairs.forEach(([buf, len], i) => {
      view().setUint32(at + i * 8, buf, true);
      view().setUint32(at + i * 8 + 4, len, true);
    });
  return { host, memory, call, view, bytes, putString, iovec, out, err };
}

describe('import object', () => {
  test('has all 46 preview1 functions and nothing else', () => {
    const wasi = new WasiHost().imports['wasi_snapshot_preview1'] as Record<string, unknown>;
    assert.equal(PREVIEW1_FUNCTIONS.length, 46);
    assert.deepEqual(Object.keys(wasi).sort(), [...PREVIEW1_FUNCTIONS].sort());
    for (const name of PREVIEW1_FUNCTIONS) assert.equal(typeof wasi[name], 'function', name);
  });
});

describe('args and environ', () => {
  test('sizes count NUL terminators and UTF-8 bytes; get writes pointers then strings', () => {
    const { call, view, bytes } = setup();
    assert.equal(call('args_sizes_get', 0, 4), Errno.SUCCESS);
    assert.equal(view().getUint32(0, true), 2);
    assert.equal(view().getUint32(4, true), 'prog\0'.length + 'ärg\0'.length + 1); // ä is 2 bytes
    assert.equal(call('args_get', 100, 200), Errno.SUCCESS);
    assert.equal(view().getUint32(100, true), 200);
    assert.equal(view().getUint32(104, true), 205);
    assert.equal(Buffer.from(bytes().subarray(200, 210)).toString(), 'prog\0ärg\0');
    assert.equal(call('environ_sizes_get', 0, 4), Errno.SUCCESS);
    assert.deepEqual([view().getUint32(0, true), view().getUint32(4, true)], [2, 4 + 13]);
    assert.equal(call('environ_get', 300, 400), Errno.SUCCESS);
    assert.equal(Buffer.from(bytes().subarray(400, 417)).toString(), 'A=1\0LONGER=value\0');
    assert.equal(view().getUint32(304, true), 404);
  });

  test('pointers outside memory give EFAULT', () => {
    const { call } = setup();
    assert.equal(call('args_get', 65536 - 4, 0), Errno.FAULT);
    assert.equal(call('args_sizes_get', 65536, 0), Errno.FAULT);
    assert.equal(call('environ_get', 0, 65530), Errno.FAULT);
    assert.equal(call('args_get', -8, 0), Errno.FAULT, 'a negative i32 is a pointer above 2 GiB');
  });
});

describe('fd_write / fd_read', () => {
  test('fd_write gathers iovecs to the right sink and reports the total', () => {
    const { call, view, putString, iovec, out, err } = setup();
    putString(1000, 'Hello, ');
    putString(2000, 'world');
    iovec(0, [
      [1000, 7],
      [3000, 0],
      [2000, 5],
    ]);
    assert.equal(call('fd_write', 1, 0, 3, 100), Errno.SUCCESS);
    assert.equal(view().getUint32(100, true), 12);
    assert.equal(out.join(''), 'Hello, world');
    assert.equal(call('fd_write', 2, 0, 1, 100), Errno.SUCCESS);
    assert.equal(err.join(''), 'Hello, ');
    assert.equal(call('fd_write', 0, 0, 1, 100), Errno.BADF, 'stdin is not writable');
    assert.equal(call('fd_write', 3, 0, 1, 100), Errno.BADF, 'a directory is not writable');
    assert.equal(call('fd_write', 99, 0, 1, 100), Errno.BADF);
    iovec(0, [[65530, 10]]);
    assert.equal(call('fd_write', 1, 0, 1, 100), Errno.FAULT);
  });

  test('fd_read scatters stdin over iovecs and returns 0 at the end', () => {
    const { call, view, bytes, iovec } = setup({}, 'abcdefghij');
    iovec(0, [
      [1000, 3],
      [2000, 4],
    ]);
    assert.equal(call('fd_read', 0, 0, 2, 100), Errno.SUCCESS);
    assert.equal(view().getUint32(100, true), 7);
    assert.equal(Buffer.from(bytes().subarray(1000, 1003)).toString(), 'abc');
    assert.equal(Buffer.from(bytes().subarray(2000, 2004)).toString(), 'defg');
    assert.equal(call('fd_read', 0, 0, 2, 100), Errno.SUCCESS);
    assert.equal(view().getUint32(100, true), 3);
    assert.equal(call('fd_read', 0, 0, 2, 100), Errno.SUCCESS);
    assert.equal(view().getUint32(100, true), 0);
    assert.equal(call('fd_read', 1, 0, 2, 100), Errno.BADF);
    assert.equal(call('fd_read', 3, 0, 2, 100), Errno.ISDIR);
  });

  test('streams cannot seek or tell (ESPIPE); sockets calls say ENOTSOCK / EBADF; proc_raise ENOSYS', () => {
    const { call } = setup();
    for (const fd of [0, 1, 2]) {
      assert.equal(call('fd_seek', fd, 0n, 0, 0), Errno.SPIPE);
      assert.equal(call('fd_tell', fd, 0), Errno.SPIPE);
      assert.equal(call('fd_pread', fd, 0, 0, 0n, 0), Errno.SPIPE);
    }
    assert.equal(call('sock_accept', 1, 0, 0), Errno.NOTSOCK);
    assert.equal(call('sock_recv', 3, 0, 0, 0, 0, 0), Errno.NOTSOCK);
    assert.equal(call('sock_send', 50, 0, 0, 0, 0), Errno.BADF);
    assert.equal(call('sock_shutdown', 0, 0), Errno.NOTSOCK);
    assert.equal(call('proc_raise', 6), Errno.NOSYS);
    assert.equal(call('sched_yield'), Errno.SUCCESS);
  });
});

describe('fdstat, filestat, prestat', () => {
  test('fdstat is 24 bytes: filetype @0, flags @2, rights @8 and @16', () => {
    const { call, view, bytes } = setup();
    bytes().fill(0xee, 0, 64);
    assert.equal(call('fd_fdstat_get', 1, 8), Errno.SUCCESS);
    assert.equal(view().getUint8(8), Filetype.UNKNOWN);
    assert.equal(view().getUint8(9), 0, 'padding is zeroed');
    assert.equal(view().getUint16(10, true), 0);
    const base = view().getBigUint64(16, true);
    assert.ok((base & Rights.FD_WRITE) !== 0n && (base & (Rights.FD_SEEK | Rights.FD_TELL)) === 0n);
    assert.equal(view().getBigUint64(24, true), 0n);
    assert.equal(view().getUint8(32), 0xee, 'nothing written past 24 bytes');
    assert.equal(call('fd_fdstat_get', 3, 8), Errno.SUCCESS);
    assert.equal(view().getUint8(8), Filetype.DIRECTORY);
    assert.ok((view().getBigUint64(24, true) & Rights.FD_READ) !== 0n, 'directories hand down FD_READ');
    assert.equal(call('fd_fdstat_get', 4, 8), Errno.BADF);
  });

  test('fdstat flags and rights: set_flags is remembered, rights can only shrink', () => {
    const { call, view } = setup();
    assert.equal(call('fd_fdstat_set_flags', 1, 1 /* APPEND */), Errno.SUCCESS);
    call('fd_fdstat_get', 1, 0);
    assert.equal(view().getUint16(2, true), 1);
    assert.equal(call('fd_fdstat_set_flags', 1, 1 << 7), Errno.INVAL);
    assert.equal(call('fd_fdstat_set_rights', 1, Rights.FD_WRITE, 0n), Errno.SUCCESS);
    assert.equal(call('fd_fdstat_set_rights', 1, Rights.FD_WRITE | Rights.FD_READ, 0n), Errno.NOTCAPABLE);
    assert.equal(call('fd_fdstat_set_rights', 1, 0n, 0n), Errno.SUCCESS);
    assert.equal(call('fd_write', 1, 0, 0, 100), Errno.BADF, 'FD_WRITE dropped');
  });

  test('a new use restores flags, rights and closed fds', () => {
    const { host, call, view } = setup();
    call('fd_fdstat_set_rights', 1, 0n, 0n);
    call('fd_close', 3);
    assert.equal(call('fd_prestat_get', 3, 0), Errno.BADF);
    host.end();
    host.begin({ args: [], env: [], stdin: new Uint8Array(0), stdout: () => {}, stderr: () => {} });
    assert.equal(call('fd_prestat_get', 3, 0), Errno.SUCCESS);
    call('fd_fdstat_get', 1, 0);
    assert.ok((view().getBigUint64(8, true) & Rights.FD_WRITE) !== 0n);
  });

  test('prestat is 8 bytes (tag @0, name length @4); fds without a preopen give EBADF', () => {
    const { call, view, bytes } = setup();
    bytes().fill(0xee, 0, 16);
    assert.equal(call('fd_prestat_get', 3, 0), Errno.SUCCESS);
    assert.deepEqual([view().getUint8(0), view().getUint8(1), view().getUint32(4, true)], [0, 0, 5]);
    assert.equal(call('fd_prestat_dir_name', 3, 100, 5), Errno.SUCCESS);
    assert.equal(Buffer.from(bytes().subarray(100, 105)).toString(), '/data');
    assert.equal(call('fd_prestat_dir_name', 3, 100, 4), Errno.NAMETOOLONG);
    for (const fd of [0, 1, 2, 4]) assert.equal(call('fd_prestat_get', fd, 0), Errno.BADF);
  });

  test('filestat is 64 bytes; streams report a zeroed stat of their filetype', () => {
    const { call, view, bytes } = setup();
    bytes().fill(0xee, 0, 80);
    assert.equal(call('fd_filestat_get', 1, 0), Errno.SUCCESS);
    for (let i = 0; i < 64; i++) assert.equal(bytes()[i], 0, `byte ${i}`);
    assert.equal(bytes()[64], 0xee);
    assert.equal(call('fd_filestat_get', 3, 0), Errno.SUCCESS);
    assert.equal(view().getUint8(16), Filetype.DIRECTORY);
    assert.ok(view().getBigUint64(8, true) > 0n, 'inode');
    assert.ok(view().getBigUint64(48, true) > 1_000_000_000_000_000_000n, 'mtime in ns since 1970');
  });
});

describe('path_open and files', () => {
  const O_CREAT = 1;
  const O_DIRECTORY = 2;
  const O_TRUNC = 8;
  const FOLLOW = 1;
  const readRights = Rights.FD_READ | Rights.FD_SEEK | Rights.FD_TELL | Rights.FD_FILESTAT_GET;

  function open(s: ReturnType<typeof setup>, path: string, oflags = 0, rights = readRights, lookup = FOLLOW, fdflags = 0) {
    const len = s.putString(5000, path);
    const errno = s.call('path_open', 3, lookup, 5000, len, oflags, rights, 0n, fdflags, 6000);
    return { errno, fd: s.view().getUint32(6000, true) };
  }

  test('open, read, seek, tell, pread, stat and close a file', () => {
    const s = setup();
    const { errno, fd } = open(s, 'hello.txt');
    assert.equal(errno, Errno.SUCCESS);
    assert.equal(fd, 4);
    s.iovec(0, [[1000, 3]]);
    assert.equal(s.call('fd_read', fd, 0, 1, 100), Errno.SUCCESS);
    assert.equal(Buffer.from(s.bytes().subarray(1000, 1003)).toString(), 'hel');
    assert.equal(s.call('fd_tell', fd, 200), Errno.SUCCESS);
    assert.equal(s.view().getBigUint64(200, true), 3n);
    assert.equal(s.call('fd_seek', fd, -1n, 2 /* END */, 200), Errno.SUCCESS);
    assert.equal(s.view().getBigUint64(200, true), 4n);
    assert.equal(s.call('fd_seek', fd, -10n, 1 /* CUR */, 200), Errno.INVAL);
    assert.equal(s.call('fd_seek', fd, 0n, 3, 200), Errno.INVAL);
    assert.equal(s.call('fd_pread', fd, 0, 1, 1n, 100), Errno.SUCCESS);
    assert.equal(Buffer.from(s.bytes().subarray(1000, 1003)).toString(), 'ell');
    assert.equal(s.call('fd_filestat_get', fd, 300), Errno.SUCCESS);
    assert.equal(s.view().getUint8(316), Filetype.REGULAR_FILE);
    assert.equal(s.view().getBigUint64(332, true), 5n);
    assert.equal(s.call('fd_write', fd, 0, 1, 100), Errno.BADF);
    assert.equal(s.call('fd_pwrite', fd, 0, 1, 0n, 100), Errno.BADF);
    assert.equal(s.call('fd_filestat_set_size', fd, 0n), Errno.NOTCAPABLE, 'opened without the right to change its size');
    assert.equal(s.call('fd_close', fd), Errno.SUCCESS);
    assert.equal(s.call('fd_close', fd), Errno.BADF);
  });

  const refusals: [string, string, number, bigint, number, number][] = [
    ['escape with ..', '../x', 0, readRights, FOLLOW, Errno.NOTCAPABLE],
    ['escape via sub/../..', 'sub/../../x', 0, readRights, FOLLOW, Errno.NOTCAPABLE],
    ['absolute path', '/etc/passwd', 0, readRights, FOLLOW, Errno.NOTCAPABLE],
    ['symlink leading out', 'etc-link/passwd', 0, readRights, FOLLOW, Errno.NOTCAPABLE],
    ['final symlink leading out', 'etc-link', 0, readRights, FOLLOW, Errno.NOTCAPABLE],
    ['final symlink without FOLLOW', 'etc-link', 0, readRights, 0, Errno.LOOP],
    ['missing file', 'nope.txt', 0, readRights, FOLLOW, Errno.NOENT],
    ['missing directory on the way', 'nope/x', 0, readRights, FOLLOW, Errno.NOENT],
    ['file as a directory', 'hello.txt/x', 0, readRights, FOLLOW, Errno.NOTDIR],
    ['O_DIRECTORY on a file', 'hello.txt', O_DIRECTORY, readRights, FOLLOW, Errno.NOTDIR],
    ['create', 'new.txt', O_CREAT, readRights, FOLLOW, Errno.ROFS],
    ['truncate', 'hello.txt', O_TRUNC, readRights, FOLLOW, Errno.ROFS],
    ['write right', 'hello.txt', 0, readRights | Rights.FD_WRITE, FOLLOW, Errno.ROFS],
    ['append', 'hello.txt', 0, readRights, FOLLOW, -1],
    ['empty path', '', 0, readRights, FOLLOW, Errno.NOENT],
    ['NUL in path', 'hello.txt\0x', 0, readRights, FOLLOW, Errno.ILSEQ],
  ];
  for (const [what, path, oflags, rights, lookup, expected] of refusals) {
    test(`path_open refuses: ${what}`, () => {
      const s = setup();
      const fdflags = expected === -1 ? 1 /* APPEND */ : 0;
      assert.equal(open(s, path, oflags, rights, lookup, fdflags).errno, expected === -1 ? Errno.ROFS : expected);
    });
  }

  test('path_open on a non-directory fd: ENOTDIR; on a closed fd: EBADF', () => {
    const s = setup();
    const len = s.putString(5000, 'x');
    assert.equal(s.call('path_open', 1, 0, 5000, len, 0, 0n, 0n, 0, 6000), Errno.NOTDIR);
    assert.equal(s.call('path_open', 9, 0, 5000, len, 0, 0n, 0n, 0, 6000), Errno.BADF);
  });

  test('opened directories resolve beneath themselves and cannot be escaped either', () => {
    const s = setup();
    const sub = open(s, 'sub', O_DIRECTORY, Rights.PATH_OPEN | Rights.FD_READDIR);
    assert.equal(sub.errno, Errno.SUCCESS);
    const len = s.putString(5000, '../hello.txt');
    assert.equal(s.call('path_open', sub.fd, FOLLOW, 5000, len, 0, readRights, 0n, 0, 6000), Errno.NOTCAPABLE);
  });

  test('fd_readdir writes 24-byte dirents with names and honours cookies and short buffers', () => {
    const s = setup();
    const d = open(s, '.', O_DIRECTORY, Rights.FD_READDIR | Rights.PATH_OPEN);
    assert.equal(d.errno, Errno.SUCCESS);
    assert.equal(s.call('fd_readdir', d.fd, 1000, 4096, 0n, 100), Errno.SUCCESS);
    const used = s.view().getUint32(100, true);
    const names: string[] = [];
    for (let p = 1000; p < 1000 + used;) {
      const namlen = s.view().getUint32(p + 16, true);
      names.push(Buffer.from(s.bytes().subarray(p + 24, p + 24 + namlen)).toString());
      p += 24 + namlen;
    }
    assert.deepEqual(names.sort(), ['.', '..', 'etc-link', 'hello.txt', 'sub']);
    // A 30-byte buffer holds one whole entry ('.': 25 bytes) and 5 bytes of the next: full buffer.
    assert.equal(s.call('fd_readdir', d.fd, 1000, 30, 0n, 100), Errno.SUCCESS);
    assert.equal(s.view().getUint32(100, true), 30);
    assert.equal(s.view().getBigUint64(1000, true), 1n, 'd_next of the first entry is cookie 1');
    assert.equal(s.call('fd_readdir', d.fd, 1000, 4096, 5n, 100), Errno.SUCCESS);
    assert.equal(s.view().getUint32(100, true), 0, 'nothing after the last entry');
    assert.equal(s.call('fd_readdir', 1, 1000, 4096, 0n, 100), Errno.NOTDIR);
  });

  test('path_filestat_get follows or not; writes are EROFS; path_readlink reads the link', () => {
    const s = setup();
    const len = s.putString(5000, 'etc-link');
    assert.equal(s.call('path_filestat_get', 3, 0, 5000, len, 0), Errno.SUCCESS);
    assert.equal(s.view().getUint8(16), Filetype.SYMBOLIC_LINK);
    assert.equal(s.call('path_filestat_get', 3, FOLLOW, 5000, len, 0), Errno.NOTCAPABLE);
    assert.equal(s.call('path_readlink', 3, 5000, len, 200, 100, 300), Errno.SUCCESS);
    assert.equal(Buffer.from(s.bytes().subarray(200, 200 + s.view().getUint32(300, true))).toString(), '/etc');
    assert.equal(s.call('path_unlink_file', 3, 5000, len), Errno.ROFS);
    assert.equal(s.call('path_create_directory', 3, 5000, len), Errno.ROFS);
    assert.equal(s.call('path_rename', 3, 5000, len, 3, 5000, len), Errno.ROFS);
    assert.equal(s.call('path_symlink', 5000, len, 3, 5000, len), Errno.ROFS);
    assert.equal(s.call('path_unlink_file', 1, 5000, len), Errno.NOTDIR);
    assert.equal(s.call('path_unlink_file', 77, 5000, len), Errno.BADF);
  });
});

describe('clocks, random, poll_oneoff', () => {
  const fakeClock = (sleeps: bigint[]) => ({
    now: (id: number) => (id <= 3 ? 1_000_000_000n + BigInt(id) : undefined),
    resolution: (id: number) => (id <= 3 ? 1000n : undefined),
    sleep: (ns: bigint) => void sleeps.push(ns),
  });

  test('clock_time_get and clock_res_get write u64 nanoseconds; unknown clocks are EINVAL', () => {
    const s = setup({ clock: fakeClock([]) });
    assert.equal(s.call('clock_time_get', 1, 0n, 8), Errno.SUCCESS);
    assert.equal(s.view().getBigUint64(8, true), 1_000_000_001n);
    assert.equal(s.call('clock_res_get', 0, 8), Errno.SUCCESS);
    assert.equal(s.view().getBigUint64(8, true), 1000n);
    assert.equal(s.call('clock_time_get', 9, 0n, 8), Errno.INVAL);
    assert.equal(s.call('clock_res_get', 9, 8), Errno.INVAL);
  });

  test('the system clocks are sane', () => {
    const s = setup();
    s.call('clock_time_get', 0, 0n, 0);
    const realtime = Number(s.view().getBigUint64(0, true) / 1_000_000n);
    assert.ok(Math.abs(realtime - Date.now()) < 1000);
    s.call('clock_time_get', 1, 0n, 0);
    s.call('clock_time_get', 1, 0n, 8);
    assert.ok(s.view().getBigUint64(8, true) >= s.view().getBigUint64(0, true));
    assert.equal(s.call('clock_time_get', 2, 0n, 0), Errno.SUCCESS);
    assert.equal(s.call('clock_time_get', 3, 0n, 0), Errno.SUCCESS);
  });

  test('random_get fills exactly the range, in chunks of at most 64 KiB', () => {
    const chunks: number[] = [];
    const s = setup({ random: (t) => (chunks.push(t.length), t.fill(7)) });
    s.memory.grow(3);
    assert.equal(s.call('random_get', 10, 200000), Errno.SUCCESS);
    assert.deepEqual(chunks, [200000]);
    assert.equal(s.bytes()[9], 0);
    assert.equal(s.bytes()[10], 7);
    assert.equal(s.bytes()[200009], 7);
    assert.equal(s.bytes()[200010], 0);
    assert.equal(s.call('random_get', 4 * 65536 - 1, 2), Errno.FAULT);
    // The default source splits at 64 KiB (getRandomValues refuses more).
    const d = setup();
    d.memory.grow(3);
    assert.equal(d.call('random_get', 0, 200000), Errno.SUCCESS);
    assert.ok(
      d
        .bytes()
        .subarray(0, 200000)
        .filter((b) => b === 0).length < 1200,
    );
  });

  function subscribeClock(s: ReturnType<typeof setup>, at: number, userdata: bigint, id: number, timeout: bigint, abstime = false) {
    s.bytes().fill(0, at, at + 48);
    s.view().setBigUint64(at, userdata, true);
    s.view().setUint8(at + 8, 0);
    s.view().setUint32(at + 16, id, true);
    s.view().setBigUint64(at + 24, timeout, true);
    s.view().setUint16(at + 40, abstime ? 1 : 0, true);
  }
  function subscribeFd(s: ReturnType<typeof setup>, at: number, userdata: bigint, type: 1 | 2, fd: number) {
    s.bytes().fill(0, at, at + 48);
    s.view().setBigUint64(at, userdata, true);
    s.view().setUint8(at + 8, type);
    s.view().setUint32(at + 16, fd, true);
  }
  const event = (s: ReturnType<typeof setup>, at: number) => ({
    userdata: s.view().getBigUint64(at, true),
    error: s.view().getUint16(at + 8, true),
    type: s.view().getUint8(at + 10),
    nbytes: s.view().getBigUint64(at + 16, true),
    flags: s.view().getUint16(at + 24, true),
  });

  test('a lone relative clock sleeps for its timeout and fires', () => {
    const sleeps: bigint[] = [];
    const s = setup({ clock: fakeClock(sleeps) });
    subscribeClock(s, 0, 0xabcdef0123n, 1, 5_000_000n);
    assert.equal(s.call('poll_oneoff', 0, 1000, 1, 2000), Errno.SUCCESS);
    assert.deepEqual(sleeps, [5_000_000n]);
    assert.equal(s.view().getUint32(2000, true), 1);
    assert.deepEqual(event(s, 1000), { userdata: 0xabcdef0123n, error: 0, type: 0, nbytes: 0n, flags: 0 });
  });

  test('an absolute clock sleeps until its deadline; one in the past fires at once', () => {
    const sleeps: bigint[] = [];
    const s = setup({ clock: fakeClock(sleeps) });
    subscribeClock(s, 0, 1n, 0, 1_000_000_000n + 300n, true); // realtime now() = 1e9
    subscribeClock(s, 48, 2n, 0, 5n, true);
    assert.equal(s.call('poll_oneoff', 0, 1000, 2, 2000), Errno.SUCCESS);
    assert.deepEqual(sleeps, []);
    assert.equal(s.view().getUint32(2000, true), 1);
    assert.equal(event(s, 1000).userdata, 2n);
    assert.equal(s.call('poll_oneoff', 0, 1000, 1, 2000), Errno.SUCCESS);
    assert.deepEqual(sleeps, [300n]);
  });

  test('ready fds fire without sleeping: stdin with its byte count, stdout writable', () => {
    const sleeps: bigint[] = [];
    const s = setup({ clock: fakeClock(sleeps) }, 'five!');
    subscribeClock(s, 0, 1n, 1, 10_000_000_000n);
    subscribeFd(s, 48, 2n, 1, 0);
    subscribeFd(s, 96, 3n, 2, 1);
    subscribeFd(s, 144, 4n, 1, 42);
    assert.equal(s.call('poll_oneoff', 0, 1000, 4, 2000), Errno.SUCCESS);
    assert.deepEqual(sleeps, []);
    assert.equal(s.view().getUint32(2000, true), 3);
    assert.deepEqual(event(s, 1000), { userdata: 2n, error: 0, type: 1, nbytes: 5n, flags: 0 });
    assert.deepEqual(event(s, 1032), { userdata: 3n, error: 0, type: 2, nbytes: 65536n, flags: 0 });
    assert.deepEqual(event(s, 1064), { userdata: 4n, error: Errno.BADF, type: 1, nbytes: 0n, flags: 0 });
  });

  test('poll_oneoff with no subscriptions is EINVAL, unknown clocks report EINVAL events', () => {
    const s = setup({ clock: fakeClock([]) });
    assert.equal(s.call('poll_oneoff', 0, 1000, 0, 2000), Errno.INVAL);
    subscribeClock(s, 0, 9n, 77, 1n);
    assert.equal(s.call('poll_oneoff', 0, 1000, 1, 2000), Errno.SUCCESS);
    assert.deepEqual(event(s, 1000), { userdata: 9n, error: Errno.INVAL, type: 0, nbytes: 0n, flags: 0 });
  });

  test('the default sleep really sleeps', () => {
    const s = setup();
    subscribeClock(s, 0, 1n, 1, 20_000_000n);
    const start = performance.now();
    assert.equal(s.call('poll_oneoff', 0, 1000, 1, 2000), Errno.SUCCESS);
    assert.ok(performance.now() - start >= 19);
  });
});

describe('proc_exit', () => {
  test('throws WasiExit', () => {
    const s = setup();
    assert.throws(
      () => s.call('proc_exit', 3),
      (e) => e instanceof WasiExit && e.exitCode === 3,
    );
  });
});

// The witx signatures, so a module can import every function exactly as a compiler would.
const SIGNATURES: Record<string, string> = {
  args_get: 'i32 i32',
  args_sizes_get: 'i32 i32',
  environ_get: 'i32 i32',
  environ_sizes_get: 'i32 i32',
  clock_res_get: 'i32 i32',
  clock_time_get: 'i32 i64 i32',
  fd_advise: 'i32 i64 i64 i32',
  fd_allocate: 'i32 i64 i64',
  fd_close: 'i32',
  fd_datasync: 'i32',
  fd_fdstat_get: 'i32 i32',
  fd_fdstat_set_flags: 'i32 i32',
  fd_fdstat_set_rights: 'i32 i64 i64',
  fd_filestat_get: 'i32 i32',
  fd_filestat_set_size: 'i32 i64',
  fd_filestat_set_times: 'i32 i64 i64 i32',
  fd_pread: 'i32 i32 i32 i64 i32',
  fd_prestat_get: 'i32 i32',
  fd_prestat_dir_name: 'i32 i32 i32',
  fd_pwrite: 'i32 i32 i32 i64 i32',
  fd_read: 'i32 i32 i32 i32',
  fd_readdir: 'i32 i32 i32 i64 i32',
  fd_renumber: 'i32 i32',
  fd_seek: 'i32 i64 i32 i32',
  fd_sync: 'i32',
  fd_tell: 'i32 i32',
  fd_write: 'i32 i32 i32 i32',
  path_create_directory: 'i32 i32 i32',
  path_filestat_get: 'i32 i32 i32 i32 i32',
  path_filestat_set_times: 'i32 i32 i32 i32 i64 i64 i32',
  path_link: 'i32 i32 i32 i32 i32 i32 i32',
  path_open: 'i32 i32 i32 i32 i32 i64 i64 i32 i32',
  path_readlink: 'i32 i32 i32 i32 i32 i32',
  path_remove_directory: 'i32 i32 i32',
  path_rename: 'i32 i32 i32 i32 i32 i32',
  path_symlink: 'i32 i32 i32 i32 i32',
  path_unlink_file: 'i32 i32 i32',
  poll_oneoff: 'i32 i32 i32 i32',
  proc_exit: 'i32',
  proc_raise: 'i32',
  sched_yield: '',
  random_get: 'i32 i32',
  sock_accept: 'i32 i32 i32',
  sock_recv: 'i32 i32 i32 i32 i32 i32',
  sock_send: 'i32 i32 i32 i32 i32',
  sock_shutdown: 'i32 i32',
};

describe('every function through wasm, with arbitrary arguments', () => {
  const names = Object.keys(SIGNATURES).filter((n) => n !== 'proc_exit');
  const module = new WebAssembly.Module(
    wat(`(module
      ${Object.entries(SIGNATURES)
        .map(([n, p]) => `(import "wasi_snapshot_preview1" "${n}" (func $${n} (param ${p})${n === 'proc_exit' ? '' : ' (result i32)'}))`)
        .join('\n')}
      (memory (export "memory") 1)
      ${names
        .map((n) => {
          const params = (SIGNATURES[n] as string).split(' ').filter(Boolean);
          return `(func (export "${n}") ${params.map((t) => `(param ${t})`).join(' ')} (result i32)
            (call $${n} ${params.map((_, i) => `(local.get ${i})`).join(' ')}))`;
        })
        .join('\n')})`),
  );

  test('links against the host with the exact witx signatures', () => {
    assert.doesNotThrow(() => new WebAssembly.Instance(module, new WasiHost().imports));
  });

  test('never throws and always returns an errno (0..76)', () => {
    const host = new WasiHost({
      preopens: [{ guestPath: '/data', hostPath: dir }],
      clock: { sleep: () => {} }, // random clock subscriptions must not really sleep
    });
    const instance = new WebAssembly.Instance(module, host.imports);
    host.bindMemory(instance.exports['memory'] as WebAssembly.Memory);
    host.begin({ args: ['a'], env: ['B=c'], stdin: new Uint8Array(100), stdout: () => {}, stderr: () => {} });
    // Small values hit valid fds, flags and in-memory pointers; large ones probe the edges.
    const i32 = fc.oneof(fc.integer({ min: -2, max: 70000 }), fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 }));
    const i64 = fc.oneof(fc.bigInt({ min: -5n, max: 70000n }), fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n }));
    try {
      fc.assert(
        fc.property(
          fc.constantFrom(...names).chain((name) =>
            fc.tuple(
              fc.constant(name),
              fc.tuple(
                ...(SIGNATURES[name] as string)
                  .split(' ')
                  .filter(Boolean)
                  .map((t) => (t === 'i64' ? i64 : i32)),
              ),
            ),
          ),
          ([name, args]) => {
            const result = (instance.exports[name] as (...a: unknown[]) => number)(...args);
            return Number.isInteger(result) && result >= 0 && result <= 76;
          },
        ),
        { numRuns: 3000, seed: 20240501 },
      );
    } finally {
      host.end();
    }
  });
});
