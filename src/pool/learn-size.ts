/**
 * The size of pooled memories beyond the module's own: `options.initialMemory` as a number of
 * bytes ({@link enlarged}, once at construction), or `'learn'` ({@link SizeLearner}): a memory that
 * grew in a use sizes the memories of later members, which start as large as this one ended, so
 * the same use no longer costs them their slot (a grown memory cannot shrink and is retired).
 *
 * Some allocators grow on every use however much room they have (Rust's, in brotli-wasm): when a
 * memory that started at a learned size grows all the same, more room does not help, and learning
 * stops rather than ratchet every memory up to the maximum (unless the guest's size is virtualized,
 * which makes such growth a real need). The policy only decides sizes; the pool holds the image.
 */
import { debuglog } from 'node:util';
import { InvalidArgumentError } from '../errors.js';
import type { MemoryImage } from '../memory/index.js';
import { bytesToPages, pagesToBytes } from '../module/wasm-page.js';

const debug = debuglog('cowpool');

/** `initialMemory: 'learn'`; see the module comment. */
export class SizeLearner {
  readonly #virtualMemorySize: boolean;
  readonly #maximumPages: number | undefined;
  /** Whether to learn still, and the size last learned. */
  #learning = true;
  #learnedBytes: number | undefined;

  /** `virtualMemorySize` as the pool's option; `maximumPages` the module's maximum, if any. */
  constructor(virtualMemorySize: boolean, maximumPages: number | undefined) {
    this.#virtualMemorySize = virtualMemorySize;
    this.#maximumPages = maximumPages;
  }

  /**
   * A member's memory started at `startedBytes` and grew to `reachedBytes` in a use: returns the
   * image later members should map, `image` itself or a larger one (`image` is then closed).
   */
  grew(image: MemoryImage, startedBytes: number, reachedBytes: number): MemoryImage {
    if (!this.#learning) return image;
    // With the guest's size virtualized the real memory grows only past what uses really need, so
    // growing past a learned size means a larger need, worth learning too.
    if (!this.#virtualMemorySize && this.#learnedBytes !== undefined && startedBytes >= this.#learnedBytes) {
      this.#learning = false;
      debug('initialMemory learn: a memory that started at the learned %d bytes grew again; learning stops', startedBytes);
      return image;
    }
    if (reachedBytes <= image.minimumBytes) return image;
    const larger = enlarged(image, reachedBytes, this.#maximumPages);
    this.#learnedBytes = larger.minimumBytes;
    return larger;
  }
}

/**
 * `image` with its memory enlarged to `bytes` (rounded up to 64 KiB, at most the module's maximum);
 * the old image is closed (members still using it keep it open). Refuses a size over the maximum.
 */
export function enlarged(image: MemoryImage, bytes: number, maximumPages: number | undefined): MemoryImage {
  const pages = bytesToPages(bytes);
  if (maximumPages !== undefined && pages > maximumPages) {
    throw new InvalidArgumentError(`options.initialMemory is ${pages} pages of 64 KiB, over the module's maximum of ${maximumPages}`);
  }
  if (pagesToBytes(pages) <= image.minimumBytes) return image;
  const larger = image.withMinimum(pagesToBytes(pages));
  image.close();
  return larger;
}
