/**
 * `PreparedPool`: everything preparing a module for a pool produces, as plain data. Preparation
 * (analysis, pre-initialization, the rewrite, the image) is the slow part of creating a pool;
 * what it leaves is a module's bytes, a plan and an image span, from which a pool is assembled
 * in milliseconds (`build.ts`):
 *
 *     module bytes + options ──preparation.ts──► PreparedPool ──assemble──► a pool's parts
 *                                    ▲   │                       (compile, memfd, strategy, members)
 *                     cache/ (disk) ─┘   └─► cache/, another thread
 *
 * It holds no functions and no class instances other than typed arrays, so that the structured
 * clone algorithm copies it (`v8.serialize` to the disk cache, `postMessage` to a worker thread),
 * with one exception: a reference global's value in `plan.globalOverrides` (a funcref, an
 * externref), which a pool can keep in memory but not send anywhere ({@link isPortable}).
 * Data from elsewhere (a file, another thread) goes through {@link checkPreparedPool} first.
 */
import { InvalidArgumentError } from '../errors.js';
import type { ImageSpan, RunPlan } from './prepare.js';

/** The key of `InstancePool`'s internal construction from a {@link PreparedPool} (a symbol no user can type). */
export const FROM_PREPARED = Symbol('cowpool.pool.fromPrepared');
/** The same, synchronous. */
export const FROM_PREPARED_SYNC = Symbol('cowpool.pool.fromPreparedSync');

/** What preparation produces; see the module comment. */
export interface PreparedPool {
  /** The module the pool runs: the user's module as the rewrite left it (see `prepare.ts`). */
  readonly bytes: Uint8Array;
  /** How the pool runs it. */
  readonly plan: RunPlan;
  /**
   * Memory 0's initial contents and size (before `options.initialMemory`, which each pool
   * applies), or undefined when the module has no memory.
   */
  readonly image: ImageSpan | undefined;
  /** What a host's initializer learned (`FunctionInitializer`): its result and the bytes in use after it. */
  readonly initialization: PreparedInitialization | undefined;
}

/** What a host's initializer learned, kept with the image it made. */
export interface PreparedInitialization {
  /** What the initializer's `run` returned: plain data (addresses, logs). */
  readonly result: unknown;
  /** Bytes up to the last non-zero one the initialization left. */
  readonly usedBytes: number;
}

/** Whether `prepared` can leave this thread: true, or why not. */
export function isPortable(prepared: PreparedPool): true | string {
  const reference = prepared.plan.globalOverrides.find((g) => typeof g.value !== 'number' && typeof g.value !== 'bigint');
  return reference === undefined
    ? true
    : `the initialization left a reference in global ${reference.name}, which only this thread can hold`;
}

/**
 * `value` as a {@link PreparedPool}, checked field by field: a prepared pool read from a file or
 * received from another thread is never trusted to have the right shape. Throws
 * {@link InvalidArgumentError} saying what is wrong; the image's bytes are then copied by the
 * memory image and the module's bytes validated by V8, so a shape that passes cannot do harm.
 */
export function checkPreparedPool(value: unknown): PreparedPool {
  const fail = (what: string): never => {
    throw new InvalidArgumentError(`a prepared pool ${what}`);
  };
  if (!isObject(value)) return fail('must be an object');
  const { bytes, plan, image, initialization } = value;
  if (!(bytes instanceof Uint8Array)) fail('needs its module bytes');
  if (!isObject(plan)) return fail('needs its plan');
  if (plan.mechanism !== 'reuse' && plan.mechanism !== 'reinstantiate') fail(`has an unknown mechanism ${String(plan.mechanism)}`);
  if (typeof plan.reason !== 'string' || typeof plan.initialized !== 'boolean' || typeof plan.virtualMemorySize !== 'boolean') {
    fail('has a plan without its reason, initialized or virtualMemorySize');
  }
  if (plan.interruptible !== true && plan.interruptible !== false && plan.interruptible !== 'loops') fail('has a bad interruptible');
  if (plan.memoryImport !== undefined && !isName(plan.memoryImport)) fail('has a bad memory import');
  if (
    plan.interrupt !== undefined &&
    !(isObject(plan.interrupt) && isString(plan.interrupt.fuelExport) && isString(plan.interrupt.tableExport))
  ) {
    fail('has bad interrupt exports');
  }
  if (plan.memoryPages !== undefined) {
    const pages = plan.memoryPages;
    if (!isObject(pages) || !isCount(pages.initial) || (pages.maximum !== undefined && !isCount(pages.maximum)))
      fail('has bad memory pages');
  }
  if (!isList(plan.restoreGlobals, isString) || !isList(plan.restoreTables, isString)) fail('has bad restore lists');
  if (!isList(plan.reservedTables, (t) => isObject(t) && isString(t.name) && isCount(t.reserve))) fail('has bad reserved tables');
  if (!isList(plan.globalOverrides, (g) => isObject(g) && isString(g.name))) fail('has bad global overrides');
  if (image !== undefined) checkImage(image, fail);
  if (initialization !== undefined && !(isObject(initialization) && isCount(initialization.usedBytes))) fail('has a bad initialization');
  return value as unknown as PreparedPool;
}

function checkImage(image: unknown, fail: (what: string) => never): void {
  if (!isObject(image)) return fail('has a bad image');
  const { start, bytes, minimumBytes, runs } = image;
  if (!isCount(start) || !(bytes instanceof Uint8Array) || !isCount(minimumBytes) || start + bytes.length > minimumBytes) {
    fail('has an image span that does not fit its memory');
  }
  const length = (bytes as Uint8Array).length;
  let end = 0;
  const inOrder = (r: unknown): boolean => {
    if (!isObject(r) || !isCount(r.start) || !isCount(r.end) || r.start < end || r.end <= r.start || r.end > length) return false;
    end = r.end;
    return true;
  };
  if (runs !== undefined && !isList(runs, inOrder)) fail('has data runs out of order or outside its span');
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null;
}

function isString(value: unknown): value is string {
  return typeof value === 'string';
}

function isCount(value: unknown): value is number {
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= 0;
}

function isName(value: unknown): boolean {
  return isObject(value) && isString(value.module) && isString(value.name);
}

function isList(value: unknown, item: (v: unknown) => boolean): boolean {
  return Array.isArray(value) && value.every(item);
}
