/**
 * `Lease`: a use of one member, as `acquire` hands it out, until `release` (or `using`) ends it.
 * A lease only holds the member and the pool's function that ends a use; ending it is the pool's
 * transition (`instance-pool.ts`), which refuses a lease that is no longer the member's current one.
 * Its `instance` is a view that stops working once the use has ended (`use-view.ts`).
 */
import { ClosedError } from '../errors.js';
import type { ResetReport } from '../memory/index.js';
import type { InstanceHost } from './instance-host.js';
import type { Member } from './member.js';
import type { PoolInstance } from './types.js';
import { useView } from './use-view.js';

/** The pool's transition that ends `lease`'s use of `member`: reset, then idle or retired. */
export type EndLease<S, C> = (member: Member<S, C>, lease: object) => ResetReport | undefined;

/** A leased instance. Call {@link release} exactly once when done (or use `using`). */
export class Lease<E extends object = WebAssembly.Exports, S = undefined, C = unknown> {
  /**
   * The instance of this use. Once the use has ended, reading its `exports`, or an export from them,
   * throws {@link ClosedError}: keep what a use computed, never the instance or its exports.
   */
  readonly instance: PoolInstance<E>;
  readonly host: InstanceHost<S, C>;
  readonly #member: Member<S, C>;
  readonly #end: EndLease<S, C>;

  /**
   * @internal Made by the pool. `guarded` false hands out the instance itself, for a pool whose uses
   * are a sandbox's own code (see `FilledOptions.guardExports`).
   */
  constructor(instance: WebAssembly.Instance, member: Member<S, C>, end: EndLease<S, C>, guarded = true) {
    this.instance = (guarded ? useView(instance, this) : instance) as PoolInstance<E>;
    this.host = member.host;
    this.#member = member;
    this.#end = end;
  }

  /** The context of this use. */
  get context(): C | undefined {
    return this.host.context;
  }

  /** Whether this lease still holds its instance (not yet released). */
  get active(): boolean {
    return this.#member.lease === this;
  }

  /**
   * Resets the instance and returns it to the pool. Returns what the memory reset did (undefined
   * when the module has no memory, or when the reset failed and the instance was retired instead).
   * Throws {@link ClosedError} when called a second time.
   */
  release(): ResetReport | undefined {
    if (this.#member.lease !== this) throw new ClosedError('Lease');
    return this.#end(this.#member, this);
  }

  [Symbol.dispose](): void {
    if (this.active) this.release();
  }
}
