// Test helpers for the module layer: WAT assembly with every proposal the walker knows switched on,
// hand-built binaries for malformed-input tests, and V8 feature probes.
import v8 from 'node:v8';
import wabtInit from 'wabt';

/** The wabt instance, for tests that need its decoder too. */
export const wabt = await wabtInit();

/** Every wabt feature the module layer handles (V8 may still reject some: see {@link enableV8Feature}). */
export const allFeatures = {
  bulk_memory: true,
  reference_types: true,
  multi_value: true,
  mutable_globals: true,
  sat_float_to_int: true,
  sign_extension: true,
  simd: true,
  tail_call: true,
  exceptions: true,
  threads: true,
  extended_const: true,
  relaxed_simd: true,
  memory64: true,
};

/** The binary of a module written in the WebAssembly text format. */
export function wat(text: string): Uint8Array {
  const module = wabt.parseWat('test.wat', text, allFeatures);
  try {
    return new Uint8Array(module.toBinary({}).buffer);
  } finally {
    module.destroy();
  }
}

/** Unsigned LEB128. */
export function uleb(n: number): number[] {
  const out: number[] = [];
  do {
    let b = n & 0x7f;
    n = Math.floor(n / 128);
    if (n !== 0) b |= 0x80;
    out.push(b);
  } while (n !== 0);
  return out;
}

/** A section: id, size, contents. */
export function section(id: number, contents: readonly number[]): number[] {
  return [id, ...uleb(contents.length), ...contents];
}

/** A name: length then UTF-8 bytes. */
export function name(text: string): number[] {
  const bytes = [...new TextEncoder().encode(text)];
  return [...uleb(bytes.length), ...bytes];
}

/** The 8-byte header of a version-1 core module. */
export const header = [0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00];

/** A module from the header and the given sections. */
export function binary(...sections: number[][]): Uint8Array {
  return new Uint8Array([...header, ...sections.flat()]);
}

/**
 * True when V8 accepts `probe`, after switching on `flag` if needed (Node 20 keeps extended-const
 * behind `--experimental-wasm-extended-const`; later versions ship it and ignore the flag).
 */
export function enableV8Feature(probe: Uint8Array, flag: string): boolean {
  if (WebAssembly.validate(probe)) return true;
  v8.setFlagsFromString(flag);
  return WebAssembly.validate(probe);
}

/** Instantiates `bytes` synchronously. */
export function instantiate(bytes: Uint8Array, imports: WebAssembly.Imports = {}): WebAssembly.Instance {
  return new WebAssembly.Instance(new WebAssembly.Module(bytes), imports);
}
