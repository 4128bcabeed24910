// Where the npm packages with JavaScript glue keep their glue and modules, and how they are pooled,
// for the glue tests and benchmarks.
import { fileURLToPath } from 'node:url';
import { emscripten, type GluePoolOptions } from '../../src/glue/index.ts';

/** A file of an installed package (some packages' exports hide their glue and .wasm from resolve). */
export function packageFile(pkg: string, file: string): string {
  return fileURLToPath(new URL(`../../node_modules/${pkg}/${file}`, import.meta.url));
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Api = any;

/** sql.js as `GluePool` takes it (its emscripten factory), without pool options. */
export function sqljsGlue(): GluePoolOptions<Api> {
  return { glue: packageFile('sql.js', 'dist/sql-wasm.js'), wasm: packageFile('sql.js', 'dist/sql-wasm.wasm'), load: emscripten() };
}

/** vscode-oniguruma as `GluePool` takes it (its `loadWASM` given the pool's instantiator), without pool options. */
export function onigurumaGlue(): GluePoolOptions<Api> {
  return {
    glue: packageFile('vscode-oniguruma', 'release/main.js'),
    wasm: packageFile('vscode-oniguruma', 'release/onig.wasm'),
    load: async (onig, kit) => {
      await onig.loadWASM({ instantiator: kit.instantiate });
      return onig;
    },
  };
}

/** brotli-wasm's Node build (wasm-bindgen, instantiated by its glue), without pool options. */
export function brotliGlue(): GluePoolOptions<Api> {
  return {
    glue: packageFile('brotli-wasm', 'pkg.node/brotli_wasm.js'),
    wasm: packageFile('brotli-wasm', 'pkg.node/brotli_wasm_bg.wasm'),
    load: (brotli) => brotli,
  };
}

/** @resvg/resvg-wasm (wasm-bindgen, `initWasm` once per glue, which throws on a kept glue), without pool options. */
export function resvgGlue(): GluePoolOptions<Api> {
  return {
    glue: packageFile('@resvg/resvg-wasm', 'index.js'),
    wasm: packageFile('@resvg/resvg-wasm', 'index_bg.wasm'),
    load: async (resvg, kit) => {
      await resvg.initWasm(kit.module);
      return resvg;
    },
  };
}
