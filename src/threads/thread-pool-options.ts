/**
 * The options of `ThreadPool.create`, their defaults, and their validation: the thread layer's own
 * (`options.ts`), the module file, the create deadline, and the `InstancePool` options that are
 * data, checked here by the pool's own validation so both word a wrong option alike. What is code
 * (`setup`, `imports`) comes from the module file instead, and `max`/`min` have no meaning (each
 * thread runs one use at a time on one instance): both are refused with what to do instead.
 */
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { InvalidArgumentError } from '../errors.js';
import { fillOptions, type PoolOptions } from '../pool/options.js';
import { rejectUnknownKeys, timeoutMs } from '../options/validate.js';
import { fillThreadOptions, THREAD_OPTION_KEYS, type FilledThreadOptions, type ThreadOptions } from './options.js';

/** The `InstancePool` options a `ThreadPool` takes: those that are data. */
export type ThreadPoolPoolOptions = Omit<
  PoolOptions,
  'setup' | 'imports' | 'max' | 'min' | 'acquireTimeout' | 'maxQueue' | 'createTimeout'
>;

/** Options of `ThreadPool.create`. */
export interface ThreadPoolOptions extends ThreadOptions, ThreadPoolPoolOptions {
  /**
   * The module every thread imports (a path, or a `file:` URL): its default export runs each use,
   * `(instance, input, host) => result`, and its optional `setup` export is `PoolOptions.setup`.
   */
  filename: string | URL;
  /**
   * How long each step of `create` may take, in ms: a thread's start (importing the module file,
   * `setup`, its first instance), and preparing the module (the start function and `initialize`,
   * run once to make the image), each given the whole deadline. Past it the thread doing it is
   * ended and `create` rejects with a `GuestTimeoutError` that says what did not return. Needs no
   * `interruptible` (a thread can always be ended; with it, the fuel counter stops a start function
   * or initializer first, and says so). Default 10000.
   */
  createTimeout?: number;
}

/** {@link ThreadPoolOptions} checked, with every default applied. */
export interface FilledThreadPoolOptions {
  threads: FilledThreadOptions;
  /** The module file. */
  filename: URL;
  createTimeout: number;
  /**
   * The pool options that are data, as given: each thread (the preparing one, the pools' ones) and
   * this one's assembly fill them again, with the module file's `setup` where it runs code.
   */
  pool: ThreadPoolPoolOptions & { createTimeout?: number };
}

const POOL_DATA_KEYS = [
  'keepResident',
  'trimIdleAfter',
  'strategy',
  'mechanism',
  'initialize',
  'initialMemory',
  'virtualMemorySize',
  'tableReserve',
  'interruptible',
  'cache',
] as const satisfies readonly (keyof ThreadPoolPoolOptions)[];
const KEYS = [...THREAD_OPTION_KEYS, ...POOL_DATA_KEYS, 'filename', 'createTimeout'] as const;

const DEFAULT_CREATE_TIMEOUT = 10_000;

/** Validates `options` and fills in the defaults. Throws {@link InvalidArgumentError} naming the option. */
export function fillThreadPoolOptions(options: ThreadPoolOptions): FilledThreadPoolOptions {
  if (typeof options !== 'object' || options === null) {
    throw new InvalidArgumentError('ThreadPool.create needs options with at least options.filename (the module each thread imports)');
  }
  for (const key of ['setup', 'imports'] as const) {
    if (Object.hasOwn(options, key)) {
      throw new InvalidArgumentError(
        `options.${key} cannot be sent to a worker thread (it is code): export setup from the module file (options.filename) instead`,
      );
    }
  }
  for (const key of ['max', 'min'] as const) {
    if (Object.hasOwn(options, key)) {
      throw new InvalidArgumentError(
        `options.${key} does not apply to a ThreadPool: each thread runs one use at a time; set options.threads`,
      );
    }
  }
  rejectUnknownKeys(options, KEYS, 'options');
  const pool: FilledThreadPoolOptions['pool'] = {};
  for (const key of POOL_DATA_KEYS) if (Object.hasOwn(options, key)) Object.assign(pool, { [key]: options[key] });
  const createTimeout = timeoutMs(
    'options.createTimeout',
    Object.hasOwn(options, 'createTimeout') ? options.createTimeout : DEFAULT_CREATE_TIMEOUT,
  );
  // With the fuel counter, the start function and initializer stop themselves at the create deadline.
  if ((pool.interruptible ?? false) !== false) pool.createTimeout = createTimeout;
  // Checked here, by the pool's own validation, so that a wrong option fails before any thread starts.
  fillOptions<unknown, unknown>(pool);
  return { threads: fillThreadOptions(options), filename: moduleUrl(options.filename), createTimeout, pool };
}

function moduleUrl(filename: unknown): URL {
  let url: URL;
  if (filename instanceof URL) url = filename;
  else if (typeof filename === 'string' && filename !== '') {
    url = /^[a-z][a-z0-9+.-]+:/i.test(filename) ? new URL(filename) : pathToFileURL(resolve(filename));
  } else {
    throw new InvalidArgumentError(`options.filename must be the path or URL of the module each thread imports, not ${String(filename)}`);
  }
  if (url.protocol === 'file:' && !existsSync(url)) throw new InvalidArgumentError(`options.filename: there is no file at ${url.pathname}`);
  return url;
}
