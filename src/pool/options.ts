/**
 * The options of {@link InstancePool.create} and of each use, their defaults, and their validation.
 * Internals see only {@link FilledOptions}, never `undefined`. A key that is not an option is an
 * error naming the closest known one: a misspelt option silently ignored is a bug found in production.
 */
import { InvalidArgumentError } from '../errors.js';
import { DEFAULT_KEEP_RESIDENT, parseStrategy, type ResetStrategy } from '../memory/index.js';
import { boolean, integer, queueBound, rejectUnknownKeys, timeoutMs, waitMs } from '../options/validate.js';
import type { ImportsFactory, SetupHook } from './instance-host.js';
import type { Interruptible, Mechanism, ModulePlan } from './prepare.js';
import { checkCacheOption, type CacheChoice, type CacheOption } from './cache/settings.js';
import { INITIALIZER, type FunctionInitializer, type Initializer } from './preinitialize/initializer.js';
import { TEST_HOOKS, type TestHooks } from './test-hooks.js';

/** Options of {@link InstancePool.create}. `S` is each instance's state, `C` a use's context. */
export interface PoolOptions<S = undefined, C = unknown> {
  /**
   * Builds each pooled instance's imports and its own state (sync or async), once per pooled
   * instance: `(host) => ({ imports, state })`. `host.state` is then `state`, typed `S`; host
   * functions read the current use's `host.context` and `host.deadline`. The pool supplies the
   * module's memory itself. Give this or `imports`, not both.
   */
  setup?: SetupHook<S, C>;
  /**
   * The module's imports: an object shared by every pooled instance, or a function called once per
   * pooled instance with its {@link InstanceHost}. The stateless form of `setup`.
   */
  imports?: WebAssembly.Imports | ImportsFactory<C>;
  /** Most instances alive at once; callers beyond it wait. Default 16. */
  max?: number;
  /** Instances created up front. Default 1. */
  min?: number;
  /** Bytes a `pagemap` reset may restore in place per use. Default 2 MiB. */
  keepResident?: number;
  /**
   * An instance idle this long (ms) gives back the pages its uses wrote, which `keepResident` kept
   * so that the next use takes no page faults on them: after a burst, the instances it needed cost
   * little more than V8's share until they are used again (then they fault their pages back in).
   * Infinity never trims. Default 1000.
   */
  trimIdleAfter?: number;
  /** Memory reset strategy; `auto` (default) picks the fastest that works here. */
  strategy?: 'auto' | ResetStrategy;
  /** `auto` (default) picks `reuse` when it is safe for the module, else `reinstantiate`. */
  mechanism?: 'auto' | Mechanism;
  /**
   * An export to run once before the image is captured (Wizer-style pre-initialization): every use
   * then starts from the state it leaves, memory and globals included. Its name, or its name and
   * arguments: `{ name: 'init', args: [4096] }`.
   */
  initialize?: string | { name: string; args?: readonly (number | bigint)[] };
  /**
   * Give pooled memories this many bytes from the start (rounded up to 64 KiB, at most the module's
   * maximum) instead of the module's declared initial size, or `'learn'`: the largest size a use
   * has grown one to. A memory that grows during a use must be replaced (V8 cannot shrink it), so a
   * guest whose allocator grows on every use loses its slot every time; a larger initial memory
   * keeps it, and copy-on-write makes the untouched part free. This is the one difference from a
   * fresh instance: `memory.size` at the start of a use is the larger size. Default: the declared size.
   */
  initialMemory?: number | 'learn';
  /**
   * Let the guest see its own memory size (a fresh instance's) while the pooled memory is larger:
   * `memory.size` and `memory.grow` are rewritten to read and grow a global, and grow the real memory
   * only past it. With `initialMemory`, a guest whose allocator grows on every use (Rust's,
   * wasi-libc's) then keeps its slot. Differences from a fresh instance: an access past the guest's
   * size but inside the real memory reads zeros instead of trapping, and JavaScript sees the real
   * size. Not for glue that grows the memory from JavaScript (emscripten). Default false.
   */
  virtualMemorySize?: boolean;
  /**
   * Room for a kept instance's exported table to grow into: with `reuse`, each table that only
   * JavaScript can grow (exported, no `table.grow` in the module: emscripten's `addFunction`) gets
   * this many more entries (null) when the member is created, and after each use all its entries
   * are restored, those of the room to null. Such a table then no longer forbids `reuse`. A use
   * that grows the real table retires its member (a table cannot shrink). The difference from a
   * fresh instance: the table is larger from the start (JavaScript sees the larger `length`, a
   * `call_indirect` into the room finds null instead of being out of bounds). cowpool/glue hides
   * it: the glue sees the declared size and its `grow` uses the room. Restoring costs some tens of
   * ns an entry, so the cost rule may still prefer `reinstantiate` (`mechanism: 'reuse'` overrides
   * it). Default 0 (such a table forces `reinstantiate`).
   */
  tableReserve?: number;
  /** Longest wait in `acquire`/`run` for a free instance, in ms. Default: no limit. */
  acquireTimeout?: number;
  /**
   * Callers that may wait for a free instance while all `max` are in use; one more is refused at
   * once with `QueueFullError` (a `CapacityError`: shed the load, or retry later). Callers wait only
   * while uses are asynchronous (a use that awaits holds its instance). Default Infinity (never
   * refused): set a bound where load must be shed, as a server should, with `acquireTimeout` for
   * how long one may wait.
   */
  maxQueue?: number;
  /**
   * Make guests interruptible: loops and function entries count down a budget, and when it runs
   * out the pool checks the use's deadline (`run(…, { timeout })`). Costs a few instructions per
   * loop iteration and per call. `'loops'` counts at loop headers only, which halves the cost in an
   * interpreter's many small functions but does not bound loop-free recursion (a call tree can be
   * exponentially long): only for a guest whose every step of untrusted work passes a loop, such as
   * a JavaScript or Lua interpreter running untrusted scripts, never for untrusted wasm. Default false.
   *
   * A start function and an initializer are guest code like any other: with `interruptible`, one
   * that runs per use (`reinstantiate`) is stopped at the use's `timeout`, and one that runs at
   * create (pre-initialization) at `createTimeout`. Without it nothing on this thread can stop a
   * guest that never returns, a start function included: a module whose start function may loop
   * needs `interruptible`, or a worker thread that can be ended.
   */
  interruptible?: Interruptible;
  /**
   * How long the guest code `create` runs may take, in ms: the start function and `initialize`,
   * run once to make the image. Past it, `create` rejects with a `GuestTimeoutError` that says what
   * did not return. Needs `interruptible` (the fuel counter is what stops it). Default 10000 with
   * `interruptible`; Infinity for none.
   */
  createTimeout?: number;
  /**
   * Keep what preparing the module produced (the rewritten module, the image, the plan) in a cache
   * on disk, keyed by the module's bytes, the options that shape it and cowpool's version, so that
   * the next pool of the same module starts in milliseconds: `true` (default), `false`, or
   * `{ dir }`. The directory is `$COWPOOL_CACHE_DIR`, else `$XDG_CACHE_HOME/cowpool`, else
   * `~/.cache/cowpool`; `COWPOOL_CACHE=off` turns the cache off for the whole process. A pool whose
   * preparation ran code of yours (`initialize`, or data offsets read from imported globals) is not
   * cached: what your imports return is not part of the key. Nor are modules under 64 KiB:
   * preparing them costs less than reading a file.
   */
  cache?: CacheOption;
}

/**
 * {@link PoolOptions} with what only cowpool itself passes, under symbol keys no user can type: a
 * host's initializer (the sandboxes'), and the test hooks.
 */
export type InternalPoolOptions<S = undefined, C = unknown> = PoolOptions<S, C> & {
  readonly [INITIALIZER]?: FunctionInitializer;
  readonly [TEST_HOOKS]?: TestHooks;
};

/** Options of one use (`run`, `runSync`, `acquire`). */
export interface UseOptions {
  /** End the guest with {@link GuestTimeoutError} after this many ms (needs `interruptible`). */
  timeout?: number;
  /** Longest wait for a free instance, in ms; overrides `options.acquireTimeout`. */
  acquireTimeout?: number;
  /** Stops waiting for a free instance when it fires (rejects with `AbortedError`). */
  signal?: AbortSignal;
}

/** {@link PoolOptions} with every default applied. */
export interface FilledOptions<S, C> {
  setup: SetupHook<S, C>;
  max: number;
  min: number;
  keepResident: number;
  trimIdleAfter: number;
  strategy: 'auto' | ResetStrategy;
  acquireTimeout: number;
  maxQueue: number;
  plan: ModulePlan;
  /** Bytes (not yet rounded), `learn`, or undefined for the module's own size. */
  initialMemory: number | 'learn' | undefined;
  /**
   * Whether a use is handed a view of its instance that stops working when the use ends
   * (`use-view.ts`). False only for a pool a sandbox hosts (it passes a host's initializer): its
   * uses are the sandbox's own code, which keeps no exports and caches them per instance.
   */
  guardExports: boolean;
  cache: CacheChoice;
  testHooks: TestHooks;
}

/** {@link UseOptions}, checked, with the pool's defaults applied. */
export interface FilledUseOptions {
  /** The use's timeout in ms, Infinity for none. */
  timeout: number;
  acquireTimeout: number;
  signal: AbortSignal | undefined;
}

const POOL_KEYS = [
  'setup',
  'imports',
  'max',
  'min',
  'keepResident',
  'trimIdleAfter',
  'strategy',
  'mechanism',
  'initialize',
  'initialMemory',
  'virtualMemorySize',
  'tableReserve',
  'acquireTimeout',
  'maxQueue',
  'interruptible',
  'createTimeout',
  'cache',
] as const satisfies readonly (keyof PoolOptions)[];
const USE_KEYS = ['timeout', 'acquireTimeout', 'signal'] as const satisfies readonly (keyof UseOptions)[];

const DEFAULTS = {
  max: 16,
  min: 1,
  keepResident: DEFAULT_KEEP_RESIDENT,
  trimIdleAfter: 1000,
  strategy: 'auto',
  mechanism: 'auto',
  acquireTimeout: Infinity,
  maxQueue: Infinity,
  createTimeout: 10_000,
} as const;

/** Validates `options` and fills in the defaults. Throws {@link InvalidArgumentError} naming the option. */
export function fillOptions<S, C>(options: PoolOptions<S, C> | undefined): FilledOptions<S, C> {
  if (options !== undefined && (typeof options !== 'object' || options === null)) {
    throw new InvalidArgumentError('options must be an object');
  }
  const o: PoolOptions<S, C> = options ?? {};
  if (Object.hasOwn(o, 'timeout') || Object.hasOwn(o, 'signal')) {
    const key = Object.hasOwn(o, 'timeout') ? 'timeout' : 'signal';
    throw new InvalidArgumentError(
      `options.${key} belongs to each use: pool.run(fn, context, { ${key} }) (a pool-wide wait limit is options.acquireTimeout)`,
    );
  }
  rejectUnknownKeys(o, POOL_KEYS, 'options');
  const own = <K extends keyof PoolOptions<S, C>>(key: K): PoolOptions<S, C>[K] => (Object.hasOwn(o, key) ? o[key] : undefined);
  const max = integer('options.max', own('max') ?? DEFAULTS.max, 1);
  const min = integer('options.min', own('min') ?? DEFAULTS.min, 0);
  if (min > max) throw new InvalidArgumentError(`options.min (${min}) must not exceed options.max (${max})`);
  const strategy = parseStrategy(own('strategy') ?? DEFAULTS.strategy, 'options.strategy');
  const mechanism = own('mechanism') ?? DEFAULTS.mechanism;
  if (!['auto', 'reuse', 'reinstantiate'].includes(mechanism)) {
    throw new InvalidArgumentError(`options.mechanism must be 'auto', 'reuse' or 'reinstantiate', not ${String(mechanism)}`);
  }
  const hosted = (o as InternalPoolOptions<S, C>)[INITIALIZER];
  if (hosted !== undefined && own('initialize') !== undefined) {
    throw new InvalidArgumentError(`options.initialize cannot be given to a pool that ${hosted.name} initializes`);
  }
  const initialize = hosted ?? initializer(own('initialize'));
  const initialMemory = own('initialMemory');
  if (initialMemory !== undefined && initialMemory !== 'learn' && !(Number.isSafeInteger(initialMemory) && initialMemory > 0)) {
    throw new InvalidArgumentError(`options.initialMemory must be a positive number of bytes or 'learn', not ${String(initialMemory)}`);
  }
  const acquireTimeout = waitMs('options.acquireTimeout', own('acquireTimeout') ?? DEFAULTS.acquireTimeout);
  const trimIdleAfter = waitMs('options.trimIdleAfter', own('trimIdleAfter') ?? DEFAULTS.trimIdleAfter);
  const interruptible = own('interruptible') ?? false;
  if (typeof interruptible !== 'boolean' && interruptible !== 'loops') {
    throw new InvalidArgumentError(`options.interruptible must be true, false or 'loops', not ${String(interruptible)}`);
  }
  const createTimeout = own('createTimeout');
  if (createTimeout !== undefined && interruptible === false) {
    throw new InvalidArgumentError(
      'options.createTimeout needs options.interruptible: without the fuel counter nothing on this thread can stop ' +
        'a start function or an initializer that never returns',
    );
  }
  const hooks = (o as InternalPoolOptions<S, C>)[TEST_HOOKS];
  return {
    setup: setupHook(own('setup'), own('imports')),
    max,
    min,
    keepResident: integer('options.keepResident', own('keepResident') ?? DEFAULTS.keepResident, 0),
    trimIdleAfter,
    strategy,
    acquireTimeout,
    maxQueue: queueBound('options.maxQueue', own('maxQueue') ?? DEFAULTS.maxQueue),
    plan: {
      mechanism,
      interruptible,
      initialize,
      keepExports: hosted?.keepExports,
      tableReserve: integer('options.tableReserve', own('tableReserve') ?? 0, 0),
      createTimeout: interruptible === false ? Infinity : timeoutMs('options.createTimeout', createTimeout ?? DEFAULTS.createTimeout),
      virtualMemorySize: boolean('options.virtualMemorySize', own('virtualMemorySize') ?? false),
    },
    initialMemory,
    guardExports: hosted === undefined,
    cache: checkCacheOption('options.cache', own('cache')),
    testHooks: hooks ?? {},
  };
}

/**
 * Checks one use's options against the pool's, before anything is taken from the pool: a bad
 * option must not cost an instance.
 */
export function fillUseOptions(
  options: UseOptions | undefined,
  pool: { acquireTimeout: number; interruptible: boolean },
): FilledUseOptions {
  if (options === undefined) return { timeout: Infinity, acquireTimeout: pool.acquireTimeout, signal: undefined };
  if (typeof options !== 'object' || options === null) throw new InvalidArgumentError('the use options must be an object');
  rejectUnknownKeys(options, USE_KEYS, 'the use options');
  let timeout = Object.hasOwn(options, 'timeout') ? options.timeout : undefined;
  if (timeout === undefined) timeout = Infinity;
  else if (timeout !== Infinity) {
    if (typeof timeout !== 'number' || !(timeout > 0)) {
      throw new InvalidArgumentError(`timeout must be a positive number of ms, not ${String(timeout)}`);
    }
    if (!pool.interruptible) {
      throw new InvalidArgumentError('a timeout needs a pool created with options.interruptible: true');
    }
  }
  const acquireTimeout = Object.hasOwn(options, 'acquireTimeout') ? options.acquireTimeout : undefined;
  if (acquireTimeout !== undefined) waitMs('acquireTimeout', acquireTimeout);
  const signal = Object.hasOwn(options, 'signal') ? options.signal : undefined;
  if (signal !== undefined && !(signal instanceof AbortSignal)) {
    throw new InvalidArgumentError('signal must be an AbortSignal');
  }
  return { timeout, acquireTimeout: acquireTimeout ?? pool.acquireTimeout, signal };
}

function initializer(value: PoolOptions['initialize']): Initializer | undefined {
  if (value === undefined) return undefined;
  const spec = typeof value === 'string' ? { name: value } : value;
  if (typeof spec !== 'object' || spec === null || typeof spec.name !== 'string' || spec.name === '') {
    throw new InvalidArgumentError("options.initialize must be an export's name, or { name, args }");
  }
  rejectUnknownKeys(spec, ['name', 'args'], 'options.initialize');
  const args = spec.args ?? [];
  if (!Array.isArray(args) || !args.every((a) => typeof a === 'number' || typeof a === 'bigint')) {
    throw new InvalidArgumentError(
      "options.initialize.args must be an array of numbers and bigints (the export's i32/i64/f32/f64 arguments)",
    );
  }
  return { kind: 'export', name: spec.name, args: [...args] };
}

function setupHook<S, C>(setup: SetupHook<S, C> | undefined, imports: PoolOptions<S, C>['imports']): SetupHook<S, C> {
  if (setup !== undefined) {
    if (imports !== undefined)
      throw new InvalidArgumentError('give options.setup or options.imports, not both (setup returns the imports)');
    if (typeof setup !== 'function') throw new InvalidArgumentError('options.setup must be a function (host) => ({ imports, state })');
    return setup;
  }
  if (imports === undefined) return () => ({});
  if (typeof imports === 'function') return (host) => ({ imports: imports(host) });
  if (typeof imports !== 'object' || imports === null) {
    throw new InvalidArgumentError('options.imports must be an imports object or a function returning one');
  }
  return () => ({ imports });
}
