/** The soak's arithmetic: time buckets of responses, RSS growth after warm-up, and a metric from /metrics text. */
import { percentile } from '../bench/stats.ts';

export interface Bucket {
  /** Seconds since the soak started (bucket start). */
  t: number;
  ok: number;
  errors: number;
  latencies: number[];
}

/** Puts a response into its `widthS`-second bucket. */
export function record(
  buckets: Bucket[],
  t0: number,
  widthS: number,
  ok: boolean,
  ms: number,
  now = Date.now(),
) {
  const i = Math.floor((now - t0) / 1000 / widthS);
  while (buckets.length <= i) buckets.push({ t: buckets.length * widthS, ok: 0, errors: 0, latencies: [] });
  const b = buckets[i]!;
  if (ok) {
    b.ok++;
    b.latencies.push(ms);
  } else b.errors++;
}

export function bucketStats(b: Bucket, widthS: number) {
  const sorted = [...b.latencies].sort((x, y) => x - y);
  return { t: b.t, rps: b.ok / widthS, p50: percentile(sorted, 50), p99: percentile(sorted, 99) };
}

/**
 * The buckets to plot: those the load's own window (seconds since t0 of its first and last response)
 * covers whole. Counting a bucket the window cuts over its whole width drew a false dip at the end of
 * the soak (the load stops mid-bucket, and requests in flight at the stop are never answered) and at
 * its start; rated over the part covered instead, a second or two of ramp or tail is noise that looks
 * like a spike, so cut buckets are left out.
 */
export function windowStats(buckets: Bucket[], widthS: number, window: { startS: number; endS: number }) {
  return buckets
    .filter((b) => b.t >= window.startS && b.t + widthS <= window.endS)
    .map((b) => bucketStats(b, widthS));
}

/**
 * RSS growth after warm-up, in percent: the mean of the last quarter of samples against the mean of the
 * first quarter after `warmupS` (means, so one GC's swing does not decide it), with the two means.
 */
export function rssGrowth(
  samples: { t: number; rssMb: number }[],
  warmupS: number,
): { percent: number; startMb: number; endMb: number } {
  const after = samples.filter((s) => s.t >= warmupS);
  if (after.length < 4) return { percent: NaN, startMb: NaN, endMb: NaN };
  const q = Math.max(1, Math.floor(after.length / 4));
  const mean = (xs: { rssMb: number }[]) => xs.reduce((a, s) => a + s.rssMb, 0) / xs.length;
  const [startMb, endMb] = [mean(after.slice(0, q)), mean(after.slice(-q))];
  return { percent: ((endMb - startMb) / startMb) * 100, startMb, endMb };
}

/** The value of an unlabelled metric in Prometheus text (NaN when absent). */
export function metricValue(text: string, name: string): number {
  const m = new RegExp(`^${name}(?:\\{[^}]*\\})? ([0-9.eE+-]+|NaN)$`, 'm').exec(text);
  return m ? Number(m[1]) : NaN;
}
