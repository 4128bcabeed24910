/**
 * The WebAssembly page: the unit of `memory.size`, `memory.grow` and a memory's limits. The one
 * definition of its size in cowpool; every conversion between pages and bytes goes through here.
 */

/** Bytes per WebAssembly page (64 KiB). */
export const WASM_PAGE_SIZE = 65536;

/** `pages` WebAssembly pages in bytes. */
export function pagesToBytes(pages: number): number {
  return pages * WASM_PAGE_SIZE;
}

/** The WebAssembly pages that hold `bytes`, rounded up. */
export function bytesToPages(bytes: number): number {
  return Math.ceil(bytes / WASM_PAGE_SIZE);
}
