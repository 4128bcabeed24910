/**
 * `npm run build`: dist/ as the package ships it, from src/ in three steps.
 *
 * 1. ES modules and declarations (tsconfig.json): dist/**.js and dist/**.d.ts, type-checked.
 * 2. CommonJS (tsconfig.cjs.json): dist/cjs/**.js, so that `require('cowpool')` works on Node 20,
 *    where `require()` of an ES module does not. tsc emits it without checking (step 1 checked the
 *    same sources); `import.meta.url`, which CommonJS lacks, becomes the file's own URL. The CLI is
 *    left out: bin/cowpool.js imports the ES build. dist/cjs/package.json says `"type": "commonjs"`,
 *    and the declarations are copied beside it, so that TypeScript reads them as CommonJS too.
 * 3. The WebAssembly types: TypeScript declares the `WebAssembly` namespace only in its `dom` lib,
 *    and @types/node not at all, so a consumer with `"lib": ["es2022"]` could not read declarations
 *    that name `WebAssembly.Memory`. src/types/webassembly.d.ts (the part cowpool uses, global for
 *    cowpool's own sources) ships as a module, dist/types/webassembly.d.ts, and every declaration
 *    file that names `WebAssembly.` imports it. An import rather than a global: a global namespace
 *    would collide with the `dom` lib's in consumers that have it; an import shadows it in that file
 *    only. The two are structurally alike, so values pass between them either way.
 *
 * No source maps: dist/ is tsc's plain output of src/, which is not shipped, and maps that point at
 * missing files help no one.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const DIST = join(ROOT, 'dist');
const CJS = join(DIST, 'cjs');
const TSC = createRequire(import.meta.url).resolve('typescript/bin/tsc');
/** The shipped module of WebAssembly types, and the name the declarations import from it. */
const WASM_TYPES = join(DIST, 'types', 'webassembly.d.ts');
/** What `import.meta.url` becomes in CommonJS. */
const META_URL = '__cowpoolModuleUrl';

rmSync(DIST, { recursive: true, force: true });
tsc('tsconfig.json');
tsc('tsconfig.cjs.json');

for (const file of files(CJS, '.js')) {
  const text = readFileSync(file, 'utf8');
  if (!text.includes('import.meta')) continue;
  // Defined first thing in the module, where `require` is still CommonJS's own (a function may shadow it).
  const rewritten = text
    .replace(/^"use strict";\n/, `"use strict";\nconst ${META_URL} = require("node:url").pathToFileURL(__filename).href;\n`)
    .replaceAll('import.meta.url', META_URL);
  if (!rewritten.includes(`const ${META_URL}`)) fail(`${relative(ROOT, file)} does not begin with "use strict" as tsc writes it`);
  if (rewritten.includes('import.meta')) fail(`${relative(ROOT, file)} uses import.meta beyond import.meta.url, which CommonJS lacks`);
  writeFileSync(file, rewritten);
}
writeFileSync(join(CJS, 'package.json'), `${JSON.stringify({ type: 'commonjs' }, null, 2)}\n`);

const globalTypes = readFileSync(join(ROOT, 'src', 'types', 'webassembly.d.ts'), 'utf8');
if (!globalTypes.includes('\ndeclare namespace WebAssembly {')) fail('src/types/webassembly.d.ts no longer declares the namespace');
mkdirSync(dirname(WASM_TYPES), { recursive: true });
writeFileSync(
  WASM_TYPES,
  globalTypes.replace('\ndeclare namespace WebAssembly {', '\nexport declare namespace WebAssembly {') +
    '\n// Shipped as a module by scripts/build.js: each declaration that names WebAssembly imports it.\n',
);
for (const file of files(DIST, '.d.ts')) {
  if (file.startsWith(CJS) || file === WASM_TYPES) continue;
  let text = readFileSync(file, 'utf8');
  if (/\bWebAssembly\./.test(text)) {
    let from = relative(dirname(file), WASM_TYPES).replace(/\.d\.ts$/, '.js');
    if (!from.startsWith('.')) from = `./${from}`;
    text = `import type { WebAssembly } from '${from}';\n${text}`;
    writeFileSync(file, text);
  }
}
for (const file of files(DIST, '.d.ts')) {
  if (file.startsWith(CJS) || file.startsWith(join(DIST, 'cli'))) continue;
  const copy = join(CJS, relative(DIST, file));
  mkdirSync(dirname(copy), { recursive: true });
  writeFileSync(copy, readFileSync(file));
}

function tsc(project) {
  execFileSync(process.execPath, [TSC, '-p', join(ROOT, project)], { stdio: 'inherit' });
}

function files(dir, suffix) {
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((entry) => entry.isFile() && entry.name.endsWith(suffix))
    .map((entry) => join(entry.parentPath ?? entry.path, entry.name));
}

function fail(message) {
  console.error(`build: ${message}`);
  process.exit(1);
}
