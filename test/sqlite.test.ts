/**
 * cowpool/sqlite: every use of a sandbox starts from the set-up database, whatever the previous use
 * did (tables made, dropped or changed, an attached database, an error, an exhausted deadline or
 * memory limit), nothing can reach a file, and the limits answer with typed errors. Real SQLite
 * (sql.js's wasm), real pool, no mocks.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import fc from 'fast-check';
import {
  GuestTimeoutError,
  GuestTrapError,
  InvalidArgumentError,
  SqliteError,
  SqliteMemoryLimitError,
  SqliteSandbox,
  UnsupportedError,
  type SqlParam,
  type SqlValue,
} from '../src/sqlite/index.ts';
import { CowpoolError } from '../src/errors.ts';

const SETUP = `
  CREATE TABLE t(id INTEGER PRIMARY KEY, v);
  CREATE INDEX t_v ON t(v);
  INSERT INTO t(v) VALUES (1), ('two'), (x'03'), (NULL), (4.5);
  PRAGMA user_version = 7;
`;

/** Everything a use could have left behind in the database, as a use sees it. */
const FINGERPRINT = `
  SELECT type, name, tbl_name, sql FROM sqlite_schema ORDER BY name;
  SELECT * FROM t ORDER BY id;
  PRAGMA user_version;
  SELECT name, file FROM pragma_database_list ORDER BY seq;
`;

const COUNT_FOREVER = 'WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT count(*) FROM c';

let sandbox: SqliteSandbox;
let reference: SqliteSandbox;
let pristine: unknown;

before(async () => {
  sandbox = await SqliteSandbox.create({ setup: SETUP, max: 2, timeout: 2000 });
  // Never used for anything but the fingerprint: what a fresh database looks like.
  reference = await SqliteSandbox.create({ setup: SETUP, max: 1 });
  pristine = reference.execSync(FINGERPRINT);
});

after(async () => {
  await sandbox.close();
  await reference.close();
});

const only = (result: { values: SqlValue[][] }[]): SqlValue => result[0]!.values[0]![0]!;

describe('every use starts from the set-up database', () => {
  test('the setup schema and rows are there in every use', () => {
    for (let i = 0; i < 3; i++) {
      assert.deepEqual(sandbox.execSync("SELECT count(*), sum(typeof(v) = 'blob') FROM t")[0]!.values, [[5, 1]]);
      assert.deepEqual(sandbox.execSync(FINGERPRINT), pristine);
    }
  });

  test('a table created, dropped or changed in one use is not seen by the next', async () => {
    assert.equal(only(sandbox.execSync('CREATE TABLE extra(x); INSERT INTO extra VALUES (1); SELECT count(*) FROM extra')), 1);
    assert.throws(
      () => sandbox.execSync('SELECT * FROM extra'),
      (e: unknown) => e instanceof SqliteError && /no such table: extra/.test(e.message),
    );
    assert.equal(only(sandbox.execSync('DELETE FROM t; DROP INDEX t_v; PRAGMA user_version = 1; SELECT count(*) FROM t')), 0);
    assert.deepEqual(sandbox.execSync(FINGERPRINT), pristine);
    assert.deepEqual(await sandbox.exec('DROP TABLE t; CREATE TABLE t(other); SELECT 1 WHERE 0'), []);
    assert.deepEqual(await sandbox.exec(FINGERPRINT), pristine);
  });

  test('concurrent uses each get a database of their own', async () => {
    const counts = await Promise.all(
      Array.from({ length: 8 }, (_, i) =>
        sandbox.exec(
          `INSERT INTO t(v) VALUES (${i}); CREATE TABLE mine(x); INSERT INTO mine VALUES (${i}); SELECT count(*), (SELECT x FROM mine) FROM t`,
        ),
      ),
    );
    assert.deepEqual(
      counts.map((r) => r[0]!.values[0]),
      Array.from({ length: 8 }, (_, i) => [6, i]),
    );
    assert.deepEqual(await sandbox.exec(FINGERPRINT), pristine);
  });

  test('random() and randomblob() differ from use to use', () => {
    const draws = new Set<string>();
    for (let i = 0; i < 20; i++) {
      const row = sandbox.execSync('SELECT random(), hex(randomblob(16))')[0]!.values[0]!;
      draws.add(String(row[0]));
      draws.add(String(row[1]));
    }
    assert.equal(draws.size, 40);
  });

  test('ATTACH of a file is refused, and no later use sees such a database', () => {
    for (const sql of [
      "ATTACH '/shared.db' AS s",
      "ATTACH 'shared.db' AS s",
      "ATTACH 'file:/tmp/x.db?mode=rwc' AS s",
      "VACUUM INTO '/tmp/copy.db'",
    ]) {
      assert.throws(
        () => sandbox.execSync(sql),
        (e: unknown) => e instanceof SqliteError && e.resultCode === 14 && /unable to open/.test(e.sqliteMessage),
        sql,
      );
    }
    assert.throws(() => sandbox.execSync('SELECT * FROM s.sqlite_schema'), SqliteError);
    assert.deepEqual(sandbox.execSync(FINGERPRINT), pristine);
  });

  test("ATTACH ':memory:' works within a use only", () => {
    const sql = "ATTACH ':memory:' AS s; CREATE TABLE s.t(x); INSERT INTO s.t VALUES (1), (2); SELECT count(*) FROM s.t";
    assert.equal(only(sandbox.execSync(sql)), 2);
    assert.equal(only(sandbox.execSync(sql)), 2);
    assert.throws(
      () => sandbox.execSync('SELECT * FROM s.t'),
      (e: unknown) => e instanceof SqliteError && /no such table: s.t/.test(e.message),
    );
    assert.deepEqual(sandbox.execSync(FINGERPRINT), pristine);
  });

  test('the clock is in UTC', () => {
    assert.equal(only(sandbox.execSync("SELECT datetime(0, 'unixepoch', 'localtime')")), '1970-01-01 00:00:00');
    assert.equal(only(sandbox.execSync("SELECT strftime('%s', 'now') - strftime('%s', 'now', 'localtime')")), 0);
  });

  test('property: any sequence of writes leaves the next use with a fresh database', () => {
    const literal = fc.oneof(
      fc.integer().map(String),
      fc.double({ noNaN: true, noDefaultInfinity: true }).map((d) => (Object.is(d, -0) ? '0.0' : d.toExponential())),
      fc.string({ maxLength: 20 }).map((s) => `'${s.replaceAll("'", "''").replaceAll('\0', '')}'`),
      fc.uint8Array({ maxLength: 16 }).map((b) => `x'${Buffer.from(b).toString('hex')}'`),
      fc.constant('NULL'),
    );
    const name = fc.integer({ min: 0, max: 3 }).map((i) => `n${i}`);
    const op = fc.oneof(
      literal.map((v) => `INSERT INTO t(v) VALUES (${v})`),
      fc
        .tuple(literal, fc.integer({ min: 1, max: 4 }), fc.integer({ min: 0, max: 3 }))
        .map(([v, k, j]) => `UPDATE t SET v = ${v} WHERE id % ${k} = ${j % k}`),
      fc.tuple(fc.integer({ min: 1, max: 4 }), fc.integer({ min: 0, max: 3 })).map(([k, j]) => `DELETE FROM t WHERE id % ${k} = ${j % k}`),
      fc.tuple(name, literal).map(([n, v]) => `CREATE TABLE IF NOT EXISTS ${n}(x); INSERT INTO ${n} VALUES (${v})`),
      name.map((n) => `DROP TABLE IF EXISTS ${n}`),
      name.map((n) => `CREATE INDEX IF NOT EXISTS ${n}_i ON t(v, id)`),
      fc.integer({ min: 0, max: 1000 }).map((n) => `PRAGMA user_version = ${n}`),
      fc.constantFrom(
        'DROP TABLE t',
        'DROP INDEX IF EXISTS t_v',
        'VACUUM',
        'BEGIN',
        'COMMIT',
        "ATTACH ':memory:' AS m",
        'CREATE TABLE m.u AS SELECT * FROM t',
      ),
    );
    fc.assert(
      fc.property(fc.array(op, { minLength: 1, maxLength: 12 }), (ops) => {
        try {
          sandbox.execSync(ops.join(';\n'));
        } catch (err) {
          // A sequence may be refused part-way (a dropped table, an unbalanced BEGIN): only what it leaves matters.
          assert.ok(err instanceof SqliteError, String(err));
        }
        assert.deepEqual(sandbox.execSync(FINGERPRINT), pristine);
      }),
      { numRuns: 60 },
    );
  });
});

describe('the whole memory', () => {
  test('after any use (a trap included), the memory a database starts from is byte for byte the image', async () => {
    // Below the sandbox API: the same snapshot and pool, so that the memory itself can be compared.
    const { createInitializedPool } = await import('../src/sqlite/image.ts');
    const { loadSqliteWasm, sqliteExports } = await import('../src/sqlite/abi.ts');
    const { UseState } = await import('../src/sqlite/imports.ts');
    const { Session } = await import('../src/sqlite/session.ts');
    const memoryLimit = 4 * 2 ** 20;
    const { pool, image: snapshot } = createInitializedPool(
      loadSqliteWasm(),
      { setup: SETUP, memoryLimit },
      { max: 1, interruptible: 'loops' },
    );
    try {
      const read = async (): Promise<Uint8Array> => {
        const lease = await pool.acquire(new UseState());
        const copy = new Uint8Array(lease.host.memory!.buffer).slice();
        lease.release();
        return copy;
      };
      const image = await read();
      // The PRNG is unseeded in the image: a seeded one would give every use the same numbers.
      assert.deepEqual([...image.subarray(snapshot.prng, snapshot.prng + 4)], [0, 0, 0, 0]);
      const uses = [
        'SELECT random(), randomblob(100)',
        "ATTACH ':memory:' AS s; CREATE TABLE s.t(x); INSERT INTO s.t SELECT randomblob(1000) FROM t",
        'DROP TABLE t; VACUUM',
        "ATTACH '/shared.db' AS s",
        'WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c LIMIT 100000) SELECT max(x), group_concat(x) IS NOT NULL FROM c',
        'SELECT length(randomblob(8000000))',
        'CREATE TABLE f(x); WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) INSERT INTO f SELECT randomblob(500) FROM c',
        COUNT_FOREVER,
      ];
      for (const sql of uses) {
        try {
          await pool.run(
            (instance, state, host) =>
              new Session(sqliteExports(instance), host.memory!, snapshot.layout, memoryLimit, state).exec(sql, undefined, {
                readBigInts: false,
              }),
            new UseState(),
            { timeout: 50 },
          );
        } catch {
          // Typed errors are the other tests' business; here only what is left behind matters.
        }
        const bytes = await read();
        const differs = bytes.length !== image.length || bytes.findIndex((b, i) => b !== image[i]);
        assert.equal(differs, -1, `after ${sql} the memory differs from the image (at byte ${String(differs)})`);
      }
      // A trap mid-use (SQLite handed a statement pointer past the memory): typed, and the next use is the image.
      await assert.rejects(
        pool.run((instance) => sqliteExports(instance).sqlite3_step(0xfffffff0), new UseState()),
        (e: unknown) => e instanceof GuestTrapError,
      );
      const bytes = await read();
      assert.equal(
        bytes.length !== image.length || bytes.findIndex((b, i) => b !== image[i]),
        -1,
        'after a trap the memory differs from the image',
      );
    } finally {
      await pool.close();
    }
  });
});

describe('parameters and results', () => {
  test('property: parameters round trip through SELECT, each as its type', () => {
    const value = fc.oneof(
      fc.integer(),
      fc.double({ noNaN: true }),
      fc.maxSafeInteger(),
      fc.string({ unit: 'grapheme', maxLength: 30 }),
      fc.string({ maxLength: 30 }),
      fc.uint8Array({ maxLength: 40 }),
      fc.constant(null),
      fc.bigInt({ min: BigInt(Number.MIN_SAFE_INTEGER), max: BigInt(Number.MAX_SAFE_INTEGER) }),
      fc.boolean(),
    );
    fc.assert(
      fc.property(fc.array(value, { minLength: 1, maxLength: 8 }), (values) => {
        const sql = `SELECT ${values.map(() => '?').join(', ')}; SELECT ${values.map((_, i) => `typeof(?${i + 1})`).join(', ')}`;
        const [rows, types] = sandbox.execSync(sql, values);
        // A REAL keeps its sign: -0 comes back as -0 (SQLite holds -0.0), as sql.js would return it.
        const expected = values.map((v): SqlValue => (typeof v === 'bigint' || typeof v === 'boolean' ? Number(v) : v));
        assert.deepEqual(rows!.values, [expected]);
        // Numbers bind as sql.js binds them: a 32-bit integer as an INTEGER, anything else as a REAL.
        const kinds = values.map((v) => {
          if (v === null) return 'null';
          if (typeof v === 'string') return 'text';
          if (v instanceof Uint8Array) return 'blob';
          const n = Number(v);
          return (n | 0) === n && !Object.is(n, -0) ? 'integer' : 'real';
        });
        assert.deepEqual(types!.values, [kinds]);
      }),
      { numRuns: 200, examples: [[[-0]], [[0]], [[-1.5, 2 ** 31, -(2 ** 31)]]] },
    );
  });

  test('named parameters, the statements that return rows, and exact large integers', () => {
    const params: Record<string, SqlParam> = { ':a': 1, '@b': 'two', $c: new Uint8Array([3]), ':unused': 4 };
    assert.deepEqual(sandbox.execSync('SELECT :a AS a, @b AS b, $c AS c', params), [
      { columns: ['a', 'b', 'c'], values: [[1, 'two', new Uint8Array([3])]] },
    ]);
    assert.deepEqual(sandbox.execSync('CREATE TABLE x(y); SELECT 1 WHERE 0; INSERT INTO x VALUES (1), (2); SELECT y FROM x; -- done'), [
      { columns: ['y'], values: [[1], [2]] },
    ]);
    assert.deepEqual(sandbox.execSync("SELECT 9007199254740993, -9223372036854775808, 9007199254740991, 1.5, x'', ''")[0]!.values, [
      [9007199254740993n, -9223372036854775808n, 9007199254740991, 1.5, new Uint8Array(0), ''],
    ]);
    assert.deepEqual(sandbox.execSync('  -- nothing but a comment\n  '), []);
  });

  test('bad parameters are refused with InvalidArgumentError before any use', () => {
    const bad: unknown[] = [[{}], [undefined], [() => 1], [2n ** 60n], 'text', 5];
    for (const params of bad) {
      assert.throws(() => sandbox.execSync('SELECT ?', params as SqlParam[]), InvalidArgumentError, String(params));
    }
    assert.throws(() => sandbox.execSync(42 as unknown as string), InvalidArgumentError);
    assert.throws(() => sandbox.execSync('SELECT 1', [], { timeout: -1 }), InvalidArgumentError);
  });
});

describe('errors are typed, and the next use is healthy', () => {
  const healthy = () => assert.deepEqual(sandbox.execSync(FINGERPRINT), pristine);

  test('SQL that SQLite refuses is a SqliteError with its message and result code', async () => {
    assert.throws(
      () => sandbox.execSync('SELEC 1'),
      (e: unknown) =>
        e instanceof SqliteError && e.resultCode === 1 && /near "SELEC": syntax error/.test(e.sqliteMessage) && e instanceof CowpoolError,
    );
    healthy();
    await assert.rejects(
      sandbox.exec('INSERT INTO t(id, v) VALUES (1, 0)'),
      (e: unknown) => e instanceof SqliteError && e.resultCode === 19 && /UNIQUE constraint failed: t.id/.test(e.sqliteMessage),
    );
    healthy();
    // Statements before the failing one ran, and are gone all the same.
    assert.throws(() => sandbox.execSync('DELETE FROM t; SELECT * FROM missing'), SqliteError);
    healthy();
    assert.throws(
      () => sandbox.execSync('SELECT ?', [1, 2]),
      (e: unknown) => e instanceof SqliteError && e.resultCode === 25,
    );
    healthy();
    await assert.rejects(SqliteSandbox.create({ setup: 'CREATE TABLE' }), SqliteError);
  });

  test("deep recursion meets SQLite's own limits (a SqliteError, not a trap)", () => {
    const triggers =
      'CREATE TABLE r(x); PRAGMA recursive_triggers = 1; ' +
      'CREATE TRIGGER rt AFTER INSERT ON r WHEN new.x < 100000 BEGIN INSERT INTO r VALUES (new.x + 1); END; INSERT INTO r VALUES (1)';
    assert.throws(
      () => sandbox.execSync(triggers),
      (e: unknown) => e instanceof SqliteError && /triggers nested too deep/.test(e.sqliteMessage),
    );
    healthy();
    assert.throws(() => sandbox.execSync(`SELECT ${'('.repeat(5000)}1${')'.repeat(5000)}`), SqliteError);
    healthy();
  });

  test('a query past its deadline is a GuestTimeoutError', async () => {
    assert.throws(
      () => sandbox.execSync(COUNT_FOREVER, undefined, { timeout: 50 }),
      (e: unknown) => e instanceof GuestTimeoutError && e.timeoutMs === 50,
    );
    healthy();
    await assert.rejects(
      sandbox.exec(`CREATE TABLE big(x); INSERT INTO big VALUES (1); ${COUNT_FOREVER}`, undefined, { timeout: 30 }),
      GuestTimeoutError,
    );
    healthy();
    assert.ok(sandbox.stats().timeouts >= 2);
  });

  test('a query past the memory limit is a SqliteMemoryLimitError', async () => {
    const small = await SqliteSandbox.create({ setup: SETUP, memoryLimit: 4 * 2 ** 20, max: 1 });
    try {
      const fill =
        'CREATE TABLE f(x); WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) INSERT INTO f SELECT randomblob(1000) FROM c';
      for (const sql of [
        'SELECT length(randomblob(8000000))',
        fill,
        'SELECT length(group_concat(hex(randomblob(1000)))) FROM (WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c LIMIT 10000) SELECT x FROM c)',
      ]) {
        assert.throws(
          () => small.execSync(sql, undefined, { timeout: 10_000 }),
          (e: unknown) => e instanceof SqliteMemoryLimitError && e.limitBytes === 4 * 2 ** 20,
          sql,
        );
        assert.deepEqual(small.execSync(FINGERPRINT), pristine);
      }
      // Within the limit, the same kind of work succeeds.
      assert.equal(only(small.execSync('SELECT length(randomblob(1000000))')), 1_000_000);
      assert.equal(small.stats().memoryLimits, 3);
      assert.equal(small.stats().pool.retirements, 0);
    } finally {
      await small.close();
    }
  });

  test('a module that is not this build of SQLite is refused with UnsupportedError', () => {
    const empty = new Uint8Array([0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00]);
    assert.throws(
      () => SqliteSandbox.createSync({ wasm: empty }),
      (e: unknown) => e instanceof UnsupportedError && /import a \(assertFail\) is missing/.test(e.message),
    );
    // Another emscripten build (QuickJS): same import namespace, other functions behind the letters.
    const quickjs = readFileSync(createRequire(import.meta.url).resolve('@jitl/quickjs-wasmfile-release-sync/wasm'));
    assert.throws(
      () => SqliteSandbox.createSync({ wasm: quickjs }),
      (e: unknown) => e instanceof UnsupportedError && /not the SQLite build/.test(e.message),
    );
  });
});
