/** The instance pool: fresh-equivalent WebAssembly instances per use. */
export { InstancePool, Lease, type ModuleSource, type PoolDescription, type PoolInstance, type UseFunction } from './instance-pool.js';
export { InstanceHost, type ImportsFactory, type PoolSetup, type SetupHook } from './host.js';
export type { PoolOptions, UseOptions } from './options.js';
export type { PoolStats } from './stats.js';
export type { Interruptible, Mechanism } from './prepare.js';
