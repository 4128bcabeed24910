/**
 * cowpool/quickjs host functions: the guest calls functions of the host, sync and async, from the
 * setup script and from uses; each call knows its use (`this.context`, `this.signal`); errors cross
 * typed both ways, and say whose fault they were. Real QuickJS, real pool, no mocks.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import {
  GuestTimeoutError,
  HostFunctionError,
  InvalidArgumentError,
  QuickJSError,
  QueueFullError,
  QuickJSSandbox,
  UncloneableValueError,
  type HostCall,
} from '../src/quickjs/index.ts';

/** What the host functions saw, per name. */
const calls: Record<string, unknown[][]> = {};
const seen = (name: string, args: unknown[]) => (calls[name] ??= []).push(args);

class QuotaError extends Error {
  override name = 'QuotaError';
  readonly limit = 3;
}

const functions = {
  add(a: number, b: number) {
    seen('add', [a, b]);
    return a + b;
  },
  whoami(this: HostCall<{ user: string }>) {
    return { name: this.name, user: this.context?.user ?? null };
  },
  async fetchUser(id: number) {
    await new Promise((resolve) => setTimeout(resolve, 5));
    return { id, name: `user${id}`, joined: new Date(Date.UTC(2020, 0, id)) };
  },
  quota() {
    throw new QuotaError('over quota');
  },
  async later() {
    await null;
    throw new RangeError('rejected later');
  },
  throwsString() {
    throw 'plain text';
  },
  leaky() {
    return { callback: () => 1 };
  },
  forever(this: HostCall) {
    return new Promise((_resolve, reject) => this.signal.addEventListener('abort', () => reject(new Error('aborted')), { once: true }));
  },
  db: { query: (sql: string) => [{ sql, rows: 1 }] },
};

const SETUP = `
  const atSetup = add(40, 2);
  function fromSetup() { return atSetup; }
  async function profile(id) { const user = await fetchUser(id); return user.name + ' ' + user.joined.getUTCDate(); }
  function caught(name) { try { globalThis[name](); } catch (e) { return [e instanceof Error, e.name, e.message]; } }
  async function caughtAsync() { try { await later(); } catch (e) { return [e.name, e.message]; } }
`;

let sandbox: QuickJSSandbox;
before(async () => {
  sandbox = await QuickJSSandbox.create({ setup: SETUP, functions, timeout: 500, max: 2 });
});
after(() => sandbox.close());

describe('calls', () => {
  test('the setup script calls a host function once, and its answer is in the image', () => {
    assert.deepEqual(calls.add, [[40, 2]], 'called once, while the setup script ran');
    for (let i = 0; i < 3; i++) assert.equal(sandbox.callSync('fromSetup'), 42);
    assert.equal(calls.add!.length, 1, 'uses do not call it again');
  });

  test('uses call sync host functions, in eval, evalSync, call and callSync', async () => {
    assert.equal(sandbox.evalSync('add(1, 2)'), 3);
    assert.equal(await sandbox.eval('add(add(1, 2), 3)'), 6);
    assert.deepEqual(sandbox.evalSync('db.query("select 1")'), [{ sql: 'select 1', rows: 1 }]);
    assert.equal(sandbox.evalSync('typeof add + " " + add.name + " " + typeof db.query'), 'function add function');
  });

  test('uses await async host functions within the use', async () => {
    assert.equal(await sandbox.call('profile', [7]), 'user7 7');
    const user = await sandbox.eval<{ id: number; joined: Date }>('fetchUser(3)');
    assert.equal(user.id, 3);
    assert.ok(user.joined instanceof Date, 'a Date crosses both ways');
    assert.deepEqual(await sandbox.eval('Promise.all([fetchUser(1), fetchUser(2)]).then((us) => us.map((u) => u.id))'), [1, 2]);
    assert.deepEqual(await sandbox.eval('const a = await fetchUser(4); const b = await fetchUser(a.id + 1); [a.name, b.name]'), [
      'user4',
      'user5',
    ]);
  });

  test("each call sees its use's context and its own name", async () => {
    assert.deepEqual(await sandbox.eval('whoami()', { context: { user: 'ada' } }), { name: 'whoami', user: 'ada' });
    assert.deepEqual(sandbox.evalSync('whoami()'), { name: 'whoami', user: null });
    // Two uses at once (max: 2), each waiting on the host: each keeps its own context.
    const both = await Promise.all(['ada', 'bob'].map((user) => sandbox.eval('await fetchUser(1); whoami().user', { context: { user } })));
    assert.deepEqual(both, ['ada', 'bob']);
  });

  test('a host call still pending when its use ends is aborted and dropped; the next use is pristine', async () => {
    await assert.rejects(sandbox.eval('forever()', { timeout: 50 }), GuestTimeoutError);
    await new Promise((resolve) => setTimeout(resolve, 10));
    assert.equal(await sandbox.eval('add(2, 2)'), 4);
    // A use whose result settles first drops the host calls it did not wait for.
    assert.equal(await sandbox.eval('forever(); "done"'), 'done');
    assert.equal(sandbox.stats().pool.leased, 0);
  });

  test('host functions from a module file, as worker threads will load them', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'cowpool-host-'));
    try {
      const file = join(dir, 'host.mjs');
      writeFileSync(file, 'export function twice(x) { return 2 * x }\nexport const math = { square: (x) => x * x }\n');
      for (const source of [file, pathToFileURL(file)]) {
        const fromFile = await QuickJSSandbox.create({ functions: source, setup: 'const base = twice(5)' });
        try {
          assert.equal(fromFile.evalSync('base + math.square(3)'), 19);
        } finally {
          await fromFile.close();
        }
      }
      assert.throws(() => QuickJSSandbox.createSync({ functions: file }), /use create/);
      await assert.rejects(QuickJSSandbox.create({ functions: join(dir, 'missing.mjs') }), InvalidArgumentError);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('errors', () => {
  test('what a host function throws reaches the guest as an Error with its name and message, and the guest may catch it', async () => {
    assert.deepEqual(sandbox.callSync('caught', ['quota']), [true, 'QuotaError', 'over quota']);
    assert.deepEqual(sandbox.callSync('caught', ['throwsString']), [true, 'Error', 'plain text']);
    assert.deepEqual(await sandbox.call('caughtAsync'), ['RangeError', 'rejected later']);
  });

  test("uncaught, it ends the use with HostFunctionError: the host's fault, with the host's own error as cause", async () => {
    const err = await sandbox.eval('console.log("before"); quota()').then(
      () => assert.fail('should throw'),
      (e: unknown) => e,
    );
    assert.ok(err instanceof HostFunctionError, String(err));
    assert.ok(!(err instanceof QuickJSError), 'not the guest exception');
    assert.equal(err.code, 'COWPOOL_ERR_HOST_FUNCTION');
    assert.equal(err.functionName, 'quota');
    assert.ok(err.cause instanceof QuotaError, 'the very error the host threw');
    assert.equal((err.cause as QuotaError).limit, 3);
    assert.match(err.message, /^host function quota threw QuotaError: over quota, and the guest did not catch it$/);
    assert.deepEqual(err.logs, [{ level: 'log', text: 'before' }]);
    await assert.rejects(
      sandbox.eval('await later()'),
      (e: unknown) => e instanceof HostFunctionError && e.functionName === 'later' && e.cause instanceof RangeError,
    );
    assert.throws(() => sandbox.evalSync('[1].map(() => quota())'), HostFunctionError);
  });

  test("a guest error that is not the host error is the guest's QuickJSError", () => {
    assert.throws(
      () => sandbox.evalSync('try { quota() } catch (e) { throw new TypeError("mine: " + e.message) }'),
      (e: unknown) => e instanceof QuickJSError && e.guestName === 'TypeError' && e.guestMessage === 'mine: over quota',
    );
  });

  test('a value that cannot cross is an UncloneableValueError that says whose it was', () => {
    assert.throws(
      () => sandbox.evalSync('add(1, { f() {} })'),
      (e: unknown) =>
        e instanceof UncloneableValueError &&
        e.from === 'guest' &&
        e.path === 'arguments[1].f of host function add' &&
        e.kind === 'function',
    );
    assert.equal(
      sandbox.evalSync('try { add(Symbol()) } catch (e) { e instanceof TypeError }'),
      true,
      'the guest may catch it, as the TypeError it is there',
    );
    assert.throws(
      () => sandbox.evalSync('leaky()'),
      (e: unknown) =>
        e instanceof UncloneableValueError &&
        e.from === 'host' &&
        e.path === 'the result of host function leaky.callback' &&
        e.kind === 'function',
    );
    assert.equal(sandbox.evalSync('try { leaky() } catch (e) { e.name }'), 'TypeError');
  });

  test('a Sync use cannot wait for a host promise: InvalidArgumentError, whatever the guest catches', () => {
    assert.throws(
      () => sandbox.evalSync('try { fetchUser(1) } catch {} for (;;) {}'),
      (e: unknown) => e instanceof InvalidArgumentError && /host function fetchUser returned a promise.*use eval or call/.test(e.message),
    );
    assert.equal(sandbox.evalSync('add(1, 1)'), 2, 'the next use is healthy');
  });

  test('the setup script may await async host functions under create; their answers are in the image', async () => {
    let loads = 0;
    const own = {
      ...functions,
      async loadConfig() {
        loads++;
        await new Promise((resolve) => setTimeout(resolve, 20));
        return { region: 'eu', since: new Date(Date.UTC(2021, 5, 1)) };
      },
    };
    const awaiting = await QuickJSSandbox.create({
      functions: own,
      setup:
        'globalThis.config = await loadConfig(); globalThis.user = (await fetchUser(2)).name; globalThis.tick = await new Promise((r) => setTimeout(() => r(1), 5))',
    });
    try {
      assert.deepEqual(await awaiting.eval('[config.region, config.since.getUTCFullYear(), user, tick]'), ['eu', 2021, 'user2', 1]);
      assert.deepEqual(awaiting.evalSync('config.region'), 'eu');
      assert.equal(loads, 1, 'called once, at create');
    } finally {
      await awaiting.close();
    }
    const module = await QuickJSSandbox.create({
      functions: own,
      setup: 'export const config = await loadConfig(); export const region = () => config.region;',
    });
    try {
      assert.equal(await module.call('region'), 'eu');
    } finally {
      await module.close();
    }
  });

  test('createSync cannot wait for a host promise in the setup script: it fails and says to use create', () => {
    assert.throws(
      () => QuickJSSandbox.createSync({ functions, setup: 'fetchUser(1)' }),
      (e: unknown) =>
        e instanceof InvalidArgumentError &&
        /^host function fetchUser returned a promise while the setup script ran under createSync, which cannot wait for it; use create$/.test(
          e.message,
        ),
    );
  });

  test('what a host function throws or rejects in the setup script fails create with HostFunctionError', async () => {
    await assert.rejects(
      QuickJSSandbox.create({ functions, setup: 'quota()' }),
      (e: unknown) => e instanceof HostFunctionError && e.functionName === 'quota',
    );
    await assert.rejects(
      QuickJSSandbox.create({ functions, setup: 'await later()' }),
      (e: unknown) => e instanceof HostFunctionError && e.functionName === 'later' && e.cause instanceof RangeError,
    );
    assert.equal(
      (await QuickJSSandbox.create({ functions, setup: 'globalThis.caught = await later().catch((e) => e.name)' }).then(async (s) => {
        try {
          return s.evalSync('caught');
        } finally {
          await s.close();
        }
      })) as string,
      'RangeError',
    );
  });

  test('without threads, maxQueue bounds the uses waiting for an instance that awaiting uses hold', async () => {
    const gates: (() => void)[] = [];
    const held = await QuickJSSandbox.create({
      functions: { gate: () => new Promise<void>((resolve) => gates.push(resolve)) },
      max: 1,
      maxQueue: 1,
    });
    try {
      const first = held.eval('await gate(); 1'); // holds the one instance while it awaits
      const second = held.eval('2'); // waits in line
      await assert.rejects(held.eval('3'), (err: unknown) => {
        assert.ok(err instanceof QueueFullError);
        assert.match(err.message, /1 uses already wait for 1 busy instance; retry later, or raise maxQueue or max/);
        return true;
      });
      while (gates.length === 0) await new Promise((resolve) => setImmediate(resolve));
      gates.shift()!();
      assert.deepEqual(await Promise.all([first, second]), [1, 2]);
      assert.equal(held.stats().pool.refused, 1);
    } finally {
      await held.close();
    }
  });

  test('a setup script whose promise nothing can settle fails create at once', async () => {
    await assert.rejects(
      QuickJSSandbox.create({ functions, setup: 'await new Promise(() => {})' }),
      (e: unknown) => e instanceof QuickJSError && /never settles/.test(e.message),
    );
  });

  test('bad host functions are InvalidArgumentError naming the option', () => {
    assert.throws(
      () => QuickJSSandbox.createSync({ functions: { f: 1 as unknown as () => void } }),
      /options\.functions\.f must be a function/,
    );
    assert.throws(() => QuickJSSandbox.createSync({ functions: { 'not a name': () => 1 } }), /not a JavaScript identifier/);
    assert.throws(
      () => QuickJSSandbox.createSync({ functions: [] as unknown as Record<string, () => void> }),
      /options\.functions must be/,
    );
  });
});
