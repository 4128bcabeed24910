// Host functions, ES modules, values beyond JSON, timers and top-level await in a QuickJS sandbox
// (the README's examples). Run it with `node examples/quickjs-host.mjs` after `npm install`.
import { setTimeout as sleep } from 'node:timers/promises';
import { QuickJSSandbox, HostFunctionError, UncloneableValueError } from 'cowpool/quickjs';

const users = new Map([[1n, { name: 'ada', joined: new Date(Date.UTC(2020, 0, 1)) }]]);

const sandbox = await QuickJSSandbox.create({
  // Host functions: declared once, part of the image, called by every use. `this` is the call.
  functions: {
    log(line) {
      console.log(`[${this.context.requestId}] ${line}`); // the use's own context
    },
    db: {
      // Async: the guest awaits it within the use; this.signal aborts when the use ends.
      async user(id) {
        await sleep(5);
        const user = users.get(id);
        if (!user) throw new RangeError(`no user ${id}`);
        return user;
      },
    },
  },
  // ES modules: a map of names to source (or a function that loads one by name).
  modules: {
    'greeting.js': 'export const greet = (user) => `hello ${user.name}, member since ${user.joined.getUTCFullYear()}`;',
  },
  // The setup script may be a module; what it imports is compiled once, into the image.
  setup: `
    import { greet } from 'greeting.js';
    export async function welcome(id) {
      const user = await db.user(id);   // BigInt in, Date out: values cross as themselves
      log(greet(user));
      return { id, seen: new Date(0), tags: new Set(['new']) };
    }
  `,
});

console.log(await sandbox.call('welcome', [1n], { context: { requestId: 'r1' } }));
// [r1] hello ada, member since 2020
// { id: 1n, seen: 1970-01-01T00:00:00.000Z, tags: Set(1) { 'new' } }

// Timers and top-level await, within the use and its deadline.
console.log(await sandbox.eval('await new Promise((resolve) => setTimeout(resolve, 10)); [1, 2].map((x) => x * 2)')); // [ 2, 4 ]

// A host error the guest does not catch is the host's fault, with the host's error as cause.
try {
  await sandbox.call('welcome', [2n], { context: { requestId: 'r2' } });
} catch (err) {
  if (err instanceof HostFunctionError) console.log(err.functionName, '->', err.cause.message); // db.user -> no user 2
}
// A value that cannot leave the sandbox is the host's typed error, not the guest's exception.
try {
  await sandbox.eval('({ onClick() {} })');
} catch (err) {
  if (err instanceof UncloneableValueError) console.log(err.path, err.kind); // result.onClick function
}
await sandbox.close();
