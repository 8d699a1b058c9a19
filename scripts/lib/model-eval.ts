/**
 * Evaluation of shipped models through onnxruntime-node and the app's own task modules (the same
 * pre/post-processing the service runs), shared by `scripts/make-int8.ts`, `scripts/bench-models.ts` and
 * the INT8 tests:
 *
 * - text-spam: accuracy on the held-out SpamAssassin split (`loadSpamSplit()`), or on any labelled texts;
 * - image.ocr: character accuracy (1 − edit distance / length) on the fixture images of test/fixtures;
 * - speech.detect: segment F1 on the speech fixtures (a detected segment matches a true one at IoU ≥ 0.5).
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import ort from 'onnxruntime-node';
import { imageOcr } from '../../app/src/modalities/image/ocr.ts';
import { speechDetect } from '../../app/src/modalities/speech/detect.ts';
import {
  hashTextFeatures,
  packFeatureBatch,
  parseHashedFeatureSpec,
  type HashedFeatures,
} from '../../app/src/modalities/text/features.ts';
import type { InferenceContext, TensorData, TensorMap, TypedArray } from '../../app/src/modalities/types.ts';
import {
  manifestSchema,
  type Manifest,
  type ModelEntry,
  type TensorType,
} from '../../app/src/models/manifest.ts';
import { sha256File } from '../../app/src/models/registry.ts';

export const ROOT = join(fileURLToPath(import.meta.url), '../../..');
export const MODELS_DIR = join(ROOT, 'models');
export const FIXTURES_DIR = join(ROOT, 'test/fixtures');

export function readManifest(dir = MODELS_DIR): Manifest {
  return manifestSchema.parse(JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8')));
}

/** The manifest entry of `name` in `precision`, or undefined. */
export function findEntry(
  manifest: Manifest,
  name: string,
  precision: 'fp32' | 'int8',
): ModelEntry | undefined {
  return manifest.models.find((m) => m.name === name && m.precision === precision);
}

export async function verifiedPath(
  entry: { file: string; sha256: string },
  dir = MODELS_DIR,
): Promise<string> {
  const path = join(dir, entry.file);
  const actual = await sha256File(path);
  if (actual !== entry.sha256)
    throw new Error(`${entry.file}: sha256 ${actual}, manifest says ${entry.sha256}`);
  return path;
}

export const SESSION_OPTIONS: ort.InferenceSession.SessionOptions = {
  intraOpNumThreads: 1,
  interOpNumThreads: 1,
  executionMode: 'sequential',
  graphOptimizationLevel: 'all',
  logSeverityLevel: 3,
};

export function toOrt(t: TensorData): ort.Tensor {
  return new ort.Tensor(t.type, t.data as never, t.dims);
}

function fromOrt(t: ort.Tensor): TensorData {
  return { type: t.type as TensorType, data: t.data as TypedArray, dims: [...t.dims] };
}

export interface OrtContext extends InferenceContext {
  sessions: Map<string, ort.InferenceSession>;
  release(): Promise<void>;
}

/**
 * An InferenceContext over plain ORT sessions, one per role, with explicit entries and files (so the FP32 and
 * INT8 variants can be evaluated side by side; the app's registry would pick only one).
 */
export async function ortContext(
  models: { entry: ModelEntry; path: string }[],
  dir = MODELS_DIR,
): Promise<OrtContext> {
  const sessions = new Map<string, ort.InferenceSession>();
  const entries = new Map<string, ModelEntry>();
  for (const { entry, path } of models) {
    sessions.set(entry.role, await ort.InferenceSession.create(path, SESSION_OPTIONS));
    entries.set(entry.role, entry);
  }
  const assets = new Map<string, string>();
  for (const { entry } of models)
    for (const a of entry.assets) assets.set(a.file, await verifiedPath(a, dir));
  return {
    sessions,
    model(role = 'main') {
      const e = entries.get(role);
      if (!e) throw new Error(`no model for role ${role}`);
      return e;
    },
    asset(file: string) {
      const path = assets.get(file);
      if (!path) throw new Error(`no asset ${file}`);
      return path;
    },
    async infer(role: string, feeds: TensorMap): Promise<TensorMap> {
      const session = sessions.get(role);
      if (!session) throw new Error(`no model for role ${role}`);
      const out = await session.run(Object.fromEntries(Object.entries(feeds).map(([k, v]) => [k, toOrt(v)])));
      return Object.fromEntries(Object.entries(out).map(([k, v]) => [k, fromOrt(v)]));
    },
    async release() {
      for (const s of sessions.values()) await s.release();
    },
  };
}

// ---------------------------------------------------------------------------------------------------------
// text

export interface TextEval {
  accuracy: number;
  n: number;
  /** P(spam) per message, in input order */
  pSpam: Float32Array;
}

/**
 * P(spam) of every feature set through a text-spam model (a file path or its bytes), run in batches of
 * `batch`, zero-padded as the engine collates them. Output and label order as in the manifest's text-spam
 * entry (probabilities [B, 2], spam second) unless given.
 */
export async function spamProbabilities(
  model: string | Uint8Array,
  features: HashedFeatures[],
  batch = 32,
  io: { output: string; classes: number; spamIndex: number } = {
    output: 'probabilities',
    classes: 2,
    spamIndex: 1,
  },
): Promise<Float32Array> {
  const session = await (typeof model === 'string'
    ? ort.InferenceSession.create(model, SESSION_OPTIONS)
    : ort.InferenceSession.create(model, SESSION_OPTIONS));
  const pSpam = new Float32Array(features.length);
  try {
    for (let i = 0; i < features.length; i += batch) {
      const packed = packFeatureBatch(features.slice(i, i + batch));
      const out = await session.run({
        ids: new ort.Tensor('int64', packed.ids, packed.dims),
        weights: new ort.Tensor('float32', packed.weights, packed.dims),
      });
      const probs = out[io.output]!.data as Float32Array;
      for (let b = 0; b < packed.dims[0]; b++) pSpam[i + b] = probs[b * io.classes + io.spamIndex]!;
    }
  } finally {
    await session.release();
  }
  return pSpam;
}

/** Accuracy of a text-spam model file on labelled texts (batches of `batch`, zero-padded like the engine). */
export async function evalText(
  path: string,
  entry: ModelEntry,
  samples: { text: string; y: 0 | 1 }[],
  batch = 32,
): Promise<TextEval> {
  const spec = parseHashedFeatureSpec(entry.preprocess);
  const spamIndex = (entry.labels ?? []).indexOf('spam');
  if (spamIndex < 0) throw new Error(`${entry.name}: labels have no "spam"`);
  const features = samples.map((s) => hashTextFeatures(s.text, spec));
  const pSpam = await spamProbabilities(path, features, batch, {
    output: entry.outputs[0]!.name,
    classes: entry.labels!.length,
    spamIndex,
  });
  const correct = samples.filter((s, i) => (pSpam[i]! > 0.5 ? 1 : 0) === s.y).length;
  return { accuracy: correct / samples.length, n: samples.length, pSpam };
}

/** test/fixtures/text-heldout.json: a stratified sample of the held-out split. */
export function textFixture(): { text: string; y: 0 | 1 }[] {
  const fixture = JSON.parse(readFileSync(join(FIXTURES_DIR, 'text-heldout.json'), 'utf8')) as {
    samples: { text: string; label: 'ham' | 'spam' }[];
  };
  return fixture.samples.map((s) => ({ text: s.text, y: s.label === 'spam' ? 1 : 0 }));
}

// ---------------------------------------------------------------------------------------------------------
// OCR

/** Levenshtein distance. */
export function editDistance(a: string, b: string): number {
  let row = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const next = [i];
    for (let j = 1; j <= b.length; j++) {
      next[j] = Math.min(row[j]! + 1, next[j - 1]! + 1, row[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
    row = next;
  }
  return row[b.length]!;
}

export interface OcrEval {
  /** 1 − Σ edit distance / Σ length over all fixture lines (joined with newlines per image) */
  charAccuracy: number;
  /** the same ignoring spaces */
  charAccuracyNoSpaces: number;
  chars: number;
  texts: Record<string, string[]>;
}

export function ocrFixtures(): Record<string, string[]> {
  return (
    JSON.parse(readFileSync(join(FIXTURES_DIR, 'expected.json'), 'utf8')) as { ocr: Record<string, string[]> }
  ).ocr;
}

/** image.ocr (the app's module) on every OCR fixture image with the given det + rec models. */
export async function evalOcr(ctx: InferenceContext): Promise<OcrEval> {
  let errors = 0;
  let errorsNoSpaces = 0;
  let chars = 0;
  let charsNoSpaces = 0;
  const texts: Record<string, string[]> = {};
  for (const [name, truth] of Object.entries(ocrFixtures())) {
    const body = readFileSync(join(FIXTURES_DIR, 'image', name));
    const result = await imageOcr.run(await imageOcr.decodeRequest({ contentType: 'image/png', body }), ctx);
    texts[name] = result.lines.map((l) => l.text);
    const got = texts[name].join('\n');
    const want = truth.join('\n');
    errors += editDistance(got, want);
    chars += want.length;
    errorsNoSpaces += editDistance(got.replace(/ /g, ''), want.replace(/ /g, ''));
    charsNoSpaces += want.replace(/ /g, '').length;
  }
  return {
    charAccuracy: 1 - errors / chars,
    charAccuracyNoSpaces: 1 - errorsNoSpaces / charsNoSpaces,
    chars,
    texts,
  };
}

// ---------------------------------------------------------------------------------------------------------
// VAD

export interface VadEval {
  /** segment F1: a detected segment and a true one match (one to one) when their IoU ≥ 0.5 */
  f1: number;
  truePositives: number;
  detected: number;
  expected: number;
}

export async function evalVad(ctx: InferenceContext): Promise<VadEval> {
  const fixtures = (
    JSON.parse(readFileSync(join(FIXTURES_DIR, 'expected.json'), 'utf8')) as {
      speech: Record<string, { speech: [number, number][] }>;
    }
  ).speech;
  let tp = 0;
  let detected = 0;
  let expected = 0;
  for (const [name, { speech }] of Object.entries(fixtures)) {
    const body = readFileSync(join(FIXTURES_DIR, 'speech', name));
    const result = await speechDetect.run(
      await speechDetect.decodeRequest({ contentType: 'audio/wav', body }),
      ctx,
    );
    const got = result.segments.map((s) => [s.startMs, s.endMs] as const);
    detected += got.length;
    expected += speech.length;
    const used = new Set<number>();
    for (const [ts, te] of speech) {
      const match = got.findIndex(([s, e], i) => {
        if (used.has(i)) return false;
        const inter = Math.max(0, Math.min(e, te) - Math.max(s, ts));
        const union = Math.max(e, te) - Math.min(s, ts);
        return inter / union >= 0.5;
      });
      if (match >= 0) {
        used.add(match);
        tp++;
      }
    }
  }
  const precision = detected ? tp / detected : 1;
  const recall = expected ? tp / expected : 1;
  return {
    f1: precision + recall ? (2 * precision * recall) / (precision + recall) : 0,
    truePositives: tp,
    detected,
    expected,
  };
}
