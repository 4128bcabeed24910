/**
 * The options of {@link InstancePool.create}, their defaults, and their validation. Internals see
 * only {@link FilledOptions}, never `undefined`.
 */
import { InvalidArgumentError } from '../errors.js';
import { DEFAULT_KEEP_RESIDENT, parseStrategy, type ResetStrategy } from '../memory/index.js';
import type { ImportsFactory } from './pooled-instance.js';
import type { Mechanism } from './prepare.js';

/** Options of {@link InstancePool.create}. */
export interface PoolOptions<C = unknown> {
  /**
   * The module's imports: an object shared by every pooled instance, or a function called once per
   * pooled instance with its {@link InstanceHost} (whose `context` is the current use's). The pool
   * supplies the module's memory itself.
   */
  imports?: WebAssembly.Imports | ImportsFactory<C>;
  /** Most instances alive at once; callers beyond it wait. Default 16. */
  max?: number;
  /** Instances created up front. Default 1. */
  min?: number;
  /** Bytes a `pagemap` reset may restore in place per use. Default 2 MiB. */
  keepResident?: number;
  /** Memory reset strategy; `auto` (default) picks the fastest that works here. */
  strategy?: 'auto' | ResetStrategy;
  /** `auto` (default) picks `reuse` when it is safe for the module, else `reinstantiate`. */
  mechanism?: 'auto' | Mechanism;
  /**
   * Name of an export to run once before the image is captured (Wizer-style pre-initialization):
   * every use then starts from the state it leaves, memory and globals included.
   */
  initialize?: string;
  /** Longest wait in `acquire`/`run` for a free instance, in ms. Default: no limit. */
  acquireTimeout?: number;
  /**
   * Make guests interruptible: loops and function entries count down a budget, and when it runs
   * out the pool checks the use's deadline (`run(…, { timeout })`). Costs a few instructions per
   * loop iteration. Default false.
   */
  interruptible?: boolean;
}

/** {@link PoolOptions} with every default applied. */
export interface FilledOptions<C> {
  imports: ImportsFactory<C>;
  max: number;
  min: number;
  keepResident: number;
  strategy: 'auto' | ResetStrategy;
  mechanism: 'auto' | Mechanism;
  initialize: string | undefined;
  acquireTimeout: number;
  interruptible: boolean;
}

const kDefaults = {
  max: 16,
  min: 1,
  keepResident: DEFAULT_KEEP_RESIDENT,
  strategy: 'auto',
  mechanism: 'auto',
  acquireTimeout: Infinity,
} as const;

/** Validates `options` and fills in the defaults. Throws {@link InvalidArgumentError} naming the option. */
export function fillOptions<C>(options: PoolOptions<C> | undefined): FilledOptions<C> {
  if (options !== undefined && (typeof options !== 'object' || options === null)) {
    throw new InvalidArgumentError('options must be an object');
  }
  const o: PoolOptions<C> = options ?? {};
  const own = <K extends keyof PoolOptions<C>>(key: K): PoolOptions<C>[K] =>
    Object.hasOwn(o, key) ? o[key] : undefined;
  const max = integer('max', own('max') ?? kDefaults.max, 1);
  const min = integer('min', own('min') ?? kDefaults.min, 0);
  if (min > max) throw new InvalidArgumentError(`options.min (${min}) must not exceed options.max (${max})`);
  const strategy = parseStrategy(own('strategy') ?? kDefaults.strategy, 'options.strategy');
  const mechanism = own('mechanism') ?? kDefaults.mechanism;
  if (!['auto', 'reuse', 'reinstantiate'].includes(mechanism)) {
    throw new InvalidArgumentError(`options.mechanism must be 'auto', 'reuse' or 'reinstantiate', not ${String(mechanism)}`);
  }
  const initialize = own('initialize');
  if (initialize !== undefined && (typeof initialize !== 'string' || initialize === '')) {
    throw new InvalidArgumentError('options.initialize must be the name of an exported function');
  }
  const acquireTimeout = own('acquireTimeout') ?? kDefaults.acquireTimeout;
  if (typeof acquireTimeout !== 'number' || !(acquireTimeout >= 0)) {
    throw new InvalidArgumentError(`options.acquireTimeout must be a non-negative number of ms, not ${String(acquireTimeout)}`);
  }
  const interruptible = own('interruptible') ?? false;
  if (typeof interruptible !== 'boolean') throw new InvalidArgumentError('options.interruptible must be a boolean');
  return {
    imports: importsFactory(own('imports')),
    max,
    min,
    keepResident: integer('keepResident', own('keepResident') ?? kDefaults.keepResident, 0),
    strategy,
    mechanism,
    initialize,
    acquireTimeout,
    interruptible,
  };
}

function integer(name: string, value: unknown, min: number): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < min) {
    throw new InvalidArgumentError(`options.${name} must be an integer of at least ${min}, not ${String(value)}`);
  }
  return value;
}

function importsFactory<C>(imports: PoolOptions<C>['imports']): ImportsFactory<C> {
  if (imports === undefined) return () => ({});
  if (typeof imports === 'function') return imports;
  if (typeof imports !== 'object' || imports === null) {
    throw new InvalidArgumentError('options.imports must be an imports object or a function returning one');
  }
  return () => imports;
}
