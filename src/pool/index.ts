/** The instance pool: fresh-equivalent WebAssembly instances per use. */
export { InstancePool } from './instance-pool.js';
export { Lease } from './lease.js';
export type { ModuleSource, PoolDescription, PoolInstance, UseFunction } from './types.js';
export { InstanceHost, type ImportsFactory, type PoolSetup, type SetupHook } from './instance-host.js';
export type { PoolOptions, UseOptions } from './options.js';
export type { CacheOption } from './cache/settings.js';
export type { PoolStats } from './stats.js';
export type { Interruptible, Mechanism } from './prepare.js';
