/**
 * The `WebAssembly` namespace one evaluation of a glue sees: identical to the real one, except
 * that compiling the pooled module's bytes yields the module compiled once, and instantiating it
 * yields the use's instance. Any other module the glue compiles or instantiates is the real
 * thing, new every use (so still fresh, just not pooled).
 */
import { ClosedError, ModuleNotPoolableError } from '../errors.js';

/** How one evaluation gets its instance of the pooled module. */
export interface Binding {
  /** The module compiled from the original bytes (what the glue is given to inspect). */
  readonly module: WebAssembly.Module;
  /** The original bytes, to recognize them when the glue compiles them itself. */
  readonly bytes: Uint8Array;
  /** The instance of this use, wired to `imports` (called at most once per use). */
  instantiate(imports: WebAssembly.Imports | undefined): WebAssembly.Instance;
  /** The memory to hand out when the glue creates one for a module that imports it. */
  claimMemory(): WebAssembly.Memory | undefined;
}

/** A `WebAssembly` namespace that routes the pooled module to `binding`; see the module comment. */
export function shadowWebAssembly(binding: Binding): typeof WebAssembly {
  const real = WebAssembly;
  const isPooled = (source: unknown): boolean => {
    if (source === binding.module || source === binding.bytes) return true;
    const bytes = bytesOf(source);
    return bytes !== undefined && equalBytes(bytes, binding.bytes);
  };
  // The rest of the namespace comes from a copy made once: copying it per use costs more than the use.
  const ns: Record<string, unknown> = Object.create(baseNamespace());

  function Module(this: unknown, bytes: WebAssembly.BufferSource): WebAssembly.Module {
    if (!new.target) throw new TypeError("WebAssembly.Module must be invoked with 'new'");
    return isPooled(bytes) ? binding.module : new real.Module(bytes);
  }
  Object.assign(Module, { imports: real.Module.imports, exports: real.Module.exports, customSections: real.Module.customSections });
  Module.prototype = real.Module.prototype;

  function Instance(this: unknown, module: WebAssembly.Module, imports?: WebAssembly.Imports): WebAssembly.Instance {
    if (!new.target) throw new TypeError("WebAssembly.Instance must be invoked with 'new'");
    return module === binding.module ? binding.instantiate(imports) : new real.Instance(module, imports);
  }
  Instance.prototype = real.Instance.prototype;

  function Memory(this: unknown, descriptor: WebAssembly.MemoryDescriptor): WebAssembly.Memory {
    if (!new.target) throw new TypeError("WebAssembly.Memory must be invoked with 'new'");
    return binding.claimMemory() ?? new real.Memory(descriptor);
  }
  Memory.prototype = real.Memory.prototype;

  async function instantiate(source: unknown, imports?: WebAssembly.Imports): Promise<unknown> {
    if (source === binding.module) return binding.instantiate(imports);
    if (isPooled(source)) return { module: binding.module, instance: binding.instantiate(imports) };
    return real.instantiate(source as WebAssembly.Module, imports);
  }
  async function compile(bytes: WebAssembly.BufferSource): Promise<WebAssembly.Module> {
    return isPooled(bytes) ? binding.module : real.compile(bytes);
  }
  async function instantiateStreaming(response: unknown, imports?: WebAssembly.Imports): Promise<unknown> {
    return instantiate(new Uint8Array(await ((await response) as Response).arrayBuffer()), imports);
  }
  async function compileStreaming(response: unknown): Promise<WebAssembly.Module> {
    return compile(new Uint8Array(await ((await response) as Response).arrayBuffer()));
  }
  Object.assign(ns, { Module, Instance, Memory, instantiate, compile, instantiateStreaming, compileStreaming });
  return ns as unknown as typeof WebAssembly;
}

let base: object | undefined;

/** The real `WebAssembly` namespace's properties, on an object the shadows can inherit from. */
function baseNamespace(): object {
  if (base === undefined) {
    const copy: Record<PropertyKey, unknown> = Object.create(null);
    for (const key of Reflect.ownKeys(WebAssembly)) copy[key] = (WebAssembly as unknown as Record<PropertyKey, unknown>)[key];
    base = copy; // not frozen: a frozen prototype would make assigning the shadowed names fail
  }
  return base;
}

/**
 * An instance whose exported functions work only while `live()` holds: the glue's API object can
 * outlive the use, and a call through it then must not reach the next use's memory. Made at every
 * use, so kept cheap: the wrappers are remembered in two arrays, and the maps between wrappers and
 * wasm functions that the table needs are built only when a use touches the table.
 */
export function guardedInstance(
  instance: WebAssembly.Instance,
  live: () => boolean,
  reserved: ReadonlyMap<string, number> = NO_RESERVE,
): WebAssembly.Instance {
  const exports: Record<string, unknown> = Object.create(null);
  const guards: unknown[] = [];
  const originals: unknown[] = [];
  let toGuard: Map<unknown, unknown> | undefined;
  let toOriginal: Map<unknown, unknown> | undefined;
  const maps = () => {
    if (toGuard === undefined || toOriginal === undefined) {
      toGuard = new Map(originals.map((o, i) => [o, guards[i]]));
      toOriginal = new Map(guards.map((g, i) => [g, originals[i]]));
    }
    return { toGuard, toOriginal };
  };
  const functions: TableFunctions = {
    unwrap: (value) => (typeof value === 'function' ? (maps().toOriginal.get(value) ?? value) : value),
    wrap: (value) => {
      if (typeof value !== 'function') return value;
      const known = maps();
      let guarded = known.toGuard.get(value);
      if (guarded === undefined) {
        guarded = guard(value as (...args: unknown[]) => unknown, 'a table entry', live);
        known.toGuard.set(value, guarded);
        known.toOriginal.set(guarded, value);
      }
      return guarded;
    },
  };
  for (const name of Object.keys(instance.exports)) {
    const value = instance.exports[name];
    if (value instanceof WebAssembly.Table) {
      exports[name] = unwrappingTable(value, functions, value.length - (reserved.get(name) ?? 0));
    } else if (typeof value === 'function') {
      const guarded = guard(value as (...args: unknown[]) => unknown, `its export '${name}'`, live);
      guards.push(guarded);
      originals.push(value);
      exports[name] = guarded;
    } else {
      exports[name] = value;
    }
  }
  // An own `exports` over Instance.prototype keeps `instanceof WebAssembly.Instance` true.
  return Object.create(WebAssembly.Instance.prototype, { exports: { value: Object.freeze(exports), enumerable: true } });
}

/** `fn` callable only while `live()` holds. */
function guard(fn: (...args: unknown[]) => unknown, what: string, live: () => boolean): (...args: unknown[]) => unknown {
  return (...args) => {
    if (!live()) throw new ClosedError(`the glue API of a use that ended (${what})`);
    return fn(...args);
  };
}

/** Between the wasm functions a table holds and the guarded ones a use's glue sees. */
interface TableFunctions {
  unwrap(value: unknown): unknown;
  wrap(value: unknown): unknown;
}

const NO_RESERVE: ReadonlyMap<string, number> = new Map();

/**
 * The exported table as the glue sees it. Storing a guarded function (emscripten's `addFunction`
 * does so) stores the wasm function behind it, which is all a table accepts; reading an entry
 * gives a guarded function (the export's own, for an exported one), so no function object of the
 * instance reaches the glue: a kept instance's are the same every use, and a property a glue put
 * on one would be seen by the next use. For the same reason, properties set on the table itself
 * stay with this use.
 *
 * A kept instance's table may hold room to grow into (`tableReserve`): the glue is shown the
 * table's own size, `size` (what a fresh instance has), and its growth is made inside the room
 * (entries the pool nulled after the last use), so `length`, `grow`'s result and the indices
 * `get`/`set` accept are a fresh instance's. Growing past the room grows the real table, and the
 * pool retires the member after the use.
 */
function unwrappingTable(table: WebAssembly.Table, functions: TableFunctions, size: number): WebAssembly.Table {
  let length = size;
  const own: Record<PropertyKey, unknown> = Object.create(null);
  const check = (index: number, what: string): void => {
    // Past the size shown, a fresh table would be out of bounds: say so as WebAssembly.Table does.
    if (Number(index) >= length) throw new RangeError(`WebAssembly.Table.${what}(): invalid address ${index} in table of size ${length}`);
  };
  const set = (index: number, ...value: unknown[]) => {
    check(index, 'set');
    return value.length > 0 ? table.set(index, functions.unwrap(value[0])) : table.set(index);
  };
  const get = (index: number) => {
    check(index, 'get');
    return functions.wrap(table.get(index));
  };
  const grow = (delta: number, ...value: unknown[]) => {
    if (!Number.isSafeInteger(delta) || delta < 0) return table.grow(delta); // the table's own TypeError
    const before = length;
    const wanted = before + delta;
    const init = value.length > 0 ? [functions.unwrap(value[0])] : [];
    if (wanted > table.length) table.grow(wanted - table.length, ...init);
    if (init.length > 0) for (let i = before; i < wanted; i++) table.set(i, init[0]);
    length = wanted;
    return before;
  };
  return new Proxy(table, {
    get(target, key) {
      if (key === 'set') return set;
      if (key === 'get') return get;
      if (key === 'grow') return grow;
      if (key === 'length') return length;
      if (key in own) return own[key];
      const value: unknown = Reflect.get(target, key, target);
      return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(target) : value;
    },
    set(_target, key, value) {
      own[key] = value;
      return true;
    },
    defineProperty(_target, key, descriptor) {
      Object.defineProperty(own, key, descriptor);
      return true;
    },
  });
}

/**
 * The imports a pooled instance is created with: for each function the module imports, a stub
 * that calls the same function of the current use's glue. Tables and globals the glue would create
 * per use cannot be swapped into a kept instance, so such modules are refused.
 */
export function forwardingImports(
  module: WebAssembly.Module,
  memoryImported: boolean,
): { imports: WebAssembly.Imports; route(target: WebAssembly.Imports | undefined): void } {
  let target: WebAssembly.Imports | undefined;
  const imports: WebAssembly.Imports = {};
  for (const wanted of WebAssembly.Module.imports(module)) {
    if (wanted.kind === 'memory' && memoryImported) continue; // the pool supplies its own
    if (wanted.kind !== 'function') {
      throw new ModuleNotPoolableError(
        `the module imports ${wanted.kind} "${wanted.module}"."${wanted.name}", which its glue creates anew each ` +
          'use and a pooled instance cannot take; only functions and the memory can be imported ' +
          '(emscripten: build without -sIMPORTED_TABLE / with the table exported)',
      );
    }
    const { module: space, name } = wanted;
    (imports[space] ??= {})[name] = (...args: unknown[]) => {
      if (target === undefined)
        throw new ClosedError(`the glue API of a use that ended (import "${space}"."${name}" called outside a use)`);
      return (target[space]![name] as (...a: unknown[]) => unknown)(...args);
    };
  }
  return { imports, route: (next) => (target = next) };
}

function bytesOf(source: unknown): Uint8Array | undefined {
  if (source instanceof Uint8Array) return source;
  if (ArrayBuffer.isView(source)) return new Uint8Array(source.buffer, source.byteOffset, source.byteLength);
  if (source instanceof ArrayBuffer) return new Uint8Array(source);
  return undefined;
}

function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && Buffer.from(a.buffer, a.byteOffset, a.length).equals(Buffer.from(b.buffer, b.byteOffset, b.length));
}
