/**
 * Which cowpool made a cache entry: its version, and, when cowpool runs from a checkout rather
 * than an installed package, a fingerprint of its code. A published version never changes, but a
 * checkout's code does between two runs under the same version, and an entry made by other code
 * (another rewrite, another snapshot) must not be taken for this code's: so in a checkout the key
 * also covers the name, size and modification time of every source file cowpool runs from (src/
 * through tsx, or dist/), read once per process (about a millisecond for 130 files).
 */
import { readdirSync, statSync } from 'node:fs';
import { dirname, join, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { cowpoolVersion } from '../../version.js';

let fingerprint: string | undefined;

/** cowpool's version, plus its code's fingerprint in a checkout; see the module comment. */
export function codeVersion(): string {
  fingerprint ??= compute();
  return fingerprint;
}

function compute(): string {
  // This file is <code root>/pool/cache/fingerprint.{ts,js}: the code root is src/, dist/ or dist/cjs/.
  const root = dirname(dirname(dirname(fileURLToPath(import.meta.url))));
  const version = cowpoolVersion();
  if (root.split(sep).includes('node_modules')) return version;
  const files: string[] = [];
  for (const entry of readdirSync(root, { recursive: true, withFileTypes: true })) {
    if (!entry.isFile() || !/\.[cm]?[jt]s$/.test(entry.name) || entry.name.endsWith('.d.ts')) continue;
    // `parentPath` is Node 20.12's name for `path`.
    const dir = (entry as { parentPath?: string }).parentPath ?? entry.path;
    const path = join(dir, entry.name);
    const stat = statSync(path);
    files.push(`${path.slice(root.length)}:${stat.size}:${stat.mtimeMs}`);
  }
  return `${version}+checkout:${files.sort().join(',')}`;
}
