/**
 * The CGI program on worker threads: the calling thread prepares the module once (analysis and
 * rewrite; a WASI command runs no guest code to be prepared, and a pure start function is bounded
 * by the fuel counter), and `PoolThreads` makes its one memfd image and starts N threads over it,
 * each building one instance (`cgi-engine.ts`) and running one request at a time, handed out by
 * the dispatcher (`threads/dispatcher.ts`), which owns the queue, the hard stop of a guest past its
 * deadline and grace, and the replacement of a thread that ended. The image is closed once every
 * thread has exited.
 */
import type { IncomingMessage } from 'node:http';
import type { Readiness } from '../http/operations.js';
import { announce, preparedPool } from '../pool/build.js';
import type { InstancePool, PoolDescription } from '../pool/index.js';
import { driveAsync } from '../pool/sync-or-async.js';
import type { FilledThreadOptions } from '../threads/options.js';
import { PoolThreads, type PreparedParts } from '../threads/pool-threads.js';
import { siblingModule } from '../threads/spawn.js';
import type { ThreadPoolStats } from '../threads/thread-pool.js';
import type { WasiHost } from '../wasi/index.js';
import type { CgiEngineParts, CgiThreadRequest } from './cgi-engine.js';
import { cgiPoolOptions, type CgiOutcome } from './cgi-guest.js';
import type { FilledCgiOptions } from './cgi-options.js';
import { requestFields } from './cgi-request.js';
import type { CgiRunner } from './cgi-runner.js';
import type { ServeTestHooks } from './test-hooks.js';

const CGI_ENGINE = siblingModule('cgi-engine', import.meta.url);
/** How long a thread may take to start (import the engine, build its instance) before it is ended. */
const START_TIMEOUT = 30_000;
const EMPTY = new Uint8Array(0);

/** See the module comment. */
export class ThreadRunner implements CgiRunner {
  readonly threads: number;
  readonly pool: InstancePool<WebAssembly.Exports, WasiHost> | undefined = undefined;
  readonly #threads: PoolThreads<CgiThreadRequest, CgiOutcome>;
  readonly #options: FilledCgiOptions;

  private constructor(threads: PoolThreads<CgiThreadRequest, CgiOutcome>, options: FilledCgiOptions) {
    this.#threads = threads;
    this.#options = options;
    this.threads = threads.describe().threads.threads;
  }

  /** Prepares `bytes` (or reads the cache) and starts the threads over one image; resolves once every one is ready. */
  static async create(
    bytes: Uint8Array,
    options: FilledCgiOptions,
    threads: FilledThreadOptions,
    hooks: ServeTestHooks | undefined,
  ): Promise<ThreadRunner> {
    const started = performance.now();
    const made = await driveAsync(preparedPool(bytes, cgiPoolOptions(options.settings)));
    announce(made.cache, started);
    const { settings, env } = options;
    const onThreads = await PoolThreads.create<CgiThreadRequest, CgiOutcome>(
      made as PreparedParts,
      {
        engine: CGI_ENGINE,
        parts: (pool): CgiEngineParts => ({ pool, settings, env, hooks }),
        what: `a thread of ${settings.programName} (its first instance)`,
        startTimeout: START_TIMEOUT,
        hardStopMessage: (timeout, grace) =>
          `the program did not finish within ${timeout} ms (nor within the ${grace} ms grace after it) and was stopped ` +
          'with its worker thread, which was replaced',
        // A guest the fuel counter stopped is an answer (504), not an error: its pool counted it.
        timeoutsAnswered: true,
      },
      threads,
    );
    return new ThreadRunner(onThreads, options);
  }

  run(req: IncomingMessage, body: Uint8Array): Promise<CgiOutcome> {
    // A copy the thread can own: a Buffer may be a view of a larger pooled one, which a post would copy whole.
    const own = body.length === 0 ? EMPTY : new Uint8Array(body);
    const input: CgiThreadRequest = { request: requestFields(req, this.#options.scriptName), body: own };
    return this.#threads.run(input, undefined, own.length === 0 ? undefined : [own.buffer]);
  }

  stats(): ThreadPoolStats {
    const { pool, threads } = this.#threads.stats();
    return { ...pool, threads };
  }

  describe(): PoolDescription {
    return this.#threads.describe().pool;
  }

  readiness(): Readiness {
    // Ready while open: a thread that ended is being replaced, and requests wait for it meanwhile.
    const { pool, threads } = this.#threads.stats();
    const { mechanism, strategy } = this.describe();
    return {
      ready: true,
      details: {
        module: this.#options.settings.programName,
        mechanism,
        strategy,
        instances: pool.instances,
        threads: threads.threads,
        busy: threads.busy,
        queued: threads.queued,
      },
    };
  }

  close(): Promise<void> {
    return this.#threads.close();
  }
}
