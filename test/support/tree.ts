// A directory tree as one comparable value: every entry's path, type, bytes or link target, and
// mtime. Two snapshots are equal exactly when nothing under the directory changed.
import { lstatSync, readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { join } from 'node:path';

/** `{ 'a.txt': 'file 1700000000000 <base64>', 'sub': 'dir …', 'l': 'link → target' }`, recursively. */
export function snapshot(root: string): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (dir: string, prefix: string) => {
    for (const name of readdirSync(dir).sort()) {
      const path = join(dir, name);
      const key = prefix + name;
      const stats = lstatSync(path);
      if (stats.isSymbolicLink()) out[key] = `link -> ${readlinkSync(path)}`;
      else if (stats.isDirectory()) {
        out[key] = `dir ${stats.mtimeMs}`;
        walk(path, key + '/');
      } else out[key] = `file ${stats.mtimeMs} ${readFileSync(path).toString('base64')}`;
    }
  };
  walk(root, '');
  return out;
}
