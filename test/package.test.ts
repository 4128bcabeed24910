/**
 * The package as a user installs it: `npm pack`, the tarball unpacked into a fresh project's
 * node_modules (offline: no registry involved), then that project's strict TypeScript (no
 * skipLibCheck) compiles a consumer of every entry point, and Node imports each subpath while
 * internals stay unreachable. Needs a built dist/ (`npm test` builds first).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

const repo = resolve(import.meta.dirname, '..');
const fixture = join(repo, 'test', 'fixtures', 'consumer');

test(
  'the packed package installs offline, its types compile in a strict consumer, and its subpaths import',
  { skip: existsSync(join(repo, 'dist', 'index.d.ts')) ? false : 'dist/ is not built (run npm run build)' },
  () => {
    const dir = mkdtempSync(join(tmpdir(), 'cowpool-consumer-'));
    try {
      const packed = JSON.parse(
        execFileSync('npm', ['pack', '--ignore-scripts', '--json', '--pack-destination', dir], {
          cwd: repo,
          encoding: 'utf8',
          stdio: ['ignore', 'pipe', 'pipe'],
        }),
      ) as { filename: string; files: { path: string }[] }[];
      const tarball = join(dir, packed[0]!.filename);
      const files = packed[0]!.files.map((f) => f.path);
      assert.ok(
        files.includes('dist/index.d.ts') && files.includes('dist/wasi/index.js') && files.includes('dist/serve/index.js'),
        'entry points are packed',
      );
      assert.ok(!files.some((f) => f.startsWith('src/') || f.startsWith('test/')), 'sources and tests are not packed');

      const project = join(dir, 'project');
      const installed = join(project, 'node_modules', 'cowpool');
      mkdirSync(installed, { recursive: true });
      execFileSync('tar', ['-xzf', tarball, '-C', installed, '--strip-components=1']);
      // The package's own dependency and the consumer's Node types, from this checkout (no network).
      mkdirSync(join(project, 'node_modules', '@types'));
      symlinkSync(join(repo, 'node_modules', 'koffi'), join(project, 'node_modules', 'koffi'));
      symlinkSync(join(repo, 'node_modules', '@types', 'node'), join(project, 'node_modules', '@types', 'node'));
      writeFileSync(join(project, 'package.json'), JSON.stringify({ name: 'consumer', private: true, type: 'module' }));
      copyFileSync(join(fixture, 'main.ts'), join(project, 'main.ts'));
      copyFileSync(join(fixture, 'tsconfig.json'), join(project, 'tsconfig.json'));

      const tsc = join(repo, 'node_modules', 'typescript', 'bin', 'tsc');
      try {
        execFileSync(process.execPath, [tsc, '-p', 'tsconfig.json'], { cwd: project, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
      } catch (err) {
        assert.fail(`the consumer does not compile against the packed types:\n${(err as { stdout: string }).stdout}`);
      }

      const probe = `
      const root = await import('cowpool');
      const wasi = await import('cowpool/wasi');
      const serve = await import('cowpool/serve');
      const pagemap = await import('cowpool/pagemap');
      const glue = await import('cowpool/glue');
      const quickjs = await import('cowpool/quickjs');
      const sqlite = await import('cowpool/sqlite');
      const threads = await import('cowpool/threads');
      let internal = 'reachable';
      await import('cowpool/dist/memory/index.js').catch((err) => (internal = err.code));
      console.log(JSON.stringify({
        root: Object.keys(root).sort(),
        wasi: typeof wasi.WasiHost,
        serve: typeof serve.serve,
        pagemap: typeof pagemap.PageMap,
        glue: typeof glue.GluePool,
        quickjs: typeof quickjs.QuickJSSandbox,
        sqlite: typeof sqlite.SqliteSandbox,
        threads: typeof threads.ThreadPool,
        internal,
      }));`;
      const seen = JSON.parse(execFileSync(process.execPath, ['--input-type=module', '-e', probe], { cwd: project, encoding: 'utf8' })) as {
        root: string[];
        wasi: string;
        serve: string;
        pagemap: string;
        glue: string;
        quickjs: string;
        sqlite: string;
        threads: string;
        internal: string;
      };
      assert.deepEqual(
        [seen.wasi, seen.serve, seen.pagemap, seen.glue, seen.quickjs, seen.sqlite, seen.threads],
        Array(7).fill('function'),
      );
      assert.equal(seen.internal, 'ERR_PACKAGE_PATH_NOT_EXPORTED');
      for (const name of ['InstancePool', 'InstanceHost', 'Lease', 'CowpoolError', 'AbortedError', 'PoolClosedError', 'QueueFullError']) {
        assert.ok(seen.root.includes(name), `cowpool exports ${name}`);
      }
      for (const name of ['MemorySlot', 'MemoryImage', 'selfCheck', 'chooseStrategy']) {
        assert.ok(!seen.root.includes(name), `cowpool does not export the internal ${name}`);
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  },
);
