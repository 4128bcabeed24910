// cowpool/wasi as a library: WasiCommand runs a WASI command per use in one call (args, env, stdin
// and preopens in; stdout, stderr, exit code or trap out; the pool's deadline), and `cowpool serve`
// over HTTP: a request that writes a file and a secret leaves nothing for the next one on the same
// instance, and the host directory is unchanged byte for byte.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { WasiCommand } from '../src/wasi/index.ts';
import { GuestTimeoutError, GuestTrapError, InvalidArgumentError } from '../src/errors.ts';
import { serve } from '../src/serve/server.ts';
import { parseDirOption } from '../src/cli/dir-option.ts';
import { snapshot } from './support/tree.ts';
import { entryCost, NODE_OVERHEAD } from '../src/wasi/fs/overlay-budget.ts';

const fixture = (name: string) => readFileSync(new URL(`./fixtures/${name}.wasm`, import.meta.url));
const scratch = readFileSync(new URL('../examples/scratch.wasm', import.meta.url));
let dir: string;
before(() => {
  dir = mkdtempSync(join(tmpdir(), 'cowpool-library-'));
  writeFileSync(join(dir, 'keep.txt'), 'the host file');
});
after(() => rmSync(dir, { recursive: true, force: true }));

describe('WasiCommand', () => {
  test('args, env and stdin in; stdout, stderr and the exit code out', async () => {
    const command = await WasiCommand.create(fixture('wasi-probe'));
    const cat = await command.run({ args: ['probe', 'cat'], stdin: 'body bytes' });
    assert.deepEqual(
      [cat.exitCode, cat.stdout.toString(), cat.stderr.toString(), cat.error],
      [0, 'body bytes', 'read 10 bytes\n', undefined],
    );
    const env = command.runSync({ args: ['probe', 'getenv', 'WHO'], env: { WHO: 'library' } });
    assert.equal(env.stdout.toString(), 'library\n');
    await command.close();
    const exit = await WasiCommand.create(fixture('exit'));
    const result = await exit.run({ env: ['QUERY_STRING=code=7'] });
    assert.equal(result.exitCode, 7);
    assert.match(result.stdout.toString(), /exiting with 7/);
    await exit.close();
  });

  test('a trap and a deadline come out as the error, and the next use runs normally', async () => {
    const trap = await WasiCommand.create(fixture('trap'));
    const trapped = await trap.run();
    assert.ok(trapped.error instanceof GuestTrapError);
    assert.equal(trapped.exitCode, undefined);
    assert.match(trapped.stdout.toString(), /before-trap/);
    await trap.close();
    for (const name of ['loop', 'sleep']) {
      const command = await WasiCommand.create(fixture(name), { timeout: 100 });
      const late = await command.run();
      assert.ok(late.error instanceof GuestTimeoutError, `${name}: ${String(late.error)}`);
      await command.close();
    }
  });

  test('a writable preopen: each use writes and reads back its own files and never sees another use’s', async () => {
    const original = snapshot(dir);
    const command = await WasiCommand.create(scratch, { preopens: [{ guestPath: '/data', hostPath: dir }], pool: { max: 1 } });
    for (const note of ['first', 'second', 'third']) {
      const { exitCode, stdout } = await command.run({ env: { QUERY_STRING: `note=${note}` } });
      assert.equal(exitCode, 0);
      assert.equal(
        stdout.toString(),
        `Content-Type: text/plain\n\nfound before: no note\nfound before: no secret\nwrote and read back: "${note}"\n`,
      );
    }
    await command.close();
    assert.deepEqual(snapshot(dir), original);
  });

  test('a persistent preopen keeps what a use wrote', async () => {
    const persistent = mkdtempSync(join(tmpdir(), 'cowpool-persistent-'));
    try {
      const command = await WasiCommand.create(scratch, { preopens: [{ guestPath: '/data', hostPath: persistent, mode: 'persistent' }] });
      await command.run({ env: { QUERY_STRING: 'note=kept' } });
      const second = await command.run({ env: { QUERY_STRING: 'note=later' } });
      assert.match(second.stdout.toString(), /found before: note "kept"\nfound before: a secret/);
      assert.equal(readFileSync(join(persistent, 'note.txt'), 'utf8'), 'later');
      await command.close();
    } finally {
      rmSync(persistent, { recursive: true, force: true });
    }
  });

  test('bad input is refused with a clear error', async () => {
    await assert.rejects(WasiCommand.create(new Uint8Array([0, 97, 115, 109])), InvalidArgumentError);
    await assert.rejects(WasiCommand.create(fixture('trap'), { timeout: -1 }), /timeout/);
    await assert.rejects(
      WasiCommand.create(fixture('trap'), { preopens: [{ guestPath: '/d', hostPath: dir, mode: 'rw' as never }] }),
      /mode must be one of/,
    );
    await assert.rejects(WasiCommand.create(fixture('trap'), { overlayLimit: -5 }), /overlayLimit/);
  });
});

describe('cowpool serve with a writable directory', () => {
  test('one request writes a file and a secret; the next, on the same instance, finds neither; the host directory is unchanged', async () => {
    const original = snapshot(dir);
    const server = await serve({ wasm: scratch, port: 0, dirs: [{ guestPath: '/data', hostPath: dir }] });
    try {
      const first = await (await fetch(`${server.url}?note=hello`)).text();
      assert.equal(first, 'found before: no note\nfound before: no secret\nwrote and read back: "hello"\n');
      const second = await (await fetch(`${server.url}?note=again`)).text();
      assert.equal(second, 'found before: no note\nfound before: no secret\nwrote and read back: "again"\n');
      assert.equal(server.pool.stats().created, 1, 'both requests ran on the one pooled instance');
    } finally {
      await server.close();
    }
    assert.deepEqual(snapshot(dir), original);
  });

  test('past overlayLimit a request gets ENOSPC, and the next request has the whole budget again', async () => {
    // Room for the two files scratch.wasm makes, a short note and the 38-byte secret; not for a 250-byte note.
    const overlayLimit = 2 * NODE_OVERHEAD + entryCost('note.txt') + entryCost('.secret') + 150;
    const server = await serve({ wasm: scratch, port: 0, dirs: [{ guestPath: '/data', hostPath: dir }], overlayLimit });
    try {
      const long = 'x'.repeat(250);
      assert.equal(
        await (await fetch(`${server.url}?note=${long}`)).text(),
        'found before: no note\nfound before: no secret\ncould not write: No space left on device\n',
      );
      assert.match(await (await fetch(`${server.url}?note=short`)).text(), /wrote and read back: "short"/);
    } finally {
      await server.close();
    }
  });

  test('examples/scratch.mjs (the README example) runs as the README says, through cowpool/wasi', () => {
    const out = execFileSync(process.execPath, ['examples/scratch.mjs'], { encoding: 'utf8' });
    const use = (note: string) => `exit 0: found before: no note\nfound before: no secret\nwrote and read back: "${note}"\n`;
    assert.equal(out, `${use('first')}${use('second')}host directory: 0 entries\n`);
  });

  test('--dir HOST::GUEST is an overlay; :rw persistent; :ro read-only', () => {
    assert.deepEqual(parseDirOption('./d::/data'), { hostPath: './d', guestPath: '/data', mode: 'overlay' });
    assert.deepEqual(parseDirOption('./d::/data:rw'), { hostPath: './d', guestPath: '/data', mode: 'persistent' });
    assert.deepEqual(parseDirOption('./d::/data:ro'), { hostPath: './d', guestPath: '/data', mode: 'readonly' });
    assert.throws(() => parseDirOption('./d'), InvalidArgumentError);
    assert.throws(() => parseDirOption('./d:::rw'), InvalidArgumentError);
  });
});
