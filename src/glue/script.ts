/**
 * A package's CommonJS glue, compiled once and evaluated afresh for every use.
 *
 * Why evaluate per use: the state a glue keeps lives in its closures (emscripten's MEMFS tree,
 * embind's type registries, wasm-bindgen's heap of JS objects, cached memory views, "already
 * initialized" flags), which no one outside can read, let alone restore. Running the glue's
 * top-level code again gives new closures, exactly as a fresh process would. Compiling is the
 * expensive part and happens once: V8 shares the compiled code of every inner function between
 * evaluations, so an evaluation costs what the glue's top level and its initialization do.
 */
import { readFileSync } from 'node:fs';
import * as fs from 'node:fs';
import { createRequire, isBuiltin } from 'node:module';
import { dirname, isAbsolute, resolve } from 'node:path';
import vm from 'node:vm';
import { InvalidArgumentError, ModuleNotPoolableError } from '../errors.js';

/** The CommonJS wrapper parameters, plus the globals each evaluation shadows. */
const PARAMETERS = ['exports', 'require', 'module', '__filename', '__dirname', 'WebAssembly', 'FinalizationRegistry'] as const;

type Wrapper = (
  this: unknown,
  exports: unknown,
  require: NodeJS.Require,
  module: { exports: unknown },
  filename: string,
  dirname: string,
  webAssembly: typeof WebAssembly,
  finalizationRegistry: typeof FinalizationRegistry,
) => void;

/** What one evaluation sees instead of the real thing. */
export interface EvaluationScope {
  /** The `WebAssembly` namespace the glue sees. */
  webAssembly: typeof WebAssembly;
  /** Contents served instead of reading these files (absolute paths), e.g. the module's bytes. */
  files: ReadonlyMap<string, Uint8Array>;
  /**
   * False once the use is over. The glue's finalizers (wasm-bindgen frees Rust objects from a
   * `FinalizationRegistry`) then do nothing: the memory they would free is the next use's.
   */
  live: () => boolean;
}

/** One glue file and the package files it requires, each compiled once. */
export class GlueScript {
  /** Absolute path of the glue file. */
  readonly filename: string;
  readonly #compiled = new Map<string, Wrapper>();
  readonly #requires = new Map<string, NodeJS.Require>();
  readonly #resolved = new Map<string, { path?: string; name?: string; shared?: unknown }>();

  private constructor(filename: string) {
    this.filename = filename;
  }

  /**
   * Compiles the CommonJS glue at `filename`. Rejects ES module glue with
   * {@link ModuleNotPoolableError}: an ES module is evaluated once per process and its top-level
   * state cannot be renewed per use.
   */
  static load(filename: string): GlueScript {
    if (typeof filename !== 'string' || filename === '') {
      throw new InvalidArgumentError("glue must be the path of the package's CommonJS glue file");
    }
    const script = new GlueScript(resolve(filename));
    script.#compile(script.filename);
    return script;
  }

  /**
   * Runs the glue's top level in `scope` and returns its `module.exports`. Files it requires by a
   * relative or absolute path are evaluated afresh too (their state is the glue's); Node built-ins
   * and packages required by name are shared with the process.
   */
  evaluate(scope: EvaluationScope): unknown {
    const modules = new Map<string, { exports: unknown }>();
    return this.#evaluate(this.filename, { ...scope, registry: registryWhile(scope.live) }, modules);
  }

  #evaluate(filename: string, scope: Scope, modules: Map<string, { exports: unknown }>): unknown {
    const cached = modules.get(filename);
    if (cached) return cached.exports;
    const wrapper = this.#compile(filename);
    const module = { exports: {} as unknown };
    modules.set(filename, module);
    const require = ((specifier: string) => {
      const found = this.#resolve(filename, specifier);
      if (found.path !== undefined) return this.#evaluate(found.path, scope, modules);
      return found.name === 'fs' ? servingFs(scope.files) : found.shared;
    }) as NodeJS.Require;
    Object.assign(require, { resolve: this.#requireOf(filename).resolve, main: undefined });
    wrapper.call(module.exports, module.exports, require, module, filename, dirname(filename), scope.webAssembly, scope.registry);
    return module.exports;
  }

  /**
   * What `specifier` required from `from` is: a package file to evaluate per use (`path`), or a
   * module shared with the process. Remembered, since resolving costs more than evaluating.
   */
  #resolve(from: string, specifier: string): { path?: string; name?: string; shared?: unknown } {
    const key = `${from}\0${specifier}`;
    let found = this.#resolved.get(key);
    if (found !== undefined) return found;
    const nodeRequire = this.#requireOf(from);
    if (isBuiltin(specifier)) {
      const name = specifier.replace(/^node:/, '');
      found = name === 'fs' ? { name } : { name, shared: nodeRequire(specifier) };
    } else if (specifier.startsWith('.') || isAbsolute(specifier)) {
      const path = nodeRequire.resolve(specifier);
      found = path.endsWith('.js') || path.endsWith('.cjs') ? { path } : { shared: nodeRequire(specifier) };
    } else {
      found = { shared: nodeRequire(specifier) };
    }
    this.#resolved.set(key, found);
    return found;
  }

  #requireOf(filename: string): NodeJS.Require {
    let require = this.#requires.get(filename);
    if (require === undefined) this.#requires.set(filename, (require = createRequire(filename)));
    return require;
  }

  #compile(filename: string): Wrapper {
    let wrapper = this.#compiled.get(filename);
    if (wrapper) return wrapper;
    let source: string;
    try {
      source = readFileSync(filename, 'utf8');
    } catch (err) {
      throw new InvalidArgumentError(`cannot read the glue file ${filename}: ${(err as Error).message}`);
    }
    const shared = SHARED.get(filename);
    if (shared !== undefined && shared.source === source) {
      this.#compiled.set(filename, shared.wrapper);
      return shared.wrapper;
    }
    try {
      wrapper = vm.compileFunction(source, [...PARAMETERS], { filename }) as Wrapper;
    } catch (err) {
      if (err instanceof SyntaxError && /\b(import|export)\b/.test(err.message)) {
        throw new ModuleNotPoolableError(
          `the glue ${filename} is an ES module, which Node evaluates once per process, so its state cannot be ` +
            "renewed per use; point options.glue at the package's CommonJS build (wasm-bindgen: --target nodejs; " +
            'emscripten: MODULARIZE without EXPORT_ES6)',
          { cause: err },
        );
      }
      throw new InvalidArgumentError(`the glue ${filename} does not compile: ${(err as Error).message}`);
    }
    this.#compiled.set(filename, wrapper);
    SHARED.set(filename, { source, wrapper });
    return wrapper;
  }
}

/**
 * Every pool of the same glue file shares one compiled wrapper (while the file is unchanged): the
 * wrapper holds no state of its own, and V8 keeps type feedback and optimized code per wrapper, so
 * two pools each with a copy (a tuned and a default pool of one package, say) make V8 optimize
 * the glue's functions again and again, hundreds of times more, in its background threads.
 */
const SHARED = new Map<string, { source: string; wrapper: Wrapper }>();

interface Scope extends EvaluationScope {
  registry: typeof FinalizationRegistry;
}

/**
 * A `FinalizationRegistry` whose cleanups run only while `live()` holds. A constructor function
 * returning the real registry, not a subclass: a class per evaluation costs more.
 */
function registryWhile(live: () => boolean): typeof FinalizationRegistry {
  function UseFinalizationRegistry(cleanup: (held: unknown) => void): FinalizationRegistry<unknown> {
    return new FinalizationRegistry((held) => {
      if (live()) cleanup(held);
    });
  }
  UseFinalizationRegistry.prototype = FinalizationRegistry.prototype;
  return UseFinalizationRegistry as unknown as typeof FinalizationRegistry;
}

/**
 * `fs` with reads of the served files answered from memory: the glue reads the module's bytes at
 * every evaluation, and the pool already holds them.
 */
function servingFs(files: ReadonlyMap<string, Uint8Array>): typeof fs {
  if (files.size === 0) return fs;
  let served = SERVING.get(files);
  if (served === undefined) SERVING.set(files, (served = makeServingFs(files)));
  return served;
}

const SERVING = new WeakMap<ReadonlyMap<string, Uint8Array>, typeof fs>();

function makeServingFs(files: ReadonlyMap<string, Uint8Array>): typeof fs {
  const served = (path: unknown) => (typeof path === 'string' ? files.get(resolve(path)) : undefined);
  const readFileSync = ((path: fs.PathOrFileDescriptor, options?: unknown) => {
    const bytes = served(path);
    if (bytes !== undefined && (options === undefined || options === null)) return bytes;
    return fs.readFileSync(path, options as never);
  }) as typeof fs.readFileSync;
  const readFile = (async (path: fs.PathLike, options?: unknown) => {
    const bytes = served(path);
    if (bytes !== undefined && (options === undefined || options === null)) return bytes;
    return fs.promises.readFile(path, options as never);
  }) as typeof fs.promises.readFile;
  return { ...fs, readFileSync, promises: { ...fs.promises, readFile } } as typeof fs;
}
