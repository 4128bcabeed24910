/**
 * The engine of the CGI server's worker threads (see `threads/engine.ts`): each thread assembles
 * the program's pool from the parts its process prepared once (`pool/shared-parts.ts`: the module
 * posted, the one image shared) and runs one request at a time on it, from the request's fields and
 * body to the run's outcome (`cgi-guest.ts`), whose output is transferred back, not copied.
 */
import { InstancePool } from '../pool/instance-pool.js';
import { FROM_PREPARED } from '../pool/prepared-pool.js';
import { adoptParts, type SharedPoolParts } from '../pool/shared-parts.js';
import type { UseOptions } from '../pool/index.js';
import type { Engine } from '../threads/engine.js';
import { publishedPoolStats } from '../threads/pool-stats.js';
import type { WasiHost } from '../wasi/index.js';
import { CgiGuest, cgiPoolOptions, type CgiGuestSettings, type CgiOutcome } from './cgi-guest.js';
import { requestEnvironment, type CgiRequestFields } from './cgi-request.js';
import type { ServeTestHooks } from './test-hooks.js';

/** What each thread is built from. */
export interface CgiEngineParts {
  readonly pool: SharedPoolParts;
  readonly settings: CgiGuestSettings;
  /** Extra environment variables for every request. */
  readonly env: Readonly<Record<string, string>> | undefined;
  readonly hooks: ServeTestHooks | undefined;
}

/** One request, as a thread receives it. */
export interface CgiThreadRequest {
  readonly request: CgiRequestFields;
  /** The body, in an ArrayBuffer of its own (transferred). */
  readonly body: Uint8Array;
}

/** See the module comment. */
export async function createEngine(parts: CgiEngineParts): Promise<Engine<CgiThreadRequest, CgiOutcome>> {
  const { prepared, ready } = adoptParts(parts.pool);
  const pool = await InstancePool[FROM_PREPARED]<WebAssembly.Exports, WasiHost>(prepared, cgiPoolOptions(parts.settings), ready);
  const guest = new CgiGuest(pool, parts.settings, true);
  // Without the fuel counter the pool takes no deadline: the thread's hard stop is the only one (as
  // when a test hook withholds the deadline from the pool, so that only the hard stop can end a loop).
  const interruptible = prepared.plan.interruptible !== false && parts.hooks?.uninterruptible !== true;
  const exitOnUrl = parts.hooks?.exitOnUrl;
  let current: CgiThreadRequest | undefined;
  const environment = () => requestEnvironment(current!.request, current!.body.length, parts.env);
  let use: UseOptions | undefined;
  return {
    run(input, { timeout }) {
      if (exitOnUrl !== undefined && input.request.url === exitOnUrl) process.exit(1);
      if (use?.timeout !== timeout) use = interruptible && timeout !== Infinity ? { timeout } : undefined;
      current = input;
      try {
        return guest.run(input.body, environment, use);
      } finally {
        current = undefined;
      }
    },
    transfer: (outcome) => (outcome.kind === 'exited' && outcome.stdout.length > 0 ? [outcome.stdout.buffer as ArrayBuffer] : []),
    stats: () => publishedPoolStats(pool.stats()),
    describe: () => pool.describe(),
    close: () => pool.close(),
  };
}
