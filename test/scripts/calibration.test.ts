/** Platt scaling and the expected calibration error (scripts/lib/calibration.ts). */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { applyPlatt, expectedCalibrationError, fitPlatt } from '../../scripts/lib/calibration.ts';
import { Rng } from '../../scripts/lib/prng.ts';

/** n margins z ~ N(0, 3²) labelled by a true logistic model σ(a·z + b). */
function synthetic(n: number, a: number, b: number, seed: number) {
  const rng = new Rng(seed);
  const z = Float64Array.from({ length: n }, () => rng.normal() * 3);
  const y = Uint8Array.from(z, (v) => (rng.next() < 1 / (1 + Math.exp(-(a * v + b))) ? 1 : 0));
  return { z, y };
}

describe('fitPlatt', () => {
  test('recovers the slope and offset of the model that labelled the data', () => {
    const { z, y } = synthetic(20_000, 0.4, -1.2, 7);
    const { a, b } = fitPlatt(z, y);
    assert.ok(Math.abs(a - 0.4) < 0.03, `a ${a}`);
    assert.ok(Math.abs(b + 1.2) < 0.08, `b ${b}`);
  });

  test('an over-confident score (margins 5× too large) gets a slope near 1/5 and a lower ECE', () => {
    const { z, y } = synthetic(20_000, 1, 0, 11);
    const loud = z.map((v) => v * 5);
    const platt = fitPlatt(loud, y);
    assert.ok(Math.abs(platt.a - 0.2) < 0.02, `a ${platt.a}`);
    const raw = applyPlatt(loud, { a: 1, b: 0 });
    const calibrated = applyPlatt(loud, platt);
    assert.ok(expectedCalibrationError(calibrated, y) < expectedCalibrationError(raw, y) / 3);
  });

  test('separable data still gives a finite fit (smoothed targets)', () => {
    const z = [-3, -2, -1, 1, 2, 3];
    const y = [0, 0, 0, 1, 1, 1];
    const { a, b } = fitPlatt(z, y);
    assert.ok(Number.isFinite(a) && Number.isFinite(b) && a > 0);
    const p = applyPlatt(z, { a, b });
    assert.ok((p[5] as number) < 1 && (p[0] as number) > 0);
  });

  test('rejects mismatched or empty inputs', () => {
    assert.throws(() => fitPlatt([], []), /at least one/);
    assert.throws(() => fitPlatt([1, 2], [1]), /as many labels/);
  });
});

describe('expectedCalibrationError', () => {
  test('0 when every bin predicts its own spam rate, the gap otherwise', () => {
    assert.equal(expectedCalibrationError([0.25, 0.25, 0.25, 0.25], [1, 0, 0, 0]), 0);
    assert.ok(Math.abs(expectedCalibrationError([0.95, 0.95], [0, 0]) - 0.95) < 1e-12);
    // two bins, half the data each: |0.05 − 0| and |0.95 − 0.5|
    assert.ok(
      Math.abs(expectedCalibrationError([0.05, 0.95, 0.95], [0, 1, 0]) - (1 / 3) * 0.05 - (2 / 3) * 0.45) <
        1e-12,
    );
  });
});
