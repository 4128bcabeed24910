/**
 * From a module's bytes to what the pool runs: the rewritten module, its memory image, and the
 * mechanism that makes every use fresh-equivalent, with the reason it was chosen.
 *
 * - `reuse`: one instance per slot, kept. The rewrite imports the memory (the slot's), drops the
 *   active data segments (the image holds them) and exports every internal mutable global, so that
 *   after a use the memory is reset and the globals and any mutable table are restored to the
 *   values captured right after instantiation. Chosen only when nothing else can change: no start
 *   function that reaches outside the module (its host calls would not be repeated; one that only
 *   writes the module's own memory and globals runs once when the image is made, and is dropped),
 *   no `data.drop`/`elem.drop` a use can run, no table a use can grow (one that only JS grows is
 *   fine once `tableReserve` gives it room), no mutable global JS cannot write (v128). Restoring
 *   many table entries costs more than a new instance, so `auto` avoids it, but that is a
 *   preference: `mechanism: 'reuse'` overrides it.
 * - `reinstantiate`: the same rewrite without exported globals, and a new `WebAssembly.Instance`
 *   on the slot's memory per use: globals, tables, dropped segments and the start function come
 *   back fresh by construction. Always safe; costs an instantiation (µs for small modules).
 */
import { InternalError, InvalidArgumentError, MalformedModuleError, ModuleNotPoolableError } from '../errors.js';
import type { DataRun } from '../memory/data-pages.js';
import { pagesToBytes } from '../module/wasm-page.js';
import {
  analyzeModule,
  analyzeStart,
  evaluateDataImage,
  keepOnlyExports,
  readModule,
  renderImage,
  rewriteModule,
  type ModuleAnalysis,
  type ModuleInfo,
  type RewritePlan,
  type StartAnalysis,
  virtualizeMemorySize,
} from '../module/index.js';
import type { InterruptExports } from './interruption.js';
import type { Initializer } from './preinitialize/initializer.js';

/** How uses are made fresh; see the module comment. */
export type Mechanism = 'reuse' | 'reinstantiate';

/** The import name under which the pool supplies a memory the module used to define itself. */
export const MEMORY_IMPORT = { module: 'cowpool', name: 'memory' } as const;
/** Prefix of the exports the rewrite adds for internal mutable globals and tables. */
export const GLOBAL_EXPORT_PREFIX = 'cowpool:global:';
export const TABLE_EXPORT_PREFIX = 'cowpool:table:';

/** Tables of up to this many entries in all may be restored entry by entry after each use. */
const MAX_RESTORED_TABLE_ENTRIES = 256;

/** How a use can be stopped at its deadline: see `PoolOptions.interruptible`. */
export type Interruptible = boolean | 'loops';

/**
 * Every option that shapes the module the pool runs, gathered once from the pool's options. Each
 * step of preparation (analysis, pre-initialization, the one rewrite) reads it from here, so no
 * option can be honoured on one path and dropped on another.
 */
export interface ModulePlan {
  /** A forced mechanism, or `auto` for the one the analysis picks; `reuse` only when it is safe. */
  readonly mechanism: 'auto' | Mechanism;
  /**
   * Instrument the module with a fuel counter so that a use can be stopped at its deadline: at loop
   * headers and function entries (`true`), or at loop headers only (`'loops'`).
   */
  readonly interruptible: Interruptible;
  /** Entries added to each JS-growable exported table of a kept instance (see `PoolOptions.tableReserve`). */
  readonly tableReserve: number;
  /** What runs once before the image is captured besides a start function, if anything (see `preinitialize/`). */
  readonly initialize: Initializer | undefined;
  /**
   * How long pre-initialization (the start function and the initializer, run once at create) may
   * take, in ms; enforced by the fuel counter, so only when `interruptible` (see `PoolOptions.createTimeout`).
   */
  readonly createTimeout: number;
  /** The only exports the module keeps, by name (a host's initializer asks for it); undefined keeps them all. */
  readonly keepExports: ReadonlySet<string> | undefined;
  /** Rewrite `memory.size` and `memory.grow` to read and grow a global (see `PoolOptions.virtualMemorySize`). */
  readonly virtualMemorySize: boolean;
}

/** A module read and analysed, with its mechanism decided: everything before the rewrite. */
export interface AnalyzedModule {
  readonly info: ModuleInfo;
  readonly analysis: ModuleAnalysis;
  readonly mechanism: Mechanism;
  /** Why this mechanism (and not the other). */
  readonly reason: string;
  /** Indices of the tables a `reuse` pool restores after each use. */
  readonly restoreTableIndices: readonly number[];
  /** Of those, the ones grown by `plan.tableReserve` entries when a member is created. */
  readonly reservedTableIndices: readonly number[];
  /** The memory import the pool supplies, or undefined when the module has no memory. */
  readonly memoryImport?: { module: string; name: string };
  /** What the start function does; a `pure` one runs once when the image is made (see {@link preinitializes}). */
  readonly start: StartAnalysis;
}

/**
 * Whether the image must be made by running the module (pre-initialization): for
 * `options.initialize`, or for a start function that only writes the module's own memory and
 * globals, which then runs once there instead of at every instantiation.
 */
export function preinitializes(analyzed: AnalyzedModule, plan: ModulePlan): boolean {
  // A module whose uses can drop segments cannot be snapshotted; its start function simply runs at
  // every instantiation (`reinstantiate`), which is correct by construction.
  const snapshotable = !analyzed.analysis.dataDrop && !analyzed.analysis.elemDrop;
  return plan.initialize !== undefined || (analyzed.start.kind === 'pure' && snapshotable);
}

/** What pre-initialization changed, for the rewrite to carry into every use. */
export interface Initialization {
  /** The memory's initial size in pages after initialization (it may have grown). */
  readonly initialPages?: number;
  /** The internal mutable globals' starting values (by global index; see the pipeline's `Snapshot`). */
  readonly globals: readonly { index: number; name: string; value: unknown }[];
}

/**
 * What the pool needs to run a module besides the module itself: the decisions of preparation, as
 * plain data (structured-cloneable, but for the values of reference globals in `globalOverrides`).
 */
export interface RunPlan {
  readonly mechanism: Mechanism;
  /** Why this mechanism (and not the other). */
  readonly reason: string;
  /** The memory import the pool supplies, or undefined when the module has no memory. */
  readonly memoryImport?: { readonly module: string; readonly name: string };
  /** Memory limits in 64 KiB pages. */
  readonly memoryPages?: { readonly initial: number; readonly maximum?: number };
  /** Export names of the mutable globals to restore (reuse). */
  readonly restoreGlobals: readonly string[];
  /** Export names of the tables to restore (reuse). */
  readonly restoreTables: readonly string[];
  /** Export names of the tables given more entries per member (reuse; `plan.tableReserve`), and how many each. */
  readonly reservedTables: readonly { readonly name: string; readonly reserve: number }[];
  /** Values to give exported globals right after instantiation (reuse after pre-initialization). */
  readonly globalOverrides: readonly { readonly name: string; readonly value: unknown }[];
  /**
   * Where the fuel counter and the check table are exported, when the module is interruptible; and
   * its start function, which every new instance must be given to run (see `interruption.ts`).
   */
  readonly interrupt?: InterruptExports;
  /** Whether every use starts from the state an initializer (or a start function run once) left. */
  readonly initialized: boolean;
  /** The plan's `interruptible`: what the fuel counter counts. */
  readonly interruptible: Interruptible;
  /** The plan's `virtualMemorySize`. */
  readonly virtualMemorySize: boolean;
}

/** A {@link RunPlan} with its module compiled: what members instantiate. */
export interface PreparedModule extends RunPlan {
  readonly module: WebAssembly.Module;
}

/**
 * The exports an interruptible rewrite adds (see `module/fuel.ts`): the fuel counter, the check
 * table, and the start function, which runs once the check is wired instead of at instantiation.
 */
export const INTERRUPT_EXPORTS = { fuelExport: 'cowpool:fuel', tableExport: 'cowpool:check', startExport: 'cowpool:start' } as const;

/** The image span of memory 0 as the pool needs it. */
export interface ImageSpan {
  start: number;
  bytes: Uint8Array;
  minimumBytes: number;
  /** Where in `bytes` data lies, when known (zeros elsewhere); see `memory/data-pages.ts`. */
  runs?: readonly DataRun[];
}

/**
 * The module bytes the pool works from: `bytes` itself, or with only `plan.keepExports` exported,
 * or with memory 0's size virtualized (see `module/virtual-memory.ts`) when
 * `options.virtualMemorySize` asks for it. Done before the analysis, which then sees the module the
 * pool runs: an export dropped no longer makes a table growable, and the size global is one more
 * internal global the mechanisms restore.
 */
export function poolSource(source: Uint8Array, plan: ModulePlan, info: ModuleInfo = readModule(source)): Uint8Array {
  let bytes = source;
  if (plan.keepExports) {
    bytes = keepOnlyExports(bytes, info, plan.keepExports);
    if (plan.virtualMemorySize) info = readModule(bytes);
  }
  if (!plan.virtualMemorySize) return bytes;
  if (info.memories.length === 0 && info.importedMemoryCount === 0) {
    throw new InvalidArgumentError('options.virtualMemorySize: the module has no memory to virtualize');
  }
  const virtualized = virtualizeMemorySize(bytes, info).bytes;
  compile(virtualized, bytes);
  return virtualized;
}

/** Reads and analyses `bytes` and decides the mechanism. Throws when the module cannot be pooled. */
export function analyzeForPool(bytes: Uint8Array, plan: ModulePlan): AnalyzedModule {
  const info = readModule(bytes);
  const analysis = analyzeModule(info, bytes);
  if (!analysis.poolable.ok) throw new ModuleNotPoolableError(analysis.poolable.reason);
  const memory = analysis.memory;
  const start = analyzeStart(info, bytes);
  const chosen = chooseMechanism(analysis, start, plan.tableReserve);
  if (plan.mechanism === 'reuse' && chosen.mechanism !== 'reuse' && chosen.rule === 'safety') {
    throw new ModuleNotPoolableError(`options.mechanism is 'reuse' but reuse is not safe for this module: ${chosen.reason}`);
  }
  const forced = plan.mechanism !== 'auto' && plan.mechanism !== chosen.mechanism;
  const mechanism = plan.mechanism === 'auto' ? chosen.mechanism : plan.mechanism;
  return {
    info,
    analysis,
    mechanism,
    reason: forced
      ? `options.mechanism is '${plan.mechanism}'${chosen.rule === 'cost' ? ` (auto would not: ${chosen.reason})` : ''}`
      : chosen.reason,
    restoreTableIndices: mechanism === 'reuse' ? chosen.restoreTables : [],
    reservedTableIndices: mechanism === 'reuse' ? chosen.reservedTables : [],
    ...(memory ? { memoryImport: memory.import ?? { ...MEMORY_IMPORT } } : {}),
    start,
  };
}

/**
 * The one rewrite of the module the pool runs: memory imported, active data stripped, the fuel
 * counter when `plan.interruptible`, globals and tables exported for `reuse`, and what
 * pre-initialization left (`init`) baked in. Returns the rewritten bytes, compiled, and the plan
 * the pool runs them by.
 */
export function rewriteForPool(
  bytes: Uint8Array,
  analyzed: AnalyzedModule,
  plan: ModulePlan,
  init?: Initialization,
): { bytes: Uint8Array; module: WebAssembly.Module; plan: RunPlan } {
  const { info, analysis, mechanism } = analyzed;
  const memory = analysis.memory;
  const rewrite: RewritePlan = { stripActiveData: memory !== null };
  // A start function would run inside `new WebAssembly.Instance`, before the pool can wire up the
  // check: it is exported instead, and each member runs it under the use's deadline.
  if (plan.interruptible) {
    rewrite.interrupt = { ...INTERRUPT_EXPORTS, calls: plan.interruptible !== 'loops', loopHeaders: analysis.loopHeaders };
  }
  if (memory && !memory.imported) rewrite.importMemory = { ...MEMORY_IMPORT };
  if (mechanism === 'reuse') {
    rewrite.exportGlobals = { prefix: GLOBAL_EXPORT_PREFIX };
    rewrite.exportTables = { prefix: TABLE_EXPORT_PREFIX };
  }
  let globalOverrides: { name: string; value: unknown }[] = [];
  // The start function's effects are in the snapshot: it must not run again.
  if (init) rewrite.removeStart = true;
  if (init && mechanism === 'reuse') {
    // The kept instance is given the initialized values right after instantiation.
    globalOverrides = init.globals.map((g) => ({ name: g.name, value: g.value }));
  } else if (init) {
    // A new instance per use: the initialized values become the globals' initializers, and the
    // start function goes (its effects are in the snapshot).
    const globalInits = new Map<number, number | bigint>();
    for (const g of init.globals) {
      if (typeof g.value !== 'number' && typeof g.value !== 'bigint') {
        throw new ModuleNotPoolableError(
          `${initializerName(analyzed, plan)} changed reference global ${g.index}, which a snapshot cannot keep`,
        );
      }
      globalInits.set(g.index, g.value);
    }
    rewrite.globalInits = globalInits;
  }
  const rewritten = rewriteModule(bytes, info, rewrite);
  const module = compile(rewritten, bytes);
  const restoreGlobals: string[] = [];
  if (mechanism === 'reuse') {
    for (const global of analysis.globals) {
      if (global.imported || !global.mutable) continue;
      restoreGlobals.push(globalExportName(analysis, global.index));
    }
  }
  const initialPages = init?.initialPages ?? memory?.min;
  const run: RunPlan = {
    mechanism,
    reason: analyzed.reason,
    ...(analyzed.memoryImport ? { memoryImport: analyzed.memoryImport } : {}),
    ...(memory && initialPages !== undefined
      ? { memoryPages: { initial: initialPages, ...(memory.max !== undefined ? { maximum: memory.max } : {}) } }
      : {}),
    restoreGlobals,
    restoreTables: analyzed.restoreTableIndices.map((index) => tableExportName(analysis, index)),
    reservedTables: analyzed.reservedTableIndices.map((index) => ({
      name: tableExportName(analysis, index),
      reserve: reserveFor(analysis.tables[index]!, plan.tableReserve),
    })),
    globalOverrides,
    ...(plan.interruptible ? { interrupt: interruptExports(info.start !== undefined && !init) } : {}),
    initialized: init !== undefined,
    interruptible: plan.interruptible,
    virtualMemorySize: plan.virtualMemorySize,
  };
  return { bytes: rewritten, module, plan: run };
}

/** The exports of an interruptible rewrite; the start function's when the module keeps one. */
export function interruptExports(hasStart: boolean): InterruptExports {
  const { fuelExport, tableExport, startExport } = INTERRUPT_EXPORTS;
  return hasStart ? { fuelExport, tableExport, startExport } : { fuelExport, tableExport };
}

/** How errors name what ran to make the image: `options.initialize 'name'`, a host's initialization, or the start function. */
export function initializerName(analyzed: AnalyzedModule, plan: ModulePlan): string {
  const init = plan.initialize;
  if (init?.kind === 'export') return `options.initialize '${init.name}'`;
  if (init?.kind === 'function') return init.name;
  return `the start function (${analyzed.start.kind === 'none' ? '' : analyzed.start.function})`;
}

/** Evaluates memory 0's initial image; imported globals used in offsets come from `importedGlobal`. */
export function imageOf(
  analyzed: AnalyzedModule,
  bytes: Uint8Array,
  importedGlobal: (index: number) => number | bigint | undefined,
): ImageSpan {
  const data = evaluateDataImage(analyzed.info, bytes, importedGlobal);
  const span = renderImage(data);
  return { start: span.start, bytes: span.bytes, minimumBytes: pagesToBytes(data.minPages) };
}

/** The export name under which a reuse rewrite (or the inspection module of pre-initialization) exposes a global. */
export function globalExportName(analysis: ModuleAnalysis, index: number): string {
  return analysis.globals[index]?.exportNames[0] ?? `${GLOBAL_EXPORT_PREFIX}${index}`;
}

/** The export name under which a reuse rewrite (or the inspection module of pre-initialization) exposes a table. */
export function tableExportName(analysis: ModuleAnalysis, index: number): string {
  return analysis.tables[index]?.exportNames[0] ?? `${TABLE_EXPORT_PREFIX}${index}`;
}

/**
 * The mechanism `auto` picks, and why. A `safety` rule refuses `reuse` because something a use can
 * change could not be restored; a `cost` rule only prefers `reinstantiate` because restoring would
 * be slower, and `mechanism: 'reuse'` may override it.
 */
function chooseMechanism(
  analysis: ModuleAnalysis,
  start: StartAnalysis,
  tableReserve: number,
): { mechanism: Mechanism; reason: string; restoreTables: number[]; reservedTables: number[]; rule?: 'safety' | 'cost' } {
  const reinstantiate = (why: string, rule: 'safety' | 'cost' = 'safety') => ({
    mechanism: 'reinstantiate' as const,
    reason: why,
    restoreTables: [] as number[],
    reservedTables: [] as number[],
    rule,
  });
  if (start.kind === 'impure') {
    return reinstantiate(`${start.reason}, which a fresh instance repeats at every instantiation`);
  }
  if (analysis.dataDrop) return reinstantiate('a use can run data.drop, and a dropped segment cannot be restored');
  if (analysis.elemDrop) return reinstantiate('a use can run elem.drop, and a dropped segment cannot be restored');
  const v128 = analysis.globals.find((g) => !g.imported && g.mutable && g.type === 'v128');
  if (v128) return reinstantiate(`mutable global ${v128.index} is a v128, which JS cannot restore`);
  const restoreTables: number[] = [];
  const reservedTables: number[] = [];
  let entries = 0;
  for (const table of analysis.tables) {
    if (table.imported || (!table.mutated && !table.exported)) continue;
    // Only `table.grow` in the module, or JS holding the table through an export, can grow it;
    // a table a use merely changes (table.set, fill, copy, init) keeps its size and is restored.
    const growable = (table.grown || table.exported) && table.max !== table.min;
    // Grown from JS only: given room up front (tableReserve), every use starts with the same size
    // and entries, and a use that outgrows the room costs its member (see Member.reset).
    // The module's code cannot grow it nor see growth other than by size, so nothing else differs.
    const reserved = growable && !table.grown && tableReserve > 0;
    if (growable && !reserved) {
      return reinstantiate(
        `table ${table.index} may grow in a use (` +
          (table.grown
            ? 'the module runs table.grow on it'
            : 'it is exported with room to grow: options.tableReserve gives it room, making reuse possible') +
          '), and a table cannot shrink',
      );
    }
    restoreTables.push(table.index);
    if (reserved) reservedTables.push(table.index);
    entries += table.min + (reserved ? reserveFor(table, tableReserve) : 0);
  }
  if (entries > MAX_RESTORED_TABLE_ENTRIES) {
    return {
      ...reinstantiate(
        `restoring ${entries} table entries after every use would cost more than a new instance ` +
          `(a cost rule, limit ${MAX_RESTORED_TABLE_ENTRIES}: mechanism 'reuse' overrides it)`,
        'cost',
      ),
      restoreTables,
      reservedTables,
    };
  }
  const globals = analysis.globals.filter((g) => !g.imported && g.mutable).length;
  const what = [`${globals} mutable global${globals === 1 ? '' : 's'}`];
  if (restoreTables.length > 0)
    what.push(
      `${entries} table entries` +
        (reservedTables.length > 0
          ? ` (with ${tableReserve} entries of room for JS to grow ${reservedTables.length === 1 ? 'a table' : 'tables'} into)`
          : ''),
    );
  const startNote =
    start.kind === 'pure'
      ? "; the start function only writes the module's own memory and globals, so it ran once when the image was made"
      : '';
  return {
    mechanism: 'reuse',
    reason: `nothing but memory, ${what.join(' and ')} can change in a use; they are restored after each one${startNote}`,
    restoreTables,
    reservedTables,
  };
}

/** The entries a reserved table gets beyond its declared size: `reserve`, within its maximum. */
export function reserveFor(table: { min: number; max?: number | undefined }, reserve: number): number {
  return table.max === undefined ? reserve : Math.max(0, Math.min(reserve, table.max - table.min));
}

/** Compiles a rewrite of `original`, telling an invalid module (the user's to fix) from a bad rewrite (ours). */
export function compile(rewritten: Uint8Array, original: Uint8Array): WebAssembly.Module {
  try {
    return new WebAssembly.Module(rewritten);
  } catch (err) {
    try {
      new WebAssembly.Module(original);
    } catch (original) {
      throw new MalformedModuleError('validation', 0, `V8 rejected the module: ${(original as Error).message}`);
    }
    throw new InternalError(`the rewritten module does not compile: ${(err as Error).message}`, { cause: err });
  }
}
