/**
 * A thread's stats board: its engine's counters in shared memory, written by the worker after each
 * use and read by the main thread whenever `stats()` is asked, synchronously and without a message.
 * A board outlives its worker (the memory is the main thread's too), so a thread that was ended
 * still has its last counts to add to the pool's totals.
 *
 * The worker writes after it has sent a use's result, off the use's latency, and counts the uses
 * it published: a reader that knows how many uses a thread answered waits (microseconds) for that
 * count, so `stats()` right after a use's promise settled includes that use.
 *
 * Layout: an Int32 sequence number and an Int32 count of uses published, then one Float64 per key
 * (the engine's stats flattened to dotted paths, `resets.pagemap`, in the order the worker
 * announced). The writer makes the sequence odd while it writes and even after (a seqlock): a reader
 * that saw it odd or changed reads again, so a snapshot is never torn.
 */
import { InvalidArgumentError } from '../errors.js';
import type { EngineStats } from './engine.js';

/** Keys a board holds at most. */
export const BOARD_CAPACITY = 256;
const HEADER_BYTES = 8;
const SEQUENCE = 0;
const PUBLISHED = 1;
/** Longest a reader waits for a use's counts, in ms: only a thread that is being stopped takes longer. */
const SETTLE_MS = 5;

/** Flat counters: dotted path → value. */
export type FlatStats = Record<string, number>;

/** One thread's stats board; see the module comment. */
export class StatsBoard {
  readonly buffer: SharedArrayBuffer;
  readonly #header: Int32Array;
  readonly #values: Float64Array;

  private constructor(buffer: SharedArrayBuffer) {
    this.buffer = buffer;
    this.#header = new Int32Array(buffer, 0, 2);
    this.#values = new Float64Array(buffer, HEADER_BYTES);
  }

  /** A new board for a worker about to start (main thread). */
  static create(): StatsBoard {
    return new StatsBoard(new SharedArrayBuffer(HEADER_BYTES + BOARD_CAPACITY * Float64Array.BYTES_PER_ELEMENT));
  }

  /** The board whose memory is `buffer` (worker thread). */
  static attach(buffer: SharedArrayBuffer): StatsBoard {
    return new StatsBoard(buffer);
  }

  /** Writes `values` (in the announced key order) as one snapshot, after `uses` uses (worker thread). */
  write(values: readonly number[], uses: number): void {
    Atomics.add(this.#header, SEQUENCE, 1);
    this.#values.set(values);
    Atomics.add(this.#header, SEQUENCE, 1);
    Atomics.store(this.#header, PUBLISHED, uses);
    Atomics.notify(this.#header, PUBLISHED);
  }

  /**
   * The last snapshot, as `keys` (the worker's announced order) to values, once it counts `uses`
   * uses (waiting a few ms at most for the worker to publish them).
   */
  read(keys: readonly string[], uses = 0): FlatStats {
    const until = performance.now() + SETTLE_MS;
    for (let published = Atomics.load(this.#header, PUBLISHED); published < uses; published = Atomics.load(this.#header, PUBLISHED)) {
      const left = until - performance.now();
      if (left <= 0) break;
      Atomics.wait(this.#header, PUBLISHED, published, left);
    }
    for (;;) {
      const before = Atomics.load(this.#header, SEQUENCE);
      if (before % 2 === 1) continue;
      const out: FlatStats = {};
      for (let i = 0; i < keys.length; i++) out[keys[i]!] = this.#values[i]!;
      if (Atomics.load(this.#header, SEQUENCE) === before) return out;
    }
  }
}

/** The dotted paths of `stats`' numbers, in a stable order (worker thread, once). */
export function statsKeys(stats: EngineStats): string[] {
  const keys: string[] = [];
  const walk = (node: EngineStats, prefix: string) => {
    for (const [key, value] of Object.entries(node)) {
      if (typeof value === 'number') keys.push(prefix + key);
      else walk(value, `${prefix}${key}.`);
    }
  };
  walk(stats, '');
  if (keys.length > BOARD_CAPACITY) {
    throw new InvalidArgumentError(`an engine's stats have ${keys.length} numbers; a stats board holds ${BOARD_CAPACITY}`);
  }
  return keys;
}

/** Reads the values at `paths` (the keys split at dots, once) out of `stats` into `into` (worker thread, after each use). */
export function statsValues(stats: EngineStats, paths: readonly (readonly string[])[], into: number[]): number[] {
  for (let i = 0; i < paths.length; i++) {
    let node: number | EngineStats | undefined = stats;
    for (const part of paths[i]!) node = typeof node === 'object' ? node[part] : undefined;
    into[i] = typeof node === 'number' ? node : NaN;
  }
  return into;
}

/** `flat` back into nested objects (`resets.pagemap` → `{ resets: { pagemap } }`). */
export function unflatten(flat: FlatStats): EngineStats {
  const out: EngineStats = {};
  for (const [path, value] of Object.entries(flat)) {
    const parts = path.split('.');
    let node = out;
    for (const part of parts.slice(0, -1)) node = (node[part] ??= {}) as EngineStats;
    node[parts[parts.length - 1]!] = value;
  }
  return out;
}

/** Adds `from` into `into`, key by key. */
export function addInto(into: FlatStats, from: FlatStats, skip: ReadonlySet<string> = new Set()): void {
  for (const [key, value] of Object.entries(from)) if (!skip.has(key)) into[key] = (into[key] ?? 0) + value;
}
