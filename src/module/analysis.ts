/**
 * `analyzeModule`: what a use of an instance (a call into one of its exports) can change besides
 * memory bytes, and whether cowpool can pool the module at all. The pool uses it to choose between
 * reusing an instance (restoring exported globals and tables) and re-instantiating on a pooled
 * memory, and to say why.
 *
 * "A use can run" a function when it is reachable by direct calls (`call`, `return_call`) from a
 * root: an exported function, or any function whose reference can escape (element segments,
 * `ref.func` in code or in initializers). Every `call_indirect`/`call_ref` target is such a root,
 * so indirect calls need no type analysis to stay conservative. The start function is a root only
 * if it also escapes: what it does happens at instantiation, before any use.
 */

import type { ByteRange } from './bytes.js';
import { referencedFunctions } from './const-expr.js';
import { firstBytes, walkInstructions, type Instruction } from './instructions.js';
import { memoryCountProblem, memoryTypeProblems } from './memory-checks.js';
import { Op } from './opcodes.js';
import type { ExternKind, MemoryType, ModuleInfo, RefType, ValType } from './types.js';
import { isGcRefType, isRefType } from './valtypes.js';

/** A memory, and whether code can grow it. */
export interface MemoryAnalysis extends MemoryType {
  readonly index: number;
  readonly imported: boolean;
  /** Where an imported memory comes from. */
  readonly import?: { readonly module: string; readonly name: string };
  readonly exportNames: readonly string[];
  /** Some function (any, the start function included) contains `memory.grow` on this memory. */
  readonly grows: boolean;
}

/** A global, and whether code writes it. */
export interface GlobalAnalysis {
  readonly index: number;
  readonly imported: boolean;
  readonly mutable: boolean;
  readonly type: ValType;
  readonly exportNames: readonly string[];
  /** Some function contains `global.set` on this global. */
  readonly written: boolean;
}

/** A table, and whether code changes it. */
export interface TableAnalysis {
  readonly index: number;
  readonly imported: boolean;
  readonly element: RefType;
  readonly min: number;
  readonly max?: number;
  readonly exportNames: readonly string[];
  readonly exported: boolean;
  /** Some function contains `table.set`, `table.grow`, `table.fill`, or `table.copy`/`table.init` into it. */
  readonly mutated: boolean;
  /** Some function contains `table.grow` on it: the only way code can change its size. */
  readonly grown: boolean;
}

/** Whether cowpool can pool the module, and if not, why. */
export type Poolability = { readonly ok: true } | { readonly ok: false; readonly reason: string };

/** The result of {@link analyzeModule}. Indices are into the module's index spaces. */
export interface ModuleAnalysis {
  readonly poolable: Poolability;
  /** Memory 0, or null when the module has no memory (poolable, but there is no image). */
  readonly memory: MemoryAnalysis | null;
  /** Every memory, imported ones first. */
  readonly memories: readonly MemoryAnalysis[];
  /** Every global, imported ones first. */
  readonly globals: readonly GlobalAnalysis[];
  /** Every table, imported ones first. */
  readonly tables: readonly TableAnalysis[];
  /** A function a use can run contains `data.drop`: segment state can change per use. */
  readonly dataDrop: boolean;
  /** A function a use can run contains `elem.drop`. */
  readonly elemDrop: boolean;
  /** A function a use can run contains `memory.init`. */
  readonly memoryInit: boolean;
  /** A function a use can run contains `table.init`. */
  readonly tableInit: boolean;
  /** Mutable globals of reference type (funcref, externref, …), which JS cannot always restore. */
  readonly mutableRefGlobals: readonly number[];
  /** Defined functions a use can run, ascending. */
  readonly reachableFunctions: readonly number[];
  /**
   * For each defined function, the offsets of the first instruction inside each of its `loop`s:
   * where fuel instrumentation (`fuel.ts`) puts its checks, found in this pass so that the rewrite
   * need not decode the code again.
   */
  readonly loopHeaders: readonly (readonly number[])[];
}

/** What one function body does that matters to the analysis. */
interface BodyFacts {
  readonly calls: number[];
  /** Offsets of the first instruction inside each `loop` (after its block type). */
  readonly loops: number[];
  dataDrop: boolean;
  elemDrop: boolean;
  memoryInit: boolean;
  tableInit: boolean;
}

/** Facts over all bodies. */
interface CodeFacts {
  readonly bodies: BodyFacts[];
  readonly grownMemories: Set<number>;
  readonly writtenGlobals: Set<number>;
  readonly mutatedTables: Set<number>;
  readonly grownTables: Set<number>;
  readonly refFuncs: Set<number>;
}

function scanCode(info: ModuleInfo, bytes: Uint8Array): CodeFacts {
  const facts: CodeFacts = {
    bodies: [],
    grownMemories: new Set(),
    writtenGlobals: new Set(),
    mutatedTables: new Set(),
    grownTables: new Set(),
    refFuncs: new Set(),
  };
  for (const body of info.code) facts.bodies.push(scanBody(bytes, body.instructions, facts));
  return facts;
}

function scanBody(bytes: Uint8Array, range: ByteRange, facts: CodeFacts): BodyFacts {
  const body: BodyFacts = { calls: [], loops: [], dataDrop: false, elemDrop: false, memoryInit: false, tableInit: false };
  const visit = ({ opcode, end, indices }: Instruction): void => {
    const first = indices[0] ?? 0;
    switch (opcode) {
      case Op.loop:
        // The loop's body starts right after its block type.
        body.loops.push(end);
        break;
      case Op.call:
      case Op.returnCall:
        body.calls.push(first);
        break;
      case Op.refFunc:
        facts.refFuncs.add(first);
        break;
      case Op.memoryGrow:
        facts.grownMemories.add(first);
        break;
      case Op.globalSet:
        facts.writtenGlobals.add(first);
        break;
      case Op.tableGrow:
        facts.grownTables.add(first);
        facts.mutatedTables.add(first);
        break;
      case Op.tableSet:
      case Op.tableFill:
      case Op.tableCopy: // [dst, src]
        facts.mutatedTables.add(first);
        break;
      case Op.tableInit: // [elem, table]
        facts.mutatedTables.add(indices[1] ?? 0);
        body.tableInit = true;
        break;
      case Op.memoryInit:
        body.memoryInit = true;
        break;
      case Op.dataDrop:
        body.dataDrop = true;
        break;
      case Op.elemDrop:
        body.elemDrop = true;
        break;
    }
  };
  walkInstructions(bytes, range, visit, INTERESTING);
  return body;
}

/** The instructions {@link scanBody} looks at (every 0xFC one: the table and segment instructions are there). */
const INTERESTING = firstBytes(Op.loop, Op.call, Op.returnCall, Op.refFunc, Op.memoryGrow, Op.globalSet, Op.tableSet, Op.tableGrow);

/** Defined functions a use can run: the closure of the roots under direct calls. */
function reachableFromUse(info: ModuleInfo, facts: CodeFacts): Set<number> {
  const imported = info.importedFunctionCount;
  // Element segments can list tens of thousands of functions: push one by one, never spread.
  const work: number[] = [];
  const addRoots = (indices: Iterable<number>): void => {
    for (const f of indices) if (f >= imported) work.push(f);
  };
  addRoots(info.exports.filter((e) => e.kind === 'function').map((e) => e.index));
  for (const seg of info.elements) {
    addRoots(seg.functions ?? []);
    for (const expr of seg.expressions ?? []) addRoots(referencedFunctions(expr));
  }
  for (const g of info.globals) addRoots(referencedFunctions(g.init));
  for (const t of info.tables) if (t.init !== undefined) addRoots(referencedFunctions(t.init));
  addRoots(facts.refFuncs);

  const seen = new Set<number>();
  while (work.length > 0) {
    const f = work.pop() as number;
    if (seen.has(f)) continue;
    seen.add(f);
    for (const callee of facts.bodies[f - imported]?.calls ?? []) {
      if (callee >= imported && !seen.has(callee)) work.push(callee);
    }
  }
  return seen;
}

function exportNamesByIndex(info: ModuleInfo, kind: ExternKind): Map<number, string[]> {
  const names = new Map<number, string[]>();
  for (const e of info.exports) {
    if (e.kind !== kind) continue;
    const list = names.get(e.index);
    if (list === undefined) names.set(e.index, [e.name]);
    else list.push(e.name);
  }
  return names;
}

function analyzeMemories(info: ModuleInfo, facts: CodeFacts): MemoryAnalysis[] {
  const exported = exportNamesByIndex(info, 'memory');
  const out: MemoryAnalysis[] = [];
  for (const imp of info.imports) {
    if (imp.kind !== 'memory') continue;
    out.push({
      ...imp.memory,
      index: imp.index,
      imported: true,
      import: { module: imp.module, name: imp.name },
      exportNames: exported.get(imp.index) ?? [],
      grows: facts.grownMemories.has(imp.index),
    });
  }
  for (const mem of info.memories) {
    const index = out.length;
    const exportNames = exported.get(index) ?? [];
    out.push({ ...mem, index, imported: false, exportNames, grows: facts.grownMemories.has(index) });
  }
  return out;
}

function analyzeGlobals(info: ModuleInfo, facts: CodeFacts): GlobalAnalysis[] {
  const exported = exportNamesByIndex(info, 'global');
  const out: GlobalAnalysis[] = [];
  const add = (index: number, imported: boolean, type: ValType, mutable: boolean): void => {
    const exportNames = exported.get(index) ?? [];
    out.push({ index, imported, mutable, type, exportNames, written: facts.writtenGlobals.has(index) });
  };
  for (const imp of info.imports) {
    if (imp.kind === 'global') add(imp.index, true, imp.global.type, imp.global.mutable);
  }
  for (const g of info.globals) add(g.index, false, g.type, g.mutable);
  return out;
}

function analyzeTables(info: ModuleInfo, facts: CodeFacts): TableAnalysis[] {
  const exported = exportNamesByIndex(info, 'table');
  const out: TableAnalysis[] = [];
  const tables = [
    ...info.imports.flatMap((imp) => (imp.kind === 'table' ? [{ imported: true, type: imp.table }] : [])),
    ...info.tables.map((type) => ({ imported: false, type })),
  ];
  tables.forEach(({ imported, type }, index) => {
    const exportNames = exported.get(index) ?? [];
    out.push({
      index,
      imported,
      element: type.element,
      min: type.min,
      ...(type.max !== undefined ? { max: type.max } : {}),
      exportNames,
      exported: exportNames.length > 0,
      mutated: facts.mutatedTables.has(index),
      grown: facts.grownTables.has(index),
    });
  });
  return out;
}

/** Where the module uses a GC-proposal reference type, or undefined if nowhere. */
function findGcRefType(info: ModuleInfo): string | undefined {
  const gc = isGcRefType;
  for (const [i, t] of info.types.entries()) {
    const hit = [...t.params, ...t.results].find(gc);
    if (hit !== undefined) return `${hit} in type ${i}`;
  }
  for (const imp of info.imports) {
    const t = imp.kind === 'global' ? imp.global.type : imp.kind === 'table' ? imp.table.element : undefined;
    if (t !== undefined && gc(t)) return `${t} in import "${imp.module}"."${imp.name}"`;
  }
  for (const g of info.globals) if (gc(g.type)) return `${g.type} in global ${g.index}`;
  for (const [i, t] of info.tables.entries()) {
    if (gc(t.element)) return `${t.element} in table ${info.importedTableCount + i}`;
  }
  for (const [i, e] of info.elements.entries()) if (gc(e.type)) return `${e.type} in element segment ${i}`;
  for (const body of info.code) {
    const hit = body.locals.find((l) => gc(l.type));
    if (hit !== undefined) return `${hit.type} in a local of function ${body.functionIndex}`;
  }
  return undefined;
}

function poolability(info: ModuleInfo, memories: readonly MemoryAnalysis[]): Poolability {
  const reasons: string[] = [];
  const count = memoryCountProblem(memories.length);
  if (count !== undefined) reasons.push(count);
  if (memories[0] !== undefined) reasons.push(...memoryTypeProblems(memories[0]));
  const gc = findGcRefType(info);
  if (gc !== undefined) reasons.push(`the module uses GC-proposal reference types (${gc})`);
  return reasons.length === 0 ? { ok: true } : { ok: false, reason: reasons.join('; ') };
}

/**
 * Analyzes a module read by `readModule` from `bytes`. Decodes every function body once.
 *
 * @throws MalformedModuleError (section `code`) if a body cannot be decoded.
 */
export function analyzeModule(info: ModuleInfo, bytes: Uint8Array): ModuleAnalysis {
  const facts = scanCode(info, bytes);
  const reachable = reachableFromUse(info, facts);
  const imported = info.importedFunctionCount;
  const byUse = (flag: 'dataDrop' | 'elemDrop' | 'memoryInit' | 'tableInit'): boolean =>
    [...reachable].some((f) => facts.bodies[f - imported]?.[flag] === true);
  const memories = analyzeMemories(info, facts);
  const globals = analyzeGlobals(info, facts);
  return {
    poolable: poolability(info, memories),
    memory: memories[0] ?? null,
    memories,
    globals,
    tables: analyzeTables(info, facts),
    dataDrop: byUse('dataDrop'),
    elemDrop: byUse('elemDrop'),
    memoryInit: byUse('memoryInit'),
    tableInit: byUse('tableInit'),
    mutableRefGlobals: globals.filter((g) => g.mutable && isRefType(g.type)).map((g) => g.index),
    reachableFunctions: [...reachable].sort((a, b) => a - b),
    loopHeaders: facts.bodies.map((b) => b.loops),
  };
}
