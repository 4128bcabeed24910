/**
 * The process's resident memory once garbage is collected: how hostile-guest tests check that what
 * an attack took is given back (no mock: the kernel's own count, after V8 has freed what it can).
 */
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

/** RSS in bytes after a few full collections, with a turn of the event loop between them (finalizers run). */
export async function settledRss(): Promise<number> {
  for (let i = 0; i < 3; i++) {
    gc();
    await new Promise((resolve) => setImmediate(resolve));
  }
  return process.memoryUsage.rss();
}

/** Mebibytes, for messages. */
export function mib(bytes: number): string {
  return `${(bytes / 2 ** 20).toFixed(1)} MiB`;
}
