/** The instance pool: fresh-equivalent WebAssembly instances per use. */
export { InstancePool, Lease, type PoolDescription, type UseOptions } from './instance-pool.js';
export { InstanceHost, type ImportsFactory } from './pooled-instance.js';
export type { PoolOptions } from './options.js';
export type { PoolStats } from './stats.js';
export type { Mechanism } from './prepare.js';
