/**
 * The endpoints an operator's tools call, answered alike by both standalone servers before a
 * request reaches the guest: `/healthz` (the process answers: liveness), `/readyz` (the image is
 * built, instances are ready and the server is not shutting down: readiness, 503 otherwise, so that
 * a load balancer drains a server that is stopping) and `/metrics` (Prometheus text). Each is on
 * only when asked for, since the paths would otherwise be the guest's.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { METRICS_CONTENT_TYPE } from '../metrics/index.js';

/** The paths, fixed (as Kubernetes and Prometheus expect them by default). */
export const HEALTH_PATH = '/healthz';
export const READY_PATH = '/readyz';
export const METRICS_PATH = '/metrics';

/** Whether a server can take requests now, and what it has ready. */
export interface Readiness {
  readonly ready: boolean;
  /** Why not, when not ready. */
  readonly reason?: string;
  /** What is ready (for `/readyz`'s JSON): instances alive, the reset strategy, … */
  readonly details?: Readonly<Record<string, string | number | boolean>>;
}

/** What a server answers at the operational paths. */
export interface Operations {
  /** Answer `/healthz` and `/readyz`. */
  readonly health: boolean;
  /** The text of `/metrics`, or undefined to leave the path to the guest. */
  readonly metrics: (() => string) | undefined;
  readonly readiness: () => Readiness;
}

/** Answers `req` when it asks for one of the endpoints `operations` has on; returns whether it did. */
export function answerOperation(req: IncomingMessage, res: ServerResponse, operations: Operations): boolean {
  if (req.method !== 'GET' && req.method !== 'HEAD') return false;
  const url = req.url ?? '/';
  const q = url.indexOf('?');
  const path = q === -1 ? url : url.slice(0, q);
  if (operations.health && path === HEALTH_PATH) {
    send(res, 200, 'application/json', JSON.stringify({ status: 'ok' }));
    return true;
  }
  if (operations.health && path === READY_PATH) {
    const { ready, reason, details } = operations.readiness();
    const body = ready ? { status: 'ready', ...details } : { status: 'not ready', reason, ...details };
    send(res, ready ? 200 : 503, 'application/json', JSON.stringify(body));
    return true;
  }
  if (operations.metrics !== undefined && path === METRICS_PATH) {
    send(res, 200, METRICS_CONTENT_TYPE, operations.metrics());
    return true;
  }
  return false;
}

function send(res: ServerResponse, status: number, type: string, body: string): void {
  res.writeHead(status, { 'Content-Type': type, 'Content-Length': Buffer.byteLength(body), 'Cache-Control': 'no-store' });
  res.end(body);
}
