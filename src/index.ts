/**
 * cowpool: a fresh WebAssembly instance per request, in microseconds. Pooled memories are mapped
 * copy-on-write over each module's initial image and reset after every use with the Linux
 * `PAGEMAP_SCAN` ioctl, so that a reused instance is indistinguishable from a new one.
 *
 * ```ts
 * import { InstancePool } from 'cowpool';
 * const pool = await InstancePool.create(await readFile('app.wasm'), { imports });
 * const answer = await pool.run((instance) => instance.exports.handle());
 * ```
 */
export * from './pool/index.js';
export * from './errors.js';
export {
  MemoryImage,
  MemorySlot,
  chooseStrategy,
  selfCheck,
  DEFAULT_KEEP_RESIDENT,
  type MemoryImageOptions,
  type MemorySlotOptions,
  type ResetReport,
  type ResetStrategy,
} from './memory/index.js';
