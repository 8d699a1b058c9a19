/**
 * Band-limited sample-rate conversion by windowed-sinc interpolation (Kaiser window), the method of
 * Smith's "Digital Audio Resampling" as used by libsamplerate/resampy: each output sample is the input
 * convolved with a low-pass sinc centred on its exact (fractional) input position. When downsampling, the
 * sinc's cutoff is lowered to the output Nyquist frequency so nothing above it aliases back.
 *
 * The kernel is tabulated once per (zeros, beta) at OVERSAMPLE points per zero crossing and linearly
 * interpolated, so any rate ratio (not just small rationals) costs the same per tap.
 */

export interface ResampleOptions {
  /** Zero crossings of the sinc on each side (filter half-length, in units of the cutoff period). */
  zeros?: number;
  /** Kaiser window shape; 8.6 gives about 80 dB of stop-band attenuation. */
  beta?: number;
  /** Pass-band edge as a fraction of the lower Nyquist frequency (leaves room for the transition band). */
  rolloff?: number;
}

const OVERSAMPLE = 512;
const tables = new Map<string, Float32Array>();

/** I0, the zeroth-order modified Bessel function of the first kind (power series). */
function besselI0(x: number): number {
  let sum = 1;
  let term = 1;
  const q = (x * x) / 4;
  for (let k = 1; k < 50; k++) {
    term *= q / (k * k);
    sum += term;
    if (term < sum * 1e-12) break;
  }
  return sum;
}

/** sinc(x)·kaiser(x/zeros) for x = i/OVERSAMPLE, i = 0..zeros·OVERSAMPLE (+1 guard point). */
function kernelTable(zeros: number, beta: number): Float32Array {
  const key = `${zeros}:${beta}`;
  let table = tables.get(key);
  if (table) return table;
  const n = zeros * OVERSAMPLE;
  table = new Float32Array(n + 2);
  const i0Beta = besselI0(beta);
  for (let i = 0; i <= n; i++) {
    const x = i / OVERSAMPLE;
    const sinc = i === 0 ? 1 : Math.sin(Math.PI * x) / (Math.PI * x);
    const r = x / zeros;
    const window = besselI0(beta * Math.sqrt(Math.max(0, 1 - r * r))) / i0Beta;
    table[i] = sinc * window;
  }
  tables.set(key, table);
  return table;
}

/** Resamples `input` from `fromRate` to `toRate` (Hz). Returns the input itself when the rates match. */
export function resample(
  input: Float32Array,
  fromRate: number,
  toRate: number,
  options: ResampleOptions = {},
) {
  if (!(fromRate > 0) || !(toRate > 0)) throw new RangeError(`invalid rates ${fromRate} -> ${toRate}`);
  if (fromRate === toRate) return input;
  const zeros = options.zeros ?? 16;
  const beta = options.beta ?? 8.6;
  const rolloff = options.rolloff ?? 0.945;
  const table = kernelTable(zeros, beta);

  const ratio = toRate / fromRate;
  // Cutoff as a fraction of the input Nyquist frequency.
  const cutoff = Math.min(1, ratio) * rolloff;
  // Kernel half-width in input samples, and table steps per input sample.
  const halfWidth = zeros / cutoff;
  const tableStep = cutoff * OVERSAMPLE;
  const outLength = Math.ceil((input.length * toRate) / fromRate);
  const out = new Float32Array(outLength);
  const last = input.length - 1;
  const tableEnd = zeros * OVERSAMPLE;

  for (let n = 0; n < outLength; n++) {
    const t = (n * fromRate) / toRate; // exact position in input samples
    const lo = Math.max(0, Math.ceil(t - halfWidth));
    const hi = Math.min(last, Math.floor(t + halfWidth));
    let acc = 0;
    for (let k = lo; k <= hi; k++) {
      const pos = Math.abs(t - k) * tableStep;
      if (pos >= tableEnd) continue;
      const i = pos | 0;
      const frac = pos - i;
      const w = (table[i] as number) + frac * ((table[i + 1] as number) - (table[i] as number));
      acc += (input[k] as number) * w;
    }
    out[n] = acc * cutoff;
  }
  return out;
}
