/**
 * How a use travels to a worker thread and back: the cost of the hop alone (the worker echoes), for
 * the transports the thread layer could use, and for the thread layer itself. Not part of
 * `npm run bench`; run it on its own:
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
 * - `dispatcher, window N`: the thread layer (`src/threads/dispatcher.ts`) over an echo engine
 *   (`threads-echo-engine.ts`), with a window of N uses a thread (1: one use in flight a thread, as
 *   before the window; 2: the default).
 *
 * One client (latency: one use in flight), 2 clients on 2 workers, and 8 clients on 2 workers (4
 * uses in flight a worker: where a window pays). Rows are the median over batches of µs per use;
 * the spread is printed beside it, and the load average at the end.
 */
import { MessageChannel, receiveMessageOnPort, Worker, type MessagePort } from 'node:worker_threads';
import { loadavg } from 'node:os';
import { parseArgs } from 'node:util';
import { Dispatcher } from '../src/threads/dispatcher.ts';
import { fillThreadOptions } from '../src/threads/options.ts';
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

/** The thread layer itself over an echo engine, `threads` threads holding `window` uses each; one client. */
async function dispatcher(threads: number, window: number): Promise<Client> {
  const d = await Dispatcher.create(
    { engine: new URL('./threads-echo-engine.ts', import.meta.url), parts: {}, window },
    fillThreadOptions({ threads }),
  );
  return { call: (input) => d.run(input), close: () => d.close() };
}

/** `loops` clients at once, each with one use in flight at a time, spread over `clients`: ns per use overall. */
async function throughput(group: string, name: string, clients: Client[], loops = clients.length): Promise<Measurement> {
  const input = { code: '1+2' };
  const loop = async (client: Client, n: number) => {
    for (let i = 0; i < n; i++) await client.call(input);
  };
  const all = () => Promise.all(Array.from({ length: loops }, (_, i) => loop(clients[i % clients.length]!, BATCH)));
  await all();
  const perOp: number[] = [];
  for (let b = 0; b < BATCHES; b++) {
    const t0 = process.hrtime.bigint();
    await all();
    perOp.push(Number(process.hrtime.bigint() - t0) / (BATCH * loops));
  }
  return summarize(group, name, perOp, BATCH * loops);
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
  if (c.mode === 'post') {
    const eight = [start(c.mode), start(c.mode)];
    rows.push(await throughput('eight clients, two workers', c.name, eight, 8));
    await Promise.all(eight.map((w) => w.close()));
  }
}
for (const window of [1, 2, 4, 8]) {
  const name = `dispatcher, window ${window}`;
  const one = await dispatcher(1, window);
  rows.push(await latency('one client, one worker', name, one));
  await one.close();
  const two = await dispatcher(2, window);
  rows.push(await throughput('two clients, two workers', name, [two], 2));
  rows.push(await throughput('eight clients, two workers', name, [two], 8));
  await two.close();
}
for (const row of rows) {
  console.log(
    `${row.group.padEnd(28)} ${row.name.padEnd(20)} ${formatNs(row.nsPerOp).padStart(10)} per use` +
      `  (${formatNs(row.minNsPerOp)} – ${formatNs(row.maxNsPerOp)})`,
  );
}
console.log(
  `load average ${loadavg()
    .map((l) => l.toFixed(2))
    .join(' ')}`,
);
