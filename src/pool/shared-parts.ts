/**
 * A prepared pool as the worker threads of its process receive it: the {@link PreparedPool} and
 * what the process made of it once (the module compiled, the image's memfd, the reset strategy),
 * all structured-cloneable, so that every thread assembles its own pool from them (`build.ts`
 * `assemble`, through `InstancePool[FROM_PREPARED]`) with no preparation, no compilation, no new
 * image and no new memfd:
 *
 *     main thread:    PreparedPool ──assemble──► PoolParts ──shareParts──► SharedPoolParts
 *     worker thread:  SharedPoolParts ──adoptParts──► PreparedPool + Ready ──FROM_PREPARED──► InstancePool
 *
 * Nothing is copied per thread: the compiled module is posted (V8 shares its code), the image is
 * shared (`MemoryImage.share`: the memfd's number and its bytes in shared memory), and the prepared
 * pool's two byte arrays (the module's bytes, the image span) live in shared memory too, the span
 * being the image's own bytes. What is not data stays behind and each thread supplies it: `setup`
 * (code: a worker imports it from a module file) and the pool's own options.
 */
import { MemoryImage, type SharedMemoryImage } from '../memory/index.js';
import type { PoolParts, Ready, ResolvedStrategy } from './build.js';
import type { PreparedPool } from './prepared-pool.js';

/** A prepared pool and what its process made of it, as data; see the module comment. */
export interface SharedPoolParts {
  /** What preparation produced, its bytes and image span in shared memory. */
  readonly prepared: PreparedPool;
  /** `prepared.bytes`, compiled. */
  readonly module: WebAssembly.Module;
  /**
   * The image, of the pool's `initialMemory`, or undefined without a memory. Valid while the
   * sharing thread keeps it open (until every adopting thread has exited).
   */
  readonly image: SharedMemoryImage | undefined;
  readonly strategy: ResolvedStrategy;
}

/**
 * `prepared` and the `parts` assembled from it as data another thread can receive. The image stays
 * the caller's: keep it open until every thread that adopted it has exited.
 */
export function shareParts<S, C>(prepared: PreparedPool, parts: PoolParts<S, C>): SharedPoolParts {
  const image = parts.image?.share();
  const span = prepared.image;
  return {
    prepared: {
      ...prepared,
      bytes: inSharedMemory(prepared.bytes),
      // The same memory contents as the span (the image holds exactly its data runs), without a copy.
      image: span && image ? { start: image.start, bytes: image.bytes, minimumBytes: span.minimumBytes, runs: image.runs } : span,
    },
    module: parts.prepared.module,
    image,
    strategy: { ...parts.strategy },
  };
}

/**
 * What a thread assembles its pool from (`InstancePool[FROM_PREPARED](prepared, options, ready)`):
 * the prepared pool, and its module, image (adopted: this thread never closes the memfd) and
 * strategy ready-made.
 */
export function adoptParts(shared: SharedPoolParts): { prepared: PreparedPool; ready: Ready } {
  return {
    prepared: shared.prepared,
    ready: { module: shared.module, image: shared.image && MemoryImage.adopt(shared.image), strategy: shared.strategy },
  };
}

function inSharedMemory(bytes: Uint8Array): Uint8Array {
  if (bytes.buffer instanceof SharedArrayBuffer) return bytes;
  const shared = new Uint8Array(new SharedArrayBuffer(bytes.length));
  shared.set(bytes);
  return shared;
}
