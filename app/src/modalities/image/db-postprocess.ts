/**
 * DB (Differentiable Binarization) post-processing as PaddleOCR's DBPostProcess does it, on the text
 * probability map the detector returns:
 *   1. binarize at `thresh`;
 *   2. take each 8-connected component of text pixels (PaddleOCR traces contours; a component's convex
 *      hull is the same set of points for the min-area rectangle);
 *   3. its minimum-area (rotated) rectangle; drop it if its short side is < `minSize`;
 *   4. score = mean probability inside that rectangle; drop it below `boxThresh`;
 *   5. "unclip": push every side out by D = area·unclipRatio / perimeter (the Vatti offset PaddleOCR uses
 *      with pyclipper, whose min-area rectangle for a rectangle input is exactly this); drop it if its short
 *      side is < minSize + 2;
 *   6. scale to the original image's coordinates and clip to it.
 */

export type Point = [number, number];
/** Four corners, clockwise from the top-left one (image coordinates, y down). */
export type Quad = [Point, Point, Point, Point];

export interface DbOptions {
  thresh: number;
  boxThresh: number;
  unclipRatio: number;
  minSize: number;
  maxCandidates: number;
}

export interface DbBox {
  box: Quad;
  /** Mean text probability inside the box (before unclipping). */
  score: number;
}

export interface ProbabilityMap {
  data: Float32Array;
  width: number;
  height: number;
}

/** Pixel-centre points of one connected component's row extremes (enough for its convex hull). */
function components(bitmap: Uint8Array, width: number, height: number, max: number): Point[][] {
  const labels = new Int32Array(width * height);
  const out: Point[][] = [];
  const stack: number[] = [];
  for (let start = 0; start < bitmap.length && out.length < max; start++) {
    if (!bitmap[start] || labels[start]) continue;
    const id = out.length + 1;
    const rowMin = new Map<number, number>();
    const rowMax = new Map<number, number>();
    labels[start] = id;
    stack.push(start);
    while (stack.length) {
      const p = stack.pop() as number;
      const x = p % width;
      const y = (p - x) / width;
      const lo = rowMin.get(y);
      if (lo === undefined || x < lo) rowMin.set(y, x);
      const hi = rowMax.get(y);
      if (hi === undefined || x > hi) rowMax.set(y, x);
      for (let dy = -1; dy <= 1; dy++) {
        const ny = y + dy;
        if (ny < 0 || ny >= height) continue;
        for (let dx = -1; dx <= 1; dx++) {
          const nx = x + dx;
          if ((dx === 0 && dy === 0) || nx < 0 || nx >= width) continue;
          const q = ny * width + nx;
          if (bitmap[q] && !labels[q]) {
            labels[q] = id;
            stack.push(q);
          }
        }
      }
    }
    const pts: Point[] = [];
    for (const [y, x] of rowMin) {
      pts.push([x, y]);
      const x2 = rowMax.get(y) as number;
      if (x2 !== x) pts.push([x2, y]);
    }
    out.push(pts);
  }
  return out;
}

/** Andrew's monotone chain; returns the hull counter-clockwise in math orientation, no repeated point. */
export function convexHull(points: Point[]): Point[] {
  const pts = [...points].sort((a, b) => a[0] - b[0] || a[1] - b[1]);
  if (pts.length < 3) return pts;
  const cross = (o: Point, a: Point, b: Point) =>
    (a[0] - o[0]) * (b[1] - o[1]) - (a[1] - o[1]) * (b[0] - o[0]);
  const lower: Point[] = [];
  for (const p of pts) {
    while (
      lower.length >= 2 &&
      cross(lower[lower.length - 2] as Point, lower[lower.length - 1] as Point, p) <= 0
    )
      lower.pop();
    lower.push(p);
  }
  const upper: Point[] = [];
  for (let i = pts.length - 1; i >= 0; i--) {
    const p = pts[i] as Point;
    while (
      upper.length >= 2 &&
      cross(upper[upper.length - 2] as Point, upper[upper.length - 1] as Point, p) <= 0
    )
      upper.pop();
    upper.push(p);
  }
  lower.pop();
  upper.pop();
  return lower.concat(upper);
}

export interface RotatedRect {
  center: Point;
  /** Side lengths along `axis` and along its normal. */
  width: number;
  height: number;
  /** Unit vector of the `width` side. */
  axis: Point;
}

/** The minimum-area enclosing rectangle of a point set (rotating calipers over the hull's edges). */
export function minAreaRect(points: Point[]): RotatedRect {
  const hull = convexHull(points);
  if (hull.length === 0) throw new RangeError('minAreaRect of no points');
  if (hull.length === 1) return { center: [...(hull[0] as Point)], width: 0, height: 0, axis: [1, 0] };
  let best: RotatedRect | undefined;
  let bestArea = Infinity;
  for (let i = 0; i < hull.length; i++) {
    const a = hull[i] as Point;
    const b = hull[(i + 1) % hull.length] as Point;
    const len = Math.hypot(b[0] - a[0], b[1] - a[1]);
    if (len === 0) continue;
    const ux = (b[0] - a[0]) / len;
    const uy = (b[1] - a[1]) / len;
    let minU = Infinity;
    let maxU = -Infinity;
    let minV = Infinity;
    let maxV = -Infinity;
    for (const p of hull) {
      const u = p[0] * ux + p[1] * uy;
      const v = -p[0] * uy + p[1] * ux;
      if (u < minU) minU = u;
      if (u > maxU) maxU = u;
      if (v < minV) minV = v;
      if (v > maxV) maxV = v;
    }
    const area = (maxU - minU) * (maxV - minV);
    if (area < bestArea - 1e-9) {
      bestArea = area;
      const cu = (minU + maxU) / 2;
      const cv = (minV + maxV) / 2;
      best = {
        center: [cu * ux - cv * uy, cu * uy + cv * ux],
        width: maxU - minU,
        height: maxV - minV,
        axis: [ux, uy],
      };
    }
  }
  return best as RotatedRect;
}

/** Orders four corners clockwise on screen (y down), starting at the top-left one (smallest x + y). */
export function orderQuad(points: Point[]): Quad {
  const cx = points.reduce((s, p) => s + p[0], 0) / points.length;
  const cy = points.reduce((s, p) => s + p[1], 0) / points.length;
  const sorted = [...points].sort(
    (a, b) => Math.atan2(a[1] - cy, a[0] - cx) - Math.atan2(b[1] - cy, b[0] - cx),
  );
  let start = 0;
  for (let i = 1; i < sorted.length; i++) {
    const p = sorted[i] as Point;
    const s = sorted[start] as Point;
    if (p[0] + p[1] < s[0] + s[1] - 1e-9) start = i;
  }
  return [0, 1, 2, 3].map((k) => sorted[(start + k) % 4]) as Quad;
}

export function rectCorners(r: RotatedRect): Quad {
  const [ux, uy] = r.axis;
  const hw = r.width / 2;
  const hh = r.height / 2;
  const c = r.center;
  return orderQuad([
    [c[0] - ux * hw + uy * hh, c[1] - uy * hw - ux * hh],
    [c[0] + ux * hw + uy * hh, c[1] + uy * hw - ux * hh],
    [c[0] + ux * hw - uy * hh, c[1] + uy * hw + ux * hh],
    [c[0] - ux * hw - uy * hh, c[1] - uy * hw + ux * hh],
  ]);
}

/** Mean of the map over the pixel centres inside a convex quad (PaddleOCR's box_score_fast). */
export function boxScore(map: ProbabilityMap, quad: Quad): number {
  const xs = quad.map((p) => p[0]);
  const ys = quad.map((p) => p[1]);
  const x0 = Math.max(0, Math.floor(Math.min(...xs)));
  const x1 = Math.min(map.width - 1, Math.ceil(Math.max(...xs)));
  const y0 = Math.max(0, Math.floor(Math.min(...ys)));
  const y1 = Math.min(map.height - 1, Math.ceil(Math.max(...ys)));
  let sum = 0;
  let n = 0;
  for (let y = y0; y <= y1; y++) {
    for (let x = x0; x <= x1; x++) {
      if (!insideQuad(quad, x, y)) continue;
      sum += map.data[y * map.width + x] as number;
      n++;
    }
  }
  return n ? sum / n : 0;
}

/** Point in a convex clockwise quad, edges included (with a small tolerance). */
function insideQuad(q: Quad, x: number, y: number): boolean {
  for (let i = 0; i < 4; i++) {
    const a = q[i] as Point;
    const b = q[(i + 1) % 4] as Point;
    // On screen (y down) clockwise means the inside is where the cross product is >= 0.
    if (
      (b[0] - a[0]) * (y - a[1]) - (b[1] - a[1]) * (x - a[0]) <
      -1e-6 * Math.hypot(b[0] - a[0], b[1] - a[1])
    ) {
      return false;
    }
  }
  return true;
}

/**
 * Boxes from a detector probability map of size width×height, in the coordinates of an original image of
 * size origWidth×origHeight (the map was computed on a resized copy).
 */
export function dbPostprocess(
  map: ProbabilityMap,
  origWidth: number,
  origHeight: number,
  o: DbOptions,
): DbBox[] {
  const { width, height, data } = map;
  if (data.length !== width * height)
    throw new RangeError(`map has ${data.length} values, not ${width}x${height}`);
  const bitmap = new Uint8Array(width * height);
  for (let i = 0; i < data.length; i++) bitmap[i] = (data[i] as number) > o.thresh ? 1 : 0;
  const sx = origWidth / width;
  const sy = origHeight / height;
  const out: DbBox[] = [];
  for (const pts of components(bitmap, width, height, o.maxCandidates)) {
    const rect = minAreaRect(pts);
    if (Math.min(rect.width, rect.height) < o.minSize) continue;
    const score = boxScore(map, rectCorners(rect));
    if (score < o.boxThresh) continue;
    const distance = (rect.width * rect.height * o.unclipRatio) / (2 * (rect.width + rect.height));
    const grown: RotatedRect = {
      ...rect,
      width: rect.width + 2 * distance,
      height: rect.height + 2 * distance,
    };
    if (Math.min(grown.width, grown.height) < o.minSize + 2) continue;
    const box = rectCorners(grown).map(([x, y]) => [
      Math.min(origWidth, Math.max(0, Math.round(x * sx))),
      Math.min(origHeight, Math.max(0, Math.round(y * sy))),
    ]) as Quad;
    out.push({ box, score });
  }
  return out;
}
