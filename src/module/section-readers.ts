/**
 * One reader per known section. Each reads the section's contents from a {@link ByteReader}
 * limited to that section and appends to a {@link ModuleBuilder}. Sections arrive in binary order,
 * so each reader can check indices against the sections before it (types before functions,
 * every index space before exports).
 */

import type { ByteReader } from './bytes.js';
import { readConstExpr } from './const-expr.js';
import type {
  ConstExpr,
  DataSegment,
  DefinedGlobal,
  DefinedTable,
  ElementSegment,
  Export,
  ExternKind,
  FuncType,
  FunctionBody,
  GlobalType,
  Import,
  ImportDesc,
  LocalGroup,
  MemoryType,
  TagType,
  ValType,
} from './types.js';
import { readMemoryType, readRefType, readTableType, readValType } from './valtypes.js';

/** The mutable form of {@link ModuleInfo} the section readers fill in. */
export interface ModuleBuilder {
  types: FuncType[];
  imports: Import[];
  importedFunctionCount: number;
  importedTableCount: number;
  importedMemoryCount: number;
  importedGlobalCount: number;
  importedTagCount: number;
  functions: number[];
  tables: DefinedTable[];
  memories: MemoryType[];
  globals: DefinedGlobal[];
  tags: TagType[];
  exports: Export[];
  start?: number;
  elements: ElementSegment[];
  dataCount?: number;
  code: FunctionBody[];
  dataSegments: DataSegment[];
}

/** An empty builder. */
export function newModuleBuilder(): ModuleBuilder {
  return {
    types: [],
    imports: [],
    importedFunctionCount: 0,
    importedTableCount: 0,
    importedMemoryCount: 0,
    importedGlobalCount: 0,
    importedTagCount: 0,
    functions: [],
    tables: [],
    memories: [],
    globals: [],
    tags: [],
    exports: [],
    elements: [],
    code: [],
    dataSegments: [],
  };
}

const EXTERN_KINDS: readonly ExternKind[] = ['function', 'table', 'memory', 'global', 'tag'];

// Type-section forms of the GC proposal: rejected with a clear reason rather than "unknown".
const GC_TYPE_FORMS: ReadonlyMap<number, string> = new Map([
  [0x4e, 'rec'],
  [0x50, 'sub'],
  [0x4f, 'sub final'],
  [0x5f, 'struct'],
  [0x5e, 'array'],
]);

function readValTypes(r: ByteReader): ValType[] {
  const n = r.count();
  const out: ValType[] = [];
  for (let i = 0; i < n; i++) out.push(readValType(r));
  return out;
}

function typeIndex(r: ByteReader, m: ModuleBuilder): number {
  const at = r.pos;
  const index = r.u32();
  if (index >= m.types.length) r.fail(`type index ${index} out of range (${m.types.length} types)`, at);
  return index;
}

function readGlobalType(r: ByteReader): GlobalType {
  const type = readValType(r);
  const at = r.pos;
  const mut = r.u8();
  if (mut > 1) r.fail(`invalid global mutability 0x${mut.toString(16)}`, at);
  return { type, mutable: mut === 1 };
}

function readTagType(r: ByteReader, m: ModuleBuilder): TagType {
  const at = r.pos;
  const attribute = r.u8();
  if (attribute !== 0) r.fail(`unknown tag attribute ${attribute}`, at);
  return { attribute, typeIndex: typeIndex(r, m) };
}

/** Type section: function types only. */
export function readTypeSection(r: ByteReader, m: ModuleBuilder): void {
  const n = r.count();
  for (let i = 0; i < n; i++) {
    const at = r.pos;
    const form = r.u8();
    if (form !== 0x60) {
      const gc = GC_TYPE_FORMS.get(form);
      if (gc !== undefined) {
        const reason = `unsupported: GC proposal type definition '${gc}' (0x${form.toString(16)})`;
        r.fail(`${reason}; cowpool pools only modules without GC types`, at);
      }
      r.fail(`unknown type form 0x${form.toString(16)}`, at);
    }
    const params = readValTypes(r);
    const results = readValTypes(r);
    m.types.push({ params, results });
  }
}

function readImportDesc(r: ByteReader, m: ModuleBuilder): ImportDesc & { index: number } {
  const kindAt = r.pos;
  const kind = r.u8();
  switch (kind) {
    case 0:
      return { kind: 'function', typeIndex: typeIndex(r, m), index: m.importedFunctionCount++ };
    case 1:
      return { kind: 'table', table: readTableType(r), index: m.importedTableCount++ };
    case 2:
      return { kind: 'memory', memory: readMemoryType(r), index: m.importedMemoryCount++ };
    case 3:
      return { kind: 'global', global: readGlobalType(r), index: m.importedGlobalCount++ };
    case 4:
      return { kind: 'tag', tag: readTagType(r, m), index: m.importedTagCount++ };
    default:
      return r.fail(`unknown import kind 0x${kind.toString(16)}`, kindAt);
  }
}

/** Import section: every kind, each numbered within its own index space. */
export function readImportSection(r: ByteReader, m: ModuleBuilder): void {
  const n = r.count(3);
  for (let i = 0; i < n; i++) {
    const start = r.pos;
    const module = r.name();
    const name = r.name();
    const desc = readImportDesc(r, m);
    m.imports.push({ module, name, ...desc, range: { start, end: r.pos } });
  }
}

/** Function section: a type index per defined function. */
export function readFunctionSection(r: ByteReader, m: ModuleBuilder): void {
  const n = r.count();
  for (let i = 0; i < n; i++) m.functions.push(typeIndex(r, m));
}

/** Table section, including the `0x40 0x00` form with an initializer expression. */
export function readTableSection(r: ByteReader, m: ModuleBuilder): void {
  const n = r.count();
  for (let i = 0; i < n; i++) {
    if (r.peek() === 0x40) {
      r.u8();
      const at = r.pos;
      const reserved = r.u8();
      if (reserved !== 0) {
        r.fail(`expected 0x00 after 0x40 in a table definition, found 0x${reserved.toString(16)}`, at);
      }
      const type = readTableType(r);
      m.tables.push({ ...type, init: readConstExpr(r) });
    } else {
      m.tables.push(readTableType(r));
    }
  }
}

/** Memory section. */
export function readMemorySection(r: ByteReader, m: ModuleBuilder): void {
  const n = r.count();
  for (let i = 0; i < n; i++) m.memories.push(readMemoryType(r));
}

/** Tag section (exception handling). */
export function readTagSection(r: ByteReader, m: ModuleBuilder): void {
  const n = r.count();
  for (let i = 0; i < n; i++) m.tags.push(readTagType(r, m));
}

/** Global section. */
export function readGlobalSection(r: ByteReader, m: ModuleBuilder): void {
  const n = r.count();
  for (let i = 0; i < n; i++) {
    const start = r.pos;
    const type = readGlobalType(r);
    const init = readConstExpr(r);
    const index = m.importedGlobalCount + m.globals.length;
    m.globals.push({ ...type, index, init, range: { start, end: r.pos } });
  }
}

/** Export section; every index is checked against its index space. */
export function readExportSection(r: ByteReader, m: ModuleBuilder): void {
  const n = r.count(3);
  const sizes: Record<ExternKind, number> = {
    function: m.importedFunctionCount + m.functions.length,
    table: m.importedTableCount + m.tables.length,
    memory: m.importedMemoryCount + m.memories.length,
    global: m.importedGlobalCount + m.globals.length,
    tag: m.importedTagCount + m.tags.length,
  };
  for (let i = 0; i < n; i++) {
    const name = r.name();
    const kindAt = r.pos;
    const kind = EXTERN_KINDS[r.u8()];
    if (kind === undefined) r.fail(`unknown export kind 0x${(r.bytes[kindAt] ?? 0).toString(16)}`, kindAt);
    const indexAt = r.pos;
    const index = r.u32();
    if (index >= sizes[kind]) {
      r.fail(`export "${name}" refers to ${kind} ${index}, but there are only ${sizes[kind]}`, indexAt);
    }
    m.exports.push({ name, kind, index });
  }
}

/** Start section. */
export function readStartSection(r: ByteReader, m: ModuleBuilder): void {
  const at = r.pos;
  const index = r.u32();
  const count = m.importedFunctionCount + m.functions.length;
  if (index >= count) r.fail(`start function ${index} out of range (${count} functions)`, at);
  m.start = index;
}

function readFunctionIndices(r: ByteReader): number[] {
  const n = r.count();
  const out: number[] = [];
  for (let i = 0; i < n; i++) out.push(r.u32());
  return out;
}

function readExpressions(r: ByteReader): ConstExpr[] {
  const n = r.count();
  const out: ConstExpr[] = [];
  for (let i = 0; i < n; i++) out.push(readConstExpr(r));
  return out;
}

function readElemKind(r: ByteReader): 'funcref' {
  const at = r.pos;
  const kind = r.u8();
  if (kind !== 0) r.fail(`unknown element kind 0x${kind.toString(16)}`, at);
  return 'funcref';
}

/**
 * Element section, all eight encodings. Flag bit 0: not active; bit 1: explicit table index (if
 * active) or declarative (if not); bit 2: items are expressions rather than function indices.
 */
export function readElementSection(r: ByteReader, m: ModuleBuilder): void {
  const n = r.count();
  for (let i = 0; i < n; i++) {
    const start = r.pos;
    const flags = r.u32();
    if (flags > 7) r.fail(`unknown element segment flags ${flags}`, start);
    const active = (flags & 1) === 0;
    const mode = active ? 'active' : (flags & 2) !== 0 ? 'declarative' : 'passive';
    const table = active ? ((flags & 2) !== 0 ? r.u32() : 0) : undefined;
    const offset = active ? readConstExpr(r) : undefined;
    const usesExprs = (flags & 4) !== 0;
    // Forms 0 and 4 have neither an element kind nor a type: funcref is implied.
    const implicitType = flags === 0 || flags === 4;
    const type = implicitType ? 'funcref' : usesExprs ? readRefType(r) : readElemKind(r);
    const items = usesExprs ? { expressions: readExpressions(r) } : { functions: readFunctionIndices(r) };
    m.elements.push({
      flags,
      mode,
      ...(table !== undefined ? { table } : {}),
      ...(offset !== undefined ? { offset } : {}),
      type,
      ...items,
      range: { start, end: r.pos },
    });
  }
}

/** Datacount section. */
export function readDataCountSection(r: ByteReader, m: ModuleBuilder): void {
  m.dataCount = r.u32();
}

/** Code section: body ranges and locals; instructions are left undecoded. */
export function readCodeSection(r: ByteReader, m: ModuleBuilder): void {
  const countAt = r.pos;
  const n = r.count();
  if (n !== m.functions.length) {
    const declared = m.functions.length;
    r.fail(`code section has ${n} bodies but the function section declares ${declared} functions`, countAt);
  }
  for (let i = 0; i < n; i++) {
    const sizeAt = r.pos;
    const size = r.u32();
    if (size > r.remaining()) r.fail(`function body of ${size} bytes runs past the end of the section`, sizeAt);
    const start = r.pos;
    const end = start + size;
    const outerLimit = r.limit;
    r.limit = end;
    const locals: LocalGroup[] = [];
    const groups = r.count(2);
    let total = 0;
    for (let g = 0; g < groups; g++) {
      const at = r.pos;
      const count = r.u32();
      total += count;
      if (total > 0xffffffff) r.fail('function declares more than 2^32-1 locals', at);
      locals.push({ count, type: readValType(r) });
    }
    if (r.pos >= end || r.bytes[end - 1] !== 0x0b) {
      r.fail('function body does not end with end (0x0b)', end - 1);
    }
    m.code.push({
      functionIndex: m.importedFunctionCount + i,
      range: { start, end },
      locals,
      instructions: { start: r.pos, end },
    });
    r.limit = outerLimit;
    r.pos = end;
  }
}

/** Data section: active (memory 0 or explicit), passive. */
export function readDataSection(r: ByteReader, m: ModuleBuilder): void {
  const countAt = r.pos;
  const n = r.count();
  if (m.dataCount !== undefined && n !== m.dataCount) {
    r.fail(`data section has ${n} segments but the datacount section says ${m.dataCount}`, countAt);
  }
  for (let i = 0; i < n; i++) {
    const start = r.pos;
    const flags = r.u32();
    if (flags > 2) r.fail(`unknown data segment flags ${flags}`, start);
    const active = flags !== 1;
    const memory = flags === 2 ? r.u32() : 0;
    const offset = active ? readConstExpr(r) : undefined;
    const length = r.u32();
    const dataStart = r.pos;
    r.skip(length);
    m.dataSegments.push({
      flags,
      mode: active ? 'active' : 'passive',
      memory,
      ...(offset !== undefined ? { offset } : {}),
      data: { start: dataStart, end: r.pos },
      range: { start, end: r.pos },
    });
  }
}
