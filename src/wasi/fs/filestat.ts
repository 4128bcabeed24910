// Host `fs.BigIntStats` and overlay nodes written as a preview1 `filestat` (64 bytes, see Layout.FILESTAT_SIZE).

import type { BigIntStats } from 'node:fs';
import { Filetype } from '../abi.js';
import type { Filestat } from './fs-node.js';

/** The preview1 filetype of a host file. FIFOs have no preview1 type and report UNKNOWN. */
export function filetypeOf(stats: BigIntStats): number {
  if (stats.isFile()) return Filetype.REGULAR_FILE;
  if (stats.isDirectory()) return Filetype.DIRECTORY;
  if (stats.isSymbolicLink()) return Filetype.SYMBOLIC_LINK;
  if (stats.isCharacterDevice()) return Filetype.CHARACTER_DEVICE;
  if (stats.isBlockDevice()) return Filetype.BLOCK_DEVICE;
  if (stats.isSocket()) return Filetype.SOCKET_STREAM;
  return Filetype.UNKNOWN;
}

/** Writes `stat` as a filestat at `ptr`; without one, a zeroed filestat of type `filetype` (a stream). */
export function writeFilestat(view: DataView, ptr: number, stat: Filestat | undefined, filetype?: number): void {
  view.setBigUint64(ptr, stat?.dev ?? 0n, true);
  view.setBigUint64(ptr + 8, stat?.ino ?? 0n, true);
  view.setBigUint64(ptr + 16, 0n, true); // filetype u8 + padding
  view.setUint8(ptr + 16, stat !== undefined ? stat.filetype : (filetype ?? Filetype.UNKNOWN));
  view.setBigUint64(ptr + 24, stat?.nlink ?? 0n, true);
  view.setBigUint64(ptr + 32, stat?.size ?? 0n, true);
  view.setBigUint64(ptr + 40, stat?.atim ?? 0n, true);
  view.setBigUint64(ptr + 48, stat?.mtim ?? 0n, true);
  view.setBigUint64(ptr + 56, stat?.ctim ?? 0n, true);
}
