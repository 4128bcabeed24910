// Host `fs.BigIntStats` written as a preview1 `filestat` (64 bytes, see Layout.FILESTAT_SIZE).

import type { BigIntStats } from 'node:fs';
import { Filetype } from './abi.js';

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

/** Writes `stats` as a filestat at `ptr`; without stats, a zeroed filestat of type `filetype` (a stream). */
export function writeFilestat(view: DataView, ptr: number, stats: BigIntStats | undefined, filetype?: number): void {
  view.setBigUint64(ptr, stats?.dev ?? 0n, true);
  view.setBigUint64(ptr + 8, stats?.ino ?? 0n, true);
  view.setBigUint64(ptr + 16, 0n, true); // filetype u8 + padding
  view.setUint8(ptr + 16, stats !== undefined ? filetypeOf(stats) : (filetype ?? Filetype.UNKNOWN));
  view.setBigUint64(ptr + 24, stats?.nlink ?? 0n, true);
  view.setBigUint64(ptr + 32, stats?.size ?? 0n, true);
  view.setBigUint64(ptr + 40, stats?.atimeNs ?? 0n, true);
  view.setBigUint64(ptr + 48, stats?.mtimeNs ?? 0n, true);
  view.setBigUint64(ptr + 56, stats?.ctimeNs ?? 0n, true);
}
