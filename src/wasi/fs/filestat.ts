/**
 * The preview1 `filestat` of whatever a guest path names: made from a host file's `fs.BigIntStats`
 * or from an overlay node, and written into guest memory (64 bytes, see `Layout.FILESTAT_SIZE`).
 */
import type { BigIntStats } from 'node:fs';
import { Filetype } from '../abi.js';
import type { MemEntry } from './fs-node.js';

/** A preview1 `filestat`, whatever it describes. */
export interface Filestat {
  dev: bigint;
  ino: bigint;
  filetype: number;
  nlink: bigint;
  size: bigint;
  atim: bigint;
  mtim: bigint;
  ctim: bigint;
}

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

/** The filestat of a host entry. */
export function hostFilestat(stats: BigIntStats): Filestat {
  return {
    dev: stats.dev,
    ino: stats.ino,
    filetype: filetypeOf(stats),
    nlink: stats.nlink,
    size: stats.size,
    atim: stats.atimeNs,
    mtim: stats.mtimeNs,
    ctim: stats.ctimeNs,
  };
}

/** The filestat of an in-memory node on device `dev`. */
export function memFilestat(node: MemEntry, dev: bigint): Filestat {
  const common = { dev, ino: node.ino, atim: node.atim, mtim: node.mtim, ctim: node.ctim };
  if (node.kind === 'file') return { ...common, filetype: Filetype.REGULAR_FILE, nlink: node.nlink, size: BigInt(node.size) };
  if (node.kind === 'symlink') {
    return { ...common, filetype: Filetype.SYMBOLIC_LINK, nlink: node.nlink, size: BigInt(Buffer.byteLength(node.target)) };
  }
  return { ...common, filetype: Filetype.DIRECTORY, nlink: 1n, size: node.size };
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
