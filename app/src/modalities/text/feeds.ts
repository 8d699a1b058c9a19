/**
 * The text model's feeds for one text. Pure (no zod, no engine), so that the inference threads can
 * import it and featurize where the model runs (see app/src/inference/prepare.ts).
 */
import type { ModelEntry } from '../../models/manifest.ts';
import type { TensorMap } from '../types.ts';
import { hashTextFeatures, parseHashedFeatureSpec, type HashedFeatureSpec } from './features.ts';

const specs = new WeakMap<object, HashedFeatureSpec>();

/**
 * The feeds for one text (batch dimension 1): the same featurizer for this task and for BYTES
 * inputs sent to the model through the v2 protocol.
 */
export function textFeeds(model: ModelEntry, text: string): TensorMap {
  let spec = specs.get(model);
  if (!spec) {
    spec = parseHashedFeatureSpec(model.preprocess);
    specs.set(model, spec);
  }
  const f = hashTextFeatures(text, spec);
  const n = Math.max(1, f.ids.length); // an input with no tokens is one padding feature
  const ids = f.ids.length ? f.ids : new BigInt64Array(1);
  const weights = f.weights.length ? f.weights : new Float32Array(1);
  return {
    ids: { type: 'int64', data: ids, dims: [1, n] },
    weights: { type: 'float32', data: weights, dims: [1, n] },
  };
}
