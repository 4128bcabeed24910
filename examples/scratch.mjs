// cowpool/wasi as a library: examples/scratch.wasm (C) writes a note and a secret into /data and
// reads the note back, once per use. /data is an overlay (the default) over an empty host
// directory: each use can write there, the next use finds nothing, and the host directory stays
// empty. Run it with `node examples/scratch.mjs` after `npm install`.
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { WasiCommand } from 'cowpool/wasi';

const data = await mkdtemp(join(tmpdir(), 'cowpool-scratch-'));
const command = await WasiCommand.create(fileURLToPath(new URL('./scratch.wasm', import.meta.url)), {
  preopens: [{ guestPath: '/data', hostPath: data }], // add mode: 'persistent' to keep what it writes
});
for (const note of ['first', 'second']) {
  // The guest is a CGI program: it reads its note from QUERY_STRING and prints a header block first.
  const { exitCode, stdout } = await command.run({ env: { QUERY_STRING: `note=${note}` } });
  process.stdout.write(`exit ${exitCode}: ${stdout.toString().split('\n\n')[1]}`);
}
console.log(`host directory: ${(await readdir(data)).length} entries`);
await command.close();
await rm(data, { recursive: true });
