/**
 * Steps that are synchronous or asynchronous depending on the user: `options.setup` may return its
 * imports or a promise of them (and a host's initializer its result or a promise of it), so
 * whatever runs it (a member's creation, the pool's construction) is sync for a sync setup and
 * async for an async one. The test for a promise, and the two drivers of the construction's steps
 * (a generator that yields what may be a promise): `create` awaits each step, `createSync` refuses
 * one that would need waiting.
 */
import { InvalidArgumentError } from '../errors.js';

/** Construction written once as steps: each `yield` hands out what may be a promise; the driver decides. */
export type Steps<T> = Generator<unknown, T, unknown>;

/** True for a thenable. */
export function isPromise<T>(value: T | Promise<T>): value is Promise<T> {
  return typeof (value as { then?: unknown } | null)?.then === 'function';
}

const REFUSAL = Symbol('cowpool.syncRefusal');
const SETUP_REFUSAL = 'options.setup returned a promise; use InstancePool.create (async), not createSync';

/**
 * `promise` as a step hands it out, marked with what {@link driveSync} says when it meets it
 * (unmarked, a promise is taken for an async `options.setup`'s).
 */
export function waitedFor<T>(promise: Promise<T>, refusal: string): Promise<T> {
  return Object.assign(
    promise.then((value) => value),
    { [REFUSAL]: refusal },
  );
}

/** Runs construction steps, refusing a step that would need waiting (an async `setup`). */
export function driveSync<T>(steps: Steps<T>): T {
  let step = steps.next();
  while (!step.done) {
    if (isPromise(step.value)) {
      step.value.then(undefined, () => {}); // its outcome no longer matters
      const refusal = (step.value as { [REFUSAL]?: string })[REFUSAL] ?? SETUP_REFUSAL;
      step = steps.throw(new InvalidArgumentError(refusal));
      continue;
    }
    step = steps.next(step.value);
  }
  return step.value;
}

/** Runs construction steps, awaiting each that is a promise. */
export async function driveAsync<T>(steps: Steps<T>): Promise<T> {
  let step = steps.next();
  while (!step.done) {
    let value: unknown;
    try {
      value = await step.value;
    } catch (err) {
      step = steps.throw(err);
      continue;
    }
    step = steps.next(value);
  }
  return step.value;
}
