/**
 * What a use's function sees of its instance: a view that stops working when the use ends. The
 * pooled instance outlives the use (`reuse` keeps it; `reinstantiate` keeps its memory), so an
 * instance or an exports object kept past the use (`run((i) => i.exports)`) would otherwise read
 * and write whatever a later use put there. Through the view, `instance.exports` and each export
 * read from it throw {@link ClosedError} once the use has ended.
 *
 * The view is an object whose prototype is the instance's own (`instanceof WebAssembly.Instance`
 * holds) with an `exports` getter, and its exports are a proxy of the instance's (`Object.keys`,
 * `in` and the values themselves are the instance's: a frozen exports object lets a proxy return
 * nothing else). Made per use, the proxy only when the use reads `exports`: three small objects,
 * 60–90 ns a use measured against 0.8 µs for a whole `runSync` (a getter costs less than a second
 * proxy for the instance: 100–200 ns).
 *
 * What the view cannot reach is what was taken out of it during the use: an exported function or
 * memory held in a variable stays the instance's own. Wrapping every function instead would cost a
 * closure per export per use and a JavaScript frame per call, which a use that calls into the guest
 * in a loop would feel; the README says not to keep them.
 */
import { ClosedError } from '../errors.js';

/** The use a view belongs to: {@link Lease}'s `active` (false once the use has ended). */
export interface UseToken {
  readonly active: boolean;
}

/** The view of `instance` for the use `use`; see the module comment. */
export function useView(instance: WebAssembly.Instance, use: UseToken): WebAssembly.Instance {
  // A UseInstance has the shape of an instance (its prototype chain is one's) but not its class.
  return new UseInstance(instance, use) as unknown as WebAssembly.Instance;
}

/** An instance as one use sees it. */
class UseInstance {
  readonly #instance: WebAssembly.Instance;
  readonly #use: UseToken;
  #exports: WebAssembly.Exports | undefined;

  constructor(instance: WebAssembly.Instance, use: UseToken) {
    this.#instance = instance;
    this.#use = use;
  }

  get exports(): WebAssembly.Exports {
    if (!this.#use.active) closed('exports');
    return (this.#exports ??= new Proxy<WebAssembly.Exports>(this.#instance.exports, new ExportsGuard(this.#use)));
  }
}
// Instance.prototype's `exports` getter is shadowed; its toStringTag and `instanceof` are kept.
Object.setPrototypeOf(UseInstance.prototype, WebAssembly.Instance.prototype);
Object.defineProperty(UseInstance.prototype, 'constructor', { value: WebAssembly.Instance });

/** The traps of a use's exports: every read of an export checks that the use is still on. */
class ExportsGuard implements ProxyHandler<WebAssembly.Exports> {
  readonly #use: UseToken;

  constructor(use: UseToken) {
    this.#use = use;
  }

  get(target: WebAssembly.Exports, key: string | symbol): unknown {
    // A name the exports lack reveals nothing and stays undefined: `Promise.resolve(exports)` of a
    // use that returned them reads `then` after the use has ended.
    if (!this.#use.active && Object.hasOwn(target, key)) closed(key);
    return Reflect.get(target, key, target);
  }

  getOwnPropertyDescriptor(target: WebAssembly.Exports, key: string | symbol): PropertyDescriptor | undefined {
    // A descriptor carries the value: guarded like a read.
    if (!this.#use.active && Object.hasOwn(target, key)) closed(key);
    return Reflect.getOwnPropertyDescriptor(target, key);
  }
}

function closed(key: string | symbol): never {
  const what = key === 'exports' ? 'its exports' : `its export '${String(key)}'`;
  throw new ClosedError(`the instance of a use that ended (${what}; keep results, not the instance or its exports)`);
}
