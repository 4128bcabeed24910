/**
 * `cowpool serve` under hostile guests (issue 18, finding 2): a guest flooding its output, looping,
 * or doing megabytes of work per host call ends within twice its deadline plus 50 ms, with a clear
 * status (502 past `--max-output`, 504 past `--timeout`), a log line, and the server's memory back
 * where it was. Before the fix a guest writing 64 KiB chunks forever under a 1 s timeout got its 504
 * after 3.5 to 11 s, and the server peaked at 1.5 to 2.1 GiB and stayed there.
 *
 * Memory is measured after a full GC, against the level before the attack, with slack that is
 * generous next to the limits (16 MiB of output) and small next to what the attacks took before.
 * The peak comes from the kernel's high-water mark (VmHWM), reset before each attack through
 * /proc/self/clear_refs where the kernel allows it. Each limit holds alike with the guest on a worker
 * thread (`threads`), where the output is collected before it crosses to the calling thread.
 */
import { after, before, test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { serve, type CowpoolServer, type ServeOptions } from '../src/serve/server.ts';
import { startCli } from './support/cli-server.ts';

setFlagsFromString('--expose-gc');
const collect = runInNewContext('gc') as () => void;
const MIB = 1024 * 1024;
/** How far RSS may stay above its level before an attack once the attack is over and collected. */
const RSS_SLACK = 64 * MIB;
/** How far RSS may rise above that level during an attack (the output limit is 16 MiB). */
const PEAK_SLACK = 256 * MIB;

/** RSS after a full collection (twice: V8 frees dead array buffers on the second), in bytes. */
async function settledRss(): Promise<number> {
  collect();
  collect();
  await new Promise((resolve) => setTimeout(resolve, 20));
  collect();
  return process.memoryUsage().rss;
}

/** Resets the kernel's RSS high-water mark; false where the kernel does not let us. */
function resetPeak(): boolean {
  try {
    writeFileSync('/proc/self/clear_refs', '5');
    return true;
  } catch {
    return false;
  }
}

/** The RSS high-water mark in bytes (VmHWM). */
function peakRss(): number {
  return Number(/VmHWM:\s+(\d+) kB/.exec(readFileSync('/proc/self/status', 'utf8'))?.[1]) * 1024;
}

let dir: string;
const servers: CowpoolServer[] = [];
before(() => {
  dir = mkdtempSync(join(tmpdir(), 'cowpool-serve-limits-'));
});
after(async () => {
  await Promise.all(servers.map((s) => s.close()));
  rmSync(dir, { recursive: true, force: true });
});

/** Where the guests run: the calling thread (the default), or a worker thread (`threads`), where the limits hold alike. */
const MODES: { name: string; options: Partial<ServeOptions> }[] = [
  { name: 'on the calling thread', options: {} },
  { name: 'on a worker thread', options: { threads: 1 } },
];

async function start(wasm: string, options: Partial<ServeOptions>): Promise<CowpoolServer & { logs: string[] }> {
  const logs: string[] = [];
  const server = await serve({ wasm, port: 0, log: (line) => logs.push(line), ...options });
  servers.push(server);
  return Object.assign(server, { logs });
}

/**
 * Sends the attack `url`, and checks that it is answered with `status` within 2 × `timeout` + 50 ms
 * and that the server's memory comes back; returns the body.
 */
async function attack(t: TestContext, url: string, status: number, timeout: number): Promise<string> {
  const before_ = await settledRss();
  const measuresPeak = resetPeak();
  const started = performance.now();
  const res = await fetch(url);
  const body = await res.text();
  const elapsed = performance.now() - started;
  const peak = peakRss();
  assert.equal(res.status, status, body);
  assert.ok(elapsed < 2 * timeout + 50, `answered after ${elapsed.toFixed(0)} ms (deadline ${timeout} ms)`);
  if (measuresPeak) assert.ok(peak - before_ < PEAK_SLACK, `RSS peaked ${((peak - before_) / MIB).toFixed(0)} MiB above its level`);
  else t.diagnostic('peak RSS not checked: /proc/self/clear_refs cannot be written here');
  const after_ = await settledRss();
  assert.ok(after_ - before_ < RSS_SLACK, `RSS stayed ${((after_ - before_) / MIB).toFixed(0)} MiB above its level`);
  return body;
}

for (const mode of MODES) {
  const flood = 'an output flood on stdout or stderr gets 502 at --max-output long before its deadline, logged; memory comes back';
  test(`${flood} (${mode.name})`, async (t) => {
    const server = await start('test/fixtures/flood.wasm', { ...mode.options, timeout: 1000 });
    for (let i = 0; i < 3; i++) assert.equal(await (await fetch(`${server.url}?ok`)).text(), 'ok\n');
    for (const stream of ['stdout', 'stderr', 'stdout&chunk=1024']) {
      const body = await attack(t, `${server.url}?${stream}`, 502, 1000);
      assert.equal(body, `the program's output passed the ${16 * MIB}-byte limit (--max-output)\n`);
      assert.match(server.logs.at(-2) ?? '', /^output limit: guest wrote more than its output limit of 16777216 bytes/);
      assert.match(server.logs.at(-1) ?? '', /"GET \/\?\S+ HTTP\/1\.1" 502 /);
      assert.equal(await (await fetch(`${server.url}?ok`)).text(), 'ok\n', 'the next request is served');
    }
  });

  test(`--max-output (maxOutput) sets the limit; a malformed one is refused (${mode.name})`, async (t) => {
    const small = await start('test/fixtures/flood.wasm', { ...mode.options, timeout: 1000, maxOutput: 100_000 });
    assert.match(await attack(t, `${small.url}?stdout`, 502, 1000), /passed the 100000-byte limit/);
    assert.equal(await (await fetch(`${small.url}?ok`)).text(), 'ok\n');
    await assert.rejects(
      serve({ wasm: 'test/fixtures/flood.wasm', maxOutput: -1, ...mode.options }),
      /serve options\.maxOutput must be a whole number of bytes/,
    );
  });

  test(`a busy loop gets 504 within twice its deadline plus 50 ms; memory comes back (${mode.name})`, async (t) => {
    const server = await start('test/fixtures/loop.wasm', { ...mode.options, timeout: 200 });
    for (let i = 0; i < 2; i++) assert.match(await attack(t, server.url, 504, 200), /did not answer within 200 ms/);
  });

  const work = 'megabytes of work in each host call (pwrite, pread, random_get) get 504 within twice the deadline plus 50 ms';
  test(`${work} (${mode.name})`, async (t) => {
    const server = await start('test/fixtures/flood.wasm', {
      ...mode.options,
      timeout: 200,
      dirs: [{ guestPath: '/data', hostPath: dir }],
    });
    for (const what of ['file&chunk=1048576', 'read&chunk=1048576', 'random&chunk=4194304']) {
      assert.match(await attack(t, `${server.url}?${what}`, 504, 200), /did not answer within 200 ms/);
      assert.equal(await (await fetch(`${server.url}?ok`)).text(), 'ok\n');
    }
  });
}

test('npx cowpool serve --max-output: the flag is read with the usual units and refused when malformed', async () => {
  const server = await startCli(['serve', 'test/fixtures/flood.wasm', '--port', '0', '--timeout', '5s', '--max-output', '64KiB']);
  const res = await fetch(`${server.url}?stdout`);
  assert.equal(res.status, 502);
  assert.equal(await res.text(), "the program's output passed the 65536-byte limit (--max-output)\n");
  await server.stop();
  assert.match(server.out(), /output limit: guest wrote more than its output limit of 65536 bytes/);

  const bad = spawn(process.execPath, ['bin/cowpool.js', 'serve', 'test/fixtures/flood.wasm', '--max-output', 'lots'], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let err = '';
  bad.stderr.setEncoding('utf8').on('data', (chunk: string) => (err += chunk));
  const [code] = await once(bad, 'exit');
  assert.equal(code, 2);
  assert.match(err, /--max-output: cannot read "lots" \(write it like 1MiB/);
});
