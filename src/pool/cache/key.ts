/**
 * The cache key of a pool's preparation: what decides the {@link PreparedPool} it makes, hashed.
 *
 * - the module's bytes;
 * - the options that shape the result (`ModulePlan`: mechanism, interruptible, tableReserve,
 *   virtualMemorySize, and a host's initializer: its name, its `key` (the setup script, the
 *   sizes), the exports it keeps, the room it leaves);
 * - cowpool's version (and its code's fingerprint in a checkout, `fingerprint.ts`) and the
 *   entry format.
 *
 * What is not in it cannot change the result: the pool's size, the reset strategy, keepResident,
 * initialMemory (applied when the pool is assembled). A preparation that runs the user's code with
 * the user's imports (`options.initialize`) depends on more than this, so it has no key; nor does
 * a small module, whose preparation costs less than a file read.
 */
import { createHash } from 'node:crypto';
import type { ModulePlan } from '../prepare.js';
import { codeVersion } from './fingerprint.js';

/** Modules smaller than this are not cached unless a host's initialization runs. */
export const MIN_CACHED_BYTES = 64 * 1024;
/** The layout of an entry (`entry.ts`): part of the key, and of the directory's name. */
export const ENTRY_FORMAT = 1;

/**
 * The key of `bytes` prepared by `plan`, as 64 hex digits, or why it has none (see the module
 * comment; a small module's reason is only a size).
 */
export function cacheKey(bytes: Uint8Array, plan: ModulePlan): { key: string } | { none: string; small?: true } {
  const init = plan.initialize;
  if (init?.kind === 'export') return { none: 'options.initialize runs your code with your imports, which the key cannot cover' };
  if (init?.kind === 'function' && init.key === undefined) return { none: `${init.name} has no cache key` };
  if (init === undefined && bytes.length < MIN_CACHED_BYTES) {
    return { none: `the module is ${bytes.length} bytes, too small to be worth caching (${MIN_CACHED_BYTES / 1024} KiB)`, small: true };
  }
  const shape = {
    mechanism: plan.mechanism,
    interruptible: plan.interruptible,
    tableReserve: plan.tableReserve,
    virtualMemorySize: plan.virtualMemorySize,
    keepExports: plan.keepExports ? [...plan.keepExports].sort() : null,
    initializer: init ? { name: init.name, key: init.key, headroom: init.headroom ?? null } : null,
  };
  const key = createHash('sha256')
    .update(JSON.stringify({ format: ENTRY_FORMAT, cowpool: codeVersion(), shape }))
    .update(bytes)
    .digest('hex');
  return { key };
}
