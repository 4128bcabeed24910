// SQL per request, a pristine SQLite database per use (the README's first SQLite example).
// Run it with `node examples/sqlite-sandbox.mjs` after `npm install`.
import { SqliteSandbox, SqliteError } from 'cowpool/sqlite';

const show = (value) => console.log(JSON.stringify(value));

// The setup SQL runs once; its schema and rows are there, untouched, in every use.
const db = await SqliteSandbox.create({
  setup: 'CREATE TABLE t(id INTEGER PRIMARY KEY, v); INSERT INTO t(v) VALUES (1), (2)',
  timeout: 100, // ms per use (default 1000)
  memoryLimit: 16 * 2 ** 20, // bytes of SQLite heap, the setup's data included (default 32 MiB)
});

show(await db.exec('INSERT INTO t(v) VALUES (3); SELECT count(*) FROM t')); // [{"columns":["count(*)"],"values":[[3]]}]
show(db.execSync('SELECT count(*) FROM t')); // [{"columns":["count(*)"],"values":[[2]]}]: nothing a use does is kept
show(db.execSync('SELECT v FROM t WHERE id = ?', [2])); // [{"columns":["v"],"values":[[2]]}]
show(db.execSync('SELECT :a || $b AS ab', { ':a': 'x', $b: 'y' })); // [{"columns":["ab"],"values":[["xy"]]}]
try {
  db.execSync("ATTACH '/shared.db' AS s"); // there is no file system
} catch (err) {
  if (err instanceof SqliteError) console.log(err.resultCode, err.sqliteMessage); // 14 unable to open database: /shared.db
}
await db.close();
