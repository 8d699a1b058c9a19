/**
 * Calibration math for static quantization: activation ranges from observed values.
 *
 * Two passes over the calibration inputs, as ONNX Runtime's HistogramCalibrater does: the first finds
 * each tensor's min and max (`RangeStats`); the second fills a fixed-bin histogram over that range
 * (`Histogram`), from which `percentileRange` cuts the tails. Min-max keeps every outlier (one large
 * activation widens the step for all values); percentile trades clipping a few values for a finer step.
 */

export type CalibrationMethod = 'minmax' | 'percentile';

/** Running min / max of a tensor over every calibration input. */
export class RangeStats {
  min = Infinity;
  max = -Infinity;
  count = 0;

  add(values: ArrayLike<number>): void {
    let { min, max } = this;
    for (let i = 0; i < values.length; i++) {
      const v = values[i] as number;
      if (v < min) min = v;
      if (v > max) max = v;
    }
    this.min = min;
    this.max = max;
    this.count += values.length;
  }

  /** [min, max], or [0, 0] when nothing was seen */
  range(): [number, number] {
    return this.count === 0 ? [0, 0] : [this.min, this.max];
  }
}

/** Fixed-width histogram over [lo, hi]; values outside are counted in the edge bins. */
export class Histogram {
  readonly counts: Float64Array;
  total = 0;

  constructor(
    readonly lo: number,
    readonly hi: number,
    readonly bins = 2048,
  ) {
    if (!(hi >= lo)) throw new Error(`histogram range [${lo}, ${hi}] is empty`);
    this.counts = new Float64Array(bins);
  }

  add(values: ArrayLike<number>): void {
    const { lo, bins, counts } = this;
    const width = (this.hi - lo) / bins;
    for (let i = 0; i < values.length; i++) {
      let b = width > 0 ? Math.floor(((values[i] as number) - lo) / width) : 0;
      if (b < 0) b = 0;
      else if (b >= bins) b = bins - 1;
      counts[b]! += 1;
    }
    this.total += values.length;
  }
}

/**
 * The range that keeps `percentile` % of the observed values: (100 − percentile) / 2 % is cut from each
 * tail, at bin edges (the lower cut at the lower edge of the first kept bin, the upper at the upper edge
 * of the last kept bin, so a kept value is never outside the range). The range is then widened to include 0,
 * which the quantized type must represent exactly.
 */
export function percentileRange(h: Histogram, percentile: number): [number, number] {
  if (!(percentile > 0 && percentile <= 100)) throw new Error(`percentile ${percentile} not in (0, 100]`);
  if (h.total === 0) return [0, 0];
  const cut = (h.total * (100 - percentile)) / 200;
  const width = (h.hi - h.lo) / h.bins;
  let first = 0;
  for (let acc = 0; first < h.bins - 1; first++) {
    acc += h.counts[first]!;
    if (acc > cut) break;
  }
  let last = h.bins - 1;
  for (let acc = 0; last > first; last--) {
    acc += h.counts[last]!;
    if (acc > cut) break;
  }
  const lo = first === 0 ? h.lo : h.lo + first * width;
  const hi = last === h.bins - 1 ? h.hi : h.lo + (last + 1) * width;
  return [Math.min(lo, 0), Math.max(hi, 0)];
}
