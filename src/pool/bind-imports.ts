/**
 * The imports an instance of the pool's module is made with: the user's (from `options.setup`)
 * plus the pool's memory, checked against what the module imports, so that a missing import fails
 * with its name instead of V8's `LinkError`. Members and pre-initialization both link this way.
 */
import { ImportMissingError } from '../errors.js';

/** The user's imports with the pool's memory added as `target`; see the module comment. */
export function bindImports(
  module: WebAssembly.Module,
  target: { module: string; name: string } | undefined,
  given: WebAssembly.Imports,
  memory: WebAssembly.Memory | undefined,
): WebAssembly.Imports {
  const imports: WebAssembly.Imports = {};
  for (const [name, namespace] of Object.entries(given ?? {})) imports[name] = { ...namespace };
  if (target && memory) imports[target.module] = { ...imports[target.module], [target.name]: memory };
  for (const wanted of WebAssembly.Module.imports(module)) {
    const namespace = imports[wanted.module];
    if (namespace === undefined || !Object.hasOwn(namespace, wanted.name)) {
      throw new ImportMissingError(wanted.module, wanted.name, wanted.kind);
    }
  }
  return imports;
}
