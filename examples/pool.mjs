// The library on its own: a pool of fresh-equivalent instances of a module that keeps state.
// Run it with `node examples/pool.mjs` after `npm install`.
import { readFile } from 'node:fs/promises';
import { InstancePool } from 'cowpool';

// counter.wasm: (memory 1) plus `bump`, which increments a counter in memory and returns it.
const bytes = await readFile(new URL('./counter.wasm', import.meta.url));
const pool = await InstancePool.create(bytes, { max: 4 });

for (let i = 0; i < 3; i++) {
  // Every run starts from a pristine instance: the counter is always 1.
  console.log(await pool.run((instance) => instance.exports.bump()));
}
console.log(pool.describe().mechanism, pool.describe().strategy);
await pool.close();
