// A QuickJS sandbox whose promise forms run on worker threads (the README's "Sandboxes and WASI
// commands on threads"): host functions from a module file, the Sync forms on this thread, and the
// calling thread's event loop turning while a guest spins on a thread. Run it with
// `node examples/quickjs-threads.mjs` after `npm install`.
import { setInterval, clearInterval } from 'node:timers';
import { QuickJSSandbox, GuestTimeoutError } from 'cowpool/quickjs';

const sandbox = await QuickJSSandbox.create({
  threads: 2,
  functions: new URL('./quickjs-threads-host.mjs', import.meta.url),
  timeout: 100,
  maxQueue: 64,
});
console.log(await sandbox.eval('await lookup("a")', { context: { tenant: 'acme' } })); // a for acme (on a worker thread)
console.log(sandbox.evalSync('1 + 2')); // 3 (on this thread, over the same image)

let ticks = 0;
const ticker = setInterval(() => ticks++, 10);
try {
  await sandbox.eval('while (true) {}'); // spins on a thread until its deadline
} catch (err) {
  if (err instanceof GuestTimeoutError) console.log('stopped at its deadline; the event loop turned:', ticks > 3); // ... true
}
clearInterval(ticker);
console.log(sandbox.stats().threads.threads); // 2
await sandbox.close();
