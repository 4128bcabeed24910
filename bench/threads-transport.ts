/**
 * How a use travels to a worker thread and back: the cost of the hop alone (the worker echoes), for
 * the transports the thread layer could use. Not part of `npm run bench`; run it on its own:
 *
 *     node --import tsx bench/threads-transport.ts [--quick]
 *
 * - `post`: `postMessage` both ways; the worker's event loop wakes for each message.
 * - `wait`: the worker blocks in `Atomics.wait` on a shared flag between uses and takes the request
 *   with `receiveMessageOnPort` (no event-loop turn); main posts then notifies, and hears the answer
 *   through its port's `message` event.
 * - `wait+waitAsync`: as `wait`, and main waits for the answer with `Atomics.waitAsync` on a second
 *   flag, then takes it with `receiveMessageOnPort`.
 * - `spin N`: as `wait+waitAsync`, the worker polling the flag for up to N µs after a use before it
 *   blocks (a client that sends the next use at once finds the worker awake).
 *
 * One client (latency: one use in flight) and, with 2 workers, 2 clients (throughput). Rows are the
 * median over batches of µs per use; the spread is printed beside it.
 */
import { MessageChannel, receiveMessageOnPort, Worker, type MessagePort } from 'node:worker_threads';
import { parseArgs } from 'node:util';
import { summarize, formatNs, type Measurement } from './measure.ts';

const { values } = parseArgs({ options: { quick: { type: 'boolean', default: false } } });
const BATCH = values.quick ? 200 : 1000;
const BATCHES = values.quick ? 5 : 15;

/** The worker side of every transport, as one script: `mode` picks it. */
const WORKER = `
const { workerData, parentPort, receiveMessageOnPort } = require('node:worker_threads');
const { mode, port, flags, spinUs } = workerData;
const f = flags ? new Int32Array(flags) : undefined;
const answer = (m) => ({ id: m.id, result: m.input });
if (mode === 'post') {
  port.on('message', (m) => port.postMessage(answer(m)));
} else {
  for (;;) {
    if (spinUs > 0) {
      const until = performance.now() + spinUs / 1000;
      while (Atomics.load(f, 0) === 0 && performance.now() < until);
    }
    Atomics.wait(f, 0, 0);
    Atomics.store(f, 0, 0);
    let m;
    while ((m = receiveMessageOnPort(port)) !== undefined) {
      port.postMessage(answer(m.message));
      if (mode !== 'wait') { Atomics.add(f, 1, 1); Atomics.notify(f, 1); }
    }
  }
}
`;

/** `Atomics.waitAsync` (Node 20 has it; the ES2023 lib does not declare it). */
const waitAsync = (Atomics as unknown as { waitAsync(a: Int32Array, i: number, v: number): { async: boolean; value: Promise<unknown> } })
  .waitAsync;

interface Client {
  call(input: unknown): Promise<unknown>;
  close(): Promise<void>;
}

type Mode = 'post' | 'wait' | 'wait+waitAsync';

function start(mode: Mode, spinUs = 0): Client {
  const { port1, port2 } = new MessageChannel();
  const flags = mode === 'post' ? undefined : new SharedArrayBuffer(8);
  const worker = new Worker(WORKER, { eval: true, workerData: { mode, port: port2, flags, spinUs }, transferList: [port2] });
  const f = flags ? new Int32Array(flags) : undefined;
  const pending = new Map<number, (value: unknown) => void>();
  let nextId = 0;
  let seen = 0;
  const settle = (m: { id: number; result: unknown }) => {
    const resolve = pending.get(m.id)!;
    pending.delete(m.id);
    resolve(m.result);
  };
  if (mode !== 'wait+waitAsync') port1.on('message', settle);
  const drain = async (): Promise<void> => {
    // One waiter at a time: wait for the answer counter to move past what was seen, then take all.
    while (pending.size > 0) {
      const w = waitAsync(f!, 1, seen);
      if (w.async) await w.value;
      seen = Atomics.load(f!, 1);
      let m;
      while ((m = receiveMessageOnPort(port1 as MessagePort)) !== undefined) settle(m.message as { id: number; result: unknown });
    }
    draining = false;
  };
  let draining = false;
  return {
    call(input) {
      const id = nextId++;
      const promise = new Promise((resolve) => pending.set(id, resolve));
      port1.postMessage({ id, input });
      if (f) {
        Atomics.store(f, 0, 1);
        Atomics.notify(f, 0);
      }
      if (mode === 'wait+waitAsync' && !draining) {
        draining = true;
        void drain();
      }
      return promise;
    },
    async close() {
      port1.close();
      await worker.terminate();
    },
  };
}

async function latency(group: string, name: string, client: Client): Promise<Measurement> {
  const input = { code: '1+2' };
  for (let i = 0; i < BATCH; i++) await client.call(input);
  const perOp: number[] = [];
  for (let b = 0; b < BATCHES; b++) {
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < BATCH; i++) await client.call(input);
    perOp.push(Number(process.hrtime.bigint() - t0) / BATCH);
  }
  return summarize(group, name, perOp, BATCH);
}

/** Two clients, each with one use in flight at a time, on two workers: ns per use overall. */
async function throughput(group: string, name: string, clients: Client[]): Promise<Measurement> {
  const input = { code: '1+2' };
  const loop = async (client: Client, n: number) => {
    for (let i = 0; i < n; i++) await client.call(input);
  };
  await Promise.all(clients.map((c) => loop(c, BATCH)));
  const perOp: number[] = [];
  for (let b = 0; b < BATCHES; b++) {
    const t0 = process.hrtime.bigint();
    await Promise.all(clients.map((c) => loop(c, BATCH)));
    perOp.push(Number(process.hrtime.bigint() - t0) / (BATCH * clients.length));
  }
  return summarize(group, name, perOp, BATCH * clients.length);
}

const contenders: { name: string; mode: Mode; spinUs?: number }[] = [
  { name: 'post', mode: 'post' },
  { name: 'wait', mode: 'wait' },
  { name: 'wait+waitAsync', mode: 'wait+waitAsync' },
  { name: 'spin 20 µs', mode: 'wait+waitAsync', spinUs: 20 },
  { name: 'spin 100 µs', mode: 'wait+waitAsync', spinUs: 100 },
];

const rows: Measurement[] = [];
for (const c of contenders) {
  const one = start(c.mode, c.spinUs);
  rows.push(await latency('one client, one worker', c.name, one));
  await one.close();
  const two = [start(c.mode, c.spinUs), start(c.mode, c.spinUs)];
  rows.push(await throughput('two clients, two workers', c.name, two));
  await Promise.all(two.map((w) => w.close()));
}
for (const row of rows) {
  console.log(
    `${row.group.padEnd(26)} ${row.name.padEnd(16)} ${formatNs(row.nsPerOp).padStart(10)} per use` +
      `  (${formatNs(row.minNsPerOp)} – ${formatNs(row.maxNsPerOp)})`,
  );
}
