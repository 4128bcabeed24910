/**
 * The public types of {@link InstancePool}'s API that are not options or counters: what `describe()`
 * reports, the module bytes `create` accepts, an instance as a use sees it, and the function a use runs.
 * (Options are `options.ts`, counters `stats.ts`.)
 */
import type { ResetStrategy } from '../memory/index.js';
import type { InstanceHost } from './instance-host.js';
import type { Interruptible, Mechanism } from './prepare.js';

/** What {@link InstancePool.describe} reports: the choices the pool made and why. */
export interface PoolDescription {
  mechanism: Mechanism;
  mechanismReason: string;
  /** The memory reset strategy, or `none` when the module has no memory. */
  strategy: ResetStrategy | 'none';
  /** Why the strategy is not `pagemap`, when it is not. */
  strategyReason?: string;
  memory?: {
    initialPages: number;
    maximumPages?: number;
    /** Where the image's non-zero span lies, in bytes. */
    imageStart: number;
    imageBytes: number;
  };
  keepResident: number;
  /** Internal mutable globals restored after each use (reuse). */
  restoredGlobals: number;
  /** Tables restored after each use (reuse). */
  restoredTables: number;
  /** Exported tables given room to grow (`options.tableReserve`, reuse): export name and entries added. */
  reservedTables: { name: string; reserve: number }[];
  max: number;
  /** Whether the module the pool runs carries the fuel counter that lets a use time out, and where (`'loops'`). */
  interruptible: Interruptible;
  initialized: boolean;
  /** Whether the guest sees its memory size through a global (`options.virtualMemorySize`). */
  virtualMemorySize: boolean;
}

/** The module bytes `InstancePool.create` accepts. */
export type ModuleSource = ArrayBuffer | ArrayBufferView;

/** A pooled instance as a use sees it: a `WebAssembly.Instance` whose exports have type `E`. */
export type PoolInstance<E extends object = WebAssembly.Exports> = WebAssembly.Instance & { readonly exports: E };

/** What `run` and `runSync` call: `fn(instance, context, host)`. */
export type UseFunction<E extends object, S, C, T> = (instance: PoolInstance<E>, context: C | undefined, host: InstanceHost<S, C>) => T;
