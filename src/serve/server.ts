/**
 * `cowpool serve` as a library call: the CGI request handler (cgi-handler.ts) on its own
 * `http.Server`, listening, with the operator's endpoints in front of it when asked for:
 * `/healthz`, `/readyz` (`health`) and `/metrics` (`metrics`). A program that has its own server
 * mounts the handler instead (`createCgiHandler`) and routes those paths itself.
 */
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createHandlerServer } from '../http/handler-server.js';
import type { MetricsOptions } from '../metrics/index.js';
import type { InstancePool } from '../pool/index.js';
import type { WasiHost } from '../wasi/index.js';
import { buildCgiHandler, checkCgiHandlerOptions, type CgiHandler, type CgiHandlerOptions } from './cgi-handler.js';

/** Options of {@link serve}: the handler's, and where and what the server answers besides. */
export interface ServeOptions extends CgiHandlerOptions {
  /** Interface to listen on. Default `127.0.0.1`. */
  host?: string;
  /** Port; 0 (default) picks a free one. */
  port?: number;
  /** Answer `/healthz` (alive) and `/readyz` (ready to serve; 503 once closing) before the guest. Default false. */
  health?: boolean;
  /**
   * Answer `/metrics` with the handler's and the process's counters in Prometheus text; options of
   * cowpool/metrics' `metrics()` name and label them (`{ prefix: 'app_', labels: { worker: '2' } }`). Default false.
   */
  metrics?: boolean | MetricsOptions;
}

/** A running server. */
export interface CowpoolServer {
  /** `http://host:port/`. */
  readonly url: string;
  readonly port: number;
  /**
   * The pool of the served module; each instance's state is its WASI host. With `threads` the
   * pools are on the worker threads and reading this throws: see `handler.stats()` and `handler.describe()`.
   */
  readonly pool: InstancePool<WebAssembly.Exports, WasiHost>;
  /** The request handler the server runs (its `stats()` are what `/metrics` shows). */
  readonly handler: CgiHandler;
  readonly server: Server;
  /** Stops accepting connections, lets requests in flight finish, then releases the pool. */
  close(): Promise<void>;
}

/** The options the server adds to the handler's. */
const SERVER_KEYS = ['host', 'port', 'health', 'metrics'] as const satisfies readonly (keyof ServeOptions)[];
const DEFAULTS = { host: '127.0.0.1', port: 0 };

/**
 * Starts the server; resolves once it listens. Rejects when the module is not a WASI command, or
 * with InvalidArgumentError for an option it does not know.
 */
export async function serve(options: ServeOptions): Promise<CowpoolServer> {
  checkCgiHandlerOptions(options, 'serve options', SERVER_KEYS);
  const { host, port, health, metrics: withMetrics, ...handlerOptions } = options;
  const handler = await buildCgiHandler(handlerOptions, 'serve options');
  const server = createHandlerServer(handler, { health: health === true, metrics: withMetrics ?? false }, { keepAlive: true });
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port ?? DEFAULTS.port, host ?? DEFAULTS.host, () => {
        server.off('error', reject);
        resolve();
      });
    });
  } catch (err) {
    await handler.close();
    throw err;
  }
  const address = server.address() as AddressInfo;
  const shownHost = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  let closing: Promise<void> | undefined;
  return {
    url: `http://${shownHost}:${address.port}/`,
    port: address.port,
    get pool() {
      return handler.pool;
    },
    handler,
    server,
    close() {
      closing ??= new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeIdleConnections();
      }).then(() => handler.close());
      return closing;
    },
  };
}
