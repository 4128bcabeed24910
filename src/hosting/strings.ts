/** C strings in a guest's memory, for hosts that call a package's wasm without its glue. */
import { InvalidArgumentError } from '../errors.js';

const UTF8 = new TextDecoder();
const ENCODER = new TextEncoder();

/** Reads the NUL-terminated UTF-8 string at `ptr`. */
export function readCString(memory: WebAssembly.Memory, ptr: number): string {
  const bytes = new Uint8Array(memory.buffer);
  const end = bytes.indexOf(0, ptr);
  return UTF8.decode(bytes.subarray(ptr, end < 0 ? bytes.length : end));
}

/**
 * Copies `text` into guest memory allocated with `malloc`, NUL-terminated, and returns its address and
 * its length in bytes (without the NUL). Nothing is freed: the use's memory is reset afterwards.
 */
export function writeCString(memory: WebAssembly.Memory, malloc: (size: number) => number, text: string): { ptr: number; length: number } {
  // UTF-8 takes at most 3 bytes per UTF-16 unit: asking for that much spares a short string a
  // second pass; a long one is measured first rather than reserving three times its size.
  const room = (text.length < 4096 ? text.length * 3 : Buffer.byteLength(text)) + 1;
  const ptr = malloc(room);
  if (ptr === 0) {
    throw new InvalidArgumentError(`a string of ${room} bytes does not fit in the sandbox's memory; pass less, or raise memoryLimit`);
  }
  const bytes = new Uint8Array(memory.buffer, ptr, room);
  const { written } = ENCODER.encodeInto(text, bytes);
  bytes[written] = 0;
  return { ptr, length: written };
}
