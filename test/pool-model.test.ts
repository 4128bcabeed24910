// The lease lifecycle as a model test: thousands of random interleavings of acquire, release, run
// (returning, trapping, timing out, growing memory), runSync, abort, injected reset failures and
// close, on real pools (real V8 instances, real memfds and resets). After every step the pool's
// counts must agree with what the callers hold and wait for, every use must see a pristine
// instance, and at the end close() must resolve with every instance retired and every memfd closed.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import {
  AbortedError,
  AcquireTimeoutError,
  GuestTimeoutError,
  GuestTrapError,
  InstancePool,
  PoolClosedError,
  type Lease,
  type ResetStrategy,
} from '../src/index.ts';
import { pagemapSupport } from '../src/pagemap/index.ts';
import { TEST_HOOKS } from '../src/pool/test-hooks.ts';
import { openMemfds } from './support/fds.ts';
import { wat } from './support/wat.ts';

/** The guest's functions: each writes the page after the image, then ends as its name says. */
const GUEST_BODY = `(memory (export "memory") 1 8)
  (data (i32.const 0) "cowpool image")
  (func (export "touch") (result i32)
    (i32.store (i32.const 4096) (i32.add (i32.load (i32.const 4096)) (i32.const 1)))
    (i32.load (i32.const 4096)))
  (func (export "trap") (i32.store (i32.const 4096) (i32.const 99)) unreachable)
  (func (export "spin") (i32.store (i32.const 4096) (i32.const 99)) (loop $l (br $l)))
  (func (export "grow") (result i32) (i32.store (i32.const 4096) (i32.const 99)) (memory.grow (i32.const 1)))`;

const guest = wat(`(module ${GUEST_BODY})`);

/** The same guest with a start function that calls the host: the test can make instantiation fail. */
const started = wat(`(module (import "env" "start" (func $start)) ${GUEST_BODY} (func $s call $start) (start $s))`);

interface Guest {
  touch(): number;
  trap(): void;
  spin(): void;
  grow(): number;
}

type Outcome = 'ok' | 'trap' | 'timeout' | 'grow';
type Command =
  | { kind: 'acquire'; abortable: boolean }
  | { kind: 'release'; pick: number }
  | { kind: 'run'; outcome: Outcome; abortable: boolean }
  | { kind: 'runSync'; outcome: Outcome }
  | { kind: 'abort'; pick: number }
  | { kind: 'failNextReset' }
  | { kind: 'failNextStart' }
  | { kind: 'close' };

const outcome = fc.constantFrom<Outcome>('ok', 'ok', 'trap', 'timeout', 'grow');
const command: fc.Arbitrary<Command> = fc.oneof(
  { weight: 4, arbitrary: fc.record({ kind: fc.constant('acquire' as const), abortable: fc.boolean() }) },
  { weight: 4, arbitrary: fc.record({ kind: fc.constant('release' as const), pick: fc.nat() }) },
  { weight: 4, arbitrary: fc.record({ kind: fc.constant('run' as const), outcome, abortable: fc.boolean() }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('runSync' as const), outcome }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('abort' as const), pick: fc.nat() }) },
  { weight: 2, arbitrary: fc.constant({ kind: 'failNextReset' as const }) },
  { weight: 1, arbitrary: fc.constant({ kind: 'failNextStart' as const }) },
  { weight: 1, arbitrary: fc.constant({ kind: 'close' as const }) },
);

const strategies: ResetStrategy[] = pagemapSupport().supported ? ['pagemap', 'madvise', 'copy'] : ['madvise', 'copy'];
const scenario = fc.record({
  max: fc.integer({ min: 1, max: 3 }),
  min: fc.integer({ min: 0, max: 3 }),
  asyncSetup: fc.boolean(),
  startFunction: fc.boolean(),
  strategy: fc.constantFrom(...strategies),
  commands: fc.array(command, { minLength: 1, maxLength: 24 }),
});

/** One caller's pending call: an acquire or a run, and how it settled. */
interface Call {
  kind: 'acquire' | 'run';
  expected: Outcome | 'lease';
  controller: AbortController | undefined;
  aborted: boolean;
  settled: boolean;
  value?: unknown;
  error?: unknown;
}

/** What the start function's host call throws when the test makes it fail. */
class StartFailure extends Error {}

const flush = () => new Promise<void>((resolve) => setImmediate(resolve));

interface Scenario {
  max: number;
  min: number;
  asyncSetup: boolean;
  startFunction: boolean;
  strategy: ResetStrategy;
  commands: Command[];
}

async function check(input: Scenario) {
  const { asyncSetup, startFunction, strategy, commands } = input;
  const max = input.max;
  const min = Math.min(input.min, max);
  const memfdsBefore = openMemfds();
  let failNext = 0;
  let injected = 0;
  const hooks = {
    beforeReset: () => {
      if (failNext > 0) {
        failNext--;
        injected++;
        throw new Error('injected reset failure');
      }
    },
  };
  // A start function that fails on demand: beginning a use (instantiation) fails, like a trap in it.
  let failStart = 0;
  const imports = {
    env: {
      start: () => {
        if (failStart > 0) {
          failStart--;
          throw new StartFailure();
        }
      },
    },
  };
  const pool = await InstancePool.create<Guest>(startFunction ? started : guest, {
    max,
    min,
    strategy,
    interruptible: true,
    setup: () => (asyncSetup ? Promise.resolve({ imports }) : { imports }),
    [TEST_HOOKS]: hooks,
  } as object);
  const held: Lease<Guest>[] = [];
  const calls: Call[] = [];
  let uses = 0;
  let closed = false;
  let closing: Promise<void> | undefined;
  const trace: string[] = [`max=${max} min=${min} async=${asyncSetup} start=${startFunction} strategy=${strategy}`];

  const use = (instance: { exports: Guest }, expected: Outcome): number => {
    if (expected === 'trap') instance.exports.trap();
    if (expected === 'timeout') instance.exports.spin();
    if (expected === 'grow') {
      assert.equal(instance.exports.touch(), 1, 'a use sees a pristine instance');
      return instance.exports.grow();
    }
    return instance.exports.touch();
  };
  const options = (controller: AbortController | undefined, expected: Outcome | 'lease') => ({
    ...(controller ? { signal: controller.signal } : {}),
    ...(expected === 'timeout' ? { timeout: 1 } : {}),
  });
  const track = (call: Call, promise: Promise<unknown>) => {
    calls.push(call);
    promise.then(
      (value) => {
        call.settled = true;
        call.value = value;
        if (call.kind === 'acquire') held.push(value as Lease<Guest>);
        else uses++;
      },
      (error: unknown) => {
        call.settled = true;
        call.error = error;
        if (error instanceof GuestTrapError || error instanceof GuestTimeoutError) uses++;
      },
    );
  };

  const invariants = (where: string) => {
    const s = pool.stats();
    const context = `${trace.join(' → ')} @ ${where}: ${JSON.stringify(s)}`;
    assert.equal(s.instances, s.idle + s.leased, `instances = idle + leased; ${context}`);
    assert.ok(s.instances <= max, `at most max instances; ${context}`);
    assert.equal(s.leased, held.length, `leased = leases held by callers; ${context}`);
    const waiting = calls.filter((c) => !c.settled).length;
    assert.equal(s.waiting, waiting, `waiting = calls not settled; ${context}`);
    if (s.waiting > 0) assert.equal(s.idle, 0, `nobody waits while an instance is idle; ${context}`);
    assert.equal(s.uses, uses, `uses = uses that ended; ${context}`);
    assert.equal(s.resetFailures, injected, `every injected reset failure is counted; ${context}`);
    assert.ok(s.retirements >= s.resetFailures, `a failed reset retires; ${context}`);
    for (const call of calls) {
      if (!call.settled) continue;
      const got = call.error ?? call.value;
      if (call.error instanceof PoolClosedError) assert.ok(closed, `PoolClosedError only after close; ${context}`);
      else if (call.error instanceof StartFailure) assert.ok(startFunction, context);
      else if (call.error instanceof AbortedError) assert.ok(call.aborted, `AbortedError only when aborted; ${context}`);
      else if (call.expected === 'lease') assert.ok(held.includes(got as Lease<Guest>) || (got as Lease<Guest>).active === false, context);
      else if (call.expected === 'ok') assert.equal(got, 1, `a use sees a pristine instance; ${context}`);
      else if (call.expected === 'grow') assert.equal(got, 1, `grow from the initial size; ${context}`);
      else if (call.expected === 'trap') assert.ok(got instanceof GuestTrapError, `${String(got)}; ${context}`);
      else assert.ok(got instanceof GuestTimeoutError, `${String(got)}; ${context}`);
    }
  };

  try {
    await flush();
    invariants('created');
    for (const cmd of commands) {
      trace.push(JSON.stringify(cmd));
      switch (cmd.kind) {
        case 'acquire': {
          const controller = cmd.abortable ? new AbortController() : undefined;
          track(
            { kind: 'acquire', expected: 'lease', controller, aborted: false, settled: false },
            pool.acquire(undefined, options(controller, 'lease')),
          );
          break;
        }
        case 'release': {
          if (held.length === 0) break;
          const [lease] = held.splice(cmd.pick % held.length, 1);
          lease!.release();
          uses++;
          assert.throws(() => lease!.release(), { code: 'COWPOOL_ERR_CLOSED' }, 'a lease releases once');
          break;
        }
        case 'run': {
          const controller = cmd.abortable ? new AbortController() : undefined;
          const expected = cmd.outcome;
          track(
            { kind: 'run', expected, controller, aborted: false, settled: false },
            pool.run((instance) => use(instance, expected), undefined, options(controller, expected)),
          );
          break;
        }
        case 'runSync': {
          const idleBefore = pool.stats().idle;
          try {
            const value = pool.runSync((instance) => use(instance, cmd.outcome), undefined, options(undefined, cmd.outcome));
            uses++;
            assert.equal(value, 1, 'runSync sees a pristine instance');
            assert.ok(cmd.outcome === 'ok' || cmd.outcome === 'grow');
          } catch (err) {
            if (err instanceof GuestTrapError || err instanceof GuestTimeoutError) {
              uses++;
              assert.equal(err instanceof GuestTrapError ? 'trap' : 'timeout', cmd.outcome);
            } else if (err instanceof PoolClosedError) assert.ok(closed);
            else if (err instanceof StartFailure) assert.ok(startFunction);
            else if (err instanceof AcquireTimeoutError) assert.equal(idleBefore, 0, 'runSync fails only when none is idle');
            else throw err;
          }
          break;
        }
        case 'abort': {
          const pending = calls.filter((c) => !c.settled && c.controller);
          if (pending.length === 0) break;
          const call = pending[cmd.pick % pending.length]!;
          call.aborted = true;
          call.controller!.abort();
          break;
        }
        case 'failNextReset':
          failNext++;
          break;
        case 'failNextStart':
          failStart++;
          break;
        case 'close':
          closed = true;
          closing = pool.close();
          break;
      }
      await flush();
      invariants(cmd.kind);
    }
    closed = true;
    closing ??= pool.close();
    let done = false;
    void closing.then(() => (done = true));
    await flush();
    if (held.length > 0) assert.equal(done, false, 'close() waits for the leases still out');
    for (const lease of held.splice(0)) {
      lease.release();
      uses++;
    }
    await flush();
    assert.equal(done, true, `close() resolved once the last lease was released; ${trace.join(' → ')}`);
    invariants('closed');
    assert.equal(pool.stats().instances, 0);
    assert.ok(
      calls.every((c) => c.settled),
      'every call settled',
    );
    assert.equal(openMemfds(), memfdsBefore, `every memfd closed; ${trace.join(' → ')}`);
  } finally {
    for (const lease of held) if (lease.active) lease.release();
    await pool.close();
  }
}

test('the lease lifecycle holds its invariants under random interleavings', async () => {
  try {
    await fc.assert(fc.asyncProperty(scenario, check), { numRuns: Number(process.env.COWPOOL_MODEL_RUNS ?? 1500) });
  } catch (err) {
    // fast-check keeps the failing assertion in `cause`, which the test reporter does not print.
    const cause = (err as Error).cause as Error | undefined;
    throw new Error(`${(err as Error).message}\n\nfailed with: ${cause?.stack ?? String(cause)}`, { cause: err });
  }
});
