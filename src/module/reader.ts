/**
 * `readModule`: decodes the header and every section of a core WebAssembly module (version 1) into
 * a {@link ModuleInfo}. It checks the framing (magic, version, section ids, sizes and order, counts
 * that must agree) and the encodings it decodes, not the typing of code: V8 validates that when the
 * module is compiled. Function bodies are located but not decoded; see `instructions.ts`.
 */

import { MalformedModuleError } from '../errors.js';
import { ByteReader } from './bytes.js';
import {
  newModuleBuilder,
  readCodeSection,
  readDataCountSection,
  readDataSection,
  readElementSection,
  readExportSection,
  readFunctionSection,
  readGlobalSection,
  readImportSection,
  readMemorySection,
  readStartSection,
  readTableSection,
  readTagSection,
  readTypeSection,
  type ModuleBuilder,
} from './section-readers.js';
import type { ModuleInfo, Section } from './types.js';

/** Section ids as the binary format numbers them. */
export const SectionId = {
  custom: 0,
  type: 1,
  import: 2,
  function: 3,
  table: 4,
  memory: 5,
  global: 6,
  export: 7,
  start: 8,
  element: 9,
  code: 10,
  data: 11,
  datacount: 12,
  tag: 13,
} as const;

interface SectionKind {
  readonly name: string;
  /** Position in the required order of non-custom sections (the tag section sits after memory). */
  readonly rank: number;
  readonly read: (r: ByteReader, m: ModuleBuilder) => void;
}

const SECTIONS: ReadonlyMap<number, SectionKind> = new Map([
  [SectionId.type, { name: 'type', rank: 1, read: readTypeSection }],
  [SectionId.import, { name: 'import', rank: 2, read: readImportSection }],
  [SectionId.function, { name: 'function', rank: 3, read: readFunctionSection }],
  [SectionId.table, { name: 'table', rank: 4, read: readTableSection }],
  [SectionId.memory, { name: 'memory', rank: 5, read: readMemorySection }],
  [SectionId.tag, { name: 'tag', rank: 6, read: readTagSection }],
  [SectionId.global, { name: 'global', rank: 7, read: readGlobalSection }],
  [SectionId.export, { name: 'export', rank: 8, read: readExportSection }],
  [SectionId.start, { name: 'start', rank: 9, read: readStartSection }],
  [SectionId.element, { name: 'element', rank: 10, read: readElementSection }],
  [SectionId.datacount, { name: 'datacount', rank: 11, read: readDataCountSection }],
  [SectionId.code, { name: 'code', rank: 12, read: readCodeSection }],
  [SectionId.data, { name: 'data', rank: 13, read: readDataSection }],
]);

/** Readable name of a section id (`custom`, `type`, …), or `unknown`. */
export function sectionName(id: number): string {
  return id === SectionId.custom ? 'custom' : (SECTIONS.get(id)?.name ?? 'unknown');
}

/** The order rank of a non-custom section id (type 1 … data 13, tag between memory and global). */
export function sectionRank(id: number): number {
  return SECTIONS.get(id)?.rank ?? 0;
}

const MAGIC = [0x00, 0x61, 0x73, 0x6d];
const LOSSY_UTF8 = new TextDecoder('utf-8');

function readHeader(r: ByteReader): void {
  const length = r.bytes.length;
  for (let i = 0; i < Math.min(4, length); i++) {
    if (r.bytes[i] !== MAGIC[i]) {
      const found = Array.from(r.bytes.subarray(0, 4), (b) => b.toString(16).padStart(2, '0')).join(' ');
      r.fail(`bad magic number: expected 00 61 73 6d ("\\0asm"), found ${found}`, i);
    }
  }
  if (length < 8) r.fail(`unexpected end: the module is ${length} bytes, shorter than the 8-byte header`, length);
  r.pos = 4;
  const version = r.u8() | (r.u8() << 8);
  const layer = r.u8() | (r.u8() << 8);
  if (layer === 1) r.fail('unsupported: this is a component (layer 1), not a core module', 6);
  if (version !== 1 || layer !== 0) r.fail(`unsupported binary version ${version} (layer ${layer}); expected 1`, 4);
}

/**
 * Decodes a module. The returned info refers to `bytes` by offset (and some views share its
 * buffer), so keep `bytes` unchanged while the info is used.
 *
 * @throws MalformedModuleError naming the section, byte offset and reason when the binary is
 *   malformed or uses something unsupported (GC type definitions, a component).
 */
export function readModule(bytes: Uint8Array): ModuleInfo {
  const r = new ByteReader(bytes);
  readHeader(r);
  const m = newModuleBuilder();
  const sections: Section[] = [];
  let lastRank = 0;
  let lastName = 'header';
  while (!r.atEnd()) {
    const start = r.pos;
    r.section = 'header';
    const id = r.u8();
    const kind = SECTIONS.get(id);
    if (id !== SectionId.custom && kind === undefined) {
      throw new MalformedModuleError('unknown', start, `unknown section id ${id}`);
    }
    const name = kind?.name ?? 'custom';
    r.section = name;
    const sizeAt = r.pos;
    const size = r.u32();
    if (size > r.remaining()) {
      r.fail(`section size ${size} runs ${size - r.remaining()} bytes past the end of the module`, sizeAt);
    }
    const body = { start: r.pos, end: r.pos + size };
    if (kind !== undefined) {
      if (kind.rank === lastRank) r.fail(`duplicate ${name} section`, start);
      if (kind.rank < lastRank) r.fail(`${name} section after the ${lastName} section is out of order`, start);
      lastRank = kind.rank;
      lastName = name;
    }
    const sr = new ByteReader(bytes, body.start, body.end, name);
    let customName: string | undefined;
    if (kind !== undefined) {
      kind.read(sr, m);
      if (!sr.atEnd()) sr.fail(`${sr.remaining()} unexpected byte(s) after the section's contents`);
    } else {
      // Custom section names are decoded leniently: a bad one must not make the module unusable.
      const length = sr.u32();
      customName = LOSSY_UTF8.decode(sr.take(length));
    }
    const range = { start, end: body.end };
    sections.push({ id, name, ...(customName !== undefined ? { customName } : {}), range, body });
    r.pos = body.end;
  }
  checkCrossSectionCounts(m, sections, bytes.length);
  return { ...m, sections };
}

function checkCrossSectionCounts(m: ModuleBuilder, sections: readonly Section[], length: number): void {
  const has = (id: number): Section | undefined => sections.find((s) => s.id === id);
  if (m.functions.length > 0 && has(SectionId.code) === undefined) {
    const fs = has(SectionId.function);
    throw new MalformedModuleError(
      'function',
      fs?.range.start ?? length,
      `the function section declares ${m.functions.length} functions but there is no code section`,
    );
  }
  if (m.dataCount !== undefined && m.dataCount > 0 && has(SectionId.data) === undefined) {
    const dc = has(SectionId.datacount);
    throw new MalformedModuleError(
      'datacount',
      dc?.range.start ?? length,
      `the datacount section says ${m.dataCount} segments but there is no data section`,
    );
  }
}
