// An existing database as the image, prepared statements, functions that call the host, export()
// and a use's own memory limit (the README's second SQLite example).
// Run it with `node examples/sqlite-database.mjs` after `npm install`.
import { SqliteSandbox, SqliteMemoryLimitError } from 'cowpool/sqlite';

const show = (value) => console.log(JSON.stringify(value));

// Any SQLite database file will do (a path, sql.js's export(), the sqlite3 shell's .db): here a
// sandbox's export() makes one.
const maker = await SqliteSandbox.create();
const file = await maker.export(`
  CREATE TABLE items(id INTEGER PRIMARY KEY, name TEXT, price REAL, stock INTEGER);
  INSERT INTO items(name, price, stock) VALUES ('apple', 0.5, 10), ('pear', 0.75, 0), ('fig', 2, 3);
`);
await maker.close();

const shop = await SqliteSandbox.create({
  database: file, // every use starts from a pristine copy of it, and pays only for the pages it writes
  statements: {
    // compiled once and kept compiled in the image: a use only binds and steps
    byName: 'SELECT id, name, price FROM items WHERE name = ?',
    sell: 'UPDATE items SET stock = stock - 1 WHERE name = ? AND stock > 0',
    add: 'INSERT INTO items(name, price, stock) VALUES (:name, :price, 0)',
    total: 'SELECT sum(stock) AS stock, cents(sum(price * stock)) AS value, median(price) AS median FROM items',
  },
  functions: {
    // this process's JavaScript, called by SQL: a scalar function and an aggregate
    cents: (x) => Math.round(x * 100),
    median: { start: () => [], step: (all, x) => [...all, x], result: (all) => all.sort((a, b) => a - b)[all.length >> 1] },
  },
  rowMode: 'object', // rows of statements as objects (default: arrays)
});

show(await shop.query('byName', ['fig'])); // {"columns":["id","name","price"],"rows":[{"id":3,"name":"fig","price":2}],"changes":0,"lastInsertRowid":0}
show(await shop.query('add', { ':name': 'kiwi', ':price': 1.25 })); // {"columns":[],"rows":[],"changes":1,"lastInsertRowid":4}
// Several statements in one use: each sees what the ones before it wrote.
const [sold, total] = await shop.batch([{ statement: 'sell', params: ['fig'] }, { statement: 'total' }]);
show([sold.changes, total.rows[0]]); // [1,{"stock":12,"value":900,"median":0.75}]
show((await shop.query('total')).rows[0]); // {"stock":13,"value":1100,"median":0.75}: the next use sees none of it

// The database a use leaves, as a file: here, to make another sandbox.
const copy = await shop.export('DELETE FROM items WHERE stock = 0');
const next = await SqliteSandbox.create({ database: copy });
show((await next.exec('SELECT name FROM items'))[0].values); // [["apple"],["fig"]]
await next.close();

// A use's own memory limit, below the sandbox's (which sizes the memory: by default 32 MiB above the database).
try {
  await shop.exec('SELECT length(randomblob(20000000))', [], { memoryLimit: 8 * 2 ** 20 });
} catch (err) {
  if (err instanceof SqliteMemoryLimitError) console.log(err.limitBytes); // 8388608
}
await shop.close();
