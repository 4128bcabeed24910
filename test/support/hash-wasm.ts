// hash-wasm (C built with clang, from npm) as tests and benchmarks use it: its modules' bytes and
// the exports of its SHA-256 module.
import { readFileSync } from 'node:fs';
import type { GluePoolOptions } from '../../src/glue/index.ts';
import { packageFile } from './glue.ts';

/** hash-wasm embeds each module as base64 in its bundle; take the bytes out. */
export function hashWasmBytes(name: string): Uint8Array {
  const bundle = readFileSync(packageFile('hash-wasm', `dist/${name}.umd.min.js`), 'utf8');
  const match = new RegExp(`name:"${name}",data:"([A-Za-z0-9+/=]+)"`).exec(bundle);
  if (!match) throw new Error(`no embedded ${name} module in hash-wasm's bundle`);
  return new Uint8Array(Buffer.from(match[1]!, 'base64'));
}

/** The exports of hash-wasm's SHA-256 module that are called directly. */
export interface Sha256 {
  memory: WebAssembly.Memory;
  Hash_GetBuffer(): number;
  Hash_Init(bits: number): void;
  Hash_Update(length: number): void;
  Hash_Final(): void;
}

/** hash-wasm's SHA-256 bundle as `GluePool` takes it (its loader makes a hasher), without pool options. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export function sha256Glue(): GluePoolOptions<any> {
  return {
    glue: packageFile('hash-wasm', 'dist/sha256.umd.min.js'),
    wasm: hashWasmBytes('sha256'),
    load: (hashWasm) => hashWasm.createSHA256(),
  };
}
