/**
 * cowpool/sqlite beyond SQL text (issue 19 items 5–8): an existing database as the image (every use
 * sees its rows as they are in the file, whatever the previous use wrote, checked against a fresh
 * sandbox over the same bytes and against sql.js reading them), statements prepared in the image,
 * user-defined functions and aggregates calling host JavaScript, `export()`, and a use's own memory
 * limit. Real SQLite (sql.js's wasm), real pool, no mocks.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import {
  InvalidArgumentError,
  SqliteError,
  SqliteMemoryLimitError,
  SqliteSandbox,
  type SqlValue,
  type StatementResult,
} from '../src/sqlite/index.ts';
import { databaseFile, loadSqlJs } from './support/sqljs.ts';

const SCHEMA = `
  CREATE TABLE items(id INTEGER PRIMARY KEY, name TEXT NOT NULL, price REAL, tags BLOB, qty INTEGER);
  CREATE INDEX items_name ON items(name);
  CREATE TABLE log(at INTEGER, what TEXT);
  CREATE VIEW cheap AS SELECT name FROM items WHERE price < 2;
  CREATE TRIGGER items_log AFTER UPDATE ON items BEGIN INSERT INTO log VALUES (new.id, 'update'); END;
  INSERT INTO items(name, price, tags, qty) VALUES ('apple', 1.5, x'01', 10), ('pear', 2.25, NULL, 0), ('fig', 0.5, x'', 7);
  INSERT INTO items(id, name, qty) VALUES (9007199254740993, 'huge', 1);
  PRAGMA user_version = 3;
`;

/** Everything a use could have left behind, as a use sees it. */
const FINGERPRINT = `
  SELECT type, name, tbl_name, sql FROM sqlite_schema ORDER BY name;
  SELECT * FROM items ORDER BY id;
  SELECT * FROM log ORDER BY rowid;
  PRAGMA user_version;
`;

const STATEMENTS = {
  byName: 'SELECT id, name, price FROM items WHERE name = ?',
  add: 'INSERT INTO items(name, price, qty) VALUES (:name, :price, :qty)',
  restock: 'UPDATE items SET qty = qty + ? WHERE qty < 5',
  count: 'SELECT count(*) AS n FROM items',
  wipe: 'DELETE FROM items',
  drop: 'DROP TABLE items',
};

let bytes: Uint8Array;
let dir: string;
let path: string;
let sandbox: SqliteSandbox;
let pristine: unknown;

before(async () => {
  bytes = await databaseFile(SCHEMA);
  dir = mkdtempSync(join(tmpdir(), 'cowpool-sqlite-'));
  path = join(dir, 'shop.db');
  writeFileSync(path, bytes);
  sandbox = await SqliteSandbox.create({ database: path, statements: STATEMENTS, max: 2 });
  // A sandbox never used for anything else: what a use of the file's database sees.
  const reference = await SqliteSandbox.create({ database: bytes, max: 1 });
  pristine = reference.execSync(FINGERPRINT);
  await reference.close();
});

after(async () => {
  await sandbox.close();
  rmSync(dir, { recursive: true, force: true });
});

/** What sql.js gives for `results`: it reads every INTEGER as a number, those beyond 2^53 rounded. */
const asSqlJs = (results: unknown): unknown =>
  JSON.parse(JSON.stringify(results, (_k, v: unknown) => (typeof v === 'bigint' ? Number(v) : v instanceof Uint8Array ? [...v] : v)));

const only = (result: { values: SqlValue[][] }[]): SqlValue => result[0]!.values[0]![0]!;

describe('an existing database as the image', () => {
  test("every use sees the file's rows; sql.js reading the same bytes sees the same", async () => {
    const SQL = await loadSqlJs();
    const direct = new SQL.Database(bytes);
    assert.deepEqual(asSqlJs(direct.exec(FINGERPRINT)), asSqlJs(pristine));
    direct.close();
    assert.deepEqual(sandbox.execSync(FINGERPRINT), pristine);
    assert.deepEqual(only(sandbox.execSync('SELECT id FROM items WHERE name = ?', ['huge'])), 9007199254740993n);
  });

  test('property: whatever a use writes, the next one sees the database of the file', () => {
    const name = fc.constantFrom('apple', 'pear', 'fig', 'kiwi');
    const op = fc.oneof(
      fc.tuple(name, fc.double({ noNaN: true, noDefaultInfinity: true }), fc.integer()).map(([n, p, q]) => ({
        sql: 'INSERT INTO items(name, price, qty) VALUES (?, ?, ?)',
        params: [n, p, q] as SqlValue[],
      })),
      fc
        .tuple(fc.integer({ min: -5, max: 5 }), name)
        .map(([d, n]) => ({ sql: 'UPDATE items SET qty = qty + ? WHERE name = ?', params: [d, n] })),
      name.map((n) => ({ sql: 'DELETE FROM items WHERE name = ?', params: [n] as SqlValue[] })),
      fc
        .constantFrom(
          'DROP TABLE log',
          'DROP VIEW cheap',
          'DROP TRIGGER items_log',
          'DROP INDEX items_name',
          'ALTER TABLE items ADD COLUMN extra',
          'CREATE TABLE more(x); INSERT INTO more VALUES (1)',
          'PRAGMA user_version = 99',
          'VACUUM',
          'BEGIN',
          'UPDATE items SET tags = randomblob(3000)',
        )
        .map((sql) => ({ sql, params: undefined })),
      fc.constantFrom('restock', 'wipe', 'add').map((statement) => ({ statement })),
    );
    fc.assert(
      fc.property(fc.array(op, { minLength: 1, maxLength: 8 }), (ops) => {
        for (const o of ops) {
          try {
            if ('statement' in o) {
              const params =
                o.statement === 'add' ? { ':name': 'plum', ':price': 3, ':qty': 1 } : o.statement === 'restock' ? [5] : undefined;
              sandbox.querySync(o.statement, params);
            } else sandbox.execSync(o.sql, o.params);
          } catch (err) {
            // A use may be refused part-way (a dropped table, a nested BEGIN): only what it leaves matters.
            assert.ok(err instanceof SqliteError, String(err));
          }
        }
        // Within one use too: a batch writes, then the next use sees none of it.
        sandbox.batchSync([{ statement: 'wipe' }, { statement: 'add', params: { ':name': 'x', ':price': 1, ':qty': 1 } }]);
        assert.deepEqual(sandbox.execSync(FINGERPRINT), pristine);
      }),
      { numRuns: 40 },
    );
  });

  test('concurrent uses each get a copy of their own', async () => {
    const results = await Promise.all(
      Array.from({ length: 6 }, (_, i) =>
        sandbox.exec(`DELETE FROM items WHERE id > ${i}; INSERT INTO log VALUES (${i}, 'mine'); SELECT count(*), max(at) FROM items, log`),
      ),
    );
    assert.deepEqual(
      results.map((r) => r[0]!.values[0]![0]),
      [0, 1, 2, 3, 3, 3],
    );
    assert.deepEqual(await sandbox.exec(FINGERPRINT), pristine);
  });

  test('a database in WAL mode is read as a rollback one (there is no -wal file)', async () => {
    const wal = bytes.slice();
    wal[18] = wal[19] = 2;
    const db = await SqliteSandbox.create({ database: wal, max: 1 });
    try {
      assert.deepEqual(db.execSync(FINGERPRINT), pristine);
      assert.equal(only(db.execSync('PRAGMA journal_mode')), 'memory');
    } finally {
      await db.close();
    }
  });

  test('a file that is no database, or no file, is refused with InvalidArgumentError', async () => {
    await assert.rejects(
      SqliteSandbox.create({ database: new TextEncoder().encode('not a database, clearly not a database at all!'.repeat(200)) }),
      (e: unknown) =>
        e instanceof InvalidArgumentError && /options\.database: SQLite cannot read it as a database: .*not a database/.test(e.message),
    );
    await assert.rejects(
      SqliteSandbox.create({ database: join(dir, 'missing.db') }),
      /options\.database: cannot read .*missing\.db: ENOENT/,
    );
    assert.throws(
      () => SqliteSandbox.createSync({ database: 42 as unknown as string }),
      /options\.database must be a database file's bytes/,
    );
    // An empty file is an empty database, as SQLite opens one.
    const empty = await SqliteSandbox.create({ database: new Uint8Array(0), setup: 'CREATE TABLE t(x)', max: 1 });
    assert.deepEqual(empty.execSync('SELECT count(*) FROM t')[0]!.values, [[0]]);
    await empty.close();
  });

  test('memoryLimit holds the database: by default it leaves 32 MiB above it; one that leaves no room is refused', async () => {
    const big = await databaseFile(
      'CREATE TABLE b(x); WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM c LIMIT 3000) INSERT INTO b SELECT randomblob(1000) FROM c',
    );
    await assert.rejects(
      SqliteSandbox.create({ database: big, memoryLimit: 2 * 2 ** 20 }),
      (e: unknown) =>
        e instanceof InvalidArgumentError &&
        /^options\.memoryLimit \(2097152 bytes\) leaves no room: the database \(\d+ bytes\) and the setup already hold/.test(e.message),
    );
    const db = await SqliteSandbox.create({ database: big, max: 1 });
    try {
      assert.equal(only(db.execSync('SELECT count(*) FROM b')), 3000);
      assert.equal(only(db.execSync('SELECT length(randomblob(20000000))')), 20_000_000);
    } finally {
      await db.close();
    }
  });
});

describe('prepared statements', () => {
  test('a statement binds and steps; rows as arrays or objects, with changes and the last rowid', () => {
    assert.deepEqual(sandbox.querySync('byName', ['pear']), {
      columns: ['id', 'name', 'price'],
      rows: [[2, 'pear', 2.25]],
      changes: 0,
      lastInsertRowid: 0,
    });
    assert.deepEqual(sandbox.querySync('byName', ['apple'], { rowMode: 'object' }).rows, [{ id: 1, name: 'apple', price: 1.5 }]);
    const added = sandbox.querySync('add', { ':name': 'kiwi', ':price': 0.75, ':qty': 3 });
    assert.deepEqual(added, { columns: [], rows: [], changes: 1, lastInsertRowid: 9007199254740994n });
    // The trigger's INSERT into log is not the statement's: SQLite counts only the rows it changed itself.
    assert.deepEqual(sandbox.querySync('restock', [5]), { columns: [], rows: [], changes: 2, lastInsertRowid: 0 });
    assert.deepEqual(sandbox.querySync('count', [], { readBigInts: true }).rows, [[4n]]);
    assert.deepEqual(sandbox.querySync('byName', ['nothing']).rows, []);
  });

  test('a batch runs statements in one use, each seeing what the ones before wrote; the next use sees none', async () => {
    const results = await sandbox.batch<Record<string, SqlValue>>(
      [
        { statement: 'count' },
        { statement: 'add', params: { ':name': 'plum', ':price': 3, ':qty': 2 } },
        { statement: 'add', params: { ':name': 'lime', ':price': 1, ':qty': 9 } },
        { statement: 'count' },
        { statement: 'restock', params: [100] },
        { statement: 'wipe' },
        { statement: 'count' },
      ],
      { rowMode: 'object' },
    );
    assert.deepEqual(
      results.map((r: StatementResult<Record<string, SqlValue>>) => [r.rows[0]?.n ?? null, r.changes]),
      [
        [4, 0],
        [null, 1],
        [null, 1],
        [6, 0],
        [null, 3],
        [null, 6],
        [0, 0],
      ],
    );
    assert.equal(results[2]!.lastInsertRowid, 9007199254740995n);
    assert.deepEqual(sandbox.execSync(FINGERPRINT), pristine);
  });

  test('a statement over a table the use dropped fails as SQLite says; the next use has it back', () => {
    assert.throws(
      () => sandbox.batchSync([{ statement: 'count' }, { statement: 'drop' }, { statement: 'count' }]),
      (e: unknown) => e instanceof SqliteError && /no such table: items/.test(e.sqliteMessage),
    );
    assert.deepEqual(sandbox.querySync('count').rows, [[4]]);
  });

  test('bad statements and steps are refused at create or before the use', async () => {
    await assert.rejects(
      SqliteSandbox.create({ statements: { two: 'SELECT 1; SELECT 2' } }),
      /options\.statements\.two holds more than one statement; give each its own name/,
    );
    await assert.rejects(
      SqliteSandbox.create({ statements: { broken: 'SELECT FROM' } }),
      (e: unknown) =>
        e instanceof InvalidArgumentError && /options\.statements\.broken does not compile: SQLite error 1: .*syntax error/.test(e.message),
    );
    await assert.rejects(SqliteSandbox.create({ statements: { none: '-- nothing' } }), /options\.statements\.none is empty/);
    assert.throws(
      () => sandbox.querySync('byname', ['x']),
      /name: "byname" is not one of the sandbox's statements; did you mean 'byName'\?/,
    );
    assert.throws(
      () => sandbox.batchSync([{ statement: 'count', param: [] } as never]),
      /steps\[0\]: unknown option 'param'; did you mean 'params'\?/,
    );
    assert.throws(() => sandbox.querySync('byName', [{}] as never), /params\[0\] must be a number/);
    assert.throws(() => sandbox.querySync('count', [], { rowMode: 'objects' as never }), /options\.rowMode must be 'array' or 'object'/);
    assert.throws(() => sandbox.execSync('SELECT 1', [], { rowMode: 'object' }), /options\.rowMode applies to prepared statements/);
    const stats = sandbox.stats();
    assert.equal(stats.pool.leased, 0);
  });
});

describe('user-defined functions', () => {
  let fns: SqliteSandbox;
  const calls: string[] = [];

  before(async () => {
    fns = await SqliteSandbox.create({
      setup:
        'CREATE TABLE t(g, x); INSERT INTO t VALUES (1, 2), (1, 3), (2, 10), (2, NULL), (3, 7); CREATE TABLE made(v); INSERT INTO made VALUES (twice(21))',
      functions: {
        twice: (x) => (typeof x === 'bigint' ? x * 2n : (x as number) * 2),
        echo: { scalar: (...args) => args[0] ?? null, varargs: true },
        kinds: {
          scalar: (...args) => args.map((a) => (a instanceof Uint8Array ? 'bytes' : a === null ? 'null' : typeof a)).join(','),
          varargs: true,
        },
        trace: (s) => {
          calls.push(String(s));
          return s;
        },
        lc: { scalar: (s) => String(s).toLowerCase(), deterministic: true },
        fail: (m) => {
          throw new RangeError(String(m));
        },
        bad: () => ({ not: 'a value' }) as never,
        big: () => 2n ** 62n,
        bytes: (n) => new Uint8Array(Number(n)).fill(7),
        sumsq: { start: () => 0, step: (acc: number, x) => acc + Number(x) ** 2, result: (acc: number) => acc },
        list: {
          start: () => [] as SqlValue[],
          step: (acc: SqlValue[], x) => [...acc, x],
          result: (acc: SqlValue[]) => JSON.stringify(acc),
        },
        boom: {
          step: (_acc, _x) => {
            throw new Error('step failed');
          },
        },
      },
      max: 1,
    });
  });

  after(async () => {
    await fns.close();
  });

  test('scalar functions get each SQL type and give each back', () => {
    assert.deepEqual(
      fns.execSync(
        "SELECT twice(21), twice(1.25), echo('é'), echo(x'0102'), echo(NULL), echo(9007199254740993), big(), length(bytes(5000))",
      )[0]!.values,
      [[42, 2.5, 'é', new Uint8Array([1, 2]), null, 9007199254740993n, 2n ** 62n, 5000]],
    );
    assert.deepEqual(only(fns.execSync("SELECT kinds(1, 1.5, 'a', x'00', NULL)")), 'number,number,string,bytes,null');
    assert.deepEqual(only(fns.execSync('SELECT kinds(1)', undefined, { readBigInts: true })), 'bigint');
    assert.equal(only(fns.execSync('SELECT v FROM made')), 42, 'a function the setup called');
  });

  test('aggregates run per group, with their accumulator, and an empty group gives the start', () => {
    assert.deepEqual(fns.execSync('SELECT g, sumsq(x), list(x) FROM t GROUP BY g ORDER BY g')[0]!.values, [
      [1, 13, '[2,3]'],
      [2, 100, '[10,null]'],
      [3, 49, '[7]'],
    ]);
    assert.deepEqual(fns.execSync('SELECT sumsq(x), list(x) FROM t WHERE 0')[0]!.values, [[0, '[]']]);
    // Within one use, two queries of the same aggregate: each has its own groups.
    assert.deepEqual(
      fns.execSync('SELECT sumsq(x) FROM t; SELECT sumsq(x) FROM t WHERE g = 2').map((r) => r.values[0]![0]),
      [162, 100],
    );
  });

  test('a deterministic function may index an expression; another may not', () => {
    assert.equal(only(fns.execSync("CREATE INDEX t_lc ON t(lc(g)); SELECT count(*) FROM t WHERE lc(g) = '1'")), 2);
    assert.throws(
      () => fns.execSync('CREATE INDEX t_twice ON t(twice(x))'),
      (e: unknown) => e instanceof SqliteError && /non-deterministic/.test(e.sqliteMessage),
    );
  });

  test('what a function throws ends the use as a SqliteError whose cause it is; the next use is healthy', async () => {
    const before = fns.stats().exceptions;
    assert.throws(
      () => fns.execSync("SELECT fail('no way')"),
      (e: unknown) => e instanceof SqliteError && e.sqliteMessage === 'fail: no way' && e.cause instanceof RangeError,
    );
    await assert.rejects(
      fns.exec('SELECT boom(x) FROM t'),
      (e: unknown) => e instanceof SqliteError && (e.cause as Error).message === 'step failed',
    );
    assert.throws(
      () => fns.execSync('SELECT bad()'),
      (e: unknown) => e instanceof SqliteError && /bad: it returned an object \(Object\); return a number/.test(e.sqliteMessage),
    );
    assert.throws(() => fns.execSync('SELECT twice(1, 2)'), /wrong number of arguments to function twice\(\)/);
    assert.equal(only(fns.execSync('SELECT twice(2)')), 4);
    assert.equal(fns.stats().exceptions - before, 4);
  });

  test('functions run within the use, once per call SQLite makes', () => {
    calls.length = 0;
    fns.execSync("SELECT trace(x) FROM t WHERE g = 1; SELECT trace('done')");
    assert.deepEqual(calls, ['2', '3', 'done']);
  });

  test('declarations from a module file (create), and bad declarations', async () => {
    const url = new URL('./fixtures/sql-functions.mjs', import.meta.url);
    const fromModule = await SqliteSandbox.create({ functions: url, max: 1 });
    try {
      assert.deepEqual(
        fromModule.execSync("SELECT double(4), slug('Hello, World'), (SELECT product(value) FROM json_each('[2,3,7]'))")[0]!.values,
        [[8, 'hello-world', 42]],
      );
    } finally {
      await fromModule.close();
    }
    assert.throws(
      () => SqliteSandbox.createSync({ functions: url }),
      /a module of functions is imported asynchronously; use SqliteSandbox\.create\(\)/,
    );
    await assert.rejects(SqliteSandbox.create({ functions: 'no/such/module.mjs' }), /options\.functions: cannot import/);
    await assert.rejects(
      SqliteSandbox.create({ functions: { 'no-way': () => 1 } }),
      /options\.functions\.no-way: a function's name must be an SQL identifier/,
    );
    await assert.rejects(
      SqliteSandbox.create({ functions: { f: { step: () => 1, reslt: () => 1 } as never } }),
      /unknown option 'reslt'; did you mean 'result'\?/,
    );
    await assert.rejects(SqliteSandbox.create({ functions: { f: 42 as never } }), /options\.functions\.f must be a function/);
  });
});

describe('export()', () => {
  test("gives the use's database as a file sql.js opens; the next use is pristine", async () => {
    const SQL = await loadSqlJs();
    const exported = await sandbox.export("UPDATE items SET qty = 99 WHERE name = 'fig'; INSERT INTO items(name) VALUES ('new')");
    const copy = new SQL.Database(exported);
    assert.deepEqual(
      copy
        .exec("SELECT qty FROM items WHERE name = 'fig'; SELECT count(*) FROM items; SELECT count(*) FROM log")!
        .map((r) => r.values[0]![0]),
      [99, 5, 1],
    );
    copy.close();
    // Without SQL, the image's database itself: the file's.
    const untouched = new SQL.Database(sandbox.exportSync());
    assert.deepEqual(asSqlJs(untouched.exec(FINGERPRINT)), asSqlJs(pristine));
    untouched.close();
    assert.deepEqual(sandbox.execSync(FINGERPRINT), pristine);
  });

  test('a database exported from a sandbox makes another one', async () => {
    const exported = sandbox.exportSync("DELETE FROM items WHERE name != 'pear'");
    const next = await SqliteSandbox.create({ database: exported, max: 1 });
    try {
      assert.deepEqual(next.execSync('SELECT name FROM items')[0]!.values, [['pear']]);
    } finally {
      await next.close();
    }
  });
});

describe("a use's own memory limit", () => {
  test("is applied below the sandbox's, then the next use has the sandbox's again", () => {
    const sql = 'SELECT length(randomblob(8000000))';
    assert.throws(
      () => sandbox.execSync(sql, undefined, { memoryLimit: 4 * 2 ** 20 }),
      (e: unknown) => e instanceof SqliteMemoryLimitError && e.limitBytes === 4 * 2 ** 20,
    );
    assert.equal(only(sandbox.execSync(sql)), 8_000_000);
    assert.deepEqual(sandbox.querySync('count').rows, [[4]]);
    assert.throws(() => sandbox.execSync(sql, undefined, { memoryLimit: 2 ** 30 }), /exceeds the sandbox's memoryLimit/);
    assert.deepEqual(sandbox.execSync(FINGERPRINT), pristine);
  });
});
