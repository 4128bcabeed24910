/**
 * The CGI program on the calling thread: one pooled instance, each request's guest run
 * synchronously inside its callback (no promise, no hop), which is the cheapest a request can be
 * and also means one request's guest at a time per process, with the event loop waiting for it.
 */
import type { IncomingMessage } from 'node:http';
import type { Readiness } from '../http/operations.js';
import { InstancePool, type PoolDescription, type PoolStats, type UseOptions } from '../pool/index.js';
import type { WasiHost } from '../wasi/index.js';
import { CgiGuest, cgiPoolOptions, type CgiOutcome } from './cgi-guest.js';
import type { FilledCgiOptions } from './cgi-options.js';
import { requestEnvironment, requestFields } from './cgi-request.js';
import type { CgiRunner } from './cgi-runner.js';

/** See the module comment. */
export class LocalRunner implements CgiRunner {
  readonly threads = 0;
  readonly pool: InstancePool<WebAssembly.Exports, WasiHost>;
  readonly #guest: CgiGuest;
  readonly #programName: string;
  readonly #use: UseOptions | undefined;
  /** The request being run (one at a time: the guest runs synchronously). */
  #request: IncomingMessage | undefined;
  #bodyLength = 0;
  /** The current request's environment, made once (a closure per request would cost an allocation). */
  readonly #environment: () => readonly string[];

  private constructor(pool: InstancePool<WebAssembly.Exports, WasiHost>, options: FilledCgiOptions) {
    this.pool = pool;
    this.#guest = new CgiGuest(pool, options.settings, false);
    this.#programName = options.settings.programName;
    const timeout = options.settings.timeout;
    this.#use = Number.isFinite(timeout) ? { timeout } : undefined;
    this.#environment = () => requestEnvironment(requestFields(this.#request!, options.scriptName), this.#bodyLength, options.env);
  }

  /** Builds the program's pool (its image, its one instance) from `bytes`. */
  static async create(bytes: Uint8Array, options: FilledCgiOptions): Promise<LocalRunner> {
    const pool = await InstancePool.create<WebAssembly.Exports, WasiHost>(bytes, cgiPoolOptions(options.settings));
    return new LocalRunner(pool, options);
  }

  run(req: IncomingMessage, body: Uint8Array): CgiOutcome {
    this.#request = req;
    this.#bodyLength = body.length;
    try {
      return this.#guest.run(body, this.#environment, this.#use);
    } finally {
      this.#request = undefined;
    }
  }

  stats(): PoolStats {
    return this.pool.stats();
  }

  describe(): PoolDescription {
    return this.pool.describe();
  }

  readiness(): Readiness {
    const stats = this.pool.stats();
    const { mechanism, strategy } = this.pool.describe();
    return { ready: true, details: { module: this.#programName, mechanism, strategy, instances: stats.instances, idle: stats.idle } };
  }

  close(): Promise<void> {
    return this.pool.close();
  }
}
