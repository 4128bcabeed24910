/**
 * A cursor over a WebAssembly binary: bytes, LEB128 integers, floats and names, with the bounds and
 * encoding checks the binary format requires. Every failure is a {@link MalformedModuleError} that
 * names the section being read and the byte offset of the item that is wrong, so a bad module can
 * be located with `wasm-objdump -x` or a hex dump.
 */

import { MalformedModuleError } from '../errors.js';

/** A half-open span `[start, end)` of absolute byte offsets into a module binary. */
export interface ByteRange {
  /** Offset of the first byte. */
  readonly start: number;
  /** Offset one past the last byte. */
  readonly end: number;
}

// Fatal so that an invalid name is reported rather than silently replaced by U+FFFD.
const UTF8 = new TextDecoder('utf-8', { fatal: true });

/**
 * Reads from `bytes[pos, limit)`. Offsets are absolute (into the whole module), so error offsets
 * and recorded {@link ByteRange}s need no translation.
 */
export class ByteReader {
  /** The whole module binary. */
  readonly bytes: Uint8Array;
  /** Absolute offset of the next byte to read. */
  pos: number;
  /** Absolute offset reads must not pass: the end of the current section or body. */
  limit: number;
  /** Section name used in error reports (`header`, `type`, `code`, …). */
  section: string;

  #view: DataView | undefined;

  constructor(bytes: Uint8Array, pos = 0, limit = bytes.length, section = 'header') {
    this.bytes = bytes;
    this.pos = pos;
    this.limit = limit;
    this.section = section;
  }

  /** Throws a {@link MalformedModuleError} for the current section at `offset` (default: here). */
  fail(reason: string, offset: number = this.pos): never {
    throw new MalformedModuleError(this.section, offset, reason);
  }

  /** True when every byte up to the limit has been read. */
  atEnd(): boolean {
    return this.pos >= this.limit;
  }

  /** Bytes left before the limit. */
  remaining(): number {
    return this.limit - this.pos;
  }

  /** Next byte without consuming it. */
  peek(): number {
    if (this.pos >= this.limit) this.#truncated(1);
    return this.bytes[this.pos] as number;
  }

  /** One byte. */
  u8(): number {
    if (this.pos >= this.limit) this.#truncated(1);
    return this.bytes[this.pos++] as number;
  }

  /** `n` bytes as a view into the module (no copy). */
  take(n: number): Uint8Array {
    if (n > this.limit - this.pos) this.#truncated(n);
    const view = this.bytes.subarray(this.pos, this.pos + n);
    this.pos += n;
    return view;
  }

  /** Skips `n` bytes. */
  skip(n: number): void {
    if (n > this.limit - this.pos) this.#truncated(n);
    this.pos += n;
  }

  /** Unsigned LEB128, at most 5 bytes, value below 2^32. */
  u32(): number {
    const start = this.pos;
    // Most indices fit in one byte: read those without the loop (decoding code is the hot path).
    if (start < this.limit) {
      const b = this.bytes[start]!;
      if (b < 0x80) {
        this.pos = start + 1;
        return b;
      }
    }
    let result = 0;
    let scale = 1;
    for (let i = 0; i < 5; i++) {
      const b = this.u8();
      result += (b & 0x7f) * scale;
      if ((b & 0x80) === 0) {
        if (i === 4 && b > 0x0f) this.fail('integer too large for u32', start);
        return result;
      }
      scale *= 128;
    }
    return this.fail('integer representation too long for u32', start);
  }

  /** Signed LEB128, at most 5 bytes, value in the i32 range. */
  s32(): number {
    const start = this.pos;
    let result = 0;
    let shift = 0;
    for (let i = 0; i < 5; i++) {
      const b = this.u8();
      result |= (b & 0x7f) << shift;
      shift += 7;
      if ((b & 0x80) === 0) {
        if (i === 4) {
          // Bits 4–6 of the fifth byte lie above bit 31: they must repeat the sign bit (bit 3).
          const high = b & 0x70;
          if (high !== ((b & 0x08) !== 0 ? 0x70 : 0)) this.fail('integer too large for s32', start);
          return result;
        }
        return shift < 32 && (b & 0x40) !== 0 ? result | (-1 << shift) : result;
      }
    }
    return this.fail('integer representation too long for s32', start);
  }

  /** Signed LEB128 over 33 bits (block types and heap types), as a number. */
  s33(): number {
    const start = this.pos;
    let result = 0;
    let scale = 1;
    for (let i = 0; i < 5; i++) {
      const b = this.u8();
      if ((b & 0x80) === 0) {
        if (i === 4) {
          // The fifth byte holds bits 28–34; bits 33–34 (byte bits 5–6) must repeat bit 32.
          const high = b & 0x60;
          if (high !== ((b & 0x10) !== 0 ? 0x60 : 0)) this.fail('integer too large for s33', start);
        }
        result += (b & 0x7f) * scale;
        scale *= 128;
        return (b & 0x40) !== 0 ? result - scale : result;
      }
      result += (b & 0x7f) * scale;
      scale *= 128;
    }
    return this.fail('integer representation too long for s33', start);
  }

  /** Signed LEB128, at most 10 bytes, value in the i64 range. */
  s64(): bigint {
    const start = this.pos;
    let result = 0n;
    let shift = 0n;
    for (let i = 0; i < 10; i++) {
      const b = this.u8();
      result |= BigInt(b & 0x7f) << shift;
      shift += 7n;
      if ((b & 0x80) === 0) {
        if (i === 9) {
          // Only bit 0 of the tenth byte is bit 63; the rest must repeat it.
          const high = b & 0x7e;
          if (high !== ((b & 0x01) !== 0 ? 0x7e : 0)) this.fail('integer too large for s64', start);
        }
        return BigInt.asIntN(64, (b & 0x40) !== 0 && shift < 64n ? result - (1n << shift) : result);
      }
    }
    return this.fail('integer representation too long for s64', start);
  }

  /** Skips a signed 64-bit LEB128 with the same checks as {@link s64}, without building a bigint. */
  skipS64(): void {
    const start = this.pos;
    for (let i = 0; i < 10; i++) {
      const b = this.u8();
      if ((b & 0x80) === 0) {
        if (i === 9 && (b & 0x7e) !== ((b & 0x01) !== 0 ? 0x7e : 0)) this.fail('integer too large for s64', start);
        return;
      }
    }
    this.fail('integer representation too long for s64', start);
  }

  /**
   * Unsigned LEB128 of at most 10 bytes (memory64 limits and memarg offsets), as a number. Values
   * above 2^53 lose precision, which no caller depends on: such memories are never poolable.
   */
  u64(): number {
    const start = this.pos;
    let result = 0;
    let scale = 1;
    for (let i = 0; i < 10; i++) {
      const b = this.u8();
      result += (b & 0x7f) * scale;
      if ((b & 0x80) === 0) {
        if (i === 9 && b > 0x01) this.fail('integer too large for u64', start);
        return result;
      }
      scale *= 128;
    }
    return this.fail('integer representation too long for u64', start);
  }

  /** Little-endian IEEE 754 single, as a number. */
  f32(): number {
    const at = this.pos;
    this.skip(4);
    return this.#dataView().getFloat32(at, true);
  }

  /** Little-endian IEEE 754 double. */
  f64(): number {
    const at = this.pos;
    this.skip(8);
    return this.#dataView().getFloat64(at, true);
  }

  /** A `name`: u32 length then that many bytes of UTF-8. */
  name(): string {
    const start = this.pos;
    const length = this.u32();
    const raw = this.take(length);
    try {
      return UTF8.decode(raw);
    } catch {
      return this.fail('name is not valid UTF-8', start);
    }
  }

  /** A vector length, checked against the bytes left so a corrupt count cannot allocate gigabytes. */
  count(minBytesPerItem = 1): number {
    const start = this.pos;
    const n = this.u32();
    if (n * minBytesPerItem > this.limit - this.pos) {
      this.fail(`vector of ${n} items cannot fit in the ${this.limit - this.pos} bytes left`, start);
    }
    return n;
  }

  #dataView(): DataView {
    this.#view ??= new DataView(this.bytes.buffer, this.bytes.byteOffset, this.bytes.byteLength);
    return this.#view;
  }

  #truncated(wanted: number): never {
    const where = this.limit < this.bytes.length ? `the end of the ${this.section} section` : 'the end of the module';
    return this.fail(`unexpected end: needed ${wanted} byte(s) but reached ${where}`);
  }
}
