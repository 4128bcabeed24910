/**
 * Pre-initialization, as Wizer does it: run the module's initialization once, then make the state
 * it leaves the starting point of every use. What runs is the start function, and an initializer
 * if the plan has one: an export (`options.initialize`) or a host's function (`initializer.ts`).
 * One pipeline, a file per stage, each stage's product plain data until the last:
 *
 *     module bytes (poolSource: keepExports, virtualMemorySize), analyzed (prepare.ts)
 *       │
 *     1 inspection.ts   the inspection module: internal mutable globals and tables exported
 *       │               (`cowpool:global:N`, `cowpool:table:N`), memory imported, active data
 *       │               stripped; and the memory it runs on, holding the data image
 *       │                  ◄── imports: options.setup's, or the host function's own
 *     2 run.ts          instantiate (the start function runs), run the initializer: an export
 *       │               with its arguments, or a function making many calls and returning data;
 *       │               interruptible: both under the fuel check, against options.createTimeout
 *       ▼
 *     3 snapshot.ts     Snapshot { memory: size, non-zero span, bytes in use;
 *       │                          globals: index, export name, value; result: what it returned }
 *       ▼               (a changed table is refused: a funcref is no data)
 *     4 layout.ts       the image span, the memory's size (what initialization left, plus a host's
 *       │               headroom, within the maximum), the Initialization for the rewrite
 *       ▼
 *     5 prepare.ts      rewriteForPool, the pool's one rewrite: start function removed, globals
 *                       starting from the snapshot (initializers, or values set on the kept
 *                       instance), memory sized; build.ts makes the image's memfd from the span
 *
 * Tables and dropped segments cannot be carried over, so a module whose initialization could
 * change them is refused. This module runs stages 2 to 4 and checks what the plan asks first.
 */
import { InvalidArgumentError, ModuleNotPoolableError } from '../../errors.js';
import {
  initializerName,
  interruptExports,
  type AnalyzedModule,
  type ImageSpan,
  type Initialization,
  type ModulePlan,
} from '../prepare.js';
import { inspectionModule } from './inspection.js';
import { layOut } from './layout.js';
import { runInitialization } from './run.js';
import { takeSnapshot, type Snapshot } from './snapshot.js';
import type { Steps } from '../sync-or-async.js';

/** Modules whose imports come from these are WASI programs: their `_start` is the whole program. */
const WASI_MODULES = ['wasi_snapshot_preview1', 'wasi_unstable'];

/** What pre-initialization produces: the snapshot, and what the pool is built from. */
export interface Preinitialized {
  readonly snapshot: Snapshot;
  /** The image span and the memory's size, when the module has a memory. */
  readonly span: ImageSpan | undefined;
  /** What the rewrite bakes in. */
  readonly init: Initialization;
}

/**
 * Runs the initialization of `bytes` (which `analyzed` describes) on `memory` (from
 * `initializationMemory`) with `imports`, and returns what every use starts from; see the module
 * comment. A step (`sync-or-async.ts`): a host's initializer may hand out a promise to wait for.
 */
export function* preinitialize(
  bytes: Uint8Array,
  analyzed: AnalyzedModule,
  plan: ModulePlan,
  memory: WebAssembly.Memory | undefined,
  imports: WebAssembly.Imports,
): Steps<Preinitialized> {
  const { analysis } = analyzed;
  const what = initializerName(analyzed, plan);
  if (analysis.dataDrop || analysis.elemDrop) {
    throw new ModuleNotPoolableError(`${what}: the module can drop segments, whose state a snapshot cannot keep`);
  }
  const initializer = plan.initialize;
  const wasi = analyzed.info.imports.some((i) => WASI_MODULES.includes(i.module));
  if (initializer?.kind === 'export' && initializer.name === '_start' && wasi) {
    throw new InvalidArgumentError(
      "options.initialize is '_start', a WASI command's whole program (it ends in proc_exit), not an initializer: " +
        'export a function that only sets up state (a reactor built with -mexec-model=reactor, say) and name it, ' +
        'or run the command once per use with cowpool/wasi',
    );
  }
  // An interruptible module is initialized under the fuel check too, against the create deadline.
  const limit = plan.interruptible
    ? { exports: interruptExports(analyzed.info.start !== undefined), timeout: plan.createTimeout }
    : undefined;
  const run = yield* runInitialization(
    inspectionModule(bytes, analyzed, plan.interruptible),
    analyzed,
    initializer,
    memory,
    imports,
    what,
    limit,
  );
  const snapshot = takeSnapshot(run, memory, what);
  const headroom = initializer?.kind === 'function' ? initializer.headroom : undefined;
  const { span, init } = layOut(snapshot, analysis.memory?.max, headroom);
  return { snapshot, span, init };
}
