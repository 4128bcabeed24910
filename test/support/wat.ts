// Assembles WebAssembly text for tests, with every feature Node 20's V8 accepts switched on.
import wabtInit from 'wabt';

const wabt = await wabtInit();
const features = {
  bulk_memory: true,
  reference_types: true,
  multi_value: true,
  mutable_globals: true,
  sat_float_to_int: true,
  sign_extension: true,
  simd: true,
};

/** The binary of a module written in the WebAssembly text format. */
export function wat(text: string): Uint8Array {
  const module = wabt.parseWat('test.wat', text, features);
  try {
    return new Uint8Array(module.toBinary({}).buffer);
  } finally {
    module.destroy();
  }
}
