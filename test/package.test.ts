/**
 * The package as a user installs it (`support/installed-package.ts`: `npm pack`, unpacked into a
 * fresh project's node_modules, offline). That project's strict TypeScript (no skipLibCheck)
 * compiles a consumer of every entry point, ES module and CommonJS, with the `dom` lib and with
 * `es2022` alone; Node imports each subpath and a CommonJS project (as `npm init -y` makes one)
 * requires each, while internals stay unreachable both ways. Needs a built dist/ (`npm test` builds
 * first).
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { installPackage, type InstalledPackage } from './support/installed-package.ts';

const repo = resolve(import.meta.dirname, '..');
const fixture = join(repo, 'test', 'fixtures', 'consumer');
const skip = existsSync(join(repo, 'dist', 'index.d.ts')) ? false : 'dist/ is not built (run npm run build)';
/** The subpaths of package.json "exports" with code behind them, and a value each must export. */
const ENTRY_POINTS: Record<string, string> = {
  cowpool: 'InstancePool',
  'cowpool/wasi': 'WasiHost',
  'cowpool/serve': 'serve',
  'cowpool/pagemap': 'PageMap',
  'cowpool/glue': 'GluePool',
  'cowpool/quickjs': 'QuickJSSandbox',
  'cowpool/sqlite': 'SqliteSandbox',
  'cowpool/metrics': 'metrics',
  'cowpool/threads': 'ThreadPool',
};

let installed: InstalledPackage | undefined;
let project = '';
let files: readonly string[] = [];

before(() => {
  if (skip) return;
  installed = installPackage();
  ({ project, files } = installed);
  for (const name of readdirSync(fixture)) copyFileSync(join(fixture, name), join(project, name));
});

after(() => installed?.remove());

test('the tarball holds the built entry points and the license, no sources, tests or source maps', { skip }, () => {
  for (const file of ['dist/index.d.ts', 'dist/wasi/index.js', 'dist/serve/index.js', 'dist/cjs/index.js', 'dist/cjs/index.d.ts']) {
    assert.ok(files.includes(file), `${file} is packed`);
  }
  assert.ok(
    files.includes('dist/cjs/package.json') && files.includes('dist/types/webassembly.d.ts'),
    'the CommonJS marker and the wasm types',
  );
  assert.ok(files.includes('LICENSE'), 'LICENSE is packed');
  assert.match(readFileSync(join(repo, 'LICENSE'), 'utf8'), /^MIT License\n\nCopyright \(c\) \d{4} the cowpool authors\n/);
  assert.ok(!files.some((f) => f.startsWith('src/') || f.startsWith('test/')), 'sources and tests are not packed');
  assert.deepEqual(
    files.filter((f) => f.endsWith('.map')),
    [],
    'no source maps (they would point at the sources, which are not packed)',
  );
});

test('the published package.json builds nothing at install', { skip }, () => {
  const manifest = JSON.parse(readFileSync(join(project, 'node_modules', 'cowpool', 'package.json'), 'utf8')) as {
    scripts?: Record<string, string>;
  };
  for (const hook of ['preinstall', 'install', 'postinstall', 'prepare']) {
    assert.equal(manifest.scripts?.[hook], undefined, `no ${hook} script`);
  }
});

for (const [config, lib] of [
  ['tsconfig.json', 'es2022 and dom'],
  ['tsconfig.es2022.json', 'es2022 alone'],
] as const) {
  test(`the packed types compile in a strict consumer, ES module and CommonJS, with ${lib}`, { skip }, () => {
    const tsc = join(repo, 'node_modules', 'typescript', 'bin', 'tsc');
    try {
      execFileSync(process.execPath, [tsc, '-p', config], { cwd: project, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
    } catch (err) {
      assert.fail(`the consumer does not compile against the packed types (${config}):\n${(err as { stdout: string }).stdout}`);
    }
  });
}

test('each subpath imports as an ES module, and internals stay unreachable', { skip }, () => {
  const probe = `
    const seen = {};
    for (const [name, value] of Object.entries(${JSON.stringify(ENTRY_POINTS)})) seen[name] = typeof (await import(name))[value];
    const root = await import('cowpool');
    let internal = 'reachable';
    await import('cowpool/dist/memory/index.js').catch((err) => (internal = err.code));
    console.log(JSON.stringify({ seen, root: Object.keys(root).sort(), internal }));`;
  const out = JSON.parse(execFileSync(process.execPath, ['--input-type=module', '-e', probe], { cwd: project, encoding: 'utf8' })) as {
    seen: Record<string, string>;
    root: string[];
    internal: string;
  };
  for (const name of Object.keys(ENTRY_POINTS)) assert.equal(out.seen[name], 'function', `${name} exports ${ENTRY_POINTS[name]}`);
  assert.equal(out.internal, 'ERR_PACKAGE_PATH_NOT_EXPORTED');
  for (const name of ['InstancePool', 'InstanceHost', 'Lease', 'CowpoolError', 'AbortedError', 'PoolClosedError']) {
    assert.ok(out.root.includes(name), `cowpool exports ${name}`);
  }
  for (const name of ['MemorySlot', 'MemoryImage', 'selfCheck', 'chooseStrategy']) {
    assert.ok(!out.root.includes(name), `cowpool does not export the internal ${name}`);
  }
});

test('a CommonJS project requires each subpath and runs a pool, a QuickJS and a SQLite sandbox', { skip }, () => {
  // What `npm init -y` writes: no "type", so .js files are CommonJS.
  const cjs = join(project, '..', 'cjs-project');
  mkdirSync(cjs);
  symlinkSync(join(project, 'node_modules'), join(cjs, 'node_modules'));
  writeFileSync(join(cjs, 'package.json'), JSON.stringify({ name: 'cjs-project', version: '1.0.0', main: 'index.js', license: 'ISC' }));
  writeFileSync(
    join(cjs, 'index.js'),
    `const { readFileSync } = require('node:fs');
    const seen = {};
    for (const [name, value] of Object.entries(${JSON.stringify(ENTRY_POINTS)})) seen[name] = typeof require(name)[value];
    const { InstancePool, CowpoolError, InvalidArgumentError } = require('cowpool');
    const { QuickJSSandbox } = require('cowpool/quickjs');
    const { SqliteSandbox } = require('cowpool/sqlite');
    let internal = 'reachable';
    try { require('cowpool/dist/cjs/memory/index.js'); } catch (err) { internal = err.code; }
    (async () => {
      const pool = await InstancePool.create(readFileSync(${JSON.stringify(join(repo, 'examples', 'counter.wasm'))}), { max: 1 });
      const counts = [await pool.run((i) => i.exports.bump()), await pool.run((i) => i.exports.bump())];
      await pool.close();
      const quickjs = await QuickJSSandbox.create({ setup: 'function add(a, b) { return a + b }' });
      const sum = await quickjs.call('add', [40, 2]);
      await quickjs.close();
      const sqlite = await SqliteSandbox.create();
      const rows = (await sqlite.exec('SELECT 6 * 7 AS answer'))[0].values;
      await sqlite.close();
      const branded = new InvalidArgumentError('x') instanceof CowpoolError;
      console.log(JSON.stringify({ seen, internal, counts, sum, rows, branded }));
    })();`,
  );
  const out = JSON.parse(execFileSync(process.execPath, ['index.js'], { cwd: cjs, encoding: 'utf8' })) as Record<string, unknown>;
  assert.deepEqual(out, {
    seen: Object.fromEntries(Object.keys(ENTRY_POINTS).map((name) => [name, 'function'])),
    internal: 'ERR_PACKAGE_PATH_NOT_EXPORTED',
    counts: [1, 1],
    sum: 42,
    rows: [[42]],
    branded: true,
  });
});
