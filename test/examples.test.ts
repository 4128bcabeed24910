/**
 * The README's runnable examples, run as a user would (against the built package, through the
 * package's own exports), so that the documentation stays true.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { kernelBehaviour, pagemapSupport } from '../src/pagemap/index.ts';

const run = (file: string) => execFileSync(process.execPath, [file], { encoding: 'utf8' });

test('examples/pagemap.mjs reports exactly the written pages', () => {
  const out = run('examples/pagemap.mjs');
  if (!pagemapSupport().supported) {
    assert.match(out, /PAGEMAP_SCAN is not available here/);
    return;
  }
  const kernel = kernelBehaviour();
  // Without the shared zero page, the page only read (20) is a private page like the written ones.
  const read = kernel.zeroPage === false ? 'written: pages 20 to 20\n' : '';
  assert.equal(out, `0\nthis kernel: ${kernel.description}\nwritten: pages 5 to 6\n${read}written: pages 40 to 40\nscan complete\n`);
});

test('examples/pool.mjs gets a pristine instance every time', () => {
  const lines = run('examples/pool.mjs').trim().split('\n');
  assert.deepEqual(lines.slice(0, 3), ['1', '1', '1']);
  assert.match(lines[3]!, /^reuse (pagemap|madvise|copy)$/);
});

test('examples/quickjs-host.mjs: host functions, modules, values beyond JSON, timers, typed errors', () => {
  assert.equal(
    run('examples/quickjs-host.mjs'),
    [
      '[r1] hello ada, member since 2020',
      "{ id: 1n, seen: 1970-01-01T00:00:00.000Z, tags: Set(1) { 'new' } }",
      '[ 2, 4 ]',
      'db.user -> no user 2',
      'result.onClick function',
      '',
    ].join('\n'),
  );
});

test('examples/quickjs-threads.mjs: host functions from a module file on threads, the Sync form here, the loop turning', () => {
  assert.equal(
    run('examples/quickjs-threads.mjs'),
    ['a for acme', '3', 'stopped at its deadline; the event loop turned: true', '2', ''].join('\n'),
  );
});

test('the bin prints help and the version', () => {
  assert.match(execFileSync(process.execPath, ['bin/cowpool.js', '--help'], { encoding: 'utf8' }), /cowpool serve <app.wasm>/);
  assert.match(execFileSync(process.execPath, ['bin/cowpool.js', '--version'], { encoding: 'utf8' }), /^\d+\.\d+\.\d+\n$/);
});

test("npx cowpool runs the project's own bin, as the README says", () => {
  // npm runs a project's own bin by installing the project into its npx cache (once, a few seconds).
  const out = execFileSync('npx', ['--yes', 'cowpool', '--version'], { encoding: 'utf8', timeout: 120_000 });
  assert.match(out, /^\d+\.\d+\.\d+\n$/);
});

test("examples/sqlite-sandbox.mjs (the README's first SQLite example) prints what its comments say", () => {
  assert.deepEqual(run('examples/sqlite-sandbox.mjs').trim().split('\n'), [
    '[{"columns":["count(*)"],"values":[[3]]}]',
    '[{"columns":["count(*)"],"values":[[2]]}]',
    '[{"columns":["v"],"values":[[2]]}]',
    '[{"columns":["ab"],"values":[["xy"]]}]',
    '14 unable to open database: /shared.db',
  ]);
});

test("examples/sqlite-database.mjs (the README's database, statements, functions, export and memory limit) prints what its comments say", () => {
  assert.deepEqual(run('examples/sqlite-database.mjs').trim().split('\n'), [
    '{"columns":["id","name","price"],"rows":[{"id":3,"name":"fig","price":2}],"changes":0,"lastInsertRowid":0}',
    '{"columns":[],"rows":[],"changes":1,"lastInsertRowid":4}',
    '[1,{"stock":12,"value":900,"median":0.75}]',
    '{"stock":13,"value":1100,"median":0.75}',
    '[["apple"],["fig"]]',
    '8388608',
  ]);
});
