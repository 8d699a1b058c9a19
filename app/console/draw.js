// Drawing for the console's try-it panel: waveform with VAD segments, image with OCR boxes.

/** Colours the e2e tests look for in screenshots. */
export const SEGMENT_FILL = 'rgba(255, 160, 0, 0.35)';
export const BOX_STROKE = '#ff00ff';

/** x pixel of a time on a canvas `width` wide that shows `durationMs`. */
export function timeToX(ms, durationMs, width) {
  return durationMs > 0 ? Math.max(0, Math.min(width, (ms / durationMs) * width)) : 0;
}

/** Min and max sample of each of `width` columns. */
export function columnPeaks(samples, width) {
  const min = new Float32Array(width);
  const max = new Float32Array(width);
  const per = samples.length / width;
  for (let x = 0; x < width; x++) {
    let lo = 0;
    let hi = 0;
    for (let i = Math.floor(x * per), end = Math.floor((x + 1) * per); i < end; i++) {
      lo = Math.min(lo, samples[i]);
      hi = Math.max(hi, samples[i]);
    }
    min[x] = lo;
    max[x] = hi;
  }
  return { min, max };
}

export function drawWaveform(canvas, samples) {
  const ctx = canvas.getContext('2d');
  const { width, height } = canvas;
  ctx.fillStyle = '#ffffff';
  ctx.fillRect(0, 0, width, height);
  const { min, max } = columnPeaks(samples, width);
  const mid = height / 2;
  ctx.fillStyle = '#3b6fd8';
  for (let x = 0; x < width; x++) {
    const top = mid - max[x] * mid * 0.9;
    const bottom = mid - min[x] * mid * 0.9;
    ctx.fillRect(x, top, 1, Math.max(1, bottom - top));
  }
}

/** Shades each segment over the waveform; returns how many were drawn. */
export function drawSegments(canvas, segments, durationMs) {
  const ctx = canvas.getContext('2d');
  ctx.fillStyle = SEGMENT_FILL;
  for (const s of segments) {
    const x0 = timeToX(s.startMs, durationMs, canvas.width);
    const x1 = timeToX(s.endMs, durationMs, canvas.width);
    ctx.fillRect(x0, 0, Math.max(1, x1 - x0), canvas.height);
  }
  return segments.length;
}

/** Sizes the canvas to the image scaled down to at most `maxWidth`; returns the scale. */
export function fitWidth(canvas, width, height, maxWidth) {
  const scale = Math.min(1, maxWidth / width);
  canvas.width = Math.round(width * scale);
  canvas.height = Math.round(height * scale);
  return scale;
}

/** Outlines each line's box (four corners in image pixels); returns how many were drawn. */
export function drawOcrBoxes(canvas, lines, scale) {
  const ctx = canvas.getContext('2d');
  ctx.strokeStyle = BOX_STROKE;
  ctx.lineWidth = 3;
  for (const { box } of lines) {
    ctx.beginPath();
    box.forEach(([x, y], i) =>
      i === 0 ? ctx.moveTo(x * scale, y * scale) : ctx.lineTo(x * scale, y * scale),
    );
    ctx.closePath();
    ctx.stroke();
  }
  return lines.length;
}
