/**
 * `rewriteModule`: re-emits a module section by section with the changes a pool needs, copying
 * every section it does not change byte for byte (custom sections always are, the code section
 * unless `interrupt` is set). No existing index changes (a defined memory becomes an imported one
 * at the same index; `interrupt` only appends), so function bodies stay valid:
 *
 * - `importMemory`: the defined memory becomes an import with the same limits (still memory 0);
 * - `stripActiveData`: active segments become empty passive ones, so segment indices used by
 *   `memory.init`/`data.drop` keep their meaning and behave as the dropped segment of a fresh
 *   instance does (the pool's memory image already holds the bytes);
 * - `exportGlobals`/`exportTables`: internal mutable globals and tables get exports so JS can save
 *   and restore them;
 * - `globalInits`: numeric globals start from given values (pre-initialization snapshots);
 * - `removeStart`: the start function no longer runs at instantiation;
 * - `interrupt`: a fuel counter at every function entry and loop header calls a host check through
 *   a new table when it runs out (see `fuel.ts`); with `startExport`, the start function is
 *   exported instead of run at instantiation, so that the host can wire the check first.
 */

import { InvalidArgumentError, ModuleNotPoolableError } from '../errors.js';
import { ByteReader } from './bytes.js';
import { instrumentFuel, type FuelInstrumentation } from './fuel.js';
import { memoryCountProblem } from './memory-checks.js';
import { SectionId, sectionRank } from './reader.js';
import type { Import, MemoryType, ModuleInfo, Section } from './types.js';
import { ByteWriter, f32ConstExpr, f64ConstExpr, i32ConstExpr, i64ConstExpr } from './writer.js';

/** What {@link rewriteModule} changes. An empty plan returns a copy of the input. */
export interface RewritePlan {
  /** Import memory 0 from `module`.`name` instead of defining it (an existing memory import is renamed). */
  importMemory?: { readonly module: string; readonly name: string };
  /** Replace every active data segment of memory 0 by an empty passive segment. */
  stripActiveData?: boolean;
  /** Export each defined mutable global that has no export as `${prefix}${globalIndex}`. */
  exportGlobals?: { readonly prefix: string };
  /** Export each defined table that has no export as `${prefix}${tableIndex}`. */
  exportTables?: { readonly prefix: string };
  /**
   * New initial values for defined numeric globals, by global index: i32 and f32/f64 as numbers,
   * i64 as a bigint (or a safe integer).
   */
  globalInits?: ReadonlyMap<number, number | bigint>;
  /** Drop the start section. */
  removeStart?: boolean;
  /**
   * Instrument loops and function entries with a fuel counter; see fuel.ts. The counter (a mutable
   * i32 global, initially 0) is exported as `fuelExport`; the check is called through entry 0 of
   * a new one-entry funcref table exported as `tableExport`, which the host must fill with a
   * `[] -> []` function before any instrumented code runs. `calls: false` instruments loop headers
   * only (see fuel.ts for when that is enough). `startExport`: a start function (unless
   * `removeStart` drops it) no longer runs inside `new WebAssembly.Instance`, where it would meet
   * the empty table, but is exported under this name for the host to call once the check is wired.
   * `loopHeaders`: `analyzeModule`'s of these bytes, so that the code is not decoded a second time.
   */
  interrupt?: {
    readonly fuelExport: string;
    readonly tableExport: string;
    readonly startExport?: string;
    readonly calls?: boolean;
    readonly loopHeaders?: readonly (readonly number[])[];
  };
}

const EXTERN_KIND_BYTE = { function: 0, table: 1, memory: 2, global: 3, tag: 4 } as const;

/** A replacement for a section: new contents, or null to leave the section out. */
export type Replacement = ByteWriter | null;

function writeMemoryType(w: ByteWriter, mem: MemoryType): void {
  const flags =
    (mem.max !== undefined ? 0x01 : 0) | (mem.shared ? 0x02 : 0) | (mem.memory64 ? 0x04 : 0) | (mem.pageSizeLog2 !== undefined ? 0x08 : 0);
  w.u8(flags).u64(mem.min);
  if (mem.max !== undefined) w.u64(mem.max);
  if (mem.pageSizeLog2 !== undefined) w.u32(mem.pageSizeLog2);
}

/** The bytes of a vector section after its count. */
function entriesOf(bytes: Uint8Array, section: Section): Uint8Array {
  const r = new ByteReader(bytes, section.body.start, section.body.end, section.name);
  r.u32();
  return bytes.subarray(r.pos, section.body.end);
}

function findSection(info: ModuleInfo, id: number): Section | undefined {
  return info.sections.find((s) => s.id === id);
}

function checkString(value: unknown, path: string): string {
  if (typeof value !== 'string') throw new InvalidArgumentError(`${path} must be a string`);
  return value;
}

function importMemory(
  bytes: Uint8Array,
  info: ModuleInfo,
  target: { readonly module: string; readonly name: string },
  replace: Map<number, Replacement>,
): void {
  const module = checkString(target.module, 'plan.importMemory.module');
  const name = checkString(target.name, 'plan.importMemory.name');
  const count = info.importedMemoryCount + info.memories.length;
  if (count === 0) throw new InvalidArgumentError('plan.importMemory: the module has no memory to import');
  const tooMany = memoryCountProblem(count);
  if (tooMany !== undefined) throw new ModuleNotPoolableError(tooMany);
  // The JS import object holds one value per name: another import under it would get the memory.
  const clash = info.imports.find((i) => i.kind !== 'memory' && i.module === module && i.name === name);
  if (clash !== undefined) {
    throw new InvalidArgumentError(`plan.importMemory: the module already imports a ${clash.kind} as "${module}"."${name}"`);
  }
  const writeEntry = (w: ByteWriter, mem: MemoryType): void => {
    w.name(module).name(name).u8(EXTERN_KIND_BYTE.memory);
    writeMemoryType(w, mem);
  };
  const w = new ByteWriter();
  const defined = info.memories[0];
  if (defined !== undefined) {
    w.u32(info.imports.length + 1);
    const section = findSection(info, SectionId.import);
    if (section !== undefined) w.bytes(entriesOf(bytes, section));
    writeEntry(w, defined);
    replace.set(SectionId.memory, null);
  } else {
    const existing = info.imports.find((imp): imp is Import & { kind: 'memory' } => imp.kind === 'memory');
    if (existing === undefined || (existing.module === module && existing.name === name)) return;
    w.u32(info.imports.length);
    for (const imp of info.imports) {
      if (imp === existing) writeEntry(w, existing.memory);
      else w.bytes(bytes.subarray(imp.range.start, imp.range.end));
    }
  }
  replace.set(SectionId.import, w);
}

function stripActiveData(bytes: Uint8Array, info: ModuleInfo, replace: Map<number, Replacement>): void {
  if (!info.dataSegments.some((seg) => seg.mode === 'active' && seg.memory === 0)) return;
  const w = new ByteWriter().u32(info.dataSegments.length);
  for (const seg of info.dataSegments) {
    // flags 1 (passive), zero-length payload: same index, same count, so datacount stays right.
    if (seg.mode === 'active' && seg.memory === 0) w.u8(0x01).u32(0);
    else w.bytes(bytes.subarray(seg.range.start, seg.range.end));
  }
  replace.set(SectionId.data, w);
}

/** An export the rewriter adds under a name the plan chose; `path` names the option in errors. */
interface NamedExport {
  readonly name: string;
  readonly kind: 'function' | 'global' | 'table';
  readonly index: number;
  readonly path: string;
}

function addExports(
  bytes: Uint8Array,
  info: ModuleInfo,
  plan: RewritePlan,
  named: readonly NamedExport[],
  replace: Map<number, Replacement>,
): void {
  const names = new Set(info.exports.map((e) => e.name));
  const added: { name: string; kind: NamedExport['kind']; index: number }[] = [];
  const add = (kind: 'global' | 'table', index: number, prefix: string, path: string): void => {
    const name = `${prefix}${index}`;
    if (names.has(name)) {
      throw new InvalidArgumentError(`${path} "${prefix}" gives ${kind} ${index} the export name "${name}", which is already taken`);
    }
    names.add(name);
    added.push({ name, kind, index });
  };
  const exportedIndices = (kind: 'global' | 'table'): Set<number> =>
    new Set(info.exports.filter((e) => e.kind === kind).map((e) => e.index));
  if (plan.exportGlobals !== undefined) {
    const prefix = checkString(plan.exportGlobals.prefix, 'plan.exportGlobals.prefix');
    const exported = exportedIndices('global');
    for (const g of info.globals) {
      if (g.mutable && !exported.has(g.index)) add('global', g.index, prefix, 'plan.exportGlobals.prefix');
    }
  }
  if (plan.exportTables !== undefined) {
    const prefix = checkString(plan.exportTables.prefix, 'plan.exportTables.prefix');
    const exported = exportedIndices('table');
    for (let i = 0; i < info.tables.length; i++) {
      const index = info.importedTableCount + i;
      if (!exported.has(index)) add('table', index, prefix, 'plan.exportTables.prefix');
    }
  }
  for (const e of named) {
    if (names.has(e.name)) {
      throw new InvalidArgumentError(`${e.path} "${e.name}" is already taken by another export`);
    }
    names.add(e.name);
    added.push(e);
  }
  if (added.length === 0) return;
  const w = new ByteWriter().u32(info.exports.length + added.length);
  const section = findSection(info, SectionId.export);
  if (section !== undefined) w.bytes(entriesOf(bytes, section));
  for (const e of added) w.name(e.name).u8(EXTERN_KIND_BYTE[e.kind]).u32(e.index);
  replace.set(SectionId.export, w);
}

function isInteger(v: unknown): v is number | bigint {
  return typeof v === 'bigint' || (typeof v === 'number' && Number.isInteger(v));
}

/** `value` as the constant expression for a global of `type`; `path` names it in errors. */
function encodeGlobalInit(type: string, value: unknown, path: string): Uint8Array {
  const got = typeof value === 'bigint' ? `${value}n` : String(value);
  switch (type) {
    case 'i32':
      // Unsigned values are accepted too: JS code often holds addresses as u32.
      if (!isInteger(value) || value < -(2 ** 31) || value > 2 ** 32 - 1) {
        throw new InvalidArgumentError(`${path} must be an integer in [-2^31, 2^32) for an i32 global, got ${got}`);
      }
      return i32ConstExpr(Number(BigInt.asIntN(32, BigInt(value))));
    case 'i64': {
      const unsafe = typeof value === 'number' && !Number.isSafeInteger(value);
      if (!isInteger(value) || unsafe || value < -(2n ** 63n) || value > 2n ** 64n - 1n) {
        throw new InvalidArgumentError(`${path} must be a bigint in [-2^63, 2^64) (or a safe integer) for an i64 global, got ${got}`);
      }
      return i64ConstExpr(BigInt(value));
    }
    case 'f32':
    case 'f64':
      if (typeof value !== 'number') {
        throw new InvalidArgumentError(`${path} must be a number for an ${type} global, got ${got}`);
      }
      return type === 'f32' ? f32ConstExpr(value) : f64ConstExpr(value);
    default:
      throw new InvalidArgumentError(`${path}: only i32, i64, f32 and f64 globals can be given values, this one is ${type}`);
  }
}

/** The plan's global initial values as constant expressions, by global index (checked). */
function encodeGlobalInits(info: ModuleInfo, inits: ReadonlyMap<number, number | bigint>): Map<number, Uint8Array> {
  if (!(inits instanceof Map)) {
    throw new InvalidArgumentError('plan.globalInits must be a Map from global index to value');
  }
  const encoded = new Map<number, Uint8Array>();
  for (const [index, value] of inits) {
    const path = `plan.globalInits[${String(index)}]`;
    const g = typeof index === 'number' ? info.globals[index - info.importedGlobalCount] : undefined;
    if (g === undefined || g.index !== index) {
      const imported = typeof index === 'number' && index >= 0 && index < info.importedGlobalCount;
      throw new InvalidArgumentError(
        `${path}: global ${String(index)} ${imported ? 'is imported' : 'does not exist'}; ` + 'only defined globals can be given values',
      );
    }
    encoded.set(index, encodeGlobalInit(g.type, value, path));
  }
  return encoded;
}

/** The global section with new initial values for some globals and `appended` entries after them. */
function replaceGlobals(
  bytes: Uint8Array,
  info: ModuleInfo,
  inits: ReadonlyMap<number, Uint8Array>,
  appended: readonly Uint8Array[],
  replace: Map<number, Replacement>,
): void {
  if (inits.size === 0 && appended.length === 0) return;
  const w = new ByteWriter().u32(info.globals.length + appended.length);
  for (const g of info.globals) {
    const init = inits.get(g.index);
    if (init === undefined) {
      w.bytes(bytes.subarray(g.range.start, g.range.end));
    } else {
      w.bytes(bytes.subarray(g.range.start, g.init.range.start)).bytes(init);
    }
  }
  for (const entry of appended) w.bytes(entry);
  replace.set(SectionId.global, w);
}

/** Section `id` (a vector of `count` entries, possibly absent) with `entries` appended. */
export function appendEntries(
  bytes: Uint8Array,
  info: ModuleInfo,
  id: number,
  count: number,
  entries: readonly Uint8Array[],
  replace: Map<number, Replacement>,
): void {
  if (entries.length === 0) return;
  const w = new ByteWriter().u32(count + entries.length);
  const section = findSection(info, id);
  if (section !== undefined) w.bytes(entriesOf(bytes, section));
  for (const entry of entries) w.bytes(entry);
  replace.set(id, w);
}

/** The export names of `plan.interrupt`, checked. */
function interruptExports(interrupt: unknown): { fuelExport: string; tableExport: string; startExport: string | undefined } {
  if (typeof interrupt !== 'object' || interrupt === null) {
    throw new InvalidArgumentError('plan.interrupt must be an object with fuelExport and tableExport');
  }
  const { fuelExport, tableExport, startExport } = interrupt as Record<string, unknown>;
  const names = {
    fuelExport: checkString(fuelExport, 'plan.interrupt.fuelExport'),
    tableExport: checkString(tableExport, 'plan.interrupt.tableExport'),
    startExport: startExport === undefined ? undefined : checkString(startExport, 'plan.interrupt.startExport'),
  };
  const given = [names.fuelExport, names.tableExport, names.startExport].filter((n) => n !== undefined);
  const twice = given.find((n, i) => given.indexOf(n) !== i);
  if (twice !== undefined) {
    throw new InvalidArgumentError(`plan.interrupt names "${twice}" for two exports; exports need distinct names`);
  }
  return names;
}

/**
 * Rewrites `bytes` (which `info` was read from) according to `plan`. The output is a valid module
 * whenever the input is.
 *
 * @throws InvalidArgumentError for a plan that does not fit the module (no memory to import, a
 *   prefix or export name that collides with an existing export, a value of the wrong type for a
 *   global).
 * @throws MalformedModuleError when `interrupt` is set and a function body cannot be decoded.
 * @throws ModuleNotPoolableError when asked to import the memory of a multi-memory module.
 */
export function rewriteModule(bytes: Uint8Array, info: ModuleInfo, plan: RewritePlan): Uint8Array {
  if (typeof plan !== 'object' || plan === null) throw new InvalidArgumentError('plan must be an object');
  const replace = new Map<number, Replacement>();
  if (plan.importMemory !== undefined) importMemory(bytes, info, plan.importMemory, replace);
  if (plan.stripActiveData === true) stripActiveData(bytes, info, replace);
  const names = plan.interrupt !== undefined ? interruptExports(plan.interrupt) : undefined;
  const inits = plan.globalInits !== undefined ? encodeGlobalInits(info, plan.globalInits) : new Map<number, Uint8Array>();
  let fuel: FuelInstrumentation | undefined;
  const named: NamedExport[] = [];
  if (names !== undefined) {
    fuel = instrumentFuel(bytes, info, plan.interrupt?.calls ?? true, plan.interrupt?.loopHeaders);
    named.push(
      { name: names.fuelExport, kind: 'global', index: fuel.globalIndex, path: 'plan.interrupt.fuelExport' },
      { name: names.tableExport, kind: 'table', index: fuel.tableIndex, path: 'plan.interrupt.tableExport' },
    );
  }
  // The start function becomes an export the host calls once the check is wired (see `interrupt`).
  const startExport = plan.removeStart === true ? undefined : names?.startExport;
  const deferStart = startExport !== undefined && info.start !== undefined;
  if (deferStart) named.push({ name: startExport, kind: 'function', index: info.start, path: 'plan.interrupt.startExport' });
  if (plan.exportGlobals !== undefined || plan.exportTables !== undefined || named.length > 0) {
    addExports(bytes, info, plan, named, replace);
  }
  replaceGlobals(bytes, info, inits, fuel !== undefined ? [fuel.globalEntry] : [], replace);
  if (fuel !== undefined) {
    const typeEntries = fuel.typeEntry !== undefined ? [fuel.typeEntry] : [];
    appendEntries(bytes, info, SectionId.type, info.types.length, typeEntries, replace);
    appendEntries(bytes, info, SectionId.table, info.tables.length, [fuel.tableEntry], replace);
    if (fuel.code !== undefined) replace.set(SectionId.code, fuel.code);
  }
  if ((plan.removeStart === true || deferStart) && info.start !== undefined) replace.set(SectionId.start, null);

  return emitModule(bytes, info, replace);
}

/**
 * The module `info` was read from (`bytes`) with only the exports named in `keep`. V8 makes a
 * function object for every exported function of every instance, so a host that calls a few
 * exports of a large module saves memory per instance by dropping the rest. Nothing else changes.
 */
export function keepOnlyExports(bytes: Uint8Array, info: ModuleInfo, keep: ReadonlySet<string>): Uint8Array {
  const kept = info.exports.filter((e) => keep.has(e.name));
  const w = new ByteWriter().u32(kept.length);
  for (const e of kept) w.name(e.name).u8(EXTERN_KIND_BYTE[e.kind]).u32(e.index);
  return emitModule(bytes, info, new Map([[SectionId.export, kept.length > 0 ? w : null]]));
}

/**
 * Re-emits the module `info` was read from (`bytes`) with sections replaced (`null`: left out);
 * replacements for sections the module lacks are inserted where the section order puts them, and
 * custom sections are copied as they are.
 */
export function emitModule(bytes: Uint8Array, info: ModuleInfo, replace: ReadonlyMap<number, Replacement>): Uint8Array {
  const pending = [...replace.entries()]
    .filter(([id, w]) => w !== null && findSection(info, id) === undefined)
    .sort(([a], [b]) => sectionRank(a) - sectionRank(b));
  // Sized for the whole output up front (at most the input and every replacement, with their
  // headers): growing by doubling would copy a large module's bytes a dozen times.
  let capacity = bytes.length;
  for (const w of replace.values()) if (w !== null) capacity += w.length + 6;
  const out = new ByteWriter(capacity).bytes(bytes.subarray(0, 8));
  const flushPendingBefore = (rank: number): void => {
    while (pending.length > 0 && sectionRank(pending[0]?.[0] ?? 0) < rank) {
      const [id, w] = pending.shift() as [number, ByteWriter];
      out.section(id, w);
    }
  };
  for (const section of info.sections) {
    if (section.id !== SectionId.custom) flushPendingBefore(sectionRank(section.id));
    const replacement = replace.get(section.id);
    if (section.id === SectionId.custom || replacement === undefined) {
      out.bytes(bytes.subarray(section.range.start, section.range.end));
    } else if (replacement !== null) {
      out.section(section.id, replacement);
    }
  }
  flushPendingBefore(Infinity);
  // A view of the writer's own buffer, which nothing else holds: no copy.
  return out.finish();
}
