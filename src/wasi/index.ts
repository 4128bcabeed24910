/**
 * `cowpool/wasi`: the WASI preview1 host of cowpool. Its import object is built once and only the
 * context (args, env, stdin, output sinks) is swapped per use; preopened directories are by default
 * copy-on-write overlays, writable by the guest and pristine again at every use.
 *
 * ```ts
 * import { WasiCommand } from 'cowpool/wasi';
 * const command = await WasiCommand.create('tool.wasm', { preopens: [{ guestPath: '/data', hostPath: './data' }] });
 * const { exitCode, stdout } = await command.run({ args: ['tool', 'in.txt'] });
 * ```
 */

export {
  WasiCommand,
  type WasiCommandDescription,
  type WasiCommandOptions,
  type WasiCommandStats,
  type WasiStreamInput,
} from './wasi-command.js';
export type { OutputCallback, WasiRunInput, WasiRunResult } from './command-use.js';
export { WasiRunStream, type WasiOutputChunk } from './output-stream.js';
export { WasiHost, type WasiHostOptions, type PreopenOption } from './wasi-host.js';
export type { PreopenMode } from './fs/preopen-fs.js';
export { DEFAULT_OVERLAY_LIMIT } from './fs/overlay-budget.js';
export { DEFAULT_OUTPUT_LIMIT, type WasiContext } from './context.js';
export { AbortedError, GuestOutputLimitError, GuestTimeoutError, GuestTrapError } from '../errors.js';
export { PoolClosedError, QueueFullError, ThreadExitedError } from '../errors.js';
export { WasiExit } from './wasi-exit.js';
export { checkWasiCommand, isWasiCommand } from './command.js';
export { OutputCollector } from './output-collector.js';
export { systemClock, sleepSynchronously, type UseDeadline, type WasiClock } from './clock.js';
export { cryptoRandom, type RandomSource } from './random.js';
export { PREVIEW1_FUNCTIONS } from './preview1-imports.js';
export { Errno, type ErrnoValue, WASI_MODULE } from './abi.js';
