// Where the npm packages with JavaScript glue keep their glue and modules, for the glue tests.
import { fileURLToPath } from 'node:url';

/** A file of an installed package (some packages' exports hide their glue and .wasm from resolve). */
export function packageFile(pkg: string, file: string): string {
  return fileURLToPath(new URL(`../../node_modules/${pkg}/${file}`, import.meta.url));
}
