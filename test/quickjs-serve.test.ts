/**
 * The QuickJS examples and command as a user runs them (the built package through `cowpool/quickjs`):
 * examples/quickjs-serve.mjs on a real HTTP server on 127.0.0.1, where each request is evaluated in
 * a pristine context and the limits answer with their status codes, and the README's example.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { startCli } from './support/cli-server.ts';

async function start(args: string[]): Promise<{ child: ChildProcess; url: string }> {
  const child = spawn(process.execPath, ['examples/quickjs-serve.mjs', ...args], {
    env: { ...process.env, PORT: '0' },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  let out = '';
  child.stdout!.setEncoding('utf8');
  for await (const chunk of child.stdout!) {
    out += chunk;
    const match = /listening on (http:\/\/127\.0\.0\.1:\d+)/.exec(out);
    if (match) return { child, url: match[1]! };
  }
  throw new Error(`the example server exited without listening: ${out}`);
}

async function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null) return;
  child.kill('SIGTERM');
  await once(child, 'exit');
}

async function post(url: string, body: string): Promise<{ status: number; json: Record<string, unknown> }> {
  const res = await fetch(url, { method: 'POST', body });
  return { status: res.status, json: (await res.json()) as Record<string, unknown> };
}

describe('examples/quickjs-serve.mjs evaluating request bodies', () => {
  let server: { child: ChildProcess; url: string };
  before(async () => {
    server = await start([]);
  });
  after(() => stop(server.child));

  test("a script's value and console lines come back as JSON", async () => {
    assert.deepEqual(await post(server.url, 'console.log("hi"); [1, 2, 3].map((x) => x * 2)'), {
      status: 200,
      json: { value: [2, 4, 6], logs: [{ level: 'log', text: 'hi' }] },
    });
  });

  test('no request sees what an earlier one left, whatever it did', async () => {
    const probe = 'typeof leaked + typeof Object.prototype.evil';
    for (const [script, status] of [
      ['globalThis.leaked = 1; Object.prototype.evil = 1; 1', 200],
      ['globalThis.leaked = 1; throw new Error("boom")', 400],
      ['globalThis.leaked = 1; while (true) {}', 504],
      ['globalThis.leaked = "x".repeat(2 ** 25)', 507],
    ] as const) {
      assert.equal((await post(server.url, script)).status, status, script);
      assert.deepEqual((await post(server.url, probe)).json.value, 'undefinedundefined', `after ${script}`);
    }
  });

  test('a guest exception answers 400 with its name, message and stack', async () => {
    const { status, json } = await post(server.url, 'null.x');
    assert.equal(status, 400);
    const error = json.error as { name: string; message: string; stack: string };
    assert.equal(error.name, 'TypeError');
    assert.match(error.stack, /eval\.js:1/);
  });
});

describe('examples/quickjs-serve.mjs with a setup script', () => {
  let server: { child: ChildProcess; url: string };
  before(async () => {
    server = await start(['examples/quickjs-setup.js']);
  });
  after(() => stop(server.child));

  test("requests call the setup script's handler, which starts from the image every time", async () => {
    const sum = await fetch(`${server.url}/add?a=40&b=2`);
    assert.deepEqual(await sum.json(), { sum: 42 });
    for (let i = 0; i < 3; i++) {
      const count = (await (await fetch(`${server.url}/count`)).json()) as { requests: number };
      assert.equal(count.requests, 1);
    }
    const missing = await fetch(`${server.url}/nope`);
    assert.equal(missing.status, 404);
  });
});

test("examples/quickjs.mjs (the README's example) prints what the README says", () => {
  const out = execFileSync(process.execPath, ['examples/quickjs.mjs'], { encoding: 'utf8' });
  assert.equal(
    out,
    "[ 2, 4, 6 ]\nhello ada (1)\nhello bob (1)\nundefinedundefined\nlog about to fail\nTypeError cannot read property 'x' of null\n",
  );
});

test('cowpool quickjs serve setup.js is the same server as a command', async () => {
  const server = await startCli(['quickjs', 'serve', 'examples/quickjs-setup.js', '--port', '0', '--timeout', '100ms']);
  const url = server.url;
  try {
    assert.deepEqual(await (await fetch(`${url}/add?a=2&b=3`)).json(), { sum: 5 });
    const looped = await fetch(`${url}/eval`, { method: 'POST', body: 'for (;;) {}' });
    assert.equal(looped.status, 504);
    assert.deepEqual(await (await fetch(`${url}/count`)).json(), { requests: 1, started: 'when the image was made' });
  } finally {
    await server.stop();
  }
});
