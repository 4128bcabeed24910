/**
 * Pooling a module together with its JavaScript glue (emscripten, wasm-bindgen, hand-written
 * loaders): every use gets fresh glue state as well as a fresh instance. See README "Packages with
 * JavaScript glue".
 */
export { GluePool, type GlueKit, type GluePoolOptions } from './glue-pool.js';
export { emscripten } from './emscripten.js';
export { ClosedError, ImportMissingError, ModuleNotPoolableError } from '../errors.js';
