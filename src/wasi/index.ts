// The WASI preview1 host of cowpool: import object built once, context swapped per use.

export { WasiHost, type WasiHostOptions, type PreopenOption } from './host.js';
export type { WasiContext } from './context.js';
export { WasiExit } from './wasi-exit.js';
export { isWasiCommand } from './command.js';
export { OutputCollector } from './output-collector.js';
export { systemClock, sleepSynchronously, type WasiClock } from './clock.js';
export { cryptoRandom, type RandomSource } from './random.js';
export { PREVIEW1_FUNCTIONS } from './preview1-imports.js';
export { Errno, type ErrnoValue, WASI_MODULE } from './abi.js';
