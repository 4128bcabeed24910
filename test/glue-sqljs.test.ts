// sql.js (emscripten, from npm) pooled with its glue: every use sees a fresh MEMFS and a fresh
// SQLite, exactly as a fresh glue on a fresh instance would; the ATTACH leak of one glue per slot
// (a table written to /shared.db in one use, seen by the next) cannot happen.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { ClosedError, GluePool } from '../src/glue/index.ts';
import { ClosedError as RootClosedError } from '../src/index.ts';
import { sqljsGlue } from './support/glue.ts';

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type SqlJs = any;

/**
 * The two ways to pool sql.js: a new instance per use (what `auto` picks: its exported table can
 * grow), or one kept instance whose table has room for addFunction (`tableReserve`; `reuse` forced
 * over the cost rule, 537 entries to restore).
 */
const CONFIGS = [
  { name: 'reinstantiate', pool: {} },
  { name: 'reuse, tableReserve', pool: { mechanism: 'reuse', tableReserve: 16 } },
] as const;

function sqlJs(max = 1, config: (typeof CONFIGS)[number] = CONFIGS[0]) {
  return GluePool.create<SqlJs>({ ...sqljsGlue(), pool: { max, ...config.pool } });
}

/** Writes `rows` rows through ATTACH to a file in MEMFS and counts what the file holds. */
function attachAndCount(SQL: SqlJs, rows: number): number {
  const db = new SQL.Database();
  try {
    db.run("ATTACH '/shared.db' AS s; CREATE TABLE IF NOT EXISTS s.t(x)");
    for (let i = 0; i < rows; i++) db.run('INSERT INTO s.t VALUES (?)', [i]);
    return db.exec('SELECT count(*) FROM s.t')[0].values[0][0];
  } finally {
    db.close();
  }
}

for (const config of CONFIGS)
  test(`a table written through ATTACH in one use is never seen by the next (${config.name})`, async () => {
    const pool = await sqlJs(1, config);
    try {
      await fc.assert(
        fc.asyncProperty(fc.array(fc.integer({ min: 0, max: 20 }), { minLength: 1, maxLength: 8 }), async (uses) => {
          for (const rows of uses) assert.equal(await pool.run((SQL) => attachAndCount(SQL, rows)), rows);
        }),
        { numRuns: 15 },
      );
      assert.ok(pool.stats().uses > 15);
      assert.equal(pool.stats().created, 1, 'one pooled instance served every use');
    } finally {
      await pool.close();
    }
  });

test('one glue kept across uses does leak (what the pool prevents)', async () => {
  const pool = await sqlJs();
  try {
    // runFresh builds one glue; using it twice is the one-glue-per-slot mistake.
    const counts = await pool.runFresh((SQL) => [attachAndCount(SQL, 1), attachAndCount(SQL, 1)]);
    assert.deepEqual(counts, [1, 2]);
  } finally {
    await pool.close();
  }
});

for (const config of CONFIGS)
  test(`pooled queries answer what a fresh glue on a fresh instance answers (${config.name})`, async () => {
    const pool = await sqlJs(1, config);
    const query = (values: number[]) => (SQL: SqlJs) => {
      const db = new SQL.Database();
      try {
        db.run('CREATE TABLE v(x INTEGER)');
        for (const v of values) db.run('INSERT INTO v VALUES (?)', [v]);
        return db.exec('SELECT count(*), sum(x), min(x), max(x), group_concat(x) FROM v')[0].values;
      } finally {
        db.close();
      }
    };
    try {
      await fc.assert(
        fc.asyncProperty(fc.array(fc.integer({ min: -1000, max: 1000 }), { maxLength: 30 }), async (values) => {
          assert.deepEqual(await pool.run(query(values)), await pool.runFresh(query(values)));
        }),
        { numRuns: 20 },
      );
    } finally {
      await pool.close();
    }
  });

for (const config of CONFIGS)
  test(`a failing use leaves the next pristine (${config.name})`, async () => {
    const pool = await sqlJs(1, config);
    try {
      await assert.rejects(
        pool.run((SQL) => {
          const db = new SQL.Database();
          db.run("ATTACH '/shared.db' AS s; CREATE TABLE s.t(x); INSERT INTO s.t VALUES (1)");
          db.exec('SELEC nonsense'); // throws, leaving the database open
        }),
        /syntax error/,
      );
      assert.equal(await pool.run((SQL) => attachAndCount(SQL, 0)), 0);
    } finally {
      await pool.close();
    }
  });

for (const config of CONFIGS)
  test(`concurrent uses each have their own glue (${config.name})`, async () => {
    const pool = await sqlJs(3, config);
    try {
      const results = await Promise.all(
        Array.from({ length: 9 }, (_, i) =>
          pool.run(async (SQL) => {
            const db = new SQL.Database();
            db.run("ATTACH '/shared.db' AS s; CREATE TABLE s.t(x)");
            await new Promise((resolve) => setTimeout(resolve, i % 3)); // interleave the uses
            db.run('INSERT INTO s.t VALUES (?)', [i]);
            const rows = db.exec('SELECT x FROM s.t')[0].values;
            db.close();
            return rows;
          }),
        ),
      );
      assert.deepEqual(
        results,
        Array.from({ length: 9 }, (_, i) => [[i]]),
      );
    } finally {
      await pool.close();
    }
  });

for (const config of CONFIGS)
  test(`the API kept past its use throws ClosedError instead of reaching the next use (${config.name})`, async () => {
    const pool = await sqlJs(1, config);
    try {
      let kept: SqlJs;
      await pool.run((SQL) => {
        kept = SQL;
      });
      assert.throws(
        () => new kept.Database(),
        (err: unknown) => err instanceof ClosedError && err instanceof RootClosedError,
      );
      assert.equal(await pool.run((SQL) => attachAndCount(SQL, 2)), 2);
    } finally {
      await pool.close();
    }
  });

test('reuse: the glue sees a fresh table (size, addFunction indices), and functions a use adds are gone after it', async () => {
  const pool = await sqlJs(1, CONFIGS[1]);
  try {
    assert.equal(pool.describe().mechanism, 'reuse', pool.describe().mechanismReason);
    const addTwo = (SQL: SqlJs) => [SQL.addFunction(() => 1, 'i'), SQL.addFunction(() => 2, 'i')];
    const fresh = await pool.runFresh(addTwo);
    for (let i = 0; i < 5; i++) assert.deepEqual(await pool.run(addTwo), fresh);
    const withFunction = (SQL: SqlJs) => {
      const db = new SQL.Database();
      try {
        db.create_function('twice', (x: number) => 2 * x);
        return db.exec('SELECT twice(21)')[0].values[0][0];
      } finally {
        db.close();
      }
    };
    assert.equal(await pool.run(withFunction), 42);
    await assert.rejects(
      pool.run((SQL) => new SQL.Database().exec('SELECT twice(21)')),
      /no such function: twice/,
    );
    assert.equal(pool.stats().created, 1, 'one kept instance served every use');
  } finally {
    await pool.close();
  }
});

test('reuse: a use that adds more functions than the room retires its instance; the next is pristine', async () => {
  const pool = await sqlJs(1, CONFIGS[1]);
  try {
    const addMany = (n: number) => (SQL: SqlJs) => Array.from({ length: n }, (_, i) => SQL.addFunction(() => i, 'i'));
    const fresh = await pool.runFresh(addMany(20));
    assert.deepEqual(await pool.run(addMany(20)), fresh, "past the room, the indices are still a fresh table's");
    assert.equal(pool.stats().retirements, 1);
    assert.deepEqual(await pool.run(addMany(3)), fresh.slice(0, 3));
    assert.equal(await pool.run((SQL) => attachAndCount(SQL, 2)), 2);
  } finally {
    await pool.close();
  }
});
