/**
 * Stage 2 of pre-initialization: instantiate the inspection module on the initialization memory
 * (its start function runs then), observe its globals and tables, run the initializer (an export
 * with its arguments, or a host's function that makes as many calls as it needs and returns what
 * it learned, or a promise of it: a step the construction's driver awaits, or refuses in
 * `createSync`), and observe them again: the snapshot is taken from the two observations. Failures
 * come out typed and say what ran.
 *
 * An interruptible module's inspection module carries the fuel counter too: the start function and
 * the initializer are guest code like a use's, and stop at the create deadline
 * (`options.createTimeout`) with a {@link GuestTimeoutError} that says which did not return.
 */
import { GuestTimeoutError, GuestTrapError, InvalidArgumentError, ModuleNotPoolableError } from '../../errors.js';
import { bindImports } from '../bind-imports.js';
import { Interruption, overran, type InterruptExports } from '../interruption.js';
import { globalExportName, tableExportName, type AnalyzedModule } from '../prepare.js';
import { isPromise, waitedFor, type Steps } from '../sync-or-async.js';
import type { Initializer } from './initializer.js';
import type { InspectedGlobal, Observation } from './snapshot.js';

/** What the instance looked like before the initializer ran and after, and what it returned. */
export interface InitializationRun<T> {
  /** After instantiation (the start function ran), before the initializer. */
  readonly before: Observation;
  /** After the initializer. */
  readonly after: Observation;
  readonly result: T;
}

/** How an interruptible module's initialization is bounded: where its rewrite put the check, and the create timeout. */
export interface InitializationLimit {
  readonly exports: InterruptExports;
  /** `options.createTimeout`, in ms. */
  readonly timeout: number;
}

/**
 * Instantiates `module` (the inspection module) with `imports` on `memory` and runs `initializer`
 * (none: the start function alone). `what` names what ran, for errors. With `limit` (the module
 * is interruptible), both run under the fuel check against one deadline, `limit.timeout` from now.
 */
export function* runInitialization<T>(
  module: WebAssembly.Module,
  analyzed: AnalyzedModule,
  initializer: Initializer | undefined,
  memory: WebAssembly.Memory | undefined,
  imports: WebAssembly.Imports,
  what: string,
  limit?: InitializationLimit,
): Steps<InitializationRun<T>> {
  const clock = limit && { deadline: performance.now() + limit.timeout, timeout: limit.timeout };
  let instance: WebAssembly.Instance;
  try {
    instance = new WebAssembly.Instance(module, bindImports(module, analyzed.memoryImport, imports, memory));
  } catch (err) {
    throw initializationError(what, err, initializer?.kind === 'function');
  }
  const check = limit && clock && new Interruption(limit.exports, clock);
  if (check) {
    // The rewrite left the start function for us to run, now that the check is wired.
    check.attach(instance);
    try {
      check.runStart(instance, 'the start function', CREATE_LIMIT);
    } catch (err) {
      throw initializationError('the start function', err, false);
    }
    check.refill();
  }
  const before = observe(analyzed, instance);
  let result: unknown;
  if (initializer?.kind === 'export') {
    const init = instance.exports[initializer.name];
    if (typeof init !== 'function') {
      const functions = WebAssembly.Module.exports(module)
        .filter((e) => e.kind === 'function')
        .map((e) => e.name);
      throw new InvalidArgumentError(
        `options.initialize is '${initializer.name}' but the module exports no function of that name ` +
          `(it exports: ${functions.join(', ') || 'none'})`,
      );
    }
    try {
      (init as (...args: unknown[]) => unknown)(...initializer.args);
    } catch (err) {
      throw initializationError(what, err, false);
    }
  } else if (initializer?.kind === 'function') {
    try {
      result = initializer.run(instance, memory);
      // A host's initialization may wait (for a host function's promise): `create` waits with it.
      if (isPromise(result)) result = yield waitedFor(result, `${what} waited for a promise, which createSync cannot; use create`);
    } catch (err) {
      throw initializationError(what, err, true);
    }
  }
  return { before, after: observe(analyzed, instance), result: result as T };
}

/** What a timeout of initialization names as the limit it ran into, and how to lift it. */
const CREATE_LIMIT = 'options.createTimeout; raise it if initialization needs longer';

/**
 * A failure of the module's initialization as a typed error that names what ran: a trap is a
 * {@link GuestTrapError}, the create deadline a {@link GuestTimeoutError}; cowpool's own errors
 * pass through, and so does anything a host's function throws (its errors are its own); anything
 * else the module's code threw (through an import) means no image can be made.
 */
function initializationError(what: string, err: unknown, hosted: boolean): unknown {
  if (err instanceof WebAssembly.RuntimeError) return new GuestTrapError(`${what} trapped: ${err.message}`, { cause: err });
  if (err instanceof GuestTimeoutError) return overran(err, what, CREATE_LIMIT);
  if (hosted) return err;
  if (err instanceof Error && 'code' in err && String(err.code).startsWith('COWPOOL_')) return err;
  const message = err instanceof Error ? `${err.name}: ${err.message}` : String(err);
  return new ModuleNotPoolableError(`${what} failed (${message}), so no image can be made from it`, { cause: err });
}

/**
 * The instance's internal mutable globals JavaScript can read (not v128) and its internal tables'
 * entries, now, through the inspection module's exports.
 */
function observe(analyzed: AnalyzedModule, instance: WebAssembly.Instance): Observation {
  const globals: InspectedGlobal[] = analyzed.analysis.globals
    .filter((g) => !g.imported && g.mutable && g.type !== 'v128')
    .map((g) => {
      const name = globalExportName(analyzed.analysis, g.index);
      return { index: g.index, name, value: (instance.exports[name] as WebAssembly.Global).value };
    });
  const tables = new Map<number, unknown[]>();
  for (const { index } of analyzed.analysis.tables.filter((t) => !t.imported)) {
    const table = instance.exports[tableExportName(analyzed.analysis, index)] as WebAssembly.Table | undefined;
    if (table)
      tables.set(
        index,
        Array.from({ length: table.length }, (_, i) => table.get(i)),
      );
  }
  return { globals, tables };
}
