/**
 * image.ocr: PaddleOCR PP-OCRv4 text detection (DB) + recognition (CTC), as PaddleOCR's TextSystem runs
 * them (without the optional 180° direction classifier):
 *   decode (sharp) → det resize (sides to multiples of 32, longest side ≤ limitSideLen), ImageNet
 *   normalisation in BGR channel order → det model → DB post-processing → crop each box (rotated boxes
 *   are sampled along their own axes) → resize to height 48, width by aspect ratio (padded to ≥ 320 like
 *   PaddleOCR's batch padding), (x/255 − 0.5)/0.5 in BGR order → rec model → greedy CTC decode → lines
 *   with confidence ≥ dropScore, sorted top-to-bottom, left-to-right.
 */
import { readFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import type * as SharpModule from 'sharp';
import type { Metadata } from 'sharp';
import { BadRequestError } from '../../errors.ts';
import type { ModelEntry } from '../../models/manifest.ts';
import type { InferenceContext, RawRequest, TaskModule, TensorData } from '../types.ts';
import { z } from 'zod';
import { base64Field, base64Input } from '../decode.ts';
import { ctcGreedyDecode } from './ctc.ts';
import { dbPostprocess, type DbOptions, type Point, type Quad } from './db-postprocess.ts';

/** sharp (native libvips) loads on the first image, not at start-up: text-only processes never pay for it. */
let sharpModule: Promise<typeof SharpModule> | undefined;
const sharp = async () => (await (sharpModule ??= import('sharp'))).default;

/** Largest image accepted (pixels and side), checked from the header before decoding. */
export const MAX_IMAGE_PIXELS = 40_000_000;
export const MAX_IMAGE_SIDE = 16_384;

export interface OcrInput {
  /** Decoded sRGB pixels, 3 bytes per pixel, row-major. */
  rgb: Buffer;
  width: number;
  height: number;
}

export interface OcrLine {
  text: string;
  confidence: number;
  /** Four corners clockwise from the top-left, in the input image's pixel coordinates. */
  box: Quad;
}

export interface OcrResult {
  lines: OcrLine[];
}

type Kernel = 'nearest' | 'linear' | 'cubic' | 'mitchell' | 'lanczos2' | 'lanczos3';
const KERNELS: Kernel[] = ['nearest', 'linear', 'cubic', 'mitchell', 'lanczos2', 'lanczos3'];

interface DetParams extends DbOptions {
  limitSideLen: number;
  resizeKernel: Kernel;
  multipleOf: number;
  mean: number[];
  std: number[];
  channelOrder: 'bgr' | 'rgb';
}

interface RecParams {
  imageHeight: number;
  resizeKernel: Kernel;
  minWidth: number;
  maxWidth: number;
  mean: number;
  std: number;
  dropScore: number;
  channelOrder: 'bgr' | 'rgb';
  /** Manifest asset with one character per line (PaddleOCR's dictionary). */
  dictionary: string;
  /** PaddleOCR's `use_space_char`: a space class after the dictionary. */
  spaceChar: boolean;
}

function num(entry: ModelEntry, key: string, fallback: number): number {
  const v = entry.preprocess[key];
  if (v === undefined) return fallback;
  if (typeof v !== 'number' || !Number.isFinite(v))
    throw new Error(`manifest entry ${entry.name}: preprocess.${key} must be a number`);
  return v;
}

function triple(entry: ModelEntry, key: string, fallback: number[]): number[] {
  const v = entry.preprocess[key];
  if (v === undefined) return fallback;
  if (!Array.isArray(v) || v.length !== 3 || v.some((x) => typeof x !== 'number')) {
    throw new Error(`manifest entry ${entry.name}: preprocess.${key} must be three numbers`);
  }
  return v as number[];
}

function order(entry: ModelEntry): 'bgr' | 'rgb' {
  const v = entry.preprocess.channelOrder ?? 'bgr';
  if (v !== 'bgr' && v !== 'rgb')
    throw new Error(`manifest entry ${entry.name}: preprocess.channelOrder must be bgr or rgb`);
  return v;
}

/** sharp's resampling kernel for the model input. */
function kernel(entry: ModelEntry, fallback: Kernel): Kernel {
  const v = entry.preprocess.resizeKernel ?? fallback;
  if (!KERNELS.includes(v as Kernel))
    throw new Error(`manifest entry ${entry.name}: preprocess.resizeKernel must be one of ${KERNELS}`);
  return v as Kernel;
}

export function detParams(entry: ModelEntry): DetParams {
  return {
    limitSideLen: num(entry, 'limitSideLen', 960),
    resizeKernel: kernel(entry, 'linear'),
    multipleOf: num(entry, 'multipleOf', 32),
    mean: triple(entry, 'mean', [0.485, 0.456, 0.406]),
    std: triple(entry, 'std', [0.229, 0.224, 0.225]),
    channelOrder: order(entry),
    thresh: num(entry, 'thresh', 0.3),
    boxThresh: num(entry, 'boxThresh', 0.6),
    unclipRatio: num(entry, 'unclipRatio', 1.5),
    minSize: num(entry, 'minSize', 3),
    maxCandidates: num(entry, 'maxCandidates', 1000),
  };
}

export function recParams(entry: ModelEntry): RecParams {
  return {
    imageHeight: num(entry, 'imageHeight', 48),
    resizeKernel: kernel(entry, 'cubic'),
    minWidth: num(entry, 'minWidth', 320),
    maxWidth: num(entry, 'maxWidth', 3200),
    mean: num(entry, 'mean', 0.5),
    std: num(entry, 'std', 0.5),
    dropScore: num(entry, 'dropScore', 0.5),
    channelOrder: order(entry),
    dictionary: str(entry, 'dictionary'),
    spaceChar: entry.preprocess.spaceChar !== false,
  };
}

function str(entry: ModelEntry, key: string): string {
  const v = entry.preprocess[key];
  if (typeof v !== 'string' || !v)
    throw new Error(`manifest entry ${entry.name}: preprocess.${key} must name a file`);
  return v;
}

const labelCache = new Map<string, string[]>();

/**
 * The CTC classes as PaddleOCR builds them: blank, then one per dictionary line, then a space when
 * `spaceChar` is on. Read once per dictionary file.
 */
export function ctcLabels(dictionaryPath: string, spaceChar: boolean): string[] {
  const key = `${dictionaryPath}|${spaceChar}`;
  let labels = labelCache.get(key);
  if (!labels) {
    const lines = readFileSync(dictionaryPath, 'utf8').split('\n');
    if (lines.at(-1) === '') lines.pop();
    labels = ['<blank>', ...lines.map((l) => l.replace(/\r$/, '')), ...(spaceChar ? [' '] : [])];
    labelCache.set(key, labels);
  }
  return labels;
}

/** Decodes a PNG or JPEG into sRGB pixels (alpha flattened onto white, EXIF orientation applied). */
export async function decodeImage(bytes: Buffer): Promise<OcrInput> {
  if (bytes.length === 0) throw new BadRequestError('image is empty');
  let meta: Metadata;
  try {
    meta = await (await sharp())(bytes).metadata();
  } catch (err) {
    throw new BadRequestError(`not a decodable image: ${(err as Error).message}`);
  }
  if (meta.format !== 'png' && meta.format !== 'jpeg') {
    throw new BadRequestError(`image format ${meta.format} is not supported (PNG or JPEG only)`);
  }
  const { width = 0, height = 0 } = meta;
  if (width < 1 || height < 1) throw new BadRequestError('image has no pixels');
  if (width > MAX_IMAGE_SIDE || height > MAX_IMAGE_SIDE || width * height > MAX_IMAGE_PIXELS) {
    throw new BadRequestError(
      `image is ${width}x${height}; at most ${MAX_IMAGE_SIDE} px a side and ${MAX_IMAGE_PIXELS} pixels are accepted`,
    );
  }
  try {
    const { data, info } = await (
      await sharp()
    )(bytes, { limitInputPixels: MAX_IMAGE_PIXELS })
      .rotate()
      .flatten({ background: '#ffffff' })
      .toColourspace('srgb')
      .raw()
      .toBuffer({ resolveWithObject: true });
    if (info.channels !== 3) throw new Error(`decoded to ${info.channels} channels`);
    return { rgb: data, width: info.width, height: info.height };
  } catch (err) {
    throw new BadRequestError(`image could not be decoded: ${(err as Error).message}`);
  }
}

/** Det input size: each side scaled so the longest is ≤ limit, rounded to a multiple of 32 (≥ 32). */
export function detSize(width: number, height: number, p: { limitSideLen: number; multipleOf: number }) {
  const ratio = Math.max(width, height) > p.limitSideLen ? p.limitSideLen / Math.max(width, height) : 1;
  const m = p.multipleOf;
  return {
    width: Math.max(m, Math.round((width * ratio) / m) * m),
    height: Math.max(m, Math.round((height * ratio) / m) * m),
  };
}

/** HWC uint8 RGB → CHW float32 normalised as (x/255 − mean)/std, channels in the model's order. */
function toChw(
  rgb: Buffer,
  width: number,
  height: number,
  mean: number[],
  std: number[],
  bgr: boolean,
  outWidth = width,
) {
  const plane = outWidth * height;
  const out = new Float32Array(3 * plane);
  for (let c = 0; c < 3; c++) {
    const src = bgr ? 2 - c : c; // model channel c reads this RGB channel
    const m = mean[c] as number;
    const s = std[c] as number;
    for (let y = 0; y < height; y++) {
      for (let x = 0; x < width; x++) {
        out[c * plane + y * outWidth + x] = ((rgb[(y * width + x) * 3 + src] as number) / 255 - m) / s;
      }
    }
  }
  return out;
}

async function resizeRgb(
  rgb: Buffer,
  width: number,
  height: number,
  toWidth: number,
  toHeight: number,
  resizeKernel: Kernel,
): Promise<Buffer> {
  if (toWidth === width && toHeight === height) return rgb;
  return (await sharp())(rgb, { raw: { width, height, channels: 3 } })
    .resize(toWidth, toHeight, { fit: 'fill', kernel: resizeKernel })
    .raw()
    .toBuffer();
}

/**
 * Samples the quad's contents into an upright w×h RGB image (bilinear, edges clamped): corner 0 maps to
 * (0,0), corner 1 to (w,0), corner 3 to (0,h), as PaddleOCR's get_rotate_crop_image does with a warp.
 */
export function cropQuad(img: OcrInput, quad: Quad): { rgb: Buffer; width: number; height: number } {
  const [p0, p1, p2, p3] = quad;
  const dist = (a: Point, b: Point) => Math.hypot(a[0] - b[0], a[1] - b[1]);
  const w = Math.max(1, Math.round(Math.max(dist(p0, p1), dist(p3, p2))));
  const h = Math.max(1, Math.round(Math.max(dist(p0, p3), dist(p1, p2))));
  const out = Buffer.alloc(w * h * 3);
  const ux = [(p1[0] - p0[0]) / w, (p1[1] - p0[1]) / w];
  const vy = [(p3[0] - p0[0]) / h, (p3[1] - p0[1]) / h];
  const { rgb, width, height } = img;
  for (let v = 0; v < h; v++) {
    for (let u = 0; u < w; u++) {
      // Pixel centres: sample at (u+0.5, v+0.5) in the crop, minus 0.5 to index source pixel centres.
      const sx = Math.min(width - 1, Math.max(0, p0[0] + (u + 0.5) * ux[0]! + (v + 0.5) * vy[0]! - 0.5));
      const sy = Math.min(height - 1, Math.max(0, p0[1] + (u + 0.5) * ux[1]! + (v + 0.5) * vy[1]! - 0.5));
      const x0 = Math.floor(sx);
      const y0 = Math.floor(sy);
      const x1 = Math.min(width - 1, x0 + 1);
      const y1 = Math.min(height - 1, y0 + 1);
      const fx = sx - x0;
      const fy = sy - y0;
      for (let c = 0; c < 3; c++) {
        const a = rgb[(y0 * width + x0) * 3 + c] as number;
        const b = rgb[(y0 * width + x1) * 3 + c] as number;
        const d = rgb[(y1 * width + x0) * 3 + c] as number;
        const e = rgb[(y1 * width + x1) * 3 + c] as number;
        const top = a + (b - a) * fx;
        const bottom = d + (e - d) * fx;
        out[(v * w + u) * 3 + c] = Math.round(top + (bottom - top) * fy);
      }
    }
  }
  return { rgb: out, width: w, height: h };
}

/** Rotates an RGB image 90° counter-clockwise (PaddleOCR's np.rot90 for tall crops). */
function rot90(img: { rgb: Buffer; width: number; height: number }) {
  const { rgb, width, height } = img;
  const out = Buffer.alloc(rgb.length);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const nx = y;
      const ny = width - 1 - x;
      rgb.copy(out, (ny * height + nx) * 3, (y * width + x) * 3, (y * width + x) * 3 + 3);
    }
  }
  return { rgb: out, width: height, height: width };
}

/** PaddleOCR's sorted_boxes: by top-left y, then left-to-right among boxes whose tops are within 10 px. */
export function sortReadingOrder<T extends { box: Quad }>(lines: T[]): T[] {
  const out = [...lines].sort((a, b) => a.box[0][1] - b.box[0][1] || a.box[0][0] - b.box[0][0]);
  for (let i = 0; i < out.length - 1; i++) {
    for (let j = i; j >= 0; j--) {
      const a = out[j] as T;
      const b = out[j + 1] as T;
      if (Math.abs(b.box[0][1] - a.box[0][1]) < 10 && b.box[0][0] < a.box[0][0]) {
        out[j] = b;
        out[j + 1] = a;
      } else break;
    }
  }
  return out;
}

function only(out: Record<string, TensorData>, entry: ModelEntry): TensorData {
  const name = entry.outputs[0]?.name ?? '';
  const t = out[name];
  if (!t || !(t.data instanceof Float32Array))
    throw new Error(`model ${entry.name} returned no float output "${name}"`);
  return t;
}

async function recognise(
  crop: { rgb: Buffer; width: number; height: number },
  ctx: InferenceContext,
  entry: ModelEntry,
  p: RecParams,
) {
  const labels = ctcLabels(ctx.asset(p.dictionary), p.spaceChar);
  const h = p.imageHeight;
  const width = Math.min(p.maxWidth, Math.max(1, Math.ceil((h * crop.width) / crop.height)));
  const resized = await resizeRgb(crop.rgb, crop.width, crop.height, width, h, p.resizeKernel);
  const padded = Math.max(p.minWidth, width);
  const mean = [p.mean, p.mean, p.mean];
  const std = [p.std, p.std, p.std];
  const data = toChw(resized, width, h, mean, std, p.channelOrder === 'bgr', padded);
  const out = only(await ctx.infer('rec', { x: { type: 'float32', data, dims: [1, 3, h, padded] } }), entry);
  const [, steps = 0, classes = 0] = out.dims;
  return ctcGreedyDecode(out.data as Float32Array, steps, classes, labels);
}

export async function runOcr(input: OcrInput, ctx: InferenceContext): Promise<OcrResult> {
  const detEntry = ctx.model('det');
  const recEntry = ctx.model('rec');
  const dp = detParams(detEntry);
  const rp = recParams(recEntry);

  const size = detSize(input.width, input.height, dp);
  const detRgb = await resizeRgb(
    input.rgb,
    input.width,
    input.height,
    size.width,
    size.height,
    dp.resizeKernel,
  );
  const detData = toChw(detRgb, size.width, size.height, dp.mean, dp.std, dp.channelOrder === 'bgr');
  const map = only(
    await ctx.infer('det', { x: { type: 'float32', data: detData, dims: [1, 3, size.height, size.width] } }),
    detEntry,
  );
  const [, , mh = 0, mw = 0] = map.dims;
  const boxes = dbPostprocess(
    { data: map.data as Float32Array, width: mw, height: mh },
    input.width,
    input.height,
    dp,
  );

  const lines = await Promise.all(
    boxes.map(async ({ box }) => {
      let crop = cropQuad(input, box);
      if (crop.height / crop.width >= 1.5) crop = rot90(crop);
      const { text, confidence } = await recognise(crop, ctx, recEntry, rp);
      return { text: text.trim(), confidence: Math.round(confidence * 1000) / 1000, box };
    }),
  );
  return { lines: sortReadingOrder(lines.filter((l) => l.text.length > 0 && l.confidence >= rp.dropScore)) };
}

const point = z.tuple([z.number(), z.number()]);
const resultSchema = z
  .object({
    lines: z.array(
      z.object({
        text: z.string(),
        confidence: z.number().min(0).max(1),
        box: z.tuple([point, point, point, point]).describe('corners clockwise from the top-left, in pixels'),
      }),
    ),
  })
  .meta({
    id: 'ImageOcrResult',
    examples: [
      {
        lines: [
          {
            text: 'The quick brown fox jumps',
            confidence: 0.99,
            box: [
              [12, 10],
              [410, 10],
              [410, 48],
              [12, 48],
            ],
          },
        ],
      },
    ],
  });

export const imageOcr: TaskModule<OcrInput, OcrResult> = {
  task: 'image.ocr',
  contentTypes: ['image/png', 'image/jpeg'],
  schemas: {
    jobInput: base64Input('image', 'a PNG or JPEG').meta({
      id: 'ImageOcrJobInput',
      examples: [{ image: 'iVBORw0KGgo=' }],
    }),
    result: resultSchema,
  },

  decodeRequest(req: RawRequest) {
    return decodeImage(req.body);
  },

  decodeJobInput(input: unknown) {
    return decodeImage(base64Field(input, 'image', 'a PNG or JPEG'));
  },

  fingerprint(input: OcrInput) {
    return createHash('sha256').update(`${input.width}x${input.height}:`).update(input.rgb).digest();
  },

  run: runOcr,
};
