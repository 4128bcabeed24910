/**
 * ES modules for the guest: where `import` finds its source. A sandbox's `modules` option is a map
 * of module names to source text, or a loader function the host provides; QuickJS asks for a
 * module through the `loadModuleSource` import the first time a context imports it, with the name
 * its own normalization made (`./lib.js` imported from `main.js` is `lib.js`; a bare name stays as
 * written). What the setup script imports is compiled and evaluated once and kept in the image;
 * what a use imports first is loaded for that use alone.
 *
 * `modules` may also be the path or URL of a module file whose default export is either (the form
 * a worker thread can load: it cannot be handed a function).
 *
 * The loader is synchronous: QuickJS's build without asyncify cannot wait for the host inside an
 * import (`qts_load_module` takes the source as the call returns). A loader that throws, or answers
 * with something that is not a string, ends the use with the host's typed error, whatever the
 * guest catches; a module nobody provides is the guest's `ReferenceError: could not load module`.
 */
import { HostFunctionError, InvalidArgumentError } from '../errors.js';
import { importModule } from '../import-module.js';
import { readCString, writeCString } from '../emscripten/c-strings.js';
import { isPromise } from '../pool/sync-or-async.js';
import type { UseState } from './use-state.js';

/** Answers an import: the module's source text, or undefined (or null) when there is no such module. */
export type ModuleLoader = (name: string) => string | undefined | null;

/** Where modules come from, as `options.modules` gives them: a map of names to source, or a loader. */
export type ModuleSource = Readonly<Record<string, string>> | ModuleLoader;

/** The checked form of `options.modules`: a loader in every case (a map answers from itself). */
export function moduleLoader(modules: unknown, path: string): ModuleLoader | undefined {
  if (modules === undefined) return undefined;
  if (typeof modules === 'function') return modules as ModuleLoader;
  if (typeof modules !== 'object' || modules === null || Array.isArray(modules)) {
    throw new InvalidArgumentError(`${path} must be an object of module names to source text, or a function that loads one`);
  }
  const map = new Map<string, string>();
  for (const [name, source] of Object.entries(modules)) {
    if (typeof source !== 'string')
      throw new InvalidArgumentError(`${path}['${name}'] must be the module's source text, not ${typeof source}`);
    map.set(name, source);
  }
  return (name) => map.get(name);
}

/**
 * The loader of the module file at `url` (its default export: a map of names to source text, or a
 * loader function), for `options.modules` given as a path or URL; `path` names the option.
 */
export async function importModuleLoader(url: string, path: string): Promise<ModuleLoader> {
  let namespace: { default?: unknown };
  try {
    namespace = (await importModule(url)) as { default?: unknown };
  } catch (err) {
    throw new InvalidArgumentError(`${path}: cannot import ${url}: ${(err as Error).message}`, { cause: err });
  }
  if (namespace.default === undefined) {
    throw new InvalidArgumentError(`${path}: ${url} must export default a loader function (name) => source, or a map of names to source`);
  }
  return moduleLoader(namespace.default, `${path} (the default export of ${url})`)!;
}

/** The `loadModuleSource` import over `load`; `use()` is the current use's state. */
export function loadModuleImport(
  load: ModuleLoader | undefined,
  memory: WebAssembly.Memory,
  use: () => UseState | undefined,
): (rt: number, ctx: number, name: number) => number {
  return (_rt, _ctx, namePtr) => {
    const state = use();
    const guest = state?.guest;
    if (load === undefined || state === undefined || guest === undefined) return 0;
    const name = readCString(memory, namePtr);
    // No module is a null answer with an exception pending, as QuickJS's own loader throws it.
    const missing = () => {
      const { x, layout } = guest;
      const code = writeCString(memory, x.malloc, `new ReferenceError(${JSON.stringify(`could not load module '${name}'`)})`);
      x.QTS_Throw(layout.ctx, x.QTS_Eval(layout.ctx, code.ptr, code.length, layout.defaultFilename, 0, 0));
      return 0;
    };
    let source: unknown;
    try {
      source = load(name);
    } catch (err) {
      state.stop(
        (logs) =>
          new HostFunctionError(
            'loadModule',
            err,
            logs,
            `the module loader threw for '${name}': ${String((err as Error)?.message ?? err)}`,
          ),
      );
      return missing();
    }
    if (source === undefined || source === null) return missing();
    if (typeof source !== 'string') {
      if (isPromise(source)) source.then(undefined, () => {});
      const what = isPromise(source) ? 'a promise (a loader must answer at once)' : typeof source;
      state.stop(() => new InvalidArgumentError(`options.modules returned ${what} for '${name}'; return the source text, or undefined`));
      return missing();
    }
    // QuickJS frees the text with `free` once compiled.
    return writeCString(memory, guest.x.malloc, source).ptr;
  };
}
