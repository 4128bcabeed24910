/**
 * From a module's bytes to what the pool runs: the rewritten module, its memory image, and the
 * mechanism that makes every use fresh-equivalent, with the reason it was chosen.
 *
 * - `reuse`: one instance per slot, kept. The rewrite imports the memory (the slot's), drops the
 *   active data segments (the image holds them) and exports every internal mutable global, so that
 *   after a use the memory is reset and the globals and any mutable table are restored to the
 *   values captured right after instantiation. Chosen only when nothing else can change: no start
 *   function (its host calls would not be repeated), no `data.drop`/`elem.drop` a use can run, no
 *   table a use can grow, no mutable global JS cannot write (v128).
 * - `reinstantiate`: the same rewrite without exported globals, and a new `WebAssembly.Instance`
 *   on the slot's memory per use: globals, tables, dropped segments and the start function come
 *   back fresh by construction. Always safe; costs an instantiation (µs for small modules).
 */
import { InternalError, MalformedModuleError, ModuleNotPoolableError } from '../errors.js';
import {
  analyzeModule,
  evaluateDataImage,
  readModule,
  renderImage,
  rewriteModule,
  type ModuleAnalysis,
  type ModuleInfo,
  type RewritePlan,
} from '../module/index.js';

/** How uses are made fresh; see the module comment. */
export type Mechanism = 'reuse' | 'reinstantiate';

/** The import name under which the pool supplies a memory the module used to define itself. */
export const MEMORY_IMPORT = { module: 'cowpool', name: 'memory' } as const;
/** Prefix of the exports the rewrite adds for internal mutable globals and tables. */
export const GLOBAL_EXPORT_PREFIX = 'cowpool:global:';
export const TABLE_EXPORT_PREFIX = 'cowpool:table:';

/** Tables of up to this many entries in all may be restored entry by entry after each use. */
const MAX_RESTORED_TABLE_ENTRIES = 256;

/** What the pool needs to run a module. */
export interface PreparedModule {
  readonly info: ModuleInfo;
  readonly analysis: ModuleAnalysis;
  readonly mechanism: Mechanism;
  /** Why this mechanism (and not the other). */
  readonly reason: string;
  /** The rewritten module. */
  readonly module: WebAssembly.Module;
  /** The memory import the pool must supply, or undefined when the module has no memory. */
  readonly memoryImport?: { module: string; name: string };
  /** Memory limits in 64 KiB pages. */
  readonly memoryPages?: { initial: number; maximum?: number };
  /** Export names of the mutable globals to restore (reuse). */
  readonly restoreGlobals: readonly string[];
  /** Export names of the tables to restore (reuse). */
  readonly restoreTables: readonly string[];
  /** Values to give exported globals right after instantiation (reuse after pre-initialization). */
  readonly globalOverrides: readonly { name: string; value: unknown }[];
  /** Where the fuel counter and the check table are exported, when the module is interruptible. */
  readonly interrupt?: { fuelExport: string; tableExport: string };
}

/** The exports an interruptible rewrite adds (see `module/fuel.ts`). */
export const INTERRUPT_EXPORTS = { fuelExport: 'cowpool:fuel', tableExport: 'cowpool:check' } as const;

/** Options of {@link prepareModule}. */
export interface PrepareOptions {
  /** Use this mechanism instead of the one the analysis picks; `reuse` only when it is safe. */
  mechanism?: Mechanism;
  /** Rewrites to apply besides the pool's own (pre-initialized global values, no start function). */
  plan?: Pick<RewritePlan, 'globalInits' | 'removeStart'>;
  /** The memory's initial size in pages, when pre-initialization grew it. */
  initialPages?: number;
  /** Instrument the module with a fuel counter so that a use can be stopped at its deadline. */
  interruptible?: boolean;
}

/** The image span of memory 0 as the pool needs it. */
export interface ImageSpan {
  start: number;
  bytes: Uint8Array;
  minimumBytes: number;
}

/** Reads, analyses and rewrites `bytes` for pooling. */
export function prepareModule(bytes: Uint8Array, options: PrepareOptions = {}): PreparedModule {
  const forceMechanism = options.mechanism;
  const info = readModule(bytes);
  const analysis = analyzeModule(info, bytes);
  if (!analysis.poolable.ok) throw new ModuleNotPoolableError(analysis.poolable.reason);
  const memory = analysis.memory;
  const { mechanism, reason, restoreTables } = chooseMechanism(info, analysis);
  if (forceMechanism === 'reuse' && mechanism !== 'reuse') {
    throw new ModuleNotPoolableError(`options.mechanism is 'reuse' but reuse is not safe for this module: ${reason}`);
  }
  const chosen = forceMechanism ?? mechanism;
  const plan: RewritePlan = { ...options.plan, stripActiveData: memory !== null };
  // A start function runs inside `new WebAssembly.Instance`, before the pool can wire up the check:
  // it gets a budget it cannot exhaust, and every use gets the real one.
  if (options.interruptible) plan.interrupt = { ...INTERRUPT_EXPORTS, initialFuel: 0x7fff_ffff };
  if (memory && !memory.imported) plan.importMemory = { ...MEMORY_IMPORT };
  if (chosen === 'reuse') {
    plan.exportGlobals = { prefix: GLOBAL_EXPORT_PREFIX };
    plan.exportTables = { prefix: TABLE_EXPORT_PREFIX };
  }
  const rewritten = rewriteModule(bytes, info, plan);
  const module = compile(rewritten, bytes);
  const restoreGlobals: string[] = [];
  const tables: string[] = [];
  if (chosen === 'reuse') {
    for (const global of analysis.globals) {
      if (global.imported || !global.mutable) continue;
      restoreGlobals.push(globalExportName(analysis, global.index));
    }
    for (const index of restoreTables) {
      tables.push(tableExportName(analysis, index));
    }
  }
  return {
    info,
    analysis,
    mechanism: chosen,
    reason: forceMechanism && forceMechanism !== mechanism ? `options.mechanism is '${forceMechanism}'` : reason,
    module,
    memoryImport: memory ? (memory.import ?? { ...MEMORY_IMPORT }) : undefined,
    memoryPages: memory
      ? { initial: options.initialPages ?? memory.min, ...(memory.max !== undefined ? { maximum: memory.max } : {}) }
      : undefined,
    restoreGlobals,
    restoreTables: tables,
    globalOverrides: [],
    ...(options.interruptible ? { interrupt: { ...INTERRUPT_EXPORTS } } : {}),
  };
}

/** Evaluates memory 0's initial image; imported globals used in offsets come from `importedGlobal`. */
export function imageOf(prepared: PreparedModule, bytes: Uint8Array, importedGlobal: (index: number) => number | bigint | undefined): ImageSpan {
  const data = evaluateDataImage(prepared.info, bytes, importedGlobal);
  const span = renderImage(data);
  return { start: span.start, bytes: span.bytes, minimumBytes: data.minPages * 65536 };
}

/**
 * The module rewritten so that every mutable global and table is visible from JS, with the memory
 * imported and active data stripped: what pre-initialization runs, to read the state it leaves.
 */
export function inspectionModule(bytes: Uint8Array, prepared: PreparedModule): WebAssembly.Module {
  const plan: RewritePlan = {
    stripActiveData: prepared.analysis.memory !== null,
    exportGlobals: { prefix: GLOBAL_EXPORT_PREFIX },
    exportTables: { prefix: TABLE_EXPORT_PREFIX },
  };
  if (prepared.analysis.memory && !prepared.analysis.memory.imported) plan.importMemory = { ...MEMORY_IMPORT };
  return compile(rewriteModule(bytes, prepared.info, plan), bytes);
}

/** The export name under which a reuse rewrite (or {@link inspectionModule}) exposes a global. */
export function globalExportName(analysis: ModuleAnalysis, index: number): string {
  return analysis.globals[index]?.exportNames[0] ?? `${GLOBAL_EXPORT_PREFIX}${index}`;
}

/** The export name under which a reuse rewrite (or {@link inspectionModule}) exposes a table. */
export function tableExportName(analysis: ModuleAnalysis, index: number): string {
  return analysis.tables[index]?.exportNames[0] ?? `${TABLE_EXPORT_PREFIX}${index}`;
}

function chooseMechanism(
  info: ModuleInfo,
  analysis: ModuleAnalysis,
): { mechanism: Mechanism; reason: string; restoreTables: number[] } {
  const reinstantiate = (why: string) => ({ mechanism: 'reinstantiate' as const, reason: why, restoreTables: [] });
  if (info.start !== undefined) {
    return reinstantiate('the module has a start function, whose effects (host calls included) a fresh instance repeats');
  }
  if (analysis.dataDrop) return reinstantiate('a use can run data.drop, and a dropped segment cannot be restored');
  if (analysis.elemDrop) return reinstantiate('a use can run elem.drop, and a dropped segment cannot be restored');
  const v128 = analysis.globals.find((g) => !g.imported && g.mutable && g.type === 'v128');
  if (v128) return reinstantiate(`mutable global ${v128.index} is a v128, which JS cannot restore`);
  const restoreTables: number[] = [];
  let entries = 0;
  for (const table of analysis.tables) {
    if (table.imported || (!table.mutated && !table.exported)) continue;
    if (table.mutated && table.max !== table.min) {
      return reinstantiate(`table ${table.index} can be changed by a use and may grow, and a table cannot shrink`);
    }
    restoreTables.push(table.index);
    entries += table.min;
  }
  if (entries > MAX_RESTORED_TABLE_ENTRIES) {
    return reinstantiate(
      `restoring ${entries} table entries after every use would cost more than a new instance (limit ${MAX_RESTORED_TABLE_ENTRIES})`,
    );
  }
  const globals = analysis.globals.filter((g) => !g.imported && g.mutable).length;
  const what = [`${globals} mutable global${globals === 1 ? '' : 's'}`];
  if (restoreTables.length > 0) what.push(`${entries} table entries`);
  return {
    mechanism: 'reuse',
    reason: `nothing but memory, ${what.join(' and ')} can change in a use; they are restored after each one`,
    restoreTables,
  };
}

function compile(rewritten: Uint8Array, original: Uint8Array): WebAssembly.Module {
  try {
    return new WebAssembly.Module(rewritten);
  } catch (err) {
    // Tell an invalid module (the user's to fix) from a bad rewrite (ours).
    try {
      new WebAssembly.Module(original);
    } catch (original) {
      throw new MalformedModuleError('validation', 0, `V8 rejected the module: ${(original as Error).message}`);
    }
    throw new InternalError(`the rewritten module does not compile: ${(err as Error).message}`, { cause: err });
  }
}
