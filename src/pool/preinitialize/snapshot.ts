/**
 * Stage 3 of pre-initialization (Wizer's "snapshot"): what initialization left, taken from the
 * initialized instance as plain data: the memory's size and the span of it that holds every
 * non-zero byte, the values of the internal mutable globals, and what the initializer returned.
 * Tables cannot be carried over (a funcref is no data), so a run that changed one is refused here.
 *
 * The memory is scanned a 4 KiB block at a time against a zero block (a native compare), not byte
 * by byte: a QuickJS memory is 16 MiB, mostly zero past the heap.
 */
import { ModuleNotPoolableError } from '../../errors.js';
import { IMAGE_ALIGNMENT } from '../../module/index.js';

/** An internal mutable global as the inspection instance exports it. */
export interface InspectedGlobal {
  readonly index: number;
  /** Its export name in the inspection module (and in the pool's `reuse` module). */
  readonly name: string;
  readonly value: unknown;
}

/** The state of an instance besides its memory, as the run observes it before and after the initializer. */
export interface Observation {
  /** Each internal mutable global JavaScript can read, in index order. */
  readonly globals: readonly InspectedGlobal[];
  /** Each internal table's entries, by table index. */
  readonly tables: ReadonlyMap<number, readonly unknown[]>;
}

/** What initialization left; see the module comment. `T` is what the initializer returned. */
export interface Snapshot<T = unknown> {
  /** The memory, or undefined when the module has none. */
  readonly memory: MemorySnapshot | undefined;
  /**
   * The internal mutable globals every use starts from: each numeric one with its value now, and
   * each reference one initialization changed (only `reuse` can carry those over).
   */
  readonly globals: readonly InspectedGlobal[];
  /** What the initializer function returned; undefined for an export or a start function. */
  readonly result: T;
}

/** A memory as initialization left it. */
export interface MemorySnapshot {
  /** Its size in bytes (whole 64 KiB pages): it may have grown. */
  readonly size: number;
  /** Offset of the span holding every non-zero byte, a multiple of {@link IMAGE_ALIGNMENT}. */
  readonly start: number;
  /** The span's bytes (a copy); its length is a multiple of {@link IMAGE_ALIGNMENT}, 0 when all is zero. */
  readonly bytes: Uint8Array;
  /** Bytes up to and including the last non-zero one (the heap in use, roughly); 0 when all is zero. */
  readonly usedBytes: number;
}

/**
 * The snapshot of a run (`before` and `after` the initializer, which returned `result`) on
 * `memory`. Refuses a run that changed a table. A reference global the initializer did not change
 * is left out (its initializer gives the same value); a numeric global is always in, since a start
 * function may have changed it and the start function goes.
 */
export function takeSnapshot<T>(
  run: { readonly before: Observation; readonly after: Observation; readonly result: T },
  memory: WebAssembly.Memory | undefined,
  what: string,
): Snapshot<T> {
  for (const [index, entries] of run.before.tables) {
    const after = run.after.tables.get(index) ?? entries;
    if (after.length !== entries.length || after.some((v, i) => v !== entries[i])) {
      throw new ModuleNotPoolableError(`${what} changed table ${index}, which a snapshot cannot keep`);
    }
  }
  const globals = run.after.globals.filter(
    (g, i) => typeof g.value === 'number' || typeof g.value === 'bigint' || !Object.is(g.value, run.before.globals[i]!.value),
  );
  return { memory: memory ? memorySnapshot(new Uint8Array(memory.buffer)) : undefined, globals, result: run.result };
}

/** `contents`' size, non-zero span and extent; see {@link MemorySnapshot}. */
export function memorySnapshot(contents: Uint8Array): MemorySnapshot {
  const last = lastNonZero(contents);
  if (last < 0) return { size: contents.length, start: 0, bytes: new Uint8Array(0), usedBytes: 0 };
  const first = firstNonZero(contents);
  const start = first - (first % IMAGE_ALIGNMENT);
  const end = Math.min(Math.ceil((last + 1) / IMAGE_ALIGNMENT) * IMAGE_ALIGNMENT, contents.length);
  const bytes = new Uint8Array(Math.ceil((end - start) / IMAGE_ALIGNMENT) * IMAGE_ALIGNMENT);
  bytes.set(contents.subarray(start, end));
  return { size: contents.length, start, bytes, usedBytes: last + 1 };
}

/** Bytes compared at once against zeros. */
const BLOCK = 4096;
const ZEROS = Buffer.alloc(BLOCK);

/** Whether `bytes[from, to)` (at most a block) is all zero. */
function isZero(bytes: Uint8Array, from: number, to: number): boolean {
  return ZEROS.compare(bytes, from, to, 0, to - from) === 0;
}

/** The index of the first non-zero byte of `bytes`, or -1 when there is none. */
export function firstNonZero(bytes: Uint8Array): number {
  for (let block = 0; block < bytes.length; block += BLOCK) {
    const end = Math.min(block + BLOCK, bytes.length);
    if (isZero(bytes, block, end)) continue;
    for (let i = block; i < end; i++) if (bytes[i] !== 0) return i;
  }
  return -1;
}

/** The index of the last non-zero byte of `bytes`, or -1 when there is none. */
export function lastNonZero(bytes: Uint8Array): number {
  let end = bytes.length;
  while (end > 0) {
    // Blocks aligned from the start, the last one possibly short.
    const block = end % BLOCK === 0 ? end - BLOCK : end - (end % BLOCK);
    if (!isZero(bytes, block, end)) {
      for (let i = end - 1; i >= block; i--) if (bytes[i] !== 0) return i;
    }
    end = block;
  }
  return -1;
}
