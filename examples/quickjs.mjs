// Untrusted JavaScript, a pristine QuickJS context per use (the README's example).
// Run it with `node examples/quickjs.mjs` after `npm install`.
import { QuickJSSandbox, QuickJSError } from 'cowpool/quickjs';

// The setup script runs once; what it defines is there, untouched, in every use.
const sandbox = await QuickJSSandbox.create({
  setup: 'let hits = 0; function greet(name) { hits++; return `hello ${name} (${hits})` }',
  timeout: 100, // ms per use (default 1000)
  memoryLimit: 16 * 2 ** 20, // bytes of QuickJS heap per use (default 32 MiB)
});

console.log(await sandbox.eval('[1, 2, 3].map((x) => x * 2)')); // [ 2, 4, 6 ]
console.log(await sandbox.call('greet', ['ada'])); // hello ada (1)
console.log(await sandbox.call('greet', ['bob'])); // hello bob (1): nothing a use does is kept
sandbox.evalSync('globalThis.x = 1; Object.prototype.evil = 1');
console.log(sandbox.evalSync('typeof x + typeof {}.evil')); // undefinedundefined

try {
  await sandbox.eval('console.log("about to fail"); null.x', { console: (line) => console.log(line.level, line.text) });
} catch (err) {
  if (err instanceof QuickJSError) console.log(err.guestName, err.guestMessage);
}
await sandbox.close();
