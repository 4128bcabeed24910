// resolveBeneath: guest paths resolved one component at a time, never leaving the directory.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, realpathSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { resolveBeneath } from '../src/wasi/fs/path-resolver.ts';
import { Errno } from '../src/wasi/abi.ts';

let root: string;
before(() => {
  const base = realpathSync(mkdtempSync(join(tmpdir(), 'cowpool-resolve-')));
  root = join(base, 'root');
  mkdirSync(join(root, 'a', 'b'), { recursive: true });
  writeFileSync(join(root, 'a', 'b', 'f.txt'), 'f');
  writeFileSync(join(base, 'outside.txt'), 'x');
  symlinkSync('b/f.txt', join(root, 'a', 'rel-link'));
  symlinkSync(join(root, 'a', 'b'), join(root, 'abs-inside')); // absolute, but inside
  symlinkSync(join(base, 'outside.txt'), join(root, 'abs-outside'));
  symlinkSync('../../outside.txt', join(root, 'a', 'up-link'));
  symlinkSync('loop2', join(root, 'loop1'));
  symlinkSync('loop1', join(root, 'loop2'));
  symlinkSync('a/b/', join(root, 'dir-link'));
});
after(() => rmSync(join(root, '..'), { recursive: true, force: true }));

const cases: [string, string, boolean, string | number][] = [
  ['plain file', 'a/b/f.txt', true, 'a/b/f.txt'],
  ['dots and double slashes', './a//b/./f.txt', true, 'a/b/f.txt'],
  ['.. inside', 'a/b/../b/f.txt', true, 'a/b/f.txt'],
  ['the directory itself', '.', true, ''],
  ['relative symlink', 'a/rel-link', true, 'a/b/f.txt'],
  ['final symlink not followed', 'a/rel-link', false, 'a/rel-link'],
  ['absolute symlink that lands inside', 'abs-inside/f.txt', true, 'a/b/f.txt'],
  ['trailing slash through a directory symlink', 'dir-link/', true, 'a/b'],
  ['.. above the root', '..', true, Errno.NOTCAPABLE],
  ['.. above the root later', 'a/../../x', true, Errno.NOTCAPABLE],
  ['absolute path', '/a', true, Errno.NOTCAPABLE],
  ['absolute symlink leading out', 'abs-outside', true, Errno.NOTCAPABLE],
  ['relative symlink leading out', 'a/up-link', true, Errno.NOTCAPABLE],
  ['symlink loop', 'loop1', true, Errno.LOOP],
  ['missing directory', 'nope/x', true, Errno.NOENT],
  ['file used as a directory', 'a/b/f.txt/x', true, Errno.NOTDIR],
  ['trailing slash on a file', 'a/b/f.txt/', true, Errno.NOTDIR],
  ['empty', '', true, Errno.NOENT],
  ['NUL', 'a\0b', true, Errno.ILSEQ],
  ['too long', 'a/'.repeat(3000), true, Errno.NAMETOOLONG],
];

for (const [what, path, follow, expected] of cases) {
  test(`${what}: ${JSON.stringify(path.length > 40 ? path.slice(0, 40) + '…' : path)} → ${typeof expected === 'string' ? expected || '.' : `errno ${expected}`}`, () => {
    const result = resolveBeneath(root, path, follow);
    if (typeof expected === 'number') assert.equal(result, expected);
    else {
      assert.equal(typeof result, 'object');
      assert.equal((result as { hostPath: string }).hostPath, expected === '' ? root : join(root, expected));
    }
  });
}

test('a missing final component resolves with stats undefined (so a create can say EROFS)', () => {
  const result = resolveBeneath(root, 'a/new.txt', true);
  assert.deepEqual(result, { hostPath: join(root, 'a', 'new.txt'), stats: undefined });
});
