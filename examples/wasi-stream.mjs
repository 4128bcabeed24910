// cowpool/wasi's streamed output: examples/lines.wasm (C) writes numbered lines, one write() each,
// "err i" to stderr for every third and "out i" to stdout for the others. Run it with
// `node examples/wasi-stream.mjs` after `npm install`.
import { fileURLToPath } from 'node:url';
import { WasiCommand } from 'cowpool/wasi';

const command = await WasiCommand.create(fileURLToPath(new URL('./lines.wasm', import.meta.url)), {
  timeout: 5_000, // also lets a signal stop a loop that makes no host call
});

// Callbacks see each chunk as the guest writes it; aborting from one stops the guest at its next
// host call, like `lines -1 | head -n 3` (the command alone would never end).
const controller = new AbortController();
let lines = 0;
const head = await command.run({
  args: ['lines', '-1'],
  signal: controller.signal,
  onStdout: (chunk) => {
    process.stdout.write(chunk);
    if (++lines === 3) controller.abort();
  },
  onStderr: () => {}, // streamed too, so neither stream is kept
});
console.log(`stopped: ${head.error.code}`);

// An async iterable: stdout and stderr interleaved in the order the guest wrote them.
const stream = command.stream({ args: ['lines', '4'] });
for await (const { stream: from, data } of stream) process.stdout.write(`${from}: ${data}`);
const { exitCode } = await stream.result;
console.log(`exit ${exitCode}`);

await command[Symbol.asyncDispose](); // what `await using command = …` calls
