/**
 * Construction: from the module's bytes and the pool's options to the parts a pool is made of.
 * The slow part, preparation (`preparation.ts`), is skipped when the cache (`cache/`) has its
 * result; either way the {@link PreparedPool} is then assembled, which takes milliseconds:
 *
 *     options ─fillOptions─► plan, cache choice
 *     bytes ─► cache key ─hit─► PreparedPool ─────────────────────────┐
 *                  └─miss─► preparation.ts ─► PreparedPool ─► cache   │
 *                                                   └─────────────────┴─► assemble: the module
 *              compiled, the image's memfd, initialMemory (a larger one), the reset strategy
 *
 * A host's initializer learns what its initialization left (`captured`) on both paths. Each `yield`
 * hands out what may be a promise (an async `setup`). Whatever fails, nothing stays open: the
 * image's memfd, made last, is closed on every failure path. Members are the pool's to make.
 */
import { channel } from 'node:diagnostics_channel';
import { debuglog } from 'node:util';
import { InvalidArgumentError } from '../errors.js';
import { chooseStrategy, MemoryImage, type ResetStrategy } from '../memory/index.js';
import { cacheKey } from './cache/key.js';
import { PreparedCache } from './cache/store.js';
import { enlarged } from './learn-size.js';
import { fillOptions, type FilledOptions, type PoolOptions } from './options.js';
import { compile, type PreparedModule } from './prepare.js';
import { prepare } from './preparation.js';
import type { PreparedPool } from './prepared-pool.js';
import type { Steps } from './sync-or-async.js';
import type { ModuleSource } from './types.js';

const debug = debuglog('cowpool');

/** What a pool is made of. The image, when there is one, is open: the pool owns it from here. */
export interface PoolParts<S, C> {
  readonly options: FilledOptions<S, C>;
  readonly prepared: PreparedModule;
  readonly image: MemoryImage | undefined;
  /** The reset strategy (never `auto`), or `none` without a memory; and why it is not `pagemap`. */
  readonly strategy: { readonly strategy: ResetStrategy | 'none'; readonly reason?: string };
}

/** What a pool built from an existing {@link PreparedPool} may be given ready-made. */
export interface Ready {
  /** The prepared pool's bytes, compiled (posted from another thread, say). */
  readonly module?: WebAssembly.Module | undefined;
  /** The image to map (adopted from another thread, say); the pool owns this reference to it. */
  readonly image?: MemoryImage | undefined;
}

/**
 * What the cache did for a pool: used an entry, stored one, or why neither: the module is too
 * small to be worth it (`unneeded`), or it could not be cached (`skipped`: the cache is off, the
 * preparation ran the user's code, the directory cannot be written).
 */
export type CacheOutcome =
  | { readonly kind: 'hit'; readonly path: string }
  | { readonly kind: 'stored'; readonly path: string }
  | { readonly kind: 'unneeded' | 'skipped'; readonly reason: string };

/** A prepared pool, from the cache or made now, with the options it was made with and its module compiled. */
export interface Prepared<S, C> {
  readonly filled: FilledOptions<S, C>;
  readonly prepared: PreparedPool;
  readonly module: WebAssembly.Module;
  readonly cache: CacheOutcome;
}

/**
 * What every construction publishes on the diagnostics channel `cowpool:pool:prepared` (nothing
 * when no one subscribes): what the cache did, and how long the prepared pool took to get, in ms.
 */
export interface PreparedMessage {
  readonly cache: CacheOutcome;
  readonly milliseconds: number;
}

const preparedChannel = channel('cowpool:pool:prepared');

/** The construction; see the module comment. */
export function* build<S, C>(source: ModuleSource, options: PoolOptions<S, C> | undefined): Steps<PoolParts<S, C>> {
  const started = performance.now();
  const { filled, prepared, module, cache } = yield* preparedPool<S, C>(source, options);
  const parts = assemble(prepared, filled, { module });
  const milliseconds = performance.now() - started;
  debug('pool %s in %s ms', cache.kind === 'hit' ? 'assembled from the cache' : 'prepared and assembled', milliseconds.toFixed(1));
  if (preparedChannel.hasSubscribers) preparedChannel.publish({ cache, milliseconds } satisfies PreparedMessage);
  return parts;
}

/**
 * The {@link PreparedPool} of `source` with `options`: the cache's, or prepared now (and stored).
 * Also what another thread or process is given to build pools from (`InstancePool[FROM_PREPARED]`).
 */
export function* preparedPool<S, C>(source: ModuleSource, options: PoolOptions<S, C> | undefined): Steps<Prepared<S, C>> {
  const filled = fillOptions(options);
  const bytes = toBytes(source);
  const opened = PreparedCache.open(filled.cache);
  const cache = opened instanceof PreparedCache ? opened : undefined;
  const key = cache ? cacheKey(bytes, filled.plan) : { none: (opened as { off: string }).off };
  if ('none' in key) debug('cache: not used: %s', key.none);
  const hit = cache && 'key' in key ? cache.load(key.key) : undefined;
  let made: { prepared: PreparedPool; module: WebAssembly.Module };
  let outcome: CacheOutcome;
  if (hit) {
    made = hit;
    outcome = { kind: 'hit', path: hit.path };
  } else {
    const preparation = yield* prepare(bytes, filled);
    made = preparation;
    if (!cache || 'none' in key)
      outcome = { kind: 'none' in key && key.small ? 'unneeded' : 'skipped', reason: 'none' in key ? key.none : '' };
    else if (preparation.cacheable !== true) {
      debug('cache: not storing the prepared pool: %s', preparation.cacheable);
      outcome = { kind: 'skipped', reason: preparation.cacheable };
    } else {
      const stored = cache.store(key.key, preparation.prepared);
      outcome = 'path' in stored ? { kind: 'stored', path: stored.path } : { kind: 'skipped', reason: stored.notStored };
    }
  }
  const initializer = filled.plan.initialize;
  if (initializer?.kind === 'function' && made.prepared.initialization) initializer.captured?.(made.prepared.initialization);
  return { filled, prepared: made.prepared, module: made.module, cache: outcome };
}

/**
 * The parts of a pool from `prepared`: its module compiled (unless `ready` has it), its image's
 * memfd made (unless `ready` has the image), sized by `options.initialMemory`, and the strategy.
 */
export function assemble<S, C>(prepared: PreparedPool, filled: FilledOptions<S, C>, ready: Ready = {}): PoolParts<S, C> {
  const module = ready.module ?? compile(prepared.bytes, prepared.bytes);
  const span = prepared.image;
  let image = ready.image ?? (span ? MemoryImage.create(span, span.minimumBytes, { name: 'cowpool-image' }) : undefined);
  // From here on the image is open: every failure path closes it.
  try {
    if (image && typeof filled.initialMemory === 'number')
      image = enlarged(image, filled.initialMemory, prepared.plan.memoryPages?.maximum);
    const strategy = image ? strategyFor(filled.strategy, image.minimumBytes) : { strategy: 'none' as const };
    return { options: filled, prepared: { ...prepared.plan, module }, image, strategy };
  } catch (err) {
    image?.close();
    throw err;
  }
}

function toBytes(source: ModuleSource): Uint8Array {
  if (source instanceof WebAssembly.Module) {
    throw new InvalidArgumentError(
      'InstancePool needs the module bytes to build its memory image and rewrite it; pass the .wasm bytes ' +
        '(a compiled WebAssembly.Module does not expose them)',
    );
  }
  if (source instanceof Uint8Array) return source;
  if (ArrayBuffer.isView(source)) return new Uint8Array(source.buffer, source.byteOffset, source.byteLength);
  if (source instanceof ArrayBuffer) return new Uint8Array(source);
  throw new InvalidArgumentError('source must be the module bytes (a Uint8Array, Buffer or ArrayBuffer)');
}

/** The one place `auto` becomes a strategy: members are given a concrete one. */
function strategyFor(requested: 'auto' | ResetStrategy, memoryBytes: number): { strategy: ResetStrategy; reason?: string } {
  return requested === 'auto' ? chooseStrategy(memoryBytes) : { strategy: requested };
}
