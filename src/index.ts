/**
 * cowpool: a fresh WebAssembly instance per request, in microseconds. Pooled memories are mapped
 * copy-on-write over each module's initial image and reset after every use with the Linux
 * `PAGEMAP_SCAN` ioctl, so that a reused instance is indistinguishable from a new one.
 *
 * ```ts
 * import { InstancePool } from 'cowpool';
 * const pool = await InstancePool.create<{ handle(): number }>(await readFile('app.wasm'), { imports });
 * const answer = await pool.run((instance) => instance.exports.handle());
 * ```
 *
 * What users call is exported here: the pool, its host and lease, their types, and the errors.
 * The pool on worker threads is `cowpool/threads`, the WASI host `cowpool/wasi`, the HTTP server
 * `cowpool/serve`, PAGEMAP_SCAN `cowpool/pagemap`, packages with JavaScript glue `cowpool/glue`,
 * and the two guests cowpool hosts itself `cowpool/quickjs` and `cowpool/sqlite`. Memory slots,
 * images and the module rewriter are internals.
 */
export * from './pool/index.js';
export * from './errors.js';
export { DEFAULT_KEEP_RESIDENT, type ResetReport, type ResetStrategy } from './memory/index.js';
