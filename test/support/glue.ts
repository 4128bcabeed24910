// Where the npm packages with JavaScript glue keep their glue and modules, for the glue tests.
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

/** A file of an installed package (some packages' exports hide their glue and .wasm from resolve). */
export function packageFile(pkg: string, file: string): string {
  return fileURLToPath(new URL(`../../node_modules/${pkg}/${file}`, import.meta.url));
}

/** hash-wasm embeds each module as base64 in its bundle; take the bytes out. */
export function hashWasmBytes(name: string): Uint8Array {
  const bundle = readFileSync(packageFile('hash-wasm', `dist/${name}.umd.min.js`), 'utf8');
  const match = new RegExp(`name:"${name}",data:"([A-Za-z0-9+/=]+)"`).exec(bundle);
  if (!match) throw new Error(`no embedded ${name} module in hash-wasm's bundle`);
  return new Uint8Array(Buffer.from(match[1]!, 'base64'));
}
