/**
 * cowpool/metrics: the histogram's buckets, the Prometheus text format (escaping, cumulative
 * buckets, families merged across sources), counters that move with uses of a real pool and real
 * sandboxes, and the whole output read by `promtool check metrics` (Debian's `prometheus` package;
 * the test says so and skips when promtool is not installed).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { InstancePool } from '../src/index.ts';
import { Histogram, metrics, RESET_TIME_BOUNDS_NS, type MetricsSource, type PoolCounters } from '../src/metrics/index.ts';
import { writeExposition } from '../src/metrics/exposition.ts';
import { QuickJSSandbox } from '../src/quickjs/index.ts';
import { SqliteSandbox } from '../src/sqlite/index.ts';

const COUNTER = readFileSync('examples/counter.wasm');
const promtool = spawnSync('promtool', ['--version']).status === 0;

/** The value of the sample `name{labels}` in `text` (labels as written, in order). */
function sample(text: string, series: string): number {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  assert.ok(line, `${series} is in the output`);
  return Number(line.slice(series.length + 1));
}

test('a histogram counts each value in the first bucket whose bound is at least the value', () => {
  const histogram = new Histogram([10, 20, 50]);
  for (const value of [1, 10, 11, 20, 49, 50, 51, 1000]) histogram.observe(value);
  assert.deepEqual(histogram.snapshot(), { bounds: [10, 20, 50], counts: [2, 2, 2, 2], sum: 1192, count: 8 });
  assert.throws(() => new Histogram([2, 1]), /ascending order/);
  assert.throws(() => new Histogram([]), /ascending order/);
});

test('the text format: help and label values escaped, histograms cumulative, families merged across sources', () => {
  const histogram = new Histogram([1_000, 1_000_000]);
  histogram.observe(500);
  histogram.observe(2_000);
  histogram.observe(5_000_000);
  const text = writeExposition([
    { name: 'a_total', help: 'Back\\slash and\nnewline.', type: 'counter', samples: [{ labels: { x: 'say "hi"\n' }, value: 1 }] },
    {
      name: 'h_seconds',
      help: 'H.',
      type: 'histogram',
      samples: [{ labels: { p: '1' }, histogram: histogram.snapshot(), unitsPerSecond: 1e9 }],
    },
    { name: 'a_total', help: 'Back\\slash and\nnewline.', type: 'counter', samples: [{ labels: { x: 'b' }, value: Infinity }] },
    { name: 'empty', help: 'No samples, no header.', type: 'gauge', samples: [] },
  ]);
  assert.equal(
    text,
    [
      '# HELP a_total Back\\\\slash and\\nnewline.',
      '# TYPE a_total counter',
      'a_total{x="say \\"hi\\"\\n"} 1',
      'a_total{x="b"} +Inf',
      '# HELP h_seconds H.',
      '# TYPE h_seconds histogram',
      'h_seconds_bucket{p="1",le="0.000001"} 1',
      'h_seconds_bucket{p="1",le="0.001"} 2',
      'h_seconds_bucket{p="1",le="+Inf"} 3',
      'h_seconds_sum{p="1"} 0.0050025',
      'h_seconds_count{p="1"} 3',
      '',
    ].join('\n'),
  );
  assert.throws(
    () =>
      writeExposition([
        { name: 'm', help: '', type: 'counter', samples: [] },
        { name: 'm', help: '', type: 'gauge', samples: [] },
      ]),
    /metric m is both a counter and a gauge/,
  );
});

test("a pool's counters move with its uses", async () => {
  const pool = await InstancePool.create<{ bump(): number }>(COUNTER, { max: 2 });
  try {
    const before = metrics(pool);
    assert.equal(sample(before, 'cowpool_uses_total'), 0);
    assert.equal(sample(before, 'cowpool_instances{state="idle"}'), 1);
    for (let i = 0; i < 3; i++) await pool.run((instance) => instance.exports.bump());
    const lease = await pool.acquire();
    const during = metrics(pool, { prefix: 'app_', labels: { pool: 'counter' } });
    assert.equal(sample(during, 'app_uses_total{pool="counter"}'), 3);
    assert.equal(sample(during, 'app_instances{pool="counter",state="leased"}'), 1);
    const strategy = pool.describe().strategy;
    assert.equal(sample(during, `app_resets_total{pool="counter",strategy="${strategy}"}`), 3);
    assert.ok(sample(during, 'app_reset_seconds_total{pool="counter"}') > 0);
    lease.release();
    assert.equal(sample(metrics(pool), 'cowpool_uses_total'), 4);
  } finally {
    await pool.close();
  }
});

test('the reset-time histogram, traps and timeouts appear when the pool reports them', async () => {
  const pool = await InstancePool.create(COUNTER);
  try {
    const resetTime = new Histogram(RESET_TIME_BOUNDS_NS);
    resetTime.observe(3_000);
    resetTime.observe(40_000);
    // A source with its own histogram and counts (a sum over pools, say).
    const source: MetricsSource = {
      stats: (): PoolCounters => ({ ...pool.stats(), resetTime: resetTime.snapshot(), traps: 1, timeouts: 2 }),
    };
    const text = metrics(source);
    assert.equal(sample(text, 'cowpool_reset_duration_seconds_bucket{le="0.000005"}'), 1);
    assert.equal(sample(text, 'cowpool_reset_duration_seconds_bucket{le="0.00005"}'), 2);
    assert.equal(sample(text, 'cowpool_reset_duration_seconds_count'), 2);
    assert.equal(sample(text, 'cowpool_traps_total'), 1);
    assert.equal(sample(text, 'cowpool_timeouts_total'), 2);
    // The pool itself reports them: every reset in the histogram, no trap or timeout yet.
    await pool.run(() => undefined);
    const own = metrics(pool);
    assert.equal(sample(own, 'cowpool_reset_duration_seconds_count'), pool.stats().resetTime.count);
    assert.ok(pool.stats().resetTime.count >= 1);
    assert.equal(sample(own, 'cowpool_traps_total'), 0);
    assert.equal(sample(own, 'cowpool_timeouts_total'), 0);
  } finally {
    await pool.close();
  }
});

test('sandbox outcomes count each way a use ended', async () => {
  const quickjs = await QuickJSSandbox.create({ timeout: 50, functions: { fail: () => Promise.reject(new Error('down')) } });
  const sqlite = await SqliteSandbox.create();
  try {
    await quickjs.eval('1 + 1');
    await assert.rejects(quickjs.eval('throw new Error("no")'));
    await assert.rejects(quickjs.eval('for (;;) {}'));
    await assert.rejects(quickjs.eval('await fail()'));
    await sqlite.exec('SELECT 1');
    await assert.rejects(sqlite.exec('SELEC 1'));
    const text = metrics([
      { source: quickjs, labels: { sandbox: 'quickjs' } },
      { source: sqlite, labels: { sandbox: 'sqlite' } },
    ]);
    assert.equal(sample(text, 'cowpool_sandbox_uses_total{sandbox="quickjs",outcome="result"}'), 1);
    assert.equal(sample(text, 'cowpool_sandbox_uses_total{sandbox="quickjs",outcome="exception"}'), 1);
    assert.equal(sample(text, 'cowpool_sandbox_uses_total{sandbox="quickjs",outcome="timeout"}'), 1);
    assert.equal(sample(text, 'cowpool_sandbox_uses_total{sandbox="quickjs",outcome="host_error"}'), 1);
    assert.equal(sample(text, 'cowpool_sandbox_uses_total{sandbox="quickjs",outcome="input_error"}'), 0);
    assert.equal(sample(text, 'cowpool_sandbox_uses_total{sandbox="sqlite",outcome="error"}'), 1);
    assert.equal(sample(text, 'cowpool_uses_total{sandbox="quickjs"}'), 4);
    const outcomes = [...text.matchAll(/^cowpool_sandbox_uses_total\{sandbox="quickjs",outcome="\w+"\} (\d+)$/gm)];
    assert.equal(
      outcomes.reduce((sum, m) => sum + Number(m[1]), 0),
      4,
      'the outcomes add up to the uses',
    );
    assert.equal(text.match(/^# TYPE cowpool_uses_total /gm)?.length, 1, 'one header for both sources');
  } finally {
    await quickjs.close();
    await sqlite.close();
  }
});

test('metrics() refuses a prefix or label Prometheus cannot read, and unknown options', async () => {
  const pool = await InstancePool.create(COUNTER);
  try {
    assert.throws(() => metrics(pool, { prefix: '1x_' }), /options\.prefix "1x_" is not a Prometheus metric name/);
    assert.throws(() => metrics(pool, { labels: { 'a-b': 'x' } }), /"a-b" is not a Prometheus label name/);
    assert.throws(() => metrics([{ source: pool, labels: { __x: 'y' } }]), /the labels of source 0: "__x" is not a Prometheus label name/);
    assert.throws(() => metrics(pool, { prefx: 'a_' } as never), /unknown option 'prefx'/);
    assert.throws(() => metrics([{ source: {} as MetricsSource }]), /source 0 has no stats\(\) method/);
  } finally {
    await pool.close();
  }
});

test(
  'promtool check metrics reads the whole output',
  { skip: promtool ? false : 'promtool is not installed (apt-get install prometheus)' },
  async () => {
    const pool = await InstancePool.create<{ bump(): number }>(COUNTER);
    const quickjs = await QuickJSSandbox.create();
    try {
      await pool.run((instance) => instance.exports.bump());
      await quickjs.eval('1');
      const resetTime = new Histogram(RESET_TIME_BOUNDS_NS);
      resetTime.observe(4_000);
      const withHistogram: MetricsSource = { stats: (): PoolCounters => ({ ...pool.stats(), resetTime: resetTime.snapshot(), traps: 0 }) };
      const read = () =>
        metrics(
          [
            { source: withHistogram, labels: { pool: 'counter' } },
            { source: quickjs, labels: { pool: 'quickjs' } },
          ],
          { process: true, labels: { service: 'a "quoted"\nname' } },
        );
      // The first read starts the loop-delay monitor; its gauges appear once it has sampled the loop.
      let text = read();
      for (let i = 0; i < 100 && !/^nodejs_eventloop_lag_p99_seconds[{ ]/m.test(text); i++) {
        await new Promise((resolve) => setTimeout(resolve, 20));
        text = read();
      }
      assert.match(text, /^nodejs_eventloop_lag_p99_seconds[{ ]/m);
      const check = spawnSync('promtool', ['check', 'metrics'], { input: text, encoding: 'utf8' });
      assert.equal(check.status, 0, `promtool: ${check.stdout}${check.stderr}\n${text}`);
    } finally {
      await pool.close();
      await quickjs.close();
    }
  },
);
