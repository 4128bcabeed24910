/**
 * What the two server commands (`cowpool serve`, `cowpool quickjs serve`) share, so that they log
 * and stop alike: the flags `--log text|json`, `--quiet`, `--health` and `--metrics`; the start-up
 * line (what was built, how long it took, where it listens) and the shutdown lines (the signal,
 * then how long it ran and how many requests it answered), in the same format as the access log.
 * Lines go to stdout; errors stay on stderr.
 */
import type { PoolDescription, PoolStats } from '../pool/index.js';
import { InvalidArgumentError } from '../errors.js';
import { LOG_FORMATS, serverLog, type LogFields, type LogFormat, type ServerLog } from '../http/server-log.js';
import type { HttpCounters } from '../metrics/index.js';

/** The flags, for each command's `readCommandLine` options. */
export const SERVER_FLAGS = {
  log: { type: 'string', default: 'text' },
  quiet: { type: 'boolean', default: false },
  health: { type: 'boolean', default: false },
  metrics: { type: 'boolean', default: false },
} as const;

/** The flags' lines of each command's `--help`. */
export const SERVER_FLAGS_USAGE = `  --log <format>          text (default) or json: every log line a JSON object (access, faults,
                          start-up and shutdown), for a log pipeline
  --quiet                 no access log (faults, start-up and shutdown lines still print)
  --health                answer GET /healthz (200 while the process runs) and GET /readyz (200
                          when ready to serve, 503 while shutting down), ahead of the guest
  --metrics               answer GET /metrics: requests, uses, resets and process counters in
                          Prometheus text (with --workers, the process that takes the connection
                          answers for itself, its series labelled worker="<n>")`;

/** The parsed flags. */
export interface ServerFlags {
  /** The log of the command's own lines. */
  readonly log: ServerLog;
  readonly format: LogFormat;
  /** What the library's `log` option gets: every line, to stdout. */
  readonly write: (line: string) => void;
  /** Whether requests are logged (not `--quiet`). */
  readonly accessLog: boolean;
  readonly health: boolean;
  readonly metrics: boolean;
}

/** Reads the flags' values. */
export function serverFlags(values: { log: string; quiet: boolean; health: boolean; metrics: boolean }): ServerFlags {
  if (!LOG_FORMATS.includes(values.log as LogFormat)) {
    throw new InvalidArgumentError(`--log ${values.log}: expected ${LOG_FORMATS.join(' or ')}`);
  }
  const format = values.log as LogFormat;
  const write = (line: string) => void process.stdout.write(`${line}\n`);
  return { log: serverLog(write, format), format, write, accessLog: !values.quiet, health: values.health, metrics: values.metrics };
}

/**
 * The start-up line: `<what> at <url> (<how it resets>); built in 40 ms (…), listening 210 ms after
 * start`; `threads`: the worker threads running the guests, if any.
 */
export function startLine(
  what: string,
  url: string,
  buildMs: number,
  description: PoolDescription,
  stats: PoolStats,
  threads = 0,
): { message: string; fields: LogFields } {
  const why = description.strategyReason ? `: ${description.strategyReason}` : '';
  const reset = `${description.mechanism}, ${description.strategy} reset${why}`;
  const image = description.memory ? `a ${size(description.memory.imageBytes)} image, ` : '';
  const onThreads = threads > 0 ? ` on ${threads} worker thread${threads === 1 ? '' : 's'}` : '';
  const instances = `${stats.instances} instance${stats.instances === 1 ? '' : 's'}${onThreads}`;
  const sinceStart = performance.now();
  return {
    message: `${what} at ${url} (${reset}); built in ${ms(buildMs)} (${image}${instances}), listening ${ms(sinceStart)} after start`,
    fields: {
      url,
      mechanism: description.mechanism,
      strategy: description.strategy,
      strategyReason: description.strategyReason,
      imageBytes: description.memory?.imageBytes,
      instances: stats.instances,
      threads,
      buildMs: Math.round(buildMs),
      startMs: Math.round(sinceStart),
    },
  };
}

/**
 * Waits for SIGINT or SIGTERM, says so (`announce`: the primary of `--workers` speaks for its
 * workers), runs `stop`, then says how long the server ran and how many requests it answered.
 */
export async function serveUntilSignal(
  log: ServerLog,
  stop: () => Promise<void>,
  requests: () => HttpCounters,
  announce = true,
): Promise<void> {
  const signal = await new Promise<string>((resolve) => {
    process.once('SIGINT', () => resolve('SIGINT'));
    process.once('SIGTERM', () => resolve('SIGTERM'));
  });
  if (announce) log.lifecycle('stopping', `cowpool: ${signal}, finishing requests in flight`, { signal });
  await stop().catch(() => {});
  if (!announce) return;
  const answered = Object.values(requests().responses).reduce((sum, n) => sum + n, 0);
  const uptime = performance.now();
  log.lifecycle('stop', `cowpool: stopped after ${ms(uptime)}, ${answered} request${answered === 1 ? '' : 's'} answered`, {
    signal,
    uptimeMs: Math.round(uptime),
    requests: answered,
  });
}

function ms(value: number): string {
  return value < 1000 ? `${Math.round(value)} ms` : `${(value / 1000).toFixed(1)} s`;
}

function size(bytes: number): string {
  if (bytes < 1024) return `${bytes} B`;
  if (bytes < 2 ** 20) return `${Math.round(bytes / 1024)} KiB`;
  return `${(bytes / 2 ** 20).toFixed(1)} MiB`;
}
