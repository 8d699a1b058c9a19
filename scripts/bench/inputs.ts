/**
 * Bench inputs: the real held-out messages of test/fixtures/text-heldout.json, the text-spam manifest entry
 * and the app's own featurizer (the same `hashTextFeatures` that `text.classify` calls).
 */
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import {
  hashTextFeatures,
  parseHashedFeatureSpec,
  type HashedFeatureSpec,
} from '../../app/src/modalities/text/features.ts';

export const MODEL_NAME = 'text-spam';
/** The precision the app loads by default (MODEL_PRECISION=int8); every setup in the bench uses this variant. */
export const MODEL_PRECISION = 'int8';

export interface BenchModel {
  name: string;
  version: string;
  path: string;
  /** Path relative to models/, and the precision of the variant used. */
  file: string;
  precision: string;
  spec: HashedFeatureSpec;
  outputName: string;
  labels: string[];
}

export function loadModel(root = process.cwd()): BenchModel {
  const manifest = JSON.parse(readFileSync(resolve(root, 'models/manifest.json'), 'utf8')) as {
    models: {
      name: string;
      version: string;
      file: string;
      precision: string;
      preprocess: unknown;
      outputs: { name: string }[];
      labels?: string[];
    }[];
  };
  // As the app's registry does: the preferred precision, or the model's only one.
  const entry =
    manifest.models.find((m) => m.name === MODEL_NAME && m.precision === MODEL_PRECISION) ??
    manifest.models.find((m) => m.name === MODEL_NAME);
  if (!entry) throw new Error(`models/manifest.json has no ${MODEL_NAME}`);
  return {
    name: entry.name,
    version: entry.version,
    path: resolve(root, 'models', entry.file),
    file: entry.file,
    precision: entry.precision,
    spec: parseHashedFeatureSpec(entry.preprocess),
    outputName: entry.outputs[0]!.name,
    labels: entry.labels ?? [],
  };
}

/** The held-out messages (raw e-mails, untruncated), in file order. */
export function loadMessages(root = process.cwd()): string[] {
  const fixture = JSON.parse(readFileSync(resolve(root, 'test/fixtures/text-heldout.json'), 'utf8')) as {
    samples: { text: string }[];
  };
  const texts = fixture.samples.map((s) => s.text).filter((t) => t.length > 0);
  if (texts.length === 0) throw new Error('test/fixtures/text-heldout.json has no samples');
  return texts;
}

export { hashTextFeatures };
