/**
 * Pre-initialization by hand, for hosts that set a guest up with many calls (a runtime, a context,
 * a database, a setup script) rather than one export: instantiate the module made {@link inspectable},
 * initialize it on a fresh memory, then hand the state that leaves to the pool as an ordinary module:
 *
 *   original module ─ instantiated inspectable, initialized by the host on a fresh memory
 *        │
 *        ▼
 *   snapshot module = the original, with
 *     - the start function removed (its effects are in the snapshot),
 *     - its mutable globals starting from the values initialization left,
 *     - its data segments emptied and the snapshot's non-zero 4 KiB chunks added as active segments,
 *     - only the exports the host calls (V8 makes a function object per export per instance),
 *     - its imported memory's initial size raised to hold the snapshot and a use's headroom.
 *
 * The pool then builds its copy-on-write image from those segments.
 */
import { InvalidArgumentError } from '../errors.js';
import { keepOnlyExports, readModule, rewriteModule, SectionId, type ModuleInfo } from '../module/index.js';
import { ByteWriter } from '../module/writer.js';
import { WASM_PAGE_SIZE } from '../module/wasm-page.js';

/** Granularity of the snapshot's data segments. */
const CHUNK = 4096;
const GLOBAL_PREFIX = 'cowpool:snapshot:global:';

/** `bytes` with its mutable globals exported, so that {@link snapshotModule} can read what initialization left in them. */
export function inspectable(bytes: Uint8Array, info: ModuleInfo): Uint8Array {
  return rewriteModule(bytes, info, { exportGlobals: { prefix: GLOBAL_PREFIX } });
}

/** What {@link snapshotModule} needs besides the original module. */
export interface SnapshotState {
  /** The instance of {@link inspectable} that was initialized. */
  readonly instance: WebAssembly.Instance;
  /** Its memory, as initialization left it. */
  readonly memory: WebAssembly.Memory;
  /** Bytes to leave above the snapshot's last non-zero byte for a use. */
  readonly headroom: number;
  /** The exports to keep (the host's), by name. */
  readonly keepExports: ReadonlySet<string>;
  /** The guest's name, for the error when the headroom does not fit under the memory's maximum. */
  readonly what: string;
}

/** The snapshot module, and the sizes it was made with. */
export interface SnapshotModule {
  readonly bytes: Uint8Array;
  /** Bytes up to the highest non-zero byte of the snapshot (the heap in use after setup, roughly). */
  readonly usedBytes: number;
  /** The memory's initial size in bytes: the snapshot and the headroom. */
  readonly memoryBytes: number;
}

/**
 * The module (`bytes`, which `info` describes, the memory imported) whose instances start from the
 * state `state` describes; see the module comment.
 *
 * @throws InvalidArgumentError when the snapshot and the headroom exceed the memory's maximum.
 */
export function snapshotModule(bytes: Uint8Array, info: ModuleInfo, state: SnapshotState): SnapshotModule {
  const globalInits = new Map<number, number | bigint>();
  for (const g of info.globals) {
    if (!g.mutable) continue;
    const exported = state.instance.exports[`${GLOBAL_PREFIX}${g.index}`];
    if (exported instanceof WebAssembly.Global && (typeof exported.value === 'number' || typeof exported.value === 'bigint')) {
      globalInits.set(g.index, exported.value);
    }
  }
  const contents = new Uint8Array(state.memory.buffer);
  const usedBytes = lastNonZero(contents) + 1;
  const memoryBytes = Math.ceil(Math.max(contents.length, usedBytes + state.headroom) / WASM_PAGE_SIZE) * WASM_PAGE_SIZE;
  const memoryImport = info.imports.find((i) => i.kind === 'memory');
  const max = memoryImport?.kind === 'memory' ? memoryImport.memory.max : undefined;
  if (max !== undefined && memoryBytes > max * WASM_PAGE_SIZE) {
    throw new InvalidArgumentError(`memoryLimit leaves no room: ${state.what}'s memory can hold at most ${max * WASM_PAGE_SIZE} bytes`);
  }
  const rewritten = rewriteModule(bytes, info, { removeStart: true, globalInits, stripActiveData: true });
  const lean = keepOnlyExports(rewritten, readModule(rewritten), state.keepExports);
  return { bytes: withContents(lean, readModule(lean), contents, memoryBytes / WASM_PAGE_SIZE), usedBytes, memoryBytes };
}

/**
 * `bytes` (a module whose data segments are already emptied) with the non-zero chunks of `contents`
 * appended as active segments and its memory import's initial size set to `pages`.
 */
function withContents(bytes: Uint8Array, info: ModuleInfo, contents: Uint8Array, pages: number): Uint8Array {
  const segments: { offset: number; bytes: Uint8Array }[] = [];
  let start = -1;
  for (let at = 0; at <= contents.length; at += CHUNK) {
    const zero = at === contents.length || isZero(contents, at, Math.min(at + CHUNK, contents.length));
    if (!zero && start < 0) start = at;
    if (zero && start >= 0) {
      segments.push({ offset: start, bytes: contents.subarray(start, at) });
      start = -1;
    }
  }
  const data = new ByteWriter().u32(info.dataSegments.length + segments.length);
  const dataSection = info.sections.find((s) => s.id === SectionId.data);
  for (const seg of info.dataSegments) data.bytes(bytes.subarray(seg.range.start, seg.range.end));
  for (const seg of segments) data.u8(0x00).u8(0x41).s32(seg.offset).u8(0x0b).u32(seg.bytes.length).bytes(seg.bytes);
  const imports = new ByteWriter().u32(info.imports.length);
  for (const imp of info.imports) {
    if (imp.kind !== 'memory') {
      imports.bytes(bytes.subarray(imp.range.start, imp.range.end));
      continue;
    }
    imports.name(imp.module).name(imp.name).u8(0x02);
    const { max } = imp.memory;
    imports.u8(max !== undefined ? 0x01 : 0x00).u32(Math.max(pages, imp.memory.min));
    if (max !== undefined) imports.u32(max);
  }
  const out = new ByteWriter().bytes(bytes.subarray(0, 8));
  for (const section of info.sections) {
    if (section.id === SectionId.import) out.section(SectionId.import, imports);
    else if (section.id === SectionId.data) out.section(SectionId.data, data);
    else if (section.id === SectionId.datacount)
      out.section(SectionId.datacount, new ByteWriter().u32(info.dataSegments.length + segments.length));
    else out.bytes(bytes.subarray(section.range.start, section.range.end));
  }
  if (dataSection === undefined) out.section(SectionId.data, data);
  return out.finish().slice();
}

function isZero(bytes: Uint8Array, from: number, to: number): boolean {
  for (let i = from; i < to; i++) if (bytes[i] !== 0) return false;
  return true;
}

function lastNonZero(bytes: Uint8Array): number {
  for (let i = bytes.length - 1; i >= 0; i--) if (bytes[i] !== 0) return i;
  return -1;
}
