/**
 * `GluePool`: a pool of instances of a module that comes with JavaScript glue (emscripten,
 * wasm-bindgen, hand-written loaders), where each use gets the glue's API as a fresh process
 * would: fresh memory (the pool's reset) *and* fresh glue state.
 *
 * How: the glue is compiled once ({@link GlueScript}) and evaluated at every use, inside the use,
 * with a `WebAssembly` namespace that hands it the use's pooled instance ({@link shadowWebAssembly}).
 * The pooled instance is created with forwarding imports, routed during the use to the functions
 * of that use's glue. When the use ends, the instance's memory, globals and tables are reset by the
 * pool, the glue evaluation is dropped, and its exports and imports stop working.
 */
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { ImportMissingError, InvalidArgumentError, ModuleNotPoolableError } from '../errors.js';
import { InstancePool, type PoolDescription, type PoolOptions, type PoolStats, type UseOptions } from '../pool/index.js';
import { GlueScript } from './script.js';
import { forwardingImports, guardedInstance, shadowWebAssembly, type Binding } from './shadow.js';

/** What {@link GluePoolOptions.load} is given besides the glue's exports. */
export interface GlueKit {
  /** The module's original bytes (pass them where the glue wants the `.wasm` contents). */
  readonly bytes: Uint8Array;
  /** The module, compiled once (pass it where the glue accepts a `WebAssembly.Module`). */
  readonly module: WebAssembly.Module;
  /** For emscripten's `Module.instantiateWasm(imports, receiveInstance)`. */
  readonly instantiateWasm: (
    imports: WebAssembly.Imports,
    receive: (instance: WebAssembly.Instance, module: WebAssembly.Module) => void,
  ) => object;
  /** For loaders that take an instantiator: `(imports) => Promise<{ instance, module }>`. */
  readonly instantiate: (imports: WebAssembly.Imports) => Promise<{ instance: WebAssembly.Instance; module: WebAssembly.Module }>;
}

/** Options of {@link GluePool.create}. */
export interface GluePoolOptions<T> {
  /** Path of the package's CommonJS glue file (the one that holds its state), e.g. `sql.js/dist/sql-wasm.js`. */
  glue: string;
  /** The `.wasm` module: its path (reads of that file by the glue are served from memory) or its bytes. */
  wasm: string | Uint8Array;
  /**
   * Turns one evaluation of the glue (its `module.exports`) into the API a use gets, e.g.
   * `(initSqlJs, kit) => initSqlJs({ instantiateWasm: kit.instantiateWasm })`. Called at every use;
   * it must make the glue instantiate the module (exactly once).
   */
  load: (glueExports: any, kit: GlueKit) => T | Promise<T>; // eslint-disable-line @typescript-eslint/no-explicit-any
  /** Options of the underlying {@link InstancePool} (the imports come from the glue). */
  pool?: Omit<PoolOptions, 'imports' | 'initialize' | 'setup'>;
}

/** One member's state: where its forwarding imports lead during a use. */
interface Route {
  route(target: WebAssembly.Imports | undefined): void;
}

/** Pooled instances of a module with its glue; see the module comment. */
export class GluePool<T> {
  readonly #pool: InstancePool<WebAssembly.Exports, Route>;
  readonly #script: GlueScript;
  readonly #load: GluePoolOptions<T>['load'];
  readonly #bytes: Uint8Array;
  readonly #module: WebAssembly.Module;
  readonly #files: ReadonlyMap<string, Uint8Array>;
  readonly #memoryImported: boolean;
  /** The pooled tables with room to grow (`tableReserve`) by export name: the glue is shown their declared size. */
  readonly #reserved: ReadonlyMap<string, number>;

  private constructor(
    pool: InstancePool<WebAssembly.Exports, Route>,
    script: GlueScript,
    options: GluePoolOptions<T>,
    bytes: Uint8Array,
    module: WebAssembly.Module,
    files: ReadonlyMap<string, Uint8Array>,
  ) {
    this.#pool = pool;
    this.#script = script;
    this.#load = options.load;
    this.#bytes = bytes;
    this.#module = module;
    this.#files = files;
    this.#memoryImported = WebAssembly.Module.imports(module).some((i) => i.kind === 'memory');
    this.#reserved = new Map(pool.describe().reservedTables.map((t) => [t.name, t.reserve]));
  }

  /**
   * Compiles the glue and the module and creates the pool. Rejects with
   * {@link ModuleNotPoolableError} for what cannot be made pristine (ES module glue; a module
   * importing tables or globals) and {@link InvalidArgumentError} for bad options.
   */
  static async create<T>(options: GluePoolOptions<T>): Promise<GluePool<T>> {
    if (typeof options !== 'object' || options === null) throw new InvalidArgumentError('options must be an object');
    if (typeof options.load !== 'function') {
      throw new InvalidArgumentError(
        'options.load must be a function (glueExports, kit) => api that makes the glue instantiate the module',
      );
    }
    const poolOptions: object = options.pool ?? {};
    if (typeof poolOptions !== 'object' || poolOptions === null)
      throw new InvalidArgumentError('options.pool must be an object of InstancePool options');
    for (const key of ['imports', 'setup', 'initialize']) {
      if (Object.hasOwn(poolOptions, key)) {
        throw new InvalidArgumentError(
          `options.pool.${key} is not supported with glue: ` +
            (key === 'initialize'
              ? 'an initializer would run outside any use, without a glue'
              : "the imports are the glue's own, routed to each use"),
        );
      }
    }
    const script = GlueScript.load(options.glue);
    const { bytes, path } = readWasm(options.wasm);
    const module = new WebAssembly.Module(bytes);
    const memoryImported = WebAssembly.Module.imports(module).some((i) => i.kind === 'memory');
    forwardingImports(module, memoryImported); // refuses what cannot be forwarded, before any pool exists
    const pool = await InstancePool.create<WebAssembly.Exports, Route>(bytes, {
      ...(poolOptions as PoolOptions<Route>),
      setup: () => {
        const forwarding = forwardingImports(module, memoryImported);
        return { imports: forwarding.imports, state: forwarding };
      },
    });
    const files = new Map(path === undefined ? [] : [[path, bytes]]);
    return new GluePool(pool, script, options, bytes, module, files);
  }

  /**
   * Runs `fn` with the glue's API on a pristine instance and pristine glue. The API must not be
   * kept past `fn`: once the use ends its exports and imports throw {@link ClosedError}.
   */
  run<R>(fn: (api: T) => R | Promise<R>, options?: UseOptions): Promise<Awaited<R>> {
    return this.#pool.run(
      async (instance, _context, host) => {
        const route = host.state;
        let live = true;
        let given: WebAssembly.Instance | undefined;
        const binding = this.#binding(
          () => {
            if (given !== undefined) throw twice();
            given = guardedInstance(instance, () => live, this.#reserved);
            return given;
          },
          (imports) => route.route(imports),
          this.#memoryImported ? host.memory : undefined,
        );
        try {
          const api = await this.#evaluate(
            binding,
            () => given !== undefined,
            () => live,
          );
          return await fn(api);
        } finally {
          live = false;
          route.route(undefined);
        }
      },
      undefined,
      options,
    );
  }

  /**
   * Runs `fn` as without cowpool: the glue evaluated afresh on a new instance with a new memory.
   * The baseline to compare {@link run} with, in tests and benchmarks.
   */
  async runFresh<R>(fn: (api: T) => R | Promise<R>): Promise<Awaited<R>> {
    let made: WebAssembly.Instance | undefined;
    let imports: WebAssembly.Imports | undefined;
    const binding = this.#binding(
      () => {
        if (made !== undefined) throw twice();
        made = new WebAssembly.Instance(this.#module, imports);
        return made;
      },
      (next) => (imports = next),
      undefined,
    );
    return (await fn(
      await this.#evaluate(
        binding,
        () => made !== undefined,
        () => true,
      ),
    )) as Awaited<R>;
  }

  /** The underlying pool's choices (mechanism, strategy, memory) and why. */
  describe(): PoolDescription {
    return this.#pool.describe();
  }

  /** The underlying pool's counters. */
  stats(): PoolStats {
    return this.#pool.stats();
  }

  /** Closes the pool once the uses in progress end. */
  close(): Promise<void> {
    return this.#pool.close();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  async #evaluate(binding: Binding, instantiated: () => boolean, live: () => boolean): Promise<T> {
    const exports = this.#script.evaluate({ webAssembly: shadowWebAssembly(binding), files: this.#files, live });
    const kit: GlueKit = {
      bytes: this.#bytes,
      module: this.#module,
      instantiateWasm: (imports, receive) => {
        receive(binding.instantiate(imports), this.#module);
        return {};
      },
      instantiate: async (imports) => ({ instance: binding.instantiate(imports), module: this.#module }),
    };
    const api = await this.#load(exports, kit);
    if (!instantiated()) {
      throw new ModuleNotPoolableError(
        `options.load returned without the glue instantiating the module (${this.#script.filename}); make load ` +
          "call the glue's initializer and pass it kit.instantiateWasm, kit.instantiate, kit.module or kit.bytes",
      );
    }
    return api;
  }

  #binding(
    instance: () => WebAssembly.Instance,
    route: (imports: WebAssembly.Imports) => void,
    memory: WebAssembly.Memory | undefined,
  ): Binding {
    let memoryClaimed = memory === undefined;
    const module = this.#module;
    return {
      module,
      bytes: this.#bytes,
      instantiate: (imports) => {
        checkImports(module, imports ?? {}, this.#memoryImported);
        route(imports ?? {});
        return instance();
      },
      claimMemory: () => {
        if (memoryClaimed) return undefined;
        memoryClaimed = true;
        return memory;
      },
    };
  }
}

function twice(): Error {
  return new ModuleNotPoolableError('the glue instantiated the module twice in one use; a pooled use has one instance');
}

const IMPORTS = new WeakMap<WebAssembly.Module, WebAssembly.ModuleImportDescriptor[]>();

/** Names the import the glue failed to provide, instead of a TypeError deep in a stub. */
function checkImports(module: WebAssembly.Module, imports: WebAssembly.Imports, memoryImported: boolean): void {
  let list = IMPORTS.get(module);
  if (list === undefined) IMPORTS.set(module, (list = WebAssembly.Module.imports(module)));
  for (const wanted of list) {
    if (wanted.kind === 'memory' && memoryImported) continue;
    const value = imports[wanted.module]?.[wanted.name];
    if (typeof value !== 'function') throw new ImportMissingError(wanted.module, wanted.name, wanted.kind);
  }
}

function readWasm(wasm: unknown): { bytes: Uint8Array; path?: string } {
  if (typeof wasm === 'string') {
    const path = resolve(wasm);
    try {
      return { bytes: readFileSync(path), path };
    } catch (err) {
      throw new InvalidArgumentError(`cannot read options.wasm ${path}: ${(err as Error).message}`);
    }
  }
  if (wasm instanceof Uint8Array) return { bytes: wasm };
  throw new InvalidArgumentError('options.wasm must be the path of the .wasm file or its bytes');
}
