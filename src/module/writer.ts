/**
 * The encoding side of `bytes.ts`: a growable byte buffer with LEB128, names and the constant
 * expressions the rewriter emits. Output LEBs are minimal.
 */

const UTF8 = new TextEncoder();

/** Appends bytes; {@link finish} returns them as one array. */
export class ByteWriter {
  #buf: Uint8Array;
  #len = 0;

  /** `capacity`: the bytes to make room for up front (it grows past them as needed). */
  constructor(capacity = 256) {
    this.#buf = new Uint8Array(capacity);
  }

  /** Bytes written so far. */
  get length(): number {
    return this.#len;
  }

  #reserve(n: number): void {
    if (this.#len + n <= this.#buf.length) return;
    const next = new Uint8Array(Math.max(this.#buf.length * 2, this.#len + n));
    next.set(this.#buf.subarray(0, this.#len));
    this.#buf = next;
  }

  /** One byte. */
  u8(b: number): this {
    this.#reserve(1);
    this.#buf[this.#len++] = b & 0xff;
    return this;
  }

  /** Raw bytes. */
  bytes(b: Uint8Array): this {
    this.#reserve(b.length);
    this.#buf.set(b, this.#len);
    this.#len += b.length;
    return this;
  }

  /** Unsigned LEB128 of a value below 2^32. */
  u32(n: number): this {
    let v = n >>> 0;
    do {
      const b = v & 0x7f;
      v >>>= 7;
      this.u8(v !== 0 ? b | 0x80 : b);
    } while (v !== 0);
    return this;
  }

  /** Unsigned LEB128 of any non-negative safe integer (memory64 limits). */
  u64(n: number): this {
    let v = n;
    do {
      const b = v % 128;
      v = Math.floor(v / 128);
      this.u8(v !== 0 ? b | 0x80 : b);
    } while (v !== 0);
    return this;
  }

  /** Signed LEB128 of an i32. */
  s32(n: number): this {
    let v = n | 0;
    for (;;) {
      const b = v & 0x7f;
      v >>= 7;
      const done = (v === 0 && (b & 0x40) === 0) || (v === -1 && (b & 0x40) !== 0);
      this.u8(done ? b : b | 0x80);
      if (done) return this;
    }
  }

  /** Signed LEB128 of an i64. */
  s64(n: bigint): this {
    let v = BigInt.asIntN(64, n);
    for (;;) {
      const b = Number(v & 0x7fn);
      v >>= 7n;
      const done = (v === 0n && (b & 0x40) === 0) || (v === -1n && (b & 0x40) !== 0);
      this.u8(done ? b : b | 0x80);
      if (done) return this;
    }
  }

  /** A name: length then UTF-8. */
  name(text: string): this {
    const b = UTF8.encode(text);
    return this.u32(b.length).bytes(b);
  }

  /** A section: id, size, then the contents of `body`. */
  section(id: number, body: ByteWriter): this {
    return this.u8(id).u32(body.length).bytes(body.finish());
  }

  /** The bytes written (a view of the internal buffer: do not keep writing after taking it). */
  finish(): Uint8Array {
    return this.#buf.subarray(0, this.#len);
  }
}

/** `i32.const n end`. */
export function i32ConstExpr(n: number): Uint8Array {
  return new ByteWriter().u8(0x41).s32(n).u8(0x0b).finish();
}

/** `i64.const n end`. */
export function i64ConstExpr(n: bigint): Uint8Array {
  return new ByteWriter().u8(0x42).s64(n).u8(0x0b).finish();
}

/** `f32.const x end` (x rounded to single precision). */
export function f32ConstExpr(x: number): Uint8Array {
  const out = new Uint8Array(6);
  out[0] = 0x43;
  new DataView(out.buffer).setFloat32(1, x, true);
  out[5] = 0x0b;
  return out;
}

/** `f64.const x end`. */
export function f64ConstExpr(x: number): Uint8Array {
  const out = new Uint8Array(10);
  out[0] = 0x44;
  new DataView(out.buffer).setFloat64(1, x, true);
  out[9] = 0x0b;
  return out;
}
