/**
 * The engine of a `WasiCommand`'s worker threads (`threads` option): a pool of one instance of the
 * command over the image the command prepared once (`pool/shared-parts.ts`: nothing prepared
 * again, no new memfd), with a WASI host per instance as on the calling thread. Each use's input
 * arrives as data; what the guest writes goes back as events while it runs (`EngineUse.emit`, one
 * per write, the bytes copied out of guest memory and moved, not copied again), so that the caller
 * streams it and keeps what came before a hard stop; the exit code is the result, the guest's
 * limits and traps its error.
 *
 * Host files the guest opens are in the thread's fd ledger (`fs/host-fds.ts`): a thread ended
 * mid-use leaks none.
 */
import { InstancePool } from '../pool/instance-pool.js';
import type { PoolOptions } from '../pool/options.js';
import { FROM_PREPARED } from '../pool/prepared-pool.js';
import { adoptParts, type SharedPoolParts } from '../pool/shared-parts.js';
import type { Engine } from '../threads/engine.js';
import { publishedPoolStats } from '../threads/pool-stats.js';
import type { WasiThreadInput, WasiThreadOutput } from './command-use.js';
import type { WasiContext } from './context.js';
import { WasiHost, type PreopenOption } from './wasi-host.js';

/** What each thread is built from: plain data. */
export interface WasiThreadParts {
  readonly pool: SharedPoolParts;
  /** The pool's own options (sizing, not shaping: that is the prepared pool's). */
  readonly options: Omit<PoolOptions<WasiHost, undefined>, 'setup' | 'imports'>;
  /** The WASI host's options that are data. */
  readonly host: { readonly preopens?: readonly PreopenOption[]; readonly overlayLimit?: number };
}

/** See the module comment. */
export async function createEngine(parts: WasiThreadParts): Promise<Engine<WasiThreadInput, number>> {
  const { prepared, ready } = adoptParts(parts.pool);
  const pool = await InstancePool[FROM_PREPARED]<WebAssembly.Exports, WasiHost, undefined>(
    prepared,
    {
      ...parts.options,
      max: 1,
      min: 1,
      setup: (host) => {
        const wasi = new WasiHost({ ...parts.host, deadline: host });
        if (host.memory) wasi.bindMemory(host.memory);
        return { imports: wasi.imports, state: wasi };
      },
    },
    ready,
  );
  const interruptible = prepared.plan.interruptible !== false;
  return {
    run(input, use) {
      const send = (fd: 1 | 2) => (chunk: Uint8Array) => {
        // A view into guest memory, valid during the write only: copied, and the copy moved.
        const data = chunk.slice();
        use.emit({ fd, data } satisfies WasiThreadOutput, [data.buffer]);
      };
      const context: WasiContext = {
        args: input.args,
        env: input.env,
        stdin: input.stdin,
        stdout: send(1),
        stderr: send(2),
        outputLimit: input.outputLimit,
      };
      // Without the fuel counter (no command timeout) the pool takes no deadline: the thread's hard stop is the one.
      const options = input.timeout === undefined || !interruptible ? undefined : { timeout: input.timeout };
      return pool.run((instance, _context, host) => host.state.run(instance, context), undefined, options);
    },
    stats: () => publishedPoolStats(pool.stats()),
    describe: () => pool.describe(),
    close: () => pool.close(),
  };
}
