/**
 * Calibration feeds for the OCR models: the calibration images (models/calibration/ocr, made by
 * scripts/make-calibration.sh) run through the app's own image.ocr module with the FP32 models, recording
 * what it feeds the detector and the recognizer, so that ranges are measured on the inputs the service
 * produces (resize, normalisation, crops of detected lines).
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type ort from 'onnxruntime-node';
import { imageOcr } from '../../app/src/modalities/image/ocr.ts';
import type { InferenceContext, TensorMap } from '../../app/src/modalities/types.ts';
import { MODELS_DIR, toOrt } from '../lib/model-eval.ts';
import type { Feeds } from './calibrate-ort.ts';

export const OCR_CALIBRATION_DIR = join(MODELS_DIR, 'calibration/ocr');

/** Wraps a context so that every feed of every role is kept (as ORT tensors) before it runs. */
export function recordingContext(ctx: InferenceContext): {
  ctx: InferenceContext;
  feeds: Map<string, Feeds[]>;
} {
  const feeds = new Map<string, Feeds[]>();
  return {
    feeds,
    ctx: {
      model: (role) => ctx.model(role),
      asset: (file) => ctx.asset(file),
      async infer(role: string, f: TensorMap) {
        const list = feeds.get(role) ?? [];
        list.push(
          Object.fromEntries(Object.entries(f).map(([k, v]) => [k, toOrt(v)])) as Record<string, ort.Tensor>,
        );
        feeds.set(role, list);
        return ctx.infer(role, f);
      },
    },
  };
}

/** Detector and recognizer feeds from the calibration images. */
export async function ocrCalibrationFeeds(
  ctx: InferenceContext,
  dir = OCR_CALIBRATION_DIR,
): Promise<{ det: Feeds[]; rec: Feeds[]; images: number }> {
  const rec = recordingContext(ctx);
  const files = readdirSync(dir)
    .filter((f) => /\.(png|jpe?g)$/i.test(f))
    .sort();
  for (const f of files) {
    const body = readFileSync(join(dir, f));
    const contentType = /\.png$/i.test(f) ? 'image/png' : 'image/jpeg';
    await imageOcr.run(await imageOcr.decodeRequest({ contentType, body }), rec.ctx);
  }
  return { det: rec.feeds.get('det') ?? [], rec: rec.feeds.get('rec') ?? [], images: files.length };
}
