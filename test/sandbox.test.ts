/**
 * What every sandbox does the same way (src/sandbox/), run against each kind: options checked once
 * with the closest name for a misspelt key (issue 18 found `timeOut`, `memLimit` and `signal`
 * silently ignored), the pool's options passed through flat, a use's `signal`, the counters by
 * outcome (which add up to the uses), `stats()`, `describe()`, `close()` and `Symbol.asyncDispose`. Real guests, no mocks.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  AbortedError,
  ClosedError,
  GuestMemoryLimitError,
  GuestTimeoutError,
  HostError,
  InvalidArgumentError,
  PoolClosedError,
} from '../src/errors.ts';
import { QuickJSSandbox } from '../src/quickjs/index.ts';
import { SqliteSandbox } from '../src/sqlite/index.ts';
import { WasiCommand } from '../src/wasi/index.ts';

/** One sandbox kind, as the shared tests drive it. */
interface Kind {
  name: string;
  create(options: object): Promise<QuickJSSandbox | SqliteSandbox>;
  /** A use that returns, one that throws the guest's error, one that never ends, one that fills the memory. */
  ok(s: never, options?: object): Promise<unknown>;
  okSync(s: never, options?: object): unknown;
  throws: string;
  forever: string;
  fill: string;
  /** Code too large for the sandbox's memory, refused once its use has begun (SQLite's own limit refuses it: none). */
  tooLarge?: string;
  /** Options at create and uses that end with the host's failure (a host function that throws, a value that cannot be copied). */
  hostFailures: { options: object; codes: string[] };
  run(s: never, code: string, options?: object): Promise<unknown>;
  runSync(s: never, code: string, options?: object): unknown;
}

const kinds: Kind[] = [
  {
    name: 'QuickJSSandbox',
    create: (options) => QuickJSSandbox.create(options),
    ok: (s: QuickJSSandbox, options) => s.eval('1 + 2', options),
    okSync: (s: QuickJSSandbox, options) => s.evalSync('1 + 2', options),
    throws: 'null.x',
    forever: 'for (;;) {}',
    fill: '"x".repeat(2 ** 26)',
    tooLarge: `"${'x'.repeat(40 * 2 ** 20)}"`,
    hostFailures: {
      options: {
        functions: {
          boom() {
            throw new Error('boom');
          },
        },
      },
      codes: ['boom()', 'Symbol("not copied")'],
    },
    run: (s: QuickJSSandbox, code, options) => s.eval(code, options),
    runSync: (s: QuickJSSandbox, code, options) => s.evalSync(code, options),
  } as Kind,
  {
    name: 'SqliteSandbox',
    create: (options) => SqliteSandbox.create(options),
    ok: (s: SqliteSandbox, options) => s.exec('SELECT 1 + 2', undefined, options),
    okSync: (s: SqliteSandbox, options) => s.execSync('SELECT 1 + 2', undefined, options),
    throws: 'SELEC 1',
    forever: 'WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT count(*) FROM c',
    fill: 'SELECT length(randomblob(64000000))',
    // SQLite's user-defined functions that throw are SQL errors, the guest's: nothing of the host's fails a use.
    hostFailures: { options: {}, codes: [] },
    run: (s: SqliteSandbox, code, options) => s.exec(code, undefined, options),
    runSync: (s: SqliteSandbox, code, options) => s.execSync(code, undefined, options),
  } as Kind,
];

const unknown = (key: string, closest: string) => (e: unknown) =>
  e instanceof InvalidArgumentError && e.message.includes(`unknown option '${key}'; did you mean '${closest}'?`);

for (const kind of kinds) {
  describe(kind.name, () => {
    test('a misspelt create option is refused with the closest name', async () => {
      await assert.rejects(kind.create({ timeOut: 10 }), unknown('timeOut', 'timeout'));
      await assert.rejects(kind.create({ memLimit: 2 ** 20 }), unknown('memLimit', 'memoryLimit'));
      await assert.rejects(kind.create({ maxx: 2 }), unknown('maxx', 'max'));
      await assert.rejects(kind.create({ pool: { max: 2 } }), /options\.pool: a sandbox takes the pool's options flat \(max, min/);
      await assert.rejects(kind.create({ max: 0 }), /options\.max must be an integer of at least 1, not 0/);
    });

    test('a misspelt use option is refused before any use, uncounted', async () => {
      const s = (await kind.create({ max: 1 })) as never;
      try {
        await assert.rejects(kind.ok(s, { timeOut: 10 }), unknown('timeOut', 'timeout'));
        assert.throws(() => kind.okSync(s, { memLimit: 2 ** 20 }), unknown('memLimit', 'memoryLimit'));
        assert.throws(() => kind.okSync(s, { signal: 'stop' }), /options\.signal must be an AbortSignal/);
        assert.throws(() => kind.okSync(s, { memoryLimit: 2 ** 30 }), /exceeds the sandbox's memoryLimit/);
        assert.throws(() => kind.okSync(s, 'fast' as unknown as object), /the use options must be an object/);
        const stats = (s as QuickJSSandbox).stats();
        assert.deepEqual([stats.results, stats.exceptions, stats.traps, stats.pool.uses], [0, 0, 0, 0]);
      } finally {
        await (s as QuickJSSandbox).close();
      }
    });

    test("the pool's options pass through flat", async () => {
      const s = (await kind.create({ max: 3, min: 2, keepResident: 0, trimIdleAfter: 50, acquireTimeout: 5 })) as QuickJSSandbox;
      try {
        assert.equal(s.describe().max, 3);
        assert.equal(s.describe().keepResident, 0);
        assert.equal(s.stats().pool.instances, 2);
      } finally {
        await s.close();
      }
    });

    test("a use's signal that has fired: the use never runs (AbortedError), uncounted", async () => {
      const s = (await kind.create({ max: 1 })) as never;
      try {
        const controller = new AbortController();
        controller.abort(new Error('no longer wanted'));
        await assert.rejects(kind.ok(s, { signal: controller.signal }), AbortedError);
        assert.throws(() => kind.okSync(s, { signal: controller.signal }), AbortedError);
        assert.equal(await kind.ok(s, { signal: new AbortController().signal, acquireTimeout: 0 }).then(() => 'ran'), 'ran');
        const stats = (s as QuickJSSandbox).stats();
        assert.deepEqual([stats.results, stats.pool.uses], [1, 1]);
      } finally {
        await (s as QuickJSSandbox).close();
      }
    });

    test('the counters count each outcome once, whichever form ran it', async () => {
      const s = (await kind.create({ max: 1, memoryLimit: 16 * 2 ** 20 })) as never;
      try {
        await kind.ok(s);
        kind.okSync(s);
        await assert.rejects(kind.run(s, kind.throws), (e: unknown) => (e as { code?: string }).code === 'COWPOOL_ERR_GUEST_EXCEPTION');
        assert.throws(() => kind.runSync(s, kind.forever, { timeout: 20 }), GuestTimeoutError);
        await assert.rejects(kind.run(s, kind.forever, { timeout: 20 }), GuestTimeoutError);
        assert.throws(() => kind.runSync(s, kind.fill, { timeout: 10_000 }), GuestMemoryLimitError);
        const { results, exceptions, timeouts, memoryLimits, traps, setupBytes, pool } = (s as QuickJSSandbox).stats();
        assert.deepEqual(
          { results, exceptions, timeouts, memoryLimits, traps },
          { results: 2, exceptions: 1, timeouts: 2, memoryLimits: 1, traps: 0 },
        );
        assert.ok(setupBytes > 0);
        assert.equal(pool.uses, 6);
        assert.equal(pool.retirements, 0);
      } finally {
        await (s as QuickJSSandbox).close();
      }
    });

    test('the counters add up to the uses over every way a use ends', async () => {
      const s = (await kind.create({ max: 1, memoryLimit: 16 * 2 ** 20, ...kind.hostFailures.options })) as never;
      try {
        await kind.ok(s);
        await assert.rejects(kind.run(s, kind.throws));
        await assert.rejects(kind.run(s, kind.forever, { timeout: 20 }), GuestTimeoutError);
        await assert.rejects(kind.run(s, kind.fill, { timeout: 10_000 }), GuestMemoryLimitError);
        for (const code of kind.hostFailures.codes) await assert.rejects(kind.run(s, code), HostError);
        if (kind.tooLarge !== undefined) assert.throws(() => kind.runSync(s, kind.tooLarge!), InvalidArgumentError);
        // Refused before a use, and a wait given up: no use, no count.
        await assert.rejects(kind.ok(s, { timeout: -1 }), InvalidArgumentError);
        const controller = new AbortController();
        controller.abort();
        await assert.rejects(kind.ok(s, { signal: controller.signal }), AbortedError);
        const stats = (s as QuickJSSandbox).stats();
        const hostFailures = kind.hostFailures.codes.length;
        assert.deepEqual(
          [stats.results, stats.exceptions, stats.timeouts, stats.memoryLimits, stats.traps, stats.hostErrors, stats.inputErrors],
          [1, 1, 1, 1, 0, hostFailures, kind.tooLarge === undefined ? 0 : 1],
        );
        const sum =
          stats.results + stats.exceptions + stats.timeouts + stats.memoryLimits + stats.traps + stats.hostErrors + stats.inputErrors;
        assert.equal(sum, stats.pool.uses);
      } finally {
        await (s as QuickJSSandbox).close();
      }
    });

    test('Symbol.asyncDispose closes it; a closed sandbox refuses uses', async () => {
      const s = (await kind.create({ max: 1 })) as QuickJSSandbox;
      await s[Symbol.asyncDispose]();
      await s.close();
      await assert.rejects(kind.ok(s as never), (e: unknown) => e instanceof PoolClosedError || e instanceof ClosedError);
      assert.equal(s.stats().pool.instances, 0);
    });
  });
}

test('WasiCommand refuses a misspelt option or run input with the closest name', async () => {
  await assert.rejects(WasiCommand.create('examples/hello.wasm', { timeOut: 10 } as object), unknown('timeOut', 'timeout'));
  const command = await WasiCommand.create('examples/hello.wasm');
  try {
    await assert.rejects(command.run({ argv: ['hello'] } as object), unknown('argv', 'args'));
    assert.throws(() => command.runSync({ stdin: '', timeot: 5 } as object), unknown('timeot', 'timeout'));
  } finally {
    await command.close();
  }
});
