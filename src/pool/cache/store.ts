/**
 * `PreparedCache`: prepared pools on disk, one file per key (`key.ts`), in
 * `<cache dir>/prepared-<format>/` (`settings.ts` says which directory, and whether at all).
 *
 * Safe without locks: an entry is written to a temporary file of its own and renamed over its key,
 * which is atomic, so a reader sees a whole entry or none, and two writers of one key each leave a
 * whole (and equal) entry. An entry that is short, damaged, of another format or of another key
 * is not used (`entry.ts`), and the next preparation overwrites it. A directory that cannot be
 * made or written costs nothing but the cache: pools are then prepared each time, and
 * NODE_DEBUG=cowpool says why, once. The directory is kept under {@link MAX_CACHE_BYTES}: after a
 * write, the entries used longest ago (a hit refreshes an entry's time) go first.
 */
import { mkdirSync, readdirSync, readFileSync, renameSync, statSync, unlinkSync, utimes, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { debuglog } from 'node:util';
import { isPortable, type PreparedPool } from '../prepared-pool.js';
import { decodeEntry, encodeEntry } from './entry.js';
import { ENTRY_FORMAT } from './key.js';
import { cacheLocation, type CacheChoice } from './settings.js';

const debug = debuglog('cowpool');

/** The most bytes of entries a cache directory keeps. */
export const MAX_CACHE_BYTES = 512 * 2 ** 20;
/** A temporary file older than this was left by a writer that died. */
const STALE_TEMP_MS = 60 * 60 * 1000;
const TEMP_SUFFIX = '.tmp';

/** Things said once per process (a directory that cannot be written, say), not once per pool. */
const said = new Set<string>();
function debugOnce(message: string, ...args: unknown[]): void {
  const line = `${message} ${args.join(' ')}`;
  if (said.has(line)) return;
  said.add(line);
  debug(message, ...args);
}

/** What a hit gives: the prepared pool, its module compiled, and the entry's path. */
export interface CacheHit {
  readonly prepared: PreparedPool;
  readonly module: WebAssembly.Module;
  readonly path: string;
}

/** A cache directory of prepared pools; see the module comment. */
export class PreparedCache {
  /** Where the entries are: `<cache dir>/prepared-<format>`. */
  readonly dir: string;

  private constructor(dir: string) {
    this.dir = dir;
  }

  /** The cache `choice` and the environment ask for, or why it is off. */
  static open(choice: CacheChoice): PreparedCache | { off: string } {
    const location = cacheLocation(choice);
    return 'off' in location ? location : new PreparedCache(join(location.dir, `prepared-${ENTRY_FORMAT}`));
  }

  /** The entry of `key`, compiled, or undefined when there is none (or none intact: NODE_DEBUG says why). */
  load(key: string): CacheHit | undefined {
    const path = join(this.dir, key);
    let file: Buffer;
    try {
      file = readFileSync(path);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code !== 'ENOENT') debugOnce('cache: cannot read %s (%s): preparing', path, code ?? String(err));
      else debug('cache: miss %s', key);
      return undefined;
    }
    const prepared = decodeEntry(key, file);
    if (typeof prepared === 'string') {
      debug('cache: ignoring %s: %s; preparing afresh', path, prepared);
      return undefined;
    }
    let module: WebAssembly.Module;
    try {
      module = new WebAssembly.Module(prepared.bytes);
    } catch (err) {
      debug('cache: ignoring %s: its module does not compile (%s); preparing afresh', path, (err as Error).message);
      return undefined;
    }
    // Its time says when it was last used, for pruning; nothing waits for it.
    const now = new Date();
    utimes(path, now, now, () => {});
    debug('cache: hit %s', key);
    return { prepared, module, path };
  }

  /** Stores `prepared` under `key`; returns the entry's path, or why it was not stored (NODE_DEBUG says it too). */
  store(key: string, prepared: PreparedPool): { path: string } | { notStored: string } {
    const portable = isPortable(prepared);
    if (portable !== true) {
      debug('cache: not storing the prepared pool: %s', portable);
      return { notStored: portable };
    }
    const path = join(this.dir, key);
    const temp = `${path}.${process.pid}.${Math.random().toString(36).slice(2)}${TEMP_SUFFIX}`;
    try {
      const entry = encodeEntry(key, prepared);
      mkdirSync(this.dir, { recursive: true });
      writeFileSync(temp, entry);
      renameSync(temp, path);
    } catch (err) {
      try {
        unlinkSync(temp);
      } catch {
        // Never written, or already gone.
      }
      const why = (err as NodeJS.ErrnoException).code ?? (err as Error).message;
      debugOnce('cache: cannot write to %s (%s): pools are prepared each time', this.dir, why);
      return { notStored: `cannot write to ${this.dir} (${why})` };
    }
    debug('cache: stored %s', path);
    this.#prune();
    return { path };
  }

  /** Removes the entries used longest ago while the directory holds more than {@link MAX_CACHE_BYTES}, and stale temporary files. */
  #prune(): void {
    try {
      const now = Date.now();
      const entries: { path: string; size: number; used: number }[] = [];
      let total = 0;
      for (const name of readdirSync(this.dir)) {
        const path = join(this.dir, name);
        const stat = statSync(path);
        if (name.endsWith(TEMP_SUFFIX)) {
          if (now - stat.mtimeMs > STALE_TEMP_MS) unlinkSync(path);
          continue;
        }
        entries.push({ path, size: stat.size, used: stat.mtimeMs });
        total += stat.size;
      }
      if (total <= MAX_CACHE_BYTES) return;
      entries.sort((a, b) => a.used - b.used);
      for (const entry of entries) {
        if (total <= (MAX_CACHE_BYTES * 3) / 4) break;
        unlinkSync(entry.path);
        total -= entry.size;
      }
    } catch (err) {
      // Another process may be pruning too: what is gone is gone.
      debug('cache: pruning %s stopped: %s', this.dir, (err as Error).message);
    }
  }
}
