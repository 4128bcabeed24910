// Open file descriptors of this process, read from /proc/self/fd: how tests prove that a pool
// closed every memfd it opened (no mock: the kernel's own table).
import { readdirSync, readlinkSync } from 'node:fs';

/** How many of this process's fds are memfds whose name contains `name`. */
export function openMemfds(name = 'cowpool'): number {
  let count = 0;
  for (const fd of readdirSync('/proc/self/fd')) {
    let target: string;
    try {
      target = readlinkSync(`/proc/self/fd/${fd}`);
    } catch {
      continue; // closed between readdir and readlink (the directory's own fd, say)
    }
    if (target.startsWith('/memfd:') && target.includes(name)) count++;
  }
  return count;
}
