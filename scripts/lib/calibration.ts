/**
 * Score calibration for binary classifiers: Platt scaling (a logistic regression on the model's logit
 * margin, fitted on data the model did not train on) and the numbers that show whether it helped.
 */

export interface Platt {
  /** Slope on the margin: < 1 softens an over-confident model. */
  a: number;
  /** Offset added to the scaled margin: moves the decision threshold. */
  b: number;
}

const sigmoid = (x: number): number => (x >= 0 ? 1 / (1 + Math.exp(-x)) : Math.exp(x) / (1 + Math.exp(x)));

/**
 * Fits p(y=1 | z) = σ(a·z + b) by Newton's method on the log-loss, with Platt's smoothed targets
 * ((n₊+1)/(n₊+2) and 1/(n₋+2)) so that separable data still gives a finite slope.
 */
export function fitPlatt(margins: ArrayLike<number>, y: ArrayLike<number>, iterations = 100): Platt {
  const n = margins.length;
  if (n === 0 || y.length !== n) throw new Error('fitPlatt needs as many labels as margins, at least one');
  let pos = 0;
  for (let i = 0; i < n; i++) pos += y[i] === 1 ? 1 : 0;
  const hi = (pos + 1) / (pos + 2);
  const lo = 1 / (n - pos + 2);
  const target = (i: number) => (y[i] === 1 ? hi : lo);
  const loss = (a: number, b: number) => {
    let l = 0;
    for (let i = 0; i < n; i++) {
      const s = a * (margins[i] as number) + b;
      // −[t·log σ(s) + (1 − t)·log(1 − σ(s))] = log(1 + e^s) − t·s, computed without overflow
      l += (s > 0 ? s + Math.log1p(Math.exp(-s)) : Math.log1p(Math.exp(s))) - target(i) * s;
    }
    return l;
  };
  let a = 1;
  let b = 0;
  let current = loss(a, b);
  for (let it = 0; it < iterations; it++) {
    let ga = 0;
    let gb = 0;
    let haa = 1e-9;
    let hab = 0;
    let hbb = 1e-9;
    for (let i = 0; i < n; i++) {
      const z = margins[i] as number;
      const p = sigmoid(a * z + b);
      const d = p - target(i);
      const w = p * (1 - p);
      ga += d * z;
      gb += d;
      haa += w * z * z;
      hab += w * z;
      hbb += w;
    }
    const det = haa * hbb - hab * hab;
    if (!(det > 0)) break;
    const da = (hbb * ga - hab * gb) / det;
    const db = (haa * gb - hab * ga) / det;
    // Backtracking: Newton's full step overshoots when the start is far from the optimum.
    let step = 1;
    let next = loss(a - da, b - db);
    while (next > current && step > 1e-6) {
      step /= 2;
      next = loss(a - step * da, b - step * db);
    }
    if (next > current) break;
    a -= step * da;
    b -= step * db;
    const improved = current - next;
    current = next;
    if (improved < 1e-12 * n) break;
  }
  return { a, b };
}

/** σ(a·z + b) for each margin. */
export function applyPlatt(margins: ArrayLike<number>, { a, b }: Platt): Float64Array {
  return Float64Array.from({ length: margins.length }, (_, i) => sigmoid(a * (margins[i] as number) + b));
}

/**
 * Expected calibration error: the mean, weighted by bin size, of |mean predicted P(spam) − fraction
 * spam| over `bins` equal-width probability bins.
 */
export function expectedCalibrationError(p: ArrayLike<number>, y: ArrayLike<number>, bins = 10): number {
  const sumP = new Float64Array(bins);
  const sumY = new Float64Array(bins);
  const count = new Float64Array(bins);
  for (let i = 0; i < p.length; i++) {
    const k = Math.min(bins - 1, Math.floor((p[i] as number) * bins));
    sumP[k] = (sumP[k] as number) + (p[i] as number);
    sumY[k] = (sumY[k] as number) + (y[i] === 1 ? 1 : 0);
    count[k] = (count[k] as number) + 1;
  }
  let ece = 0;
  for (let k = 0; k < bins; k++) {
    const c = count[k] as number;
    if (c > 0) ece += (c / p.length) * Math.abs(((sumP[k] as number) - (sumY[k] as number)) / c);
  }
  return ece;
}
