/**
 * A standalone server around a request handler, as both `cowpool serve` and
 * `cowpool quickjs serve` are: Node's `http.Server` running the handler, with the operator's
 * endpoints (operations.ts) answered in front of it when asked for. Readiness goes false the moment
 * `server.close()` is called (the server stops listening then), not when its last connection ends,
 * so a load balancer stops sending requests while those in flight finish.
 */
import { createServer, type IncomingMessage, type Server, type ServerOptions, type ServerResponse } from 'node:http';
import { metrics, type MetricsOptions, type MetricsSource } from '../metrics/index.js';
import { answerOperation, type Operations, type Readiness } from './operations.js';

/** What a handler offers its server: it answers requests, counts them, and says whether it is ready. */
export interface ServedHandler extends MetricsSource {
  (req: IncomingMessage, res: ServerResponse): void;
  readiness(): Readiness;
}

/** Which endpoints the server answers besides the handler. */
export interface EndpointOptions {
  /** `/healthz` and `/readyz`. */
  readonly health: boolean;
  /** `/metrics`: the handler's counters and the process's; options name and label them (`{ labels: { worker: '2' } }`). */
  readonly metrics: boolean | MetricsOptions;
}

/** An `http.Server` (not listening yet) running `handler` behind the endpoints `endpoints` turns on. */
export function createHandlerServer(handler: ServedHandler, endpoints: EndpointOptions, options: ServerOptions = {}): Server {
  let server: Server | undefined = undefined;
  const operations: Operations = {
    health: endpoints.health,
    metrics: endpoints.metrics === false ? undefined : metricsText(handler, endpoints.metrics === true ? {} : endpoints.metrics),
    readiness: () => (server?.listening === false ? { ready: false, reason: 'shutting down' } : handler.readiness()),
  };
  server = createServer(options, (req, res) => {
    if (!answerOperation(req, res, operations)) handler(req, res);
  });
  return server;
}

/** What `/metrics` answers: the handler's counters (named and labelled by `options`) and the process's. */
function metricsText(handler: MetricsSource, options: MetricsOptions): () => string {
  const withProcess: MetricsOptions = { process: true, ...options };
  metrics(handler, withProcess); // checks the options now, not at the first scrape
  return () => metrics(handler, withProcess);
}
