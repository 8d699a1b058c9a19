/** The soak's arithmetic and its figure. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  bucketStats,
  metricValue,
  record,
  rssGrowth,
  windowStats,
  type Bucket,
} from '../../scripts/soak/stats.ts';
import { lineChart } from '../../scripts/soak/svg.ts';

test('responses land in their time bucket; errors are counted apart from latencies', () => {
  const buckets: Bucket[] = [];
  const t0 = 1_000_000;
  record(buckets, t0, 5, true, 10, t0 + 1000);
  record(buckets, t0, 5, true, 30, t0 + 4999);
  record(buckets, t0, 5, false, 99, t0 + 12_000);
  assert.equal(buckets.length, 3);
  assert.deepEqual(bucketStats(buckets[0]!, 5), { t: 0, rps: 0.4, p50: 10, p99: 30 });
  assert.equal(buckets[1]!.ok, 0);
  assert.equal(buckets[2]!.errors, 1);
});

test('only buckets the load covered whole are plotted: those its start or end cut are left out', () => {
  // A steady 10 req/s from 1.2 s to 21.5 s after t0, bucketed by 5 s: the first bucket sees 3.8 s of
  // load, the last (20–25 s) only 1.5 s; both are left out.
  const buckets: Bucket[] = [];
  const t0 = 0;
  for (let ms = 1200; ms < 21_500; ms += 100) record(buckets, t0, 5, true, 20, t0 + ms);
  assert.equal(buckets.length, 5);
  const stats = windowStats(buckets, 5, { startS: 1.2, endS: 21.4 });
  assert.deepEqual(
    stats.map((s) => s.t),
    [5, 10, 15],
  );
  for (const s of stats) assert.ok(Math.abs(s.rps - 10) < 0.3, `bucket ${s.t}: ${s.rps} req/s, not a dip`);
  // Counted over its whole width, the cut last bucket is the false dip the old figure drew.
  assert.ok(bucketStats(buckets[4]!, 5).rps < 4);
});

test('RSS growth compares the last quarter after warm-up with the first, ignoring the warm-up', () => {
  const samples = [
    { t: 0, rssMb: 50 }, // warm-up: ignored
    ...[100, 100, 102, 102, 104, 104, 105, 105].map((rssMb, i) => ({ t: 10 + i, rssMb })),
  ];
  assert.deepEqual(rssGrowth(samples, 5), { percent: 5, startMb: 100, endMb: 105 });
  assert.ok(Number.isNaN(rssGrowth(samples.slice(0, 3), 5).percent), 'too few samples');
});

test('metricValue reads an unlabelled metric from Prometheus text', () => {
  const text = '# HELP x\nnodejs_eventloop_lag_p99_seconds 0.0123\nother 1\n';
  assert.equal(metricValue(text, 'nodejs_eventloop_lag_p99_seconds'), 0.0123);
  assert.ok(Number.isNaN(metricValue(text, 'missing')));
});

test('lineChart draws one polyline per series and escapes labels', () => {
  const svg = lineChart([
    {
      title: 'a<b',
      unit: 'ms',
      series: [
        {
          label: 'p50',
          color: 'red',
          points: [
            [0, 1],
            [5, 2],
          ],
        },
      ],
    },
    {
      title: 'rss',
      unit: 'MB',
      series: [
        {
          label: 'x',
          color: 'blue',
          points: [
            [0, 3],
            [5, NaN],
          ],
        },
      ],
    },
  ]);
  assert.match(svg, /^<svg xmlns="http:\/\/www.w3.org\/2000\/svg"/);
  assert.equal(svg.match(/<polyline/g)?.length, 2);
  assert.match(svg, /a&lt;b/);
  assert.doesNotMatch(svg, /NaN/);
});
