/** The checks of a sandbox's deadline and memory limit options, shared by `cowpool/quickjs` and `cowpool/sqlite`. */
import { InvalidArgumentError } from '../errors.js';
import { WASM_PAGE_SIZE } from '../module/wasm-page.js';

/** `value` as a deadline in ms (positive, or Infinity for none), or an error naming `path`. */
export function milliseconds(value: unknown, path: string): number {
  if (value === Infinity) return Infinity;
  if (typeof value !== 'number' || !(value > 0) || !Number.isFinite(value)) {
    throw new InvalidArgumentError(`${path} must be a positive number of ms (or Infinity), not ${String(value)}`);
  }
  return value;
}

/** `value` as a number of bytes from 64 KiB to `max`, or an error naming `path` and the range. */
export function byteLimit(value: unknown, path: string, max: number): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < WASM_PAGE_SIZE || value > max) {
    throw new InvalidArgumentError(`${path} must be a number of bytes between 64 KiB and ${max / 2 ** 30} GiB, not ${String(value)}`);
  }
  return value;
}
