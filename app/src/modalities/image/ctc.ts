/**
 * Greedy CTC decoding as PaddleOCR's CTCLabelDecode does it: arg-max per time step, merge repeats, drop
 * the blank class. `labels[i]` is the text of class i (labels[0] is the blank; PaddleOCR's character list
 * is ['blank', ...dictionary lines, ' ']).
 */

export interface CtcResult {
  text: string;
  /** Mean probability of the kept characters' time steps (0 when nothing was kept). */
  confidence: number;
}

/**
 * `probs` is a [steps, classes] row-major matrix of per-step class probabilities (one batch item of the
 * recogniser's softmax output).
 */
export function ctcGreedyDecode(
  probs: Float32Array,
  steps: number,
  classes: number,
  labels: readonly string[],
  blank = 0,
): CtcResult {
  if (probs.length < steps * classes) {
    throw new RangeError(`CTC input has ${probs.length} values, fewer than ${steps}x${classes}`);
  }
  if (labels.length !== classes) {
    throw new RangeError(`CTC has ${classes} classes but ${labels.length} labels`);
  }
  let text = '';
  let sum = 0;
  let kept = 0;
  let prev = -1;
  for (let t = 0; t < steps; t++) {
    const row = t * classes;
    let best = 0;
    let bestP = probs[row] as number;
    for (let c = 1; c < classes; c++) {
      const p = probs[row + c] as number;
      if (p > bestP) {
        bestP = p;
        best = c;
      }
    }
    if (best !== blank && best !== prev) {
      text += labels[best];
      sum += bestP;
      kept++;
    }
    prev = best;
  }
  return { text, confidence: kept ? sum / kept : 0 };
}
