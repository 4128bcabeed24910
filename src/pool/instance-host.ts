/**
 * `InstanceHost`: what host functions see of the pooled instance they are bound to. A pool builds
 * one per pooled instance and hands it to `options.setup` (or an `options.imports` function) once;
 * the current use's context, instance and deadline change with every use, so host functions read
 * the current request's without re-instantiation. Only the pool changes them (through
 * {@link hostControl}); to everyone else they are read-only, but for one thing: code outside the
 * guest's call stack may end the current use early ({@link InstanceHost.interrupt}), which every
 * check of the deadline then reports.
 *
 * (Of the things cowpool calls a host, this is the pooled instance's, as its host functions see it;
 * the import objects of `quickjs/imports.ts`, `sqlite/imports.ts` and `wasi/wasi-host.ts` are
 * what they bind to it.)
 */
import { GuestTimeoutError, InvalidArgumentError } from '../errors.js';
import { isPromise } from './sync-or-async.js';

/** What `options.setup` returns: the imports of one pooled instance and its own state. */
export interface PoolSetup<S> {
  /** The instance's imports. The pool adds the module's memory itself. */
  imports?: WebAssembly.Imports;
  /** This pooled instance's own state (a WASI host, say): `host.state` from then on. */
  state?: S;
}

/**
 * Builds one pooled instance's imports and state; called once per pooled instance, before it is
 * instantiated. May be async, then only `InstancePool.create` (not `createSync`) accepts it.
 */
export type SetupHook<S, C> = (host: InstanceHost<S, C>) => PoolSetup<S> | Promise<PoolSetup<S>>;

/** Builds one pooled instance's imports (the older, stateless form of {@link SetupHook}). */
export type ImportsFactory<C> = (host: InstanceHost<unknown, C>) => WebAssembly.Imports;

/** The pool's side of a host: sets what the host shows. Not exported from the package. */
export interface HostControl {
  state<S>(host: InstanceHost<S, unknown>, state: S): void;
  begin<C>(host: InstanceHost<unknown, C>, context: C | undefined, timeout: number): void;
  instance(host: InstanceHost<unknown, unknown>, instance: WebAssembly.Instance | undefined): void;
  end(host: InstanceHost<unknown, unknown>): void;
}

// Assigned in InstanceHost's static block, which alone can reach its private fields.
let control!: HostControl;

/** What host functions see of their pooled instance; see the module comment. */
export class InstanceHost<S = unknown, C = unknown> {
  /** The pooled memory, or undefined when the module has no memory. */
  readonly memory: WebAssembly.Memory | undefined;
  /**
   * Free for an `options.imports` function to keep per-instance state in.
   * @deprecated Return `{ imports, state }` from `options.setup` instead: `host.state` is typed.
   */
  data: unknown = undefined;
  #state: S | undefined = undefined;
  #context: C | undefined = undefined;
  #instance: WebAssembly.Instance | undefined = undefined;
  #deadline = Infinity;
  #timeout = Infinity;
  #inUse = false;
  #interrupted: Error | undefined = undefined;

  /** @internal Made by the pool. */
  constructor(memory: WebAssembly.Memory | undefined) {
    this.memory = memory;
  }

  /** This pooled instance's own state, as `options.setup` returned it (undefined until it returned). */
  get state(): S {
    return this.#state as S;
  }

  /** The current use's context (what `run` or `acquire` was given); undefined between uses. */
  get context(): C | undefined {
    return this.#context;
  }

  /** The instance of the current use (for `reinstantiate`, a new one each use). */
  get instance(): WebAssembly.Instance | undefined {
    return this.#instance;
  }

  /** When the current use must end, as a `performance.now()` timestamp; Infinity when it has no timeout. */
  get deadline(): number {
    return this.#deadline;
  }

  /** The current use's timeout in ms (Infinity for none). */
  get timeout(): number {
    return this.#timeout;
  }

  /** Milliseconds left before the current use's deadline (Infinity without one, 0 once past). */
  timeLeft(): number {
    const left = this.#deadline - performance.now();
    return left > 0 ? left : 0;
  }

  /**
   * For host functions that block or loop (a sleep, a poll): throws {@link GuestTimeoutError} once
   * the current use is past its deadline, which ends the use as a timeout, like an interrupted loop.
   */
  checkDeadline(): void {
    if (performance.now() >= this.#deadline) throw this.#interrupted ?? new GuestTimeoutError(this.#timeout);
  }

  /**
   * Ends the current use early, with `reason`: from now on the deadline has passed, so the next
   * check of it throws `reason` instead of {@link GuestTimeoutError}: the fuel counter of an
   * interruptible module (at its next loop or call), {@link checkDeadline} in a host function, a
   * WASI host call. The use then ends as a timed-out one does, its instance reset for the next.
   *
   * For code outside the guest's call stack that must stop it: an `AbortSignal`'s listener (how
   * `WasiCommand` honours a use's `signal`), a sink that has seen enough output. Guest code that
   * makes no host call and has no fuel counter (a module that is not interruptible) runs on until
   * it returns. The first reason stands; between uses the call does nothing, and the next use
   * starts without it (a listener must be removed when its use ends, so that it cannot end another).
   */
  interrupt(reason: Error): void {
    if (!(reason instanceof Error)) throw new InvalidArgumentError('interrupt(reason) needs an Error, the one the use will end with');
    if (!this.#inUse || this.#interrupted !== undefined) return;
    this.#interrupted = reason;
    this.#deadline = -Infinity;
  }

  /** Why the current use was ended early ({@link interrupt}); undefined when it was not. */
  get interrupted(): Error | undefined {
    return this.#interrupted;
  }

  static {
    control = {
      state(host, state) {
        host.#state = state;
      },
      begin(host, context, timeout) {
        host.#context = context;
        host.#timeout = timeout;
        host.#deadline = timeout === Infinity ? Infinity : performance.now() + timeout;
        host.#inUse = true;
        host.#interrupted = undefined;
      },
      instance(host, instance) {
        host.#instance = instance;
      },
      end(host) {
        host.#context = undefined;
        host.#deadline = Infinity;
        host.#timeout = Infinity;
        host.#inUse = false;
        host.#interrupted = undefined;
      },
    };
  }
}

/** The pool's access to what a host shows. */
export function hostControl(): HostControl {
  return control;
}

/**
 * Runs `setup` (or the older `imports` function) for `host`: the imports and state, synchronously
 * when it returns them, or as a promise when it is async. Checks the shape of what it returned.
 */
export function runSetup<S, C>(
  setup: SetupHook<S, C>,
  host: InstanceHost<S, C>,
): { imports: WebAssembly.Imports; state: S | undefined } | Promise<{ imports: WebAssembly.Imports; state: S | undefined }> {
  const result = setup(host);
  if (isPromise(result)) return result.then((r) => checked(r, host));
  return checked(result, host);
}

function checked<S>(result: PoolSetup<S>, host: InstanceHost<S, unknown>): { imports: WebAssembly.Imports; state: S | undefined } {
  if (typeof result !== 'object' || result === null) {
    throw new InvalidArgumentError('options.setup must return { imports?, state? }, not ' + String(result));
  }
  const imports = result.imports ?? {};
  if (typeof imports !== 'object' || imports === null) {
    throw new InvalidArgumentError('options.setup returned imports that are not an object');
  }
  control.state(host, result.state);
  return { imports, state: result.state };
}
