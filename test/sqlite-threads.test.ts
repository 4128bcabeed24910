/**
 * SqliteSandbox with `threads` against real worker threads (issue 17, "How we will know", for the
 * sandboxes): uses and user-defined functions (from a module file) on the threads over one image;
 * a runaway query stopped by SQLite's own deadline check and a looping function stopped with its
 * thread, the sandbox serving on; a use after a hostile use equals a fresh sandbox's on every
 * thread; the promise and Sync forms agree; close() with uses in flight resolves and closes every
 * memfd; function values are refused with threads.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  GuestTimeoutError,
  InvalidArgumentError,
  SqliteError,
  SqliteMemoryLimitError,
  SqliteSandbox,
  type SqliteSandboxOptions,
} from '../src/sqlite/index.ts';
import { openMemfds } from './support/fds.ts';

const FUNCTIONS = new URL('./fixtures/threads/sql-functions-hostile.mjs', import.meta.url);
const SETUP = "CREATE TABLE t(x INTEGER, y TEXT); INSERT INTO t VALUES (1, 'a'), (2, 'b')";
const STATEMENTS = { add: 'INSERT INTO t VALUES (?, ?)', count: 'SELECT count(*) AS n FROM t', all: 'SELECT * FROM t ORDER BY x' };
const RUNAWAY = 'WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT count(*) FROM c';

function sandbox(options: SqliteSandboxOptions = {}) {
  return SqliteSandbox.create({ threads: 2, setup: SETUP, statements: STATEMENTS, functions: FUNCTIONS, ...options });
}

test('uses run on the threads over one image, functions from their module file, stats summed', async () => {
  const memfds = openMemfds('cowpool-image');
  const db = await sandbox({ rowMode: 'object' });
  try {
    assert.equal(openMemfds('cowpool-image'), memfds + 1, 'one image memfd for the process');
    assert.deepEqual(await db.exec("INSERT INTO t VALUES (3, 'c'); SELECT count(*), double(21) FROM t"), [
      { columns: ['count(*)', 'double(21)'], values: [[3, 42]] },
    ]);
    assert.deepEqual((await db.query('add', [9, 'z'])).changes, 1);
    assert.deepEqual((await db.query('count')).rows, [{ n: 2 }], 'every use starts from the image');
    const batch = await db.batch([{ statement: 'add', params: [3, 'c'] }, { statement: 'count' }]);
    assert.deepEqual(batch[1]!.rows, [{ n: 3 }]);
    assert.deepEqual((await db.query('all', undefined, { readBigInts: true })).rows[0], { x: 1n, y: 'a' });
    const bytes = await db.export('DELETE FROM t');
    assert.ok(bytes instanceof Uint8Array && bytes.length > 0);
    const threads = await Promise.all(
      Array.from({ length: 8 }, () =>
        db.exec(`${RUNAWAY.replace('SELECT count(*) FROM c', 'SELECT 1 FROM c LIMIT 20000')}; SELECT thread()`),
      ),
    );
    assert.equal(new Set(threads.map((r) => r.at(-1)!.values[0]![0])).size, 2, 'both threads served');
    const stats = db.stats();
    assert.equal(stats.results, 14);
    assert.equal(stats.pool.uses, 14);
    assert.equal(stats.threads?.threads, 2);
  } finally {
    await db.close();
  }
  assert.equal(openMemfds('cowpool-image'), memfds);
});

test('a runaway query and a looping function are each stopped with GuestTimeoutError, and the sandbox keeps serving', async () => {
  const db = await sandbox({ timeout: 200, grace: 100 });
  try {
    await assert.rejects(db.exec(RUNAWAY), (err: unknown) => err instanceof GuestTimeoutError && err.timeoutMs === 200);
    assert.equal(db.stats().threads?.replaced, 0, "SQLite's own check keeps the thread");
    await assert.rejects(db.exec('SELECT spin()'), (err: unknown) => err instanceof GuestTimeoutError && /worker thread/.test(err.message));
    assert.deepEqual(await Promise.all([db.query('count'), db.query('count'), db.query('count')]).then((r) => r.map((x) => x.rows)), [
      [[2]],
      [[2]],
      [[2]],
    ]);
    assert.equal(db.stats().threads?.replaced, 1);
    assert.equal(db.stats().timeouts, 2);
  } finally {
    await db.close();
  }
});

test('differential: on every thread, a use after a hostile use equals the first use of a fresh sandbox', async () => {
  const HOSTILE = `DROP TABLE t; CREATE TABLE u(z); INSERT INTO u VALUES (zeroblob(1000000)); PRAGMA user_version = 7;
    CREATE TABLE big AS WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c LIMIT 100000) SELECT x, randomblob(64) FROM c;
    SELECT nosuchfunction()`;
  const OBSERVE =
    'SELECT (SELECT group_concat(name) FROM sqlite_schema), (SELECT user_version FROM pragma_user_version), (SELECT sum(x) FROM t), changes(), last_insert_rowid(), length(randomblob(8))';
  const fresh = await SqliteSandbox.create({ setup: SETUP, statements: STATEMENTS, functions: FUNCTIONS });
  const expected = await fresh.exec(OBSERVE);
  await fresh.close();
  const db = await sandbox({ threads: 3 });
  try {
    for (let round = 0; round < 2; round++) {
      const hostile = await Promise.allSettled(Array.from({ length: 9 }, () => db.exec(HOSTILE)));
      assert.ok(
        hostile.every((r) => r.status === 'rejected' && (r.reason instanceof SqliteError || r.reason instanceof SqliteMemoryLimitError)),
        'each hostile use failed at its end',
      );
      for (const seen of await Promise.all(Array.from({ length: 9 }, () => db.exec(OBSERVE)))) assert.deepEqual(seen, expected);
    }
    for (const t of db.stats().threads!.perThread) assert.ok(t.stats.uses >= 2, `thread ${t.index} ran ${t.stats.uses} uses`);
  } finally {
    await db.close();
  }
});

test('the promise forms (on threads) and the Sync forms (on this thread) agree; close() with uses in flight lets them finish', async () => {
  const memfds = openMemfds('cowpool-image');
  const db = await sandbox();
  for (const sql of [
    'SELECT * FROM t',
    "INSERT INTO t VALUES (5, 'e'); SELECT sum(x), double(x) FROM t",
    'SELECT typeof(x), quote(y) FROM t',
  ]) {
    assert.deepEqual(await db.exec(sql), db.execSync(sql), sql);
  }
  assert.deepEqual(await db.query('all'), db.querySync('all'));
  assert.deepEqual(await db.export(), db.exportSync());
  const uses = Array.from({ length: 6 }, (_, i) => db.exec(`SELECT ${i}`));
  await db.close();
  assert.deepEqual(
    (await Promise.all(uses)).map((r) => r[0]!.values[0]![0]),
    [0, 1, 2, 3, 4, 5],
  );
  assert.equal(openMemfds('cowpool-image'), memfds);
});

test('with threads, functions given as functions are refused, saying to use a module file', async () => {
  await assert.rejects(
    SqliteSandbox.create({ threads: 1, functions: { f: (x) => x } }),
    (err: unknown) => err instanceof InvalidArgumentError && /options\.functions: .*module/.test(err.message),
  );
  assert.throws(() => SqliteSandbox.createSync({ threads: 1 }), /use SqliteSandbox\.create/);
});
