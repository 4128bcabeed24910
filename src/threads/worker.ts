/**
 * The entry of every worker thread a dispatcher starts. It adopts what the process already has (the
 * fd ledger to record its own descriptors in, the main thread's pagemap descriptor), imports the
 * engine module, builds the engine from the built parts, says it is ready, then runs uses until told
 * to close. Nothing here knows what an engine does (see `engine.ts`).
 *
 * Uses run strictly one at a time, in the order posted: the dispatcher may post a thread's next uses
 * while it runs one (its window), so they wait here in a queue, and an engine's use that answers
 * with a promise finishes before the next begins. Before it starts a posted use the worker claims
 * it (`claims.ts`); one the main thread took back meanwhile (aborted, or moved to an idle thread)
 * is skipped without an answer. A use's deadline is the engine's to count from when it starts
 * (`EngineUse.timeout`), not from when it was posted.
 *
 * Every failure goes back as data: an engine that cannot be built answers `failed` (the dispatcher
 * rejects `create`, or retries a replacement), a use that throws answers with its error serialized
 * (`error-transport.ts`), a result that cannot be cloned answers with an error saying so.
 */
import { workerData, type TransferListItem } from 'node:worker_threads';
import { serializeError } from '../error-transport.js';
import { InvalidArgumentError } from '../errors.js';
import { importModule } from '../import-module.js';
import { adoptPagemap } from '../pagemap/support.js';
import { FdLedger, installFdLedger } from '../sys/index.js';
import type { Engine, EngineModule } from './engine.js';
import { ClaimBoard } from './claims.js';
import type { FromWorker, RunMessage, ToWorker, WorkerInit } from './protocol.js';
import { StatsBoard, statsKeys, statsValues } from './stats-board.js';
import { workerEnd, type WorkerEnd } from './transport.js';

const init = workerData as WorkerInit;
// The static imports above loaded the native layer (sys/native.ts): from here on the thread may be
// terminated without aborting the process (see NATIVE_LOADED in thread.ts).
Atomics.store(new Int32Array(init.native), 0, 1);
Atomics.notify(new Int32Array(init.native), 0);
installFdLedger(FdLedger.attach(init.ledger));
adoptPagemap(init.pagemap);

let engine: Engine | undefined;
const board = StatsBoard.attach(init.stats);
const claims = ClaimBoard.attach(init.claims);
let paths: string[][] = [];
const values: number[] = [];
/** Uses answered, as the stats board counts them. */
let answered = 0;
/** Uses posted and not yet reached, in order. */
const posted: RunMessage[] = [];
/** Whether a use is running (an engine's promise not yet settled, or the loop below). */
let running = false;

const channel: WorkerEnd = workerEnd((message: ToWorker) => {
  if (message.type === 'run') {
    posted.push(message);
    if (!running) next();
  } else {
    // Sent only to a thread with no use of its own left: whatever is still posted here was taken back.
    posted.length = 0;
    void close();
  }
});

void start();

/** Builds the engine and says it is ready. (No top-level await: this file is CommonJS in that build.) */
async function start(): Promise<void> {
  try {
    const module = (await importModule(init.engine)) as Partial<EngineModule> & { default?: Partial<EngineModule> };
    // A CommonJS engine module imported as ES has its exports as named ones, or as the default.
    const createEngine = module.createEngine ?? module.default?.createEngine;
    if (typeof createEngine !== 'function') {
      throw new InvalidArgumentError(`the engine module ${init.engine} does not export a createEngine function`);
    }
    engine = await createEngine(init.parts, { index: init.index });
    const keys = engine.stats ? statsKeys(engine.stats()) : [];
    paths = keys.map((key) => key.split('.'));
    publishStats();
    channel.send({ type: 'ready', statsKeys: keys, description: engine.describe?.() });
  } catch (err) {
    // The dispatcher ends this thread when it reads this (ending here could lose the message).
    channel.send({ type: 'failed', error: serializeError(err) });
  }
}

/**
 * Runs the posted uses in order until none is left or one answers with a promise (then again once
 * it has settled). Uses that follow one another here never turn the event loop between them: at
 * most the window's few, since new ones arrive only as messages.
 */
function next(): void {
  running = true;
  for (let message = posted.shift(); message !== undefined; message = posted.shift()) {
    if (!claims.start(message.slot, message.tag)) continue;
    const pending = run(message);
    if (pending !== undefined) {
      void pending.then(next);
      return;
    }
  }
  running = false;
}

/** Runs one use and answers it; a promise when the engine answered with one. */
function run({ id, input, timeout }: RunMessage): Promise<void> | undefined {
  let result: unknown;
  try {
    result = engine!.run(input, { timeout, emit: (payload, transfer) => channel.send({ type: 'event', id, payload }, transfer) });
  } catch (err) {
    answer({ type: 'done', id, ok: false, error: serializeError(err) });
    return undefined;
  }
  if (!(result instanceof Promise)) {
    answerValue(id, result);
    return undefined;
  }
  return result.then(
    (value: unknown) => answerValue(id, value),
    (err: unknown) => answer({ type: 'done', id, ok: false, error: serializeError(err) }),
  );
}

function answerValue(id: number, value: unknown): void {
  try {
    answer({ type: 'done', id, ok: true, value }, engine!.transfer?.(value));
  } catch (err) {
    const error = new InvalidArgumentError(
      `the use's result cannot be sent to the calling thread (${(err as Error).message}); return structured-cloneable data`,
      { cause: err },
    );
    answer({ type: 'done', id, ok: false, error: serializeError(error) });
  }
}

/**
 * Sends a use's answer, then (off its latency) publishes the stats that count it: before the next
 * use starts, even when one is already queued here. A reader that saw the answer waits for those
 * stats (`stats-board.ts`), and the next use may run for seconds. (Publishing costs about 0.75 µs
 * for a pool's 34 counters; a sync engine finds its queue empty at every answer anyway, since the
 * next use arrives as the next message.)
 */
function answer(message: FromWorker, transfer?: readonly TransferListItem[]): void {
  channel.send(message, transfer);
  answered++;
  publishStats();
}

function publishStats(): void {
  if (engine?.stats && paths.length > 0) board.write(statsValues(engine.stats(), paths, values), answered);
}

async function close(): Promise<void> {
  try {
    await engine?.close?.();
  } finally {
    process.exit(0);
  }
}
