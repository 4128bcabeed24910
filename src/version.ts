/**
 * cowpool's own version, from its package.json, for `cowpool --version` and the SERVER_SOFTWARE a
 * served guest sees. The file is found by walking up from this module, since it runs at different
 * depths below the package root: src/ (tests, through tsx), dist/ (ES modules), dist/cjs/ (CommonJS).
 */
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The name in the package.json being looked for (another package.json may lie in between: dist/cjs has one). */
const PACKAGE_NAME = 'cowpool';

let version: string | undefined;

/** cowpool's version (`0.1.0`), or `0.0.0` when its package.json cannot be found. */
export function cowpoolVersion(): string {
  version ??= findVersion();
  return version;
}

function findVersion(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    try {
      const manifest = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as { name?: unknown; version?: unknown };
      if (manifest.name === PACKAGE_NAME && typeof manifest.version === 'string') return manifest.version;
    } catch {
      // No package.json here (or not one we can read): keep walking up.
    }
    const parent = dirname(dir);
    if (parent === dir) return '0.0.0';
    dir = parent;
  }
}
