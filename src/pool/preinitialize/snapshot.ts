/**
 * Stage 3 of pre-initialization (Wizer's "snapshot"): what initialization left, taken from the
 * initialized instance as plain data: the memory's size and the span of it that holds every
 * non-zero byte, the values of the internal mutable globals, and what the initializer returned.
 * Tables cannot be carried over (a funcref is no data), so a run that changed one is refused here.
 *
 * The memory is not scanned byte by byte: the kernel says which pages may hold data (see
 * `memory/data-pages.ts`), and only those are compared against zeros, a block at a time.
 */
import { ModuleNotPoolableError } from '../../errors.js';
import { candidateRanges, dataRuns, type DataRun } from '../../memory/data-pages.js';
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
  /** Where in {@link bytes} data lies (offsets into the span): zeros elsewhere. */
  readonly runs: readonly DataRun[];
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
  // The initialization memory is a WebAssembly.Memory of its own: anonymous, as candidateRanges needs.
  const contents = memory ? memorySnapshot(new Uint8Array(memory.buffer), candidateRanges(memory.buffer)) : undefined;
  return { memory: contents, globals, result: run.result };
}

/**
 * `contents`' size, non-zero span and extent; see {@link MemorySnapshot}. `candidates`: the only
 * ranges that may hold non-zero bytes, when the kernel said so (`memory/data-pages.ts`).
 */
export function memorySnapshot(contents: Uint8Array, candidates?: readonly DataRun[]): MemorySnapshot {
  const found = dataRuns(contents, candidates);
  const first = found[0];
  const lastRun = found[found.length - 1];
  if (first === undefined || lastRun === undefined)
    return { size: contents.length, start: 0, bytes: new Uint8Array(0), usedBytes: 0, runs: [] };
  const start = first.start - (first.start % IMAGE_ALIGNMENT);
  const end = lastRun.end;
  // A new array reads as zeros without being written: only the data is copied in.
  const bytes = new Uint8Array(Math.ceil((end - start) / IMAGE_ALIGNMENT) * IMAGE_ALIGNMENT);
  const runs = found.map((r) => ({ start: r.start - start, end: r.end - start }));
  for (const r of found) bytes.set(contents.subarray(r.start, r.end), r.start - start);
  let last = lastRun.end - 1;
  while (contents[last] === 0) last--;
  return { size: contents.length, start, bytes, usedBytes: last + 1, runs };
}
