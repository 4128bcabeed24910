/**
 * `cowpool serve --workers N`: N processes behind one listening socket (node:cluster), each with
 * its own pool, for machines with cores to spare. The primary only starts, replaces and stops them;
 * a pool holds no state another process would need, so requests go to whichever worker accepts.
 */
import cluster, { type Worker } from 'node:cluster';
import type { LogFields, ServerLog } from '../http/server-log.js';

/** The message a worker sends once it listens: its start-up line. */
export interface ListeningMessage {
  cowpool: 'listening';
  message: string;
  fields: LogFields;
}

/** In a worker: tells the primary it listens (the primary logs one line for all). */
export function announceListening(message: string, fields: LogFields): void {
  process.send?.({ cowpool: 'listening', message, fields } satisfies ListeningMessage);
}

/** Whether this process is a worker started by {@link runPrimary}. */
export const isWorker = cluster.isWorker;

/** This worker's number (1, 2, …; replacements count on), or 0 in the primary. */
export const workerId = cluster.worker?.id ?? 0;

/**
 * In the primary: starts `count` workers (this same command), replaces a worker that dies after
 * startup, and on SIGINT/SIGTERM stops them all gracefully; its start-up and shutdown lines go to
 * `log`. Resolves to the exit code: 1 when a worker fails before any listened (a bad module, say:
 * each worker already said why).
 */
export function runPrimary(count: number, log: ServerLog): Promise<number> {
  let listening = 0;
  let stopping = false;
  return new Promise<number>((resolve) => {
    const finish = (code: number, done?: () => void) => {
      const remaining = () => Object.keys(cluster.workers ?? {}).length;
      const wait = () => {
        if (remaining() > 0) return void setTimeout(wait, 20);
        done?.();
        resolve(code);
      };
      wait();
    };
    const stopAll = () => {
      stopping = true;
      for (const worker of Object.values(cluster.workers ?? {})) worker?.process.kill('SIGTERM');
    };
    const start = (): Worker => {
      const worker = cluster.fork();
      worker.on('message', (message: ListeningMessage) => {
        if (message?.cowpool !== 'listening') return;
        if (listening++ === 0)
          log.lifecycle('start', `${message.message}, ${count} worker processes`, { ...message.fields, workers: count });
      });
      return worker;
    };
    cluster.on('exit', (worker, code, signal) => {
      if (stopping) return;
      if (listening === 0) {
        // Its own message said why; its exit code may be 0 (a cluster worker exits 0 on disconnect).
        console.error('cowpool: a worker failed to start; stopping');
        stopAll();
        finish(1);
        return;
      }
      console.error(`cowpool: worker ${worker.process.pid} ended (${signal ?? `exit ${code}`}); starting another`);
      start();
    });
    for (let i = 0; i < count; i++) start();
    const onSignal = (signal: string) => {
      log.lifecycle('stopping', `cowpool: ${signal}, stopping ${count} workers`, { signal, workers: count });
      stopAll();
      finish(0, () => {
        const uptime = performance.now();
        log.lifecycle('stop', `cowpool: ${count} workers stopped after ${(uptime / 1000).toFixed(1)} s`, {
          signal,
          workers: count,
          uptimeMs: Math.round(uptime),
        });
      });
    };
    process.once('SIGINT', () => onSignal('SIGINT'));
    process.once('SIGTERM', () => onSignal('SIGTERM'));
  });
}
