/**
 * The decoded shape of a core WebAssembly module as {@link readModule} returns it. Only what the
 * pool needs is decoded; everything else is kept as byte ranges into the original binary, so the
 * rewriter can copy it unchanged.
 */

import type { ByteRange } from './bytes.js';

/** A numeric value type. */
export type NumType = 'i32' | 'i64' | 'f32' | 'f64';

/**
 * A nullable reference to an abstract heap type, by its shorthand name. Only `funcref`, `externref`
 * and `exnref` exist without the GC proposal.
 */
export type AbstractRefType =
  | 'funcref'
  | 'externref'
  | 'exnref'
  | 'anyref'
  | 'eqref'
  | 'i31ref'
  | 'structref'
  | 'arrayref'
  | 'nullref'
  | 'nullfuncref'
  | 'nullexternref'
  | 'nullexnref';

/**
 * A reference type: a shorthand, or the general form from the function-references/GC proposals,
 * spelled as in the text format: `(ref func)`, `(ref null 3)`, `(ref 3)`.
 */
export type RefType = AbstractRefType | `(ref ${string})`;

/** Any value type. */
export type ValType = NumType | 'v128' | RefType;

/** A function signature. Multi-value results are allowed. */
export interface FuncType {
  readonly params: readonly ValType[];
  readonly results: readonly ValType[];
}

/** A memory's type. Page counts are in 64 KiB pages unless `pageSizeLog2` says otherwise. */
export interface MemoryType {
  /** Initial size in pages. */
  readonly min: number;
  /** Maximum size in pages, if bounded. */
  readonly max?: number;
  /** Declared `shared` (threads proposal). */
  readonly shared: boolean;
  /** Indexed by i64 (memory64 proposal). */
  readonly memory64: boolean;
  /** Present only when the custom-page-sizes proposal sets a page size other than 64 KiB. */
  readonly pageSizeLog2?: number;
}

/** A table's type. */
export interface TableType {
  readonly element: RefType;
  readonly min: number;
  readonly max?: number;
  /** Indexed by i64 (memory64 proposal applied to tables). */
  readonly table64: boolean;
}

/** One instruction of a constant expression (MVP, reference types, SIMD and extended-const). */
export type ConstInstr =
  | { readonly op: 'i32.const'; readonly value: number }
  | { readonly op: 'i64.const'; readonly value: bigint }
  | { readonly op: 'f32.const'; readonly value: number }
  | { readonly op: 'f64.const'; readonly value: number }
  | { readonly op: 'v128.const'; readonly bytes: Uint8Array }
  | { readonly op: 'ref.null'; readonly heapType: string | number }
  | { readonly op: 'ref.func'; readonly functionIndex: number }
  | { readonly op: 'global.get'; readonly globalIndex: number }
  | { readonly op: ArithmeticOp };

/** A decoded constant expression (`const-expr.ts` reads and evaluates them). */
export interface ConstExpr {
  readonly instrs: readonly ConstInstr[];
  /** The expression's bytes, its final `end` (0x0B) included. */
  readonly range: ByteRange;
}

/** The integer arithmetic the extended-const proposal allows in constant expressions. */
export type ArithmeticOp = 'i32.add' | 'i32.sub' | 'i32.mul' | 'i64.add' | 'i64.sub' | 'i64.mul';

/** A defined table; `init` is present for the `0x40 0x00` form that gives every slot an initial value. */
export interface DefinedTable extends TableType {
  readonly init?: ConstExpr;
}

/** A global's type. */
export interface GlobalType {
  readonly type: ValType;
  readonly mutable: boolean;
}

/** An exception tag: attribute 0 (exception) and the index of its function type. */
export interface TagType {
  readonly attribute: number;
  readonly typeIndex: number;
}

/** Kinds of imports and exports, named as the JS API names them. */
export type ExternKind = 'function' | 'table' | 'memory' | 'global' | 'tag';

/** What an import brings in, by kind. */
export type ImportDesc =
  | { readonly kind: 'function'; readonly typeIndex: number }
  | { readonly kind: 'table'; readonly table: TableType }
  | { readonly kind: 'memory'; readonly memory: MemoryType }
  | { readonly kind: 'global'; readonly global: GlobalType }
  | { readonly kind: 'tag'; readonly tag: TagType };

/** One import. `index` is its index in its kind's index space (imports come first in each). */
export type Import = ImportDesc & {
  readonly module: string;
  readonly name: string;
  readonly index: number;
  /** The whole entry, names included. */
  readonly range: ByteRange;
};

/** A defined global with its initializer. */
export interface DefinedGlobal extends GlobalType {
  /** Index in the global index space (after the imported globals). */
  readonly index: number;
  readonly init: ConstExpr;
  /** The whole entry: type, mutability and initializer. */
  readonly range: ByteRange;
}

/** One export. */
export interface Export {
  readonly name: string;
  readonly kind: ExternKind;
  readonly index: number;
}

/** An element segment in any of its eight encodings. */
export interface ElementSegment {
  /** The encoding flags, 0–7. */
  readonly flags: number;
  readonly mode: 'active' | 'passive' | 'declarative';
  /** Target table, for active segments. */
  readonly table?: number;
  /** Offset into the table, for active segments. */
  readonly offset?: ConstExpr;
  readonly type: RefType;
  /** Function indices, for the flag forms 0–3. */
  readonly functions?: readonly number[];
  /** Initializer expressions, for the flag forms 4–7. */
  readonly expressions?: readonly ConstExpr[];
  /** The whole entry. */
  readonly range: ByteRange;
}

/** A data segment. */
export interface DataSegment {
  /** The encoding flags: 0 (active, memory 0), 1 (passive), 2 (active, explicit memory). */
  readonly flags: number;
  readonly mode: 'active' | 'passive';
  /** Target memory of an active segment (0 for passive ones, which have none). */
  readonly memory: number;
  /** Offset into the memory, for active segments. */
  readonly offset?: ConstExpr;
  /** The payload bytes. */
  readonly data: ByteRange;
  /** The whole entry. */
  readonly range: ByteRange;
}

/** A run of locals of one type in a function body. */
export interface LocalGroup {
  readonly count: number;
  readonly type: ValType;
}

/** One function body of the code section, not decoded beyond its locals. */
export interface FunctionBody {
  /** Index in the function index space. */
  readonly functionIndex: number;
  /** The body after its size field: local declarations then instructions. */
  readonly range: ByteRange;
  readonly locals: readonly LocalGroup[];
  /** The instructions, ending with the function's final `end` (0x0B). */
  readonly instructions: ByteRange;
}

/** A section as it appears in the binary. */
export interface Section {
  /** Section id: 0 custom, 1 type, …, 12 datacount, 13 tag. */
  readonly id: number;
  /** Readable name: `custom`, `type`, `import`, … */
  readonly name: string;
  /** For custom sections, the custom section's own name (`name`, `producers`, …). */
  readonly customName?: string;
  /** The whole section: id, size and contents. */
  readonly range: ByteRange;
  /** The contents after the size field. */
  readonly body: ByteRange;
}

/** Everything {@link readModule} decodes from a module. Indices are into the module's index spaces. */
export interface ModuleInfo {
  /** Every section in binary order, custom ones included. */
  readonly sections: readonly Section[];
  readonly types: readonly FuncType[];
  readonly imports: readonly Import[];
  readonly importedFunctionCount: number;
  readonly importedTableCount: number;
  readonly importedMemoryCount: number;
  readonly importedGlobalCount: number;
  readonly importedTagCount: number;
  /** Type index of each defined function (function index = importedFunctionCount + position). */
  readonly functions: readonly number[];
  /** Defined tables (table index = importedTableCount + position). */
  readonly tables: readonly DefinedTable[];
  /** Defined memories (memory index = importedMemoryCount + position). */
  readonly memories: readonly MemoryType[];
  /** Defined globals. */
  readonly globals: readonly DefinedGlobal[];
  /** Defined tags. */
  readonly tags: readonly TagType[];
  readonly exports: readonly Export[];
  /** The start function, if any. */
  readonly start?: number;
  readonly elements: readonly ElementSegment[];
  /** The datacount section's value, if the section is present. */
  readonly dataCount?: number;
  /** Function bodies, one per defined function. */
  readonly code: readonly FunctionBody[];
  readonly dataSegments: readonly DataSegment[];
}
