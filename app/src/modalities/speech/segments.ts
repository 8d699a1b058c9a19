/**
 * Speech segments from per-window speech probabilities: a port of Silero's `get_speech_timestamps`
 * post-processing (hysteresis thresholds, minimum speech and silence durations, padding), without the
 * max-speech-duration splitting.
 */

export interface SegmentOptions {
  /** Samples per probability (512 at 16 kHz). */
  windowSamples: number;
  sampleRate: number;
  /** Speech starts when a window's probability reaches this. */
  threshold: number;
  /** …and ends once it has stayed below this for `minSilenceMs`. */
  negThreshold: number;
  /** Segments shorter than this (before padding) are dropped. */
  minSpeechMs: number;
  minSilenceMs: number;
  /** Added on each side; neighbours closer than twice this share the gap. */
  speechPadMs: number;
}

export interface SampleSegment {
  start: number;
  end: number;
  /** Mean speech probability of the windows inside the segment (before padding). */
  probability: number;
}

/** `totalSamples` is the audio length at `sampleRate` (the last window may be partial). */
export function speechSegments(
  probs: ArrayLike<number>,
  totalSamples: number,
  o: SegmentOptions,
): SampleSegment[] {
  const w = o.windowSamples;
  const minSpeech = (o.sampleRate * o.minSpeechMs) / 1000;
  const minSilence = (o.sampleRate * o.minSilenceMs) / 1000;
  const pad = Math.floor((o.sampleRate * o.speechPadMs) / 1000);
  const raw: { start: number; end: number }[] = [];
  let triggered = false;
  let start = 0;
  let tempEnd = 0;
  for (let i = 0; i < probs.length; i++) {
    const p = probs[i] as number;
    const at = w * i;
    if (p >= o.threshold && tempEnd) tempEnd = 0;
    if (p >= o.threshold && !triggered) {
      triggered = true;
      start = at;
      continue;
    }
    if (p < o.negThreshold && triggered) {
      if (!tempEnd) tempEnd = at;
      if (at - tempEnd < minSilence) continue;
      if (tempEnd - start > minSpeech) raw.push({ start, end: tempEnd });
      triggered = false;
      tempEnd = 0;
    }
  }
  if (triggered && totalSamples - start > minSpeech) raw.push({ start, end: totalSamples });

  const out: SampleSegment[] = raw.map((s) => {
    let sum = 0;
    let n = 0;
    for (let i = Math.floor(s.start / w); i * w < s.end && i < probs.length; i++) {
      sum += probs[i] as number;
      n++;
    }
    return { start: s.start, end: s.end, probability: n ? sum / n : 0 };
  });
  for (let i = 0; i < out.length; i++) {
    const s = out[i] as SampleSegment;
    if (i === 0) s.start = Math.max(0, s.start - pad);
    const next = out[i + 1];
    if (next) {
      const gap = next.start - s.end;
      if (gap < 2 * pad) {
        s.end += Math.floor(gap / 2);
        next.start = Math.max(0, next.start - Math.floor(gap / 2));
      } else {
        s.end = Math.min(totalSamples, s.end + pad);
        next.start = Math.max(0, next.start - pad);
      }
    } else {
      s.end = Math.min(totalSamples, s.end + pad);
    }
  }
  return out;
}
