/**
 * `overlayLimit` holds against a hostile guest (issue 18, finding 1): every byte the file system of
 * a use holds is charged while something refers to it (a name, an open descriptor, a hard link, a
 * directory listing) and given back when the last reference goes, so no sequence of file
 * operations takes a use past its limit or the process past the limit plus a fixed slack, and at
 * the end of a use everything is given back.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import fc from 'fast-check';
import { WasiHost } from '../src/wasi/wasi-host.ts';
import { WasiCommand } from '../src/wasi/index.ts';
import { Errno, Oflags, Rights } from '../src/wasi/abi.ts';
import { entryCost, NODE_OVERHEAD } from '../src/wasi/fs/overlay-budget.ts';
import { WasiDriver } from './support/wasi-driver.ts';
import { snapshot } from './support/tree.ts';

setFlagsFromString('--expose-gc');
const collect = runInNewContext('gc') as () => void;
/** A full collection: the second one also frees the array buffers the first found dead (V8 sweeps them concurrently). */
const gc = () => {
  collect();
  collect();
};

let root: string;
let empty: string; // granted empty: after a use deletes everything, nothing may stay charged
let populated: string; // granted with host files, so that changes copy them into the overlay
before(() => {
  root = realpathSync(mkdtempSync(join(tmpdir(), 'cowpool-budget-')));
  empty = join(root, 'empty');
  populated = join(root, 'populated');
  mkdirSync(empty);
  mkdirSync(join(populated, 'd'), { recursive: true });
  writeFileSync(join(populated, 'a'), 'host file a');
  writeFileSync(join(populated, 'big'), Buffer.alloc(300_000, 'b'));
  writeFileSync(join(populated, 'd', 'a'), 'host file d/a');
});
after(() => rmSync(root, { recursive: true, force: true }));

const MIB = 1024 * 1024;
const driverOn = (hostPath: string, overlayLimit: number) =>
  new WasiDriver(new WasiHost({ preopens: [{ guestPath: '/data', hostPath }], overlayLimit }));

// Guest memory the helpers below use besides what WasiDriver uses (below 0x10000).
const BLOCK = 0x10000; // 32 KiB of data written by every iovec
const BLOCK_SIZE = 0x8000;
const IOVS = 0x20000;
const RESULT = 0x30000;
const FILE_RW = Rights.FD_READ | Rights.FD_WRITE | Rights.FD_SEEK | Rights.FD_TELL | Rights.FD_FILESTAT_GET | Rights.FD_FILESTAT_SET_SIZE;
const DIR_RIGHTS = Rights.PATH_OPEN | Rights.FD_READDIR;

/** Writes `size` bytes at `offset` of `fd` in one fd_pwrite (iovecs over one 32 KiB block); `wrote N` or `errno N`. */
function pwrite(driver: WasiDriver, fd: number, size: number, offset = 0): string {
  const view = driver.view;
  let count = 0;
  for (let left = size; left > 0; left -= BLOCK_SIZE) {
    view.setUint32(IOVS + count * 8, BLOCK, true);
    view.setUint32(IOVS + count * 8 + 4, Math.min(left, BLOCK_SIZE), true);
    count++;
  }
  const errno = driver.call('fd_pwrite', fd, IOVS, count, BigInt(offset), RESULT);
  return errno === Errno.SUCCESS ? `wrote ${view.getUint32(RESULT, true)}` : `errno ${errno}`;
}

/** The inode and size of what `fd` holds, or undefined when it is not a file. */
function fdStat(driver: WasiDriver, fd: number): { ino: bigint; size: number } | undefined {
  if (driver.call('fd_filestat_get', fd, RESULT) !== Errno.SUCCESS) return undefined;
  const view = driver.view;
  if (view.getUint8(RESULT + 16) !== 4) return undefined; // not a regular file
  return { ino: view.getBigUint64(RESULT + 8, true), size: Number(view.getBigUint64(RESULT + 32, true)) };
}

/**
 * The content bytes the guest can still reach: every distinct regular file (by inode) named in the
 * tree or held by one of `fds`. The budget must never charge less than this.
 */
function reachableBytes(driver: WasiDriver, fds: Iterable<number>): number {
  const files = new Map<bigint, number>();
  const walk = (dir: string) => {
    const listing = driver.list(dir);
    if (listing.startsWith('errno') || listing === '') return;
    for (const name of listing.split(',')) {
      const path = dir === '.' ? name : `${dir}/${name}`;
      const fd = driver.open(path, 0, Rights.FD_FILESTAT_GET, 0, 0);
      if (typeof fd === 'string') {
        walk(path); // a directory (opened as a file: EISDIR) or a symlink (ELOOP, ignored by walk)
        continue;
      }
      const stat = fdStat(driver, fd);
      driver.close(fd);
      if (stat) files.set(stat.ino, stat.size);
    }
  };
  walk('.');
  for (const fd of fds) {
    const stat = fdStat(driver, fd);
    if (stat) files.set(stat.ino, stat.size);
  }
  let total = 0;
  for (const size of files.values()) total += size;
  return total;
}

/** Deletes everything under the preopen (what a guest can do to empty it again). */
function deleteEverything(driver: WasiDriver, dir = '.'): void {
  const listing = driver.list(dir);
  if (listing.startsWith('errno') || listing === '') return;
  for (const name of listing.split(',')) {
    const path = dir === '.' ? name : `${dir}/${name}`;
    if (driver.unlink(path) !== 'errno 0') {
      deleteEverything(driver, path);
      assert.equal(driver.rmdir(path), 'errno 0', `rmdir ${path}`);
    }
  }
}

// --- the hostile guest of the issue ---------------------------------------------------------------

describe('a guest that unlinks its files while it keeps them open', () => {
  test('gets ENOSPC at the limit, and the process does not grow past it (the C guest of issue 18)', async () => {
    const original = snapshot(empty);
    const command = await WasiCommand.create(readFileSync(new URL('./fixtures/unlink-open.wasm', import.meta.url)), {
      preopens: [{ guestPath: '/data', hostPath: empty }],
      overlayLimit: MIB,
      pool: { max: 1 },
    });
    try {
      gc();
      const before_ = process.memoryUsage();
      // 800 rounds of 512 KiB grew the process by 409 MiB in one use before the fix.
      const first = await command.run({ args: ['unlink-open', '800', '512'] });
      const during = process.memoryUsage();
      assert.equal(first.stdout.toString(), `round 1: write: No space left on device\nrounds 1\n`);
      assert.ok(
        during.arrayBuffers - before_.arrayBuffers < 8 * MIB,
        `array buffers grew by ${during.arrayBuffers - before_.arrayBuffers}`,
      );
      const wider = await WasiCommand.create(readFileSync(new URL('./fixtures/unlink-open.wasm', import.meta.url)), {
        preopens: [{ guestPath: '/data', hostPath: empty }],
        overlayLimit: 8 * MIB,
        pool: { max: 1 },
      });
      const rounds = Number(/rounds (\d+)/.exec((await wider.run({ args: ['unlink-open', '800', '512'] })).stdout.toString())?.[1]);
      assert.ok(rounds >= 14 && rounds < 16, `8 MiB hold 15 files of 512 KiB (and their names), not ${rounds}`);
      await wider.close();
      // The next use has the whole budget again: everything the last one held was given back.
      assert.equal((await command.run({ args: ['unlink-open', '1', '900'] })).stdout.toString(), 'rounds 1\n');
    } finally {
      await command.close();
    }
    assert.deepEqual(snapshot(empty), original);
  });
});

// --- each kind of reference ---------------------------------------------------------------------

describe('what holds memory stays charged until its last reference goes', () => {
  test('a file unlinked while open keeps its bytes charged until the descriptor closes', () => {
    const driver = driverOn(empty, 4 * MIB);
    const fd = driver.open('f', Oflags.CREAT, FILE_RW) as number;
    assert.equal(pwrite(driver, fd, MIB), `wrote ${MIB}`);
    const held = driver.host.overlayBytes;
    assert.ok(held >= MIB);
    assert.equal(driver.unlink('f'), 'errno 0');
    assert.equal(driver.host.overlayBytes, held - entryCost('f'), 'only the name was given back');
    assert.equal(pwrite(driver, fd, 4 * MIB), `errno ${Errno.NOSPC}`, 'the open file still counts');
    assert.equal(driver.close(fd), Errno.SUCCESS);
    assert.equal(driver.host.overlayBytes, 0, 'the last reference gave everything back');
    driver.end();
  });

  test('hard links: the bytes stay while any name or descriptor is left', () => {
    const driver = driverOn(empty, 4 * MIB);
    const fd = driver.open('f', Oflags.CREAT, FILE_RW) as number;
    pwrite(driver, fd, 100_000);
    assert.equal(driver.close(fd), Errno.SUCCESS);
    assert.equal(driver.link('f', 'g'), 'errno 0');
    const both = driver.host.overlayBytes;
    assert.equal(driver.unlink('f'), 'errno 0');
    assert.equal(driver.host.overlayBytes, both - entryCost('f'));
    const reader = driver.open('g', 0, Rights.FD_READ) as number;
    assert.equal(driver.unlink('g'), 'errno 0');
    assert.ok(driver.host.overlayBytes >= 100_000, 'held by the reader');
    driver.close(reader);
    assert.equal(driver.host.overlayBytes, 0);
    driver.end();
  });

  test('a rename over an open file keeps the replaced file charged until it closes; names are not charged twice', () => {
    const driver = driverOn(empty, 4 * MIB);
    const old = driver.open('old', Oflags.CREAT, FILE_RW) as number;
    pwrite(driver, old, 200_000);
    assert.equal(driver.write('new', 'x'), 'wrote 1');
    assert.equal(driver.rename('new', 'old'), 'errno 0');
    assert.ok(driver.host.overlayBytes >= 200_000);
    driver.close(old);
    assert.equal(driver.host.overlayBytes, entryCost('old') + NODE_OVERHEAD + 1);
    // Renaming back and forth costs nothing more: a name moves, it is not made.
    for (let i = 0; i < 10_000; i++) assert.equal(driver.rename(i % 2 ? 'b' : 'old', i % 2 ? 'old' : 'b'), 'errno 0');
    assert.equal(driver.host.overlayBytes, entryCost('old') + NODE_OVERHEAD + 1);
    driver.end();
  });

  test('a truncated file gives back its buffer; a host file copied in is charged its size', () => {
    const driver = driverOn(populated, 4 * MIB);
    const reader = driver.open('big', 0, Rights.FD_READ) as number;
    assert.equal(driver.host.overlayBytes, 0, 'opened for reading: nothing copied');
    const fd = driver.open('big', 0, FILE_RW) as number;
    assert.equal(driver.host.overlayBytes, entryCost('big') + NODE_OVERHEAD + 300_000, 'opened for writing: copied in');
    assert.equal(pwrite(driver, fd, 1, 0), 'wrote 1');
    assert.equal(driver.close(reader), Errno.SUCCESS);
    assert.equal(driver.call('fd_filestat_set_size', fd, 10n), Errno.SUCCESS);
    assert.equal(driver.host.overlayBytes, entryCost('big') + NODE_OVERHEAD + 10);
    driver.end();
    assert.equal(driver.host.overlayBytes, 0);
  });

  test('directory listings are charged while their descriptors keep them: many fds cannot copy one directory many times', () => {
    const driver = driverOn(empty, MIB);
    for (let i = 0; i < 200; i++) driver.write(`file-with-a-long-name-${i}`, '');
    const names = driver.host.overlayBytes;
    const fds: number[] = [];
    let refused = 0;
    for (let i = 0; i < 1000; i++) {
      const fd = driver.open('.', Oflags.DIRECTORY, DIR_RIGHTS);
      if (typeof fd === 'string') break;
      fds.push(fd);
      const errno = driver.call('fd_readdir', fd, 0x8000, 0x100, 0n, RESULT);
      if (errno === Errno.NOMEM) refused++;
      else assert.equal(errno, Errno.SUCCESS);
    }
    assert.ok(refused > 0, 'past the budget a listing is refused with ENOMEM');
    assert.ok(driver.host.overlayBytes <= MIB);
    for (const fd of fds) driver.close(fd);
    assert.equal(driver.host.overlayBytes, names, 'closing the fds gave the listings back');
    driver.end();
    assert.equal(driver.host.overlayBytes, 0);
  });
});

// --- random hostile sequences ---------------------------------------------------------------------

const name = fc.constantFrom('a', 'b', 'c', 'd', 'd/a', 'd/b', 'd/e', 'd/e/f', 'big', 'g');
const size = fc.constantFrom(0, 1, 1000, 40_000, 300_000, MIB);
const operation = fc.oneof(
  fc.record({ op: fc.constant('create' as const), path: name, size }),
  fc.record({ op: fc.constant('open' as const), path: name }),
  fc.record({ op: fc.constant('write' as const), fd: fc.nat(40), size, atEnd: fc.boolean() }),
  fc.record({ op: fc.constant('truncate' as const), fd: fc.nat(40), size }),
  fc.record({ op: fc.constant('close' as const), fd: fc.nat(40) }),
  fc.record({ op: fc.constantFrom('unlink' as const, 'mkdir' as const, 'rmdir' as const, 'list' as const), path: name }),
  fc.record({ op: fc.constantFrom('rename' as const, 'link' as const), path: name, to: name }),
  // The attack of the issue, in one step: create, write, unlink while open, keep the fd; repeat.
  fc.record({ op: fc.constant('storm' as const), rounds: fc.integer({ min: 1, max: 40 }), size: fc.constantFrom(64 * 1024, 256 * 1024) }),
);
type Operation = typeof operation extends fc.Arbitrary<infer T> ? T : never;

/** Applies `o`, keeping the fds the guest holds in `fds`. */
function apply(driver: WasiDriver, fds: number[], o: Operation): void {
  const pick = (i: number) => fds[i % Math.max(1, fds.length)];
  switch (o.op) {
    case 'create':
    case 'open': {
      const fd = driver.open(o.path, o.op === 'create' ? Oflags.CREAT | Oflags.TRUNC : 0, FILE_RW);
      if (typeof fd === 'number') {
        fds.push(fd);
        if (o.op === 'create') pwrite(driver, fd, o.size);
      }
      return;
    }
    case 'write': {
      const fd = pick(o.fd);
      if (fd !== undefined) pwrite(driver, fd, o.size, o.atEnd ? (fdStat(driver, fd)?.size ?? 0) : 0);
      return;
    }
    case 'truncate': {
      const fd = pick(o.fd);
      if (fd !== undefined) driver.call('fd_filestat_set_size', fd, BigInt(o.size));
      return;
    }
    case 'close': {
      if (fds.length === 0) return;
      const [fd] = fds.splice(o.fd % fds.length, 1);
      driver.close(fd!);
      return;
    }
    case 'unlink':
      driver.unlink(o.path);
      return;
    case 'mkdir':
      driver.mkdir(o.path);
      return;
    case 'rmdir':
      driver.rmdir(o.path);
      return;
    case 'list': {
      const fd = driver.open(o.path, Oflags.DIRECTORY, DIR_RIGHTS);
      if (typeof fd === 'number') {
        fds.push(fd); // kept open, listing and all
        driver.call('fd_readdir', fd, 0x8000, 0x100, 0n, RESULT);
      }
      return;
    }
    case 'rename':
      driver.rename(o.path, o.to);
      return;
    case 'link':
      driver.link(o.path, o.to);
      return;
    case 'storm':
      for (let i = 0; i < o.rounds; i++) {
        const fd = driver.open(`storm-${i}`, Oflags.CREAT | Oflags.TRUNC, FILE_RW);
        if (typeof fd !== 'number') return;
        fds.push(fd);
        if (pwrite(driver, fd, o.size) !== `wrote ${o.size}`) return;
        driver.unlink(`storm-${i}`);
      }
      return;
  }
}

describe('random hostile sequences never take a use past overlayLimit', () => {
  const LIMIT = 4 * MIB;
  // What the process may hold beyond the limit: descriptors (at most 1024) and their handles, the
  // emptied directories they keep, the driver's own objects, and allocator and GC noise.
  const ARRAY_BUFFER_SLACK = 2 * MIB;
  const RSS_SLACK = 96 * MIB;

  for (const [what, hostPath] of [
    ['an empty directory', () => empty],
    ['a directory with host files', () => populated],
  ] as const) {
    test(`${what}: charged bytes within the limit and at least what the guest can reach; memory within limit plus slack`, () => {
      const original = snapshot(hostPath());
      const driver = driverOn(hostPath(), LIMIT);
      driver.end();
      gc();
      const base = process.memoryUsage();
      let peakRss = 0;
      fc.assert(
        fc.property(fc.array(operation, { minLength: 1, maxLength: 30 }), (operations) => {
          driver.begin();
          const fds: number[] = [];
          try {
            for (const o of operations) {
              apply(driver, fds, o);
              const used = driver.host.overlayBytes;
              assert.ok(used >= 0 && used <= LIMIT, `${JSON.stringify(o)}: ${used} bytes charged, limit ${LIMIT}`);
            }
            const used = driver.host.overlayBytes;
            if (hostPath() === empty) {
              // Every file there is the overlay's (host files are not held in memory until changed).
              const reachable = reachableBytes(driver, fds);
              assert.ok(used >= reachable, `${used} bytes charged for ${reachable} bytes of files the guest can still reach`);
            }
            gc();
            const now = process.memoryUsage();
            peakRss = Math.max(peakRss, now.rss);
            assert.ok(
              now.arrayBuffers - base.arrayBuffers <= LIMIT + ARRAY_BUFFER_SLACK,
              `array buffers grew by ${now.arrayBuffers - base.arrayBuffers} bytes with ${used} charged`,
            );
            assert.ok(now.rss - base.rss <= LIMIT + RSS_SLACK, `RSS grew by ${(now.rss - base.rss) / MIB} MiB`);
            if (hostPath() === empty) {
              // Without host entries (no whiteouts), closing and deleting everything gives back every byte.
              for (const fd of fds.splice(0)) driver.close(fd);
              deleteEverything(driver);
              assert.equal(driver.host.overlayBytes, 0, 'everything deleted and closed, yet bytes are still charged');
            }
          } finally {
            driver.end();
          }
          assert.equal(driver.host.overlayBytes, 0, 'the end of the use gives everything back');
        }),
        { numRuns: 60 },
      );
      assert.deepEqual(snapshot(hostPath()), original, 'the host directory never changes');
      assert.ok(peakRss > 0);
    });
  }
});
