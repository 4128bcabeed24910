// Writable preopens: the per-use overlay (default), the persistent mode, and the read-only one.
// The overlay is checked against the kernel itself: the same random operations, applied through
// the same host functions to an overlay over a directory and to a persistent preopen of a copy of
// it, must answer the same and leave the same tree, while the directory under the overlay never
// changes and the next use sees it as it was.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { cpSync, mkdirSync, mkdtempSync, readFileSync, realpathSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { WasiHost, type PreopenOption } from '../src/wasi/wasi-host.ts';
import { Errno, Oflags, Rights } from '../src/wasi/abi.ts';
import { WasiDriver } from './support/wasi-driver.ts';
import { snapshot } from './support/tree.ts';

let root: string; // holds base/ (the granted directory), outside.txt and outside/
let base: string;
before(() => {
  root = realpathSync(mkdtempSync(join(tmpdir(), 'cowpool-overlay-')));
  base = join(root, 'base');
  mkdirSync(join(base, 'sub', 'deep'), { recursive: true });
  mkdirSync(join(base, 'empty'));
  writeFileSync(join(base, 'hello.txt'), 'hello');
  writeFileSync(join(base, 'sub', 'inner.txt'), 'inner');
  writeFileSync(join(base, 'sub', 'deep', 'x.txt'), 'x');
  symlinkSync('hello.txt', join(base, 'link-to-hello'));
  symlinkSync('sub', join(base, 'link-to-sub'));
  symlinkSync('/etc', join(base, 'etc'));
  symlinkSync('../outside', join(base, 'up'));
  writeFileSync(join(root, 'outside.txt'), 'secret outside');
  mkdirSync(join(root, 'outside'));
});
after(() => rmSync(root, { recursive: true, force: true }));

const overlay = (options: Partial<PreopenOption> = {}, limit?: number) =>
  new WasiDriver(
    new WasiHost({
      preopens: [{ guestPath: '/data', hostPath: base, ...options }],
      ...(limit !== undefined ? { overlayLimit: limit } : {}),
    }),
  );

/** A persistent preopen of a fresh copy of base/. */
function persistentCopy(): { driver: WasiDriver; dir: string } {
  const dir = join(mkdtempSync(join(root, 'copy-')), 'base');
  cpSync(base, dir, { recursive: true, verbatimSymlinks: true });
  return { driver: new WasiDriver(new WasiHost({ preopens: [{ guestPath: '/data', hostPath: dir, mode: 'persistent' }] })), dir };
}

// --- the overlay against the kernel ------------------------------------------------------------

const names = [
  'hello.txt',
  'sub',
  'sub/inner.txt',
  'sub/deep',
  'sub/deep/x.txt',
  'empty',
  'empty/h',
  'new',
  'new/f',
  'g',
  'sub/g',
  'link-to-hello',
  'link-to-sub',
  'link-to-sub/inner.txt',
  'sub/deep/',
  'g/',
];
const name = fc.constantFrom(...names);
const text = fc.constantFrom('', 'a', 'bb', 'ccc\n', 'x'.repeat(300));
const operation = fc.oneof(
  fc.record({ op: fc.constant('write' as const), path: name, text, append: fc.boolean() }),
  fc.record({ op: fc.constant('read' as const), path: name }),
  fc.record({ op: fc.constant('truncate' as const), path: name, size: fc.constantFrom(0, 2, 10) }),
  fc.record({ op: fc.constantFrom('mkdir' as const, 'rmdir' as const, 'unlink' as const, 'stat' as const, 'list' as const), path: name }),
  fc.record({ op: fc.constantFrom('rename' as const, 'link' as const), path: name, to: name }),
  fc.record({ op: fc.constant('symlink' as const), path: name, target: fc.constantFrom('hello.txt', 'sub', 'nowhere', '../x', 'g') }),
);
type Operation = typeof operation extends fc.Arbitrary<infer T> ? T : never;

function apply(driver: WasiDriver, o: Operation): string {
  switch (o.op) {
    case 'write':
      return driver.write(o.path, o.text, o.append);
    case 'read':
      return driver.read(o.path);
    case 'truncate':
      return driver.truncate(o.path, o.size);
    case 'mkdir':
      return driver.mkdir(o.path);
    case 'rmdir':
      return driver.rmdir(o.path);
    case 'unlink':
      return driver.unlink(o.path);
    case 'stat':
      return driver.stat(o.path);
    case 'list':
      return driver.list(o.path);
    case 'rename':
      return driver.rename(o.path, o.to);
    case 'link':
      return driver.link(o.path, o.to);
    case 'symlink':
      return driver.symlink(o.target, o.path);
  }
}

/** Sequences the property once found answering unlike the kernel, kept as named cases. */
const REGRESSIONS: Record<string, Operation[]> = {
  // Linux answers EINVAL (a directory into itself) before looking at whether the target is empty.
  'rename a directory onto a non-empty directory inside it': [{ op: 'rename', path: 'sub', to: 'sub/deep/' }],
};

/** Applies `operations` to an overlay and to a persistent copy; both must answer and end the same. */
function compareWithKernel(driver: WasiDriver, operations: readonly Operation[]): void {
  const real = persistentCopy();
  driver.begin();
  try {
    for (const o of operations) assert.equal(apply(driver, o), apply(real.driver, o), `${JSON.stringify(o)} answers like the kernel`);
    assert.deepEqual(driver.tree(), real.driver.tree(), 'the overlay ends as the real directory does');
  } finally {
    driver.end();
    real.driver.end();
    rmSync(join(real.dir, '..'), { recursive: true, force: true });
  }
}

describe('the overlay behaves like the kernel', () => {
  for (const [what, operations] of Object.entries(REGRESSIONS)) {
    test(`regression: ${what}`, () => {
      const driver = overlay();
      driver.end();
      compareWithKernel(driver, operations);
    });
  }

  test('random operations answer and leave the same as on a real directory; the host directory never changes', () => {
    const original = snapshot(base);
    const driver = overlay();
    const pristine = driver.tree();
    driver.end();
    fc.assert(
      fc.property(fc.array(operation, { minLength: 1, maxLength: 25 }), (operations) => {
        compareWithKernel(driver, operations);
        assert.deepEqual(snapshot(base), original, 'the host directory changed');
        driver.begin();
        assert.deepEqual(driver.tree(), pristine, 'the next use does not see the directory as it was');
        driver.end();
      }),
      { numRuns: 150 },
    );
  });
});

// --- one use's changes vanish --------------------------------------------------------------------

describe('every use starts from the host directory as it is', () => {
  test('files, directories, renames, deletions and symlinks of one use are gone in the next', () => {
    const driver = overlay();
    const pristine = driver.tree();
    assert.equal(driver.write('secret.txt', 'the secret of use 1'), 'wrote 19');
    assert.equal(driver.write('hello.txt', ' and more', true), 'wrote 9');
    assert.equal(driver.mkdir('made'), 'errno 0');
    assert.equal(driver.rename('sub', 'made/moved'), 'errno 0');
    assert.equal(driver.unlink('link-to-hello'), 'errno 0');
    assert.equal(driver.symlink('made', 'new-link'), 'errno 0');
    assert.equal(driver.truncate('made/moved/inner.txt', 2), 'errno 0');
    assert.equal(driver.read('made/moved/inner.txt'), 'in');
    assert.equal(driver.read('hello.txt'), 'hello and more');
    const open = driver.open('secret.txt');
    assert.equal(typeof open, 'number', 'a file left open at the end of the use');
    driver.end();
    driver.begin();
    assert.deepEqual(driver.tree(), pristine);
    assert.equal(driver.read('secret.txt'), `errno ${Errno.NOENT}`);
    assert.equal(driver.readFd(open as number), `errno ${Errno.BADF}`, 'the fd of the last use is closed');
    assert.equal(readFileSync(join(base, 'hello.txt'), 'utf8'), 'hello');
    driver.end();
  });

  test('a file written and read back within one use, and the bytes the overlay holds are given back', () => {
    const driver = overlay();
    const big = 'z'.repeat(100_000);
    assert.equal(driver.write('big.txt', big), 'wrote 100000');
    const fd = driver.open('big.txt', 0, Rights.FD_READ) as number;
    assert.equal(driver.readFd(fd).length, 32768);
    assert.ok(driver.host.overlayBytes >= 100_000);
    driver.end();
    assert.equal(driver.host.overlayBytes, 0);
  });

  test('past the size limit the guest gets ENOSPC; the next use has the whole budget again', () => {
    const driver = overlay({}, 4096);
    assert.equal(driver.write('a.txt', 'x'.repeat(3000)), 'wrote 3000');
    assert.equal(driver.write('b.txt', 'y'.repeat(3000)), `errno ${Errno.NOSPC}`);
    assert.equal(driver.write('a.txt', 'x'.repeat(5000)), `errno ${Errno.NOSPC}`, 'rewriting past the limit');
    // Many empty entries cost too: a guest cannot fill memory with names.
    let created = 0;
    for (let i = 0; i < 1000 && driver.mkdir(`d${i}`) === 'errno 0'; i++) created++;
    assert.ok(created < 1000, 'directories are charged');
    assert.equal(driver.mkdir('one-more'), `errno ${Errno.NOSPC}`);
    driver.end();
    driver.begin();
    assert.equal(driver.write('b.txt', 'y'.repeat(3000)), 'wrote 3000');
    driver.end();
  });

  test('an fd opened for reading sees what another fd writes, and setting its times copies the file, never touching the host', () => {
    const original = snapshot(base);
    const driver = overlay();
    const rights = Rights.FD_READ | Rights.FD_SEEK | Rights.FD_FILESTAT_GET | Rights.FD_FILESTAT_SET_TIMES;
    const reader = driver.open('hello.txt', 0, rights) as number;
    assert.equal(driver.host.overlayBytes, 0, 'opening for reading copies nothing');
    assert.equal(driver.write('hello.txt', 'HELLO, changed', true), 'wrote 14');
    assert.equal(driver.readFd(reader), 'helloHELLO, changed', 'the reader sees the change');
    const times = driver.open('sub/inner.txt', 0, rights) as number;
    assert.equal(driver.call('fd_filestat_set_times', times, 1_000_000_000n, 2_000_000_000n, 1 | 4), Errno.SUCCESS);
    assert.equal(driver.call('fd_filestat_get', times, 0x300), Errno.SUCCESS);
    assert.equal(driver.view.getBigUint64(0x300 + 48, true), 2_000_000_000n, 'mtim as set');
    assert.equal(driver.readFd(times), 'inner');
    driver.end();
    assert.deepEqual(snapshot(base), original);
    const readonly = overlay({ mode: 'readonly' });
    const fd = readonly.open('hello.txt', 0, rights) as number;
    assert.equal(readonly.call('fd_filestat_set_times', fd, 1n, 2n, 1 | 4), Errno.ROFS);
    assert.equal(readonly.call('fd_filestat_set_times', 3, 1n, 2n, 1 | 4), Errno.ROFS);
    readonly.end();
    assert.deepEqual(snapshot(base), original);
  });

  test('a directory fd follows its directory through a rename, and a removed one takes no new entries', () => {
    const driver = overlay();
    const sub = driver.open('sub', Oflags.DIRECTORY, Rights.PATH_OPEN | Rights.PATH_CREATE_FILE | Rights.FD_READDIR) as number;
    assert.equal(driver.rename('sub', 'moved'), 'errno 0');
    const created = driver.open('made-through-fd', Oflags.CREAT, Rights.FD_WRITE, 0, 1, sub);
    assert.equal(typeof created, 'number');
    assert.equal(driver.list('moved'), 'deep,inner.txt,made-through-fd');
    assert.equal(driver.list('sub'), `errno ${Errno.NOENT}`);
    assert.equal(driver.mkdir('gone'), 'errno 0');
    const gone = driver.open('gone', Oflags.DIRECTORY, Rights.PATH_OPEN | Rights.PATH_CREATE_FILE) as number;
    assert.equal(driver.rmdir('gone'), 'errno 0');
    assert.equal(driver.open('x', Oflags.CREAT, Rights.FD_WRITE, 0, 1, gone), `errno ${Errno.NOENT}`);
    driver.end();
    driver.begin();
    assert.equal(driver.list('sub'), 'deep,inner.txt');
    driver.end();
  });

  test('reading a host file copies nothing; the overlay stays empty', () => {
    const driver = overlay();
    assert.equal(driver.read('sub/inner.txt'), 'inner');
    assert.equal(driver.host.overlayBytes, 0);
    driver.end();
  });
});

// --- modes ---------------------------------------------------------------------------------------

describe('persistent and read-only preopens', () => {
  test('persistent: changes reach the host directory and stay for the next use', () => {
    const { driver, dir } = persistentCopy();
    assert.equal(driver.write('kept.txt', 'kept'), 'wrote 4');
    assert.equal(driver.mkdir('kept-dir'), 'errno 0');
    driver.end();
    assert.equal(readFileSync(join(dir, 'kept.txt'), 'utf8'), 'kept');
    driver.begin();
    assert.equal(driver.read('kept.txt'), 'kept');
    assert.equal(driver.list('kept-dir'), '');
    driver.end();
  });

  test('readonly: every change answers EROFS and nothing changes', () => {
    const original = snapshot(base);
    const driver = overlay({ mode: 'readonly' });
    const rofs = `errno ${Errno.ROFS}`;
    assert.equal(driver.write('new.txt', 'x'), rofs);
    assert.equal(driver.write('hello.txt', 'x'), rofs);
    assert.equal(driver.mkdir('d'), rofs);
    assert.equal(driver.rmdir('empty'), rofs);
    assert.equal(driver.unlink('hello.txt'), rofs);
    assert.equal(driver.rename('hello.txt', 'x'), rofs);
    assert.equal(driver.symlink('hello.txt', 'x'), rofs);
    assert.equal(driver.link('hello.txt', 'x'), rofs);
    assert.equal(driver.read('hello.txt'), 'hello');
    driver.end();
    assert.deepEqual(snapshot(base), original);
  });

  for (const mode of ['overlay', 'readonly', 'persistent'] as const) {
    test(`${mode}: fd_filestat_set_size on a directory is EISDIR, before rights or the mode are looked at`, () => {
      const driver = mode === 'persistent' ? persistentCopy().driver : overlay({ mode });
      assert.equal(driver.call('fd_filestat_set_size', 3, 0n), Errno.ISDIR);
      const sub = driver.open('sub', Oflags.DIRECTORY, Rights.PATH_OPEN);
      assert.equal(driver.call('fd_filestat_set_size', sub as number, 0n), Errno.ISDIR);
      driver.end();
    });
  }
});

// --- no escape -----------------------------------------------------------------------------------

describe('no path leaves the preopen, in any mode', () => {
  const outside = () =>
    snapshot(root).toString() &&
    Object.fromEntries(Object.entries(snapshot(root)).filter(([k]) => !k.startsWith('base') && !k.startsWith('copy-')));

  for (const mode of ['overlay', 'persistent'] as const) {
    test(`${mode}: .., absolute paths, symlinks to /etc and out, and loops fail with the WASI errno and touch nothing`, () => {
      const before_ = outside();
      const driver = mode === 'persistent' ? persistentCopy().driver : overlay();
      const notCapable = `errno ${Errno.NOTCAPABLE}`;
      for (const path of [
        '../outside.txt',
        'sub/../../outside.txt',
        '/etc/passwd',
        'etc/passwd',
        'etc',
        'up/x',
        '..',
        'sub/deep/../../..',
      ]) {
        assert.equal(driver.read(path), notCapable, `read ${path}`);
        assert.equal(driver.write(path, 'pwned'), notCapable, `write ${path}`);
        assert.equal(driver.stat(path, true), notCapable, `stat ${path}`);
      }
      assert.equal(driver.mkdir('../outside/made'), notCapable);
      assert.equal(driver.mkdir('up/made'), notCapable);
      assert.equal(driver.rename('hello.txt', '../outside/stolen'), notCapable);
      assert.equal(driver.rename('../outside.txt', 'stolen'), notCapable);
      assert.equal(driver.link('../outside.txt', 'stolen'), notCapable);
      assert.equal(driver.unlink('../outside.txt'), notCapable);
      assert.equal(driver.rmdir('../outside'), notCapable);
      // Symlinks the guest makes: an absolute one is refused, a relative one leading out cannot be followed.
      assert.equal(driver.symlink('/etc', 'my-etc'), notCapable);
      assert.equal(driver.symlink('../../outside.txt', 'sub/out'), 'errno 0');
      assert.equal(driver.read('sub/out'), notCapable);
      assert.equal(driver.write('sub/out', 'pwned'), notCapable);
      assert.equal(driver.symlink('loop-b', 'loop-a'), 'errno 0');
      assert.equal(driver.symlink('loop-a', 'loop-b'), 'errno 0');
      assert.equal(driver.read('loop-a'), `errno ${Errno.LOOP}`);
      assert.equal(driver.write('loop-a', 'x'), `errno ${Errno.LOOP}`);
      assert.equal(driver.symlink('.', 'self'), 'errno 0');
      assert.equal(driver.read('self/self/self/hello.txt'), 'hello');
      driver.end();
      assert.deepEqual(outside(), before_);
    });
  }

  test('any path, through any mix of .., symlinks and slashes, stays inside (property)', () => {
    const before_ = outside();
    const driver = overlay();
    const component = fc.constantFrom('..', '.', '', 'sub', 'deep', 'up', 'etc', 'link-to-sub', 'self', 'passwd', 'outside.txt', 'x');
    driver.symlink('.', 'self');
    driver.symlink('../..', 'sub/deep/upup');
    fc.assert(
      fc.property(fc.array(component, { minLength: 1, maxLength: 8 }), fc.boolean(), (parts, absolute) => {
        const path = (absolute ? '/' : '') + parts.join('/');
        const read = driver.read(path);
        assert.notEqual(read, 'secret outside');
        assert.ok(!read.includes('root:'), 'read /etc/passwd');
        driver.write(path, 'pwned');
        driver.mkdir(path);
      }),
      { numRuns: 400 },
    );
    driver.end();
    assert.deepEqual(outside(), before_);
  });
});
