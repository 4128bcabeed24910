/**
 * The CGI program on worker threads: the calling thread prepares the module once (analysis and
 * rewrite; a WASI command runs no guest code to be prepared, and a pure start function is bounded
 * by the fuel counter) and makes its one memfd image; N worker threads each build one instance
 * over it (`cgi-engine.ts`) and run one request at a time, handed out by the dispatcher
 * (`threads/dispatcher.ts`), which also owns the queue, the hard stop of a guest past its deadline
 * and grace, and the replacement of a thread that ended. The runner owns the image: it is closed
 * once every thread has exited.
 */
import type { IncomingMessage } from 'node:http';
import type { Readiness } from '../http/operations.js';
import type { MemoryImage } from '../memory/index.js';
import { announce, assemble, preparedPool } from '../pool/build.js';
import type { InstancePool, PoolDescription } from '../pool/index.js';
import { shareParts } from '../pool/shared-parts.js';
import { driveAsync } from '../pool/sync-or-async.js';
import { Dispatcher } from '../threads/dispatcher.js';
import type { FilledThreadOptions } from '../threads/options.js';
import { POOL_GAUGES, threadPoolStats, type ThreadPoolStats } from '../threads/pool-stats.js';
import { siblingModule } from '../threads/spawn.js';
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
  readonly #dispatcher: Dispatcher<CgiThreadRequest, CgiOutcome>;
  readonly #image: MemoryImage | undefined;
  readonly #options: FilledCgiOptions;
  #closing: Promise<void> | undefined;

  private constructor(dispatcher: Dispatcher<CgiThreadRequest, CgiOutcome>, image: MemoryImage | undefined, options: FilledCgiOptions) {
    this.#dispatcher = dispatcher;
    this.#image = image;
    this.#options = options;
    this.threads = dispatcher.options.threads;
  }

  /** Prepares `bytes` (or reads the cache), makes the image, and starts the threads; resolves once every one is ready. */
  static async create(
    bytes: Uint8Array,
    options: FilledCgiOptions,
    threads: FilledThreadOptions,
    hooks: ServeTestHooks | undefined,
  ): Promise<ThreadRunner> {
    const started = performance.now();
    const { filled, prepared, module, cache } = await driveAsync(preparedPool(bytes, cgiPoolOptions(options.settings)));
    const parts = assemble(prepared, filled, { module });
    announce(cache, started);
    try {
      const engineParts: CgiEngineParts = { pool: shareParts(prepared, parts), settings: options.settings, env: options.env, hooks };
      const dispatcher = await Dispatcher.create<CgiThreadRequest, CgiOutcome>(
        {
          engine: CGI_ENGINE,
          parts: engineParts,
          gauges: POOL_GAUGES,
          what: `the pool of ${options.settings.programName}`,
          startTimeout: START_TIMEOUT,
          hardStopMessage: (timeout, grace) =>
            `the program did not finish within ${timeout} ms (nor within the ${grace} ms grace after it) and was stopped ` +
            'with its worker thread, which was replaced',
        },
        threads,
      );
      return new ThreadRunner(dispatcher, parts.image, options);
    } catch (err) {
      parts.image?.close();
      throw err;
    }
  }

  run(req: IncomingMessage, body: Uint8Array): Promise<CgiOutcome> {
    // A copy the thread can own: a Buffer may be a view of a larger pooled one, which a post would copy whole.
    const own = body.length === 0 ? EMPTY : new Uint8Array(body);
    const input: CgiThreadRequest = { request: requestFields(req, this.#options.scriptName), body: own };
    return this.#dispatcher.run(input, undefined, own.length === 0 ? undefined : [own.buffer]);
  }

  stats(): ThreadPoolStats {
    // A guest the fuel counter stopped is an answer (504), not an error: its pool counted it.
    return threadPoolStats(this.#dispatcher.stats(), false);
  }

  describe(): PoolDescription {
    return { ...(this.#dispatcher.engineDescription as PoolDescription), max: this.threads };
  }

  readiness(): Readiness {
    // Ready while open: a thread that ended is being replaced, and requests wait for it meanwhile.
    const { instances, threads } = this.stats();
    const { mechanism, strategy } = this.describe();
    return {
      ready: true,
      details: {
        module: this.#options.settings.programName,
        mechanism,
        strategy,
        instances,
        threads: threads.threads,
        busy: threads.busy,
        queued: threads.queued,
      },
    };
  }

  close(): Promise<void> {
    this.#closing ??= this.#dispatcher.close().then(() => this.#image?.close());
    return this.#closing;
  }
}
