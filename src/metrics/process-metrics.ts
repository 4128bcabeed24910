/**
 * The process metrics operators expect beside an application's own, under the names Prometheus'
 * client libraries use (`process_cpu_seconds_total`, `process_resident_memory_bytes`,
 * `process_open_fds`, … and prom-client's `nodejs_heap_size_used_bytes` and
 * `nodejs_eventloop_lag_*_seconds`), read from Node and /proc. The event loop matters here more
 * than elsewhere: a guest runs on it, so a slow guest shows as loop delay.
 *
 * The loop-delay monitor starts the first time these metrics are read, and each read reports the
 * delay since the previous one (then starts over), so a scrape shows its own interval.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { monitorEventLoopDelay, type IntervalHistogram } from 'node:perf_hooks';
import type { Labels, MetricFamily } from './exposition.js';

/** Sampling period of the loop-delay monitor, in ms. */
const LOOP_DELAY_RESOLUTION_MS = 10;
const NS_PER_SECOND = 1e9;
const US_PER_SECOND = 1e6;

let loopDelay: IntervalHistogram | undefined;

/**
 * The process's families, labelled with `labels` only: they describe the process, whichever pool
 * asks, but a process among several (`--workers`) needs its label to keep its series apart.
 */
export function processFamilies(labels: Labels): MetricFamily[] {
  const gauge = (name: string, help: string, value: number): MetricFamily => ({
    name,
    help,
    type: 'gauge',
    samples: [{ labels, value }],
  });
  const counter = (name: string, help: string, value: number): MetricFamily => ({
    name,
    help,
    type: 'counter',
    samples: [{ labels, value }],
  });
  const cpu = process.cpuUsage();
  const memory = process.memoryUsage();
  const families: MetricFamily[] = [
    counter('process_cpu_user_seconds_total', 'User CPU time spent by the process.', cpu.user / US_PER_SECOND),
    counter('process_cpu_system_seconds_total', 'System CPU time spent by the process.', cpu.system / US_PER_SECOND),
    counter('process_cpu_seconds_total', 'User and system CPU time spent by the process.', (cpu.user + cpu.system) / US_PER_SECOND),
    gauge(
      'process_start_time_seconds',
      'Start time of the process since the Unix epoch.',
      Math.round(Date.now() / 1000 - process.uptime()),
    ),
    gauge('process_resident_memory_bytes', 'Resident memory of the process.', memory.rss),
    gauge('nodejs_heap_size_total_bytes', 'Size of the V8 heap.', memory.heapTotal),
    gauge('nodejs_heap_size_used_bytes', 'Bytes of the V8 heap in use.', memory.heapUsed),
    gauge('nodejs_external_memory_bytes', 'Memory of C++ objects bound to JavaScript objects (Buffers among them).', memory.external),
  ];
  const fds = openFds();
  if (fds !== undefined) families.push(gauge('process_open_fds', 'Open file descriptors (memory images hold one each).', fds));
  const maxFds = maxOpenFds();
  if (maxFds !== undefined) families.push(gauge('process_max_fds', 'The most file descriptors the process may open.', maxFds));
  if (loopDelay === undefined) {
    loopDelay = monitorEventLoopDelay({ resolution: LOOP_DELAY_RESOLUTION_MS });
    loopDelay.enable();
    // The process may exit with the monitor on: it holds no handle of its own.
  } else if (loopDelay.count > 0) {
    // The monitor records the time between its timer's runs, its period included: the delay is the rest.
    const delay = (ns: number) => Math.max(0, ns - LOOP_DELAY_RESOLUTION_MS * 1e6) / NS_PER_SECOND;
    families.push(
      gauge('nodejs_eventloop_lag_p50_seconds', 'Median event loop delay since the last read.', delay(loopDelay.percentile(50))),
      gauge(
        'nodejs_eventloop_lag_p99_seconds',
        '99th percentile of event loop delay since the last read.',
        delay(loopDelay.percentile(99)),
      ),
      gauge('nodejs_eventloop_lag_max_seconds', 'Largest event loop delay since the last read.', delay(loopDelay.max)),
    );
    loopDelay.reset();
  }
  return families;
}

function openFds(): number | undefined {
  try {
    // Less one: the descriptor readdir opened on the directory itself.
    return readdirSync('/proc/self/fd').length - 1;
  } catch {
    return undefined;
  }
}

function maxOpenFds(): number | undefined {
  try {
    const line = /^Max open files\s+(\d+)/m.exec(readFileSync('/proc/self/limits', 'utf8'));
    return line ? Number(line[1]) : undefined;
  } catch {
    return undefined;
  }
}
