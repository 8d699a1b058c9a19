/**
 * `npm run models:int8`: builds the INT8 variants listed in models/manifest.json and records their measured
 * accuracy next to the FP32 entries'.
 *
 * - text-spam/1: the FP32 file's weights rebuilt as the INT8 bag graph of scripts/lib/text-graph.ts (int8 table,
 *   uint8 weights, MatMulInteger, the dequantize scale folded into fc1) → models/text-spam/1/model.int8.onnx;
 *   accuracy on the whole held-out SpamAssassin split (`loadSpamSplit()`) and its held-out short messages
 *   (`shortMessagesOf()`), FP32 and INT8, through ORT.
 * - ocr-det/ppocrv4 and ocr-rec/ppocrv4: static INT8 (`quantizeStatic`, scripts/quantize/static.ts; rec first
 *   upgraded from opset 9 to 11 by `upgradeOpset`): Conv and MatMul weights int8 per-channel, activations uint8
 *   calibrated on models/calibration/ocr (run through image.ocr with the FP32 models), with min-max and with
 *   percentile ranges; the one with the better fixture character accuracy is kept (a tie keeps min-max). No
 *   dynamic quantization: every scale is fixed, so a line's result does not depend on its batch-mates.
 *   Accuracy: image.ocr on the fixture images with the INT8 model and the other one FP32. The INT8 entry is
 *   written only if the drop is ≤ 1 point.
 *
 * INT8 entries are placed right after their FP32 entry (the registry picks by MODEL_PRECISION, not by order).
 * Re-running the script gives byte-identical files and the same manifest (for the static models: on the same
 * machine type, as their ranges come from FP32 ORT runs).
 *
 *   npx tsx scripts/make-int8.ts [--only text-spam|ocr|ocr-det|ocr-rec] [--dry-run]
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import type { ModelEntry } from '../app/src/models/manifest.ts';
import { sha256File } from '../app/src/models/registry.ts';
import { loadSpamSplit, shortMessagesOf } from './lib/spam-corpus.ts';
import { textSpamOnnx, textSpamWeights } from './lib/text-graph.ts';
import {
  evalOcr,
  evalText,
  findEntry,
  type OcrEval,
  MODELS_DIR,
  ortContext,
  readManifest,
  verifiedPath,
} from './lib/model-eval.ts';
import type { QuantizeOptions } from './quantize/index.ts';
import { upgradeOpset } from './quantize/upgrade.ts';
import type { CalibrationMethod } from './quantize/calibrate.ts';
import { decodeModel, defaultOpset } from './quantize/onnx.ts';
import { ocrCalibrationFeeds } from './quantize/ocr-calibration.ts';
import { quantizeStatic, type StaticOptions, type StaticReport } from './quantize/static.ts';
import { ELEMENTWISE_OPS } from './quantize/qdq-elementwise.ts';

/** Largest accepted accuracy drop, in accuracy units (1 point = 0.01). */
export const MAX_DROP = 0.01;
const round4 = (x: number) => Math.round(x * 1e4) / 1e4;

type RawManifest = { schemaVersion: 1; models: Record<string, unknown>[] };

function readRaw(): RawManifest {
  return JSON.parse(readFileSync(join(MODELS_DIR, 'manifest.json'), 'utf8')) as RawManifest;
}

/** Adds or replaces the INT8 entry of (name, version), placed right after the FP32 one. */
function upsertInt8(raw: RawManifest, entry: Record<string, unknown>) {
  const same = (m: Record<string, unknown>, precision: string) =>
    m.name === entry.name && m.version === entry.version && m.precision === precision;
  raw.models = raw.models.filter((m) => !same(m, 'int8'));
  const at = raw.models.findIndex((m) => same(m, 'fp32'));
  raw.models.splice(at < 0 ? raw.models.length : at + 1, 0, entry);
}

function removeInt8(raw: RawManifest, name: string, version: string) {
  raw.models = raw.models.filter(
    (m) => !(m.name === name && m.version === version && m.precision === 'int8'),
  );
}

function int8Entry(
  fp32: ModelEntry,
  raw: RawManifest,
  file: string,
  sha256: string,
  bytes: number,
  metrics: Record<string, number>,
  how: string,
) {
  const base = raw.models.find(
    (m) => m.name === fp32.name && m.version === fp32.version && m.precision === 'fp32',
  )!;
  // same tensors, labels, preprocessing and assets as the FP32 entry
  return {
    ...structuredClone(base),
    file,
    sha256,
    bytes,
    precision: 'int8',
    metrics,
    source: `INT8 ${how.startsWith('static') || how.includes(', static') ? 'static' : 'dynamic'} quantization of ${fp32.file} (sha256 ${fp32.sha256}) by scripts/make-int8.ts: ${how}. FP32 source: ${fp32.source}`,
  };
}

async function writeModel(file: string, bytes: Uint8Array) {
  const path = join(MODELS_DIR, file);
  writeFileSync(path, bytes);
  return { path, sha256: await sha256File(path), bytes: bytes.byteLength };
}

/** The text-spam INT8 recipe, as the manifest's source states it. */
export const TEXT_INT8_HOW =
  'static, fixed scales (no calibration data needed): embedding table int8 symmetric per-tensor, bag weights uint8 with the scale 1/255 ' +
  '(they are L2-normalised, so in [0, 1]), weighted sum as one MatMulInteger, ' +
  'the two scales folded into fc1 (no DequantizeLinear), MLP FP32 (scripts/lib/text-graph.ts)';

/** The dynamic quantizer's options for text-spam before issue 13 (bench:models still times that variant). */
export const TEXT_OPTIONS: QuantizeOptions = {
  perChannel: false,
  reduceRange: false,
  gatherType: 'uint8',
  ops: ['MatMul', 'Gather'],
};
export const OCR_REC_OPTIONS: QuantizeOptions = { perChannel: false, reduceRange: false, ops: ['MatMul'] };

async function textSpam(raw: RawManifest, dryRun: boolean) {
  const manifest = readManifest();
  const fp32 = findEntry(manifest, 'text-spam', 'fp32')!;
  const fp32Path = await verifiedPath(fp32);
  const fp32Bytes = readFileSync(fp32Path);
  const bytes = textSpamOnnx(textSpamWeights(fp32Bytes), 'matmul', 'int8');
  const file = fp32.file.replace(/\.onnx$/, '.int8.onnx');
  const written = await writeModel(file, bytes);
  const split = loadSpamSplit();
  const { heldOut } = split;
  const [f, q] = [await evalText(fp32Path, fp32, heldOut), await evalText(written.path, fp32, heldOut)];
  const shorts = shortMessagesOf(split).heldOut;
  const [fs, qs] = [await evalText(fp32Path, fp32, shorts), await evalText(written.path, fp32, shorts)];
  let flips = 0;
  let maxDelta = 0;
  let tp = 0;
  let fp = 0;
  let fn = 0;
  let hardHam = 0;
  let hardHamRight = 0;
  heldOut.forEach((m, i) => {
    const a = f.pSpam[i]!;
    const b = q.pSpam[i]!;
    if (a > 0.5 !== b > 0.5) flips++;
    maxDelta = Math.max(maxDelta, Math.abs(a - b));
    const pred = b > 0.5 ? 1 : 0;
    if (pred === 1 && m.y === 1) tp++;
    if (pred === 1 && m.y === 0) fp++;
    if (pred === 0 && m.y === 1) fn++;
    if (m.group === 'hard-ham-1') {
      hardHam++;
      if (pred === 0) hardHamRight++;
    }
  });
  const precision = tp / (tp + fp);
  const recall = tp / (tp + fn);
  const metrics = {
    heldOutAccuracy: round4(q.accuracy),
    heldOutSpamPrecision: round4(precision),
    heldOutSpamRecall: round4(recall),
    heldOutSpamF1: round4((2 * precision * recall) / (precision + recall)),
    heldOutHardHamAccuracy: round4(hardHamRight / hardHam),
    heldOutSize: heldOut.length,
    heldOutShortAccuracy: round4(qs.accuracy),
    heldOutShortSize: shorts.length,
    fp32HeldOutAccuracy: round4(f.accuracy),
    fp32HeldOutShortAccuracy: round4(fs.accuracy),
    decisionFlipsVsFp32: flips,
    maxAbsDeltaPSpamVsFp32: round4(maxDelta),
  };
  const line = `text-spam: ${fp32Bytes.byteLength} -> ${written.bytes} bytes (${((100 * written.bytes) / fp32Bytes.byteLength).toFixed(1)}%), held-out accuracy fp32 ${f.accuracy.toFixed(4)} int8 ${q.accuracy.toFixed(4)}, short messages fp32 ${fs.accuracy.toFixed(4)} int8 ${qs.accuracy.toFixed(4)} (${flips} flips, max |dP| ${maxDelta.toFixed(4)})`;
  console.log(line);
  if (f.accuracy - q.accuracy > MAX_DROP || fs.accuracy - qs.accuracy > MAX_DROP)
    throw new Error(`text-spam INT8 loses more than 1 point: ${line}`);
  if (!dryRun) {
    upsertInt8(raw, int8Entry(fp32, raw, file, written.sha256, written.bytes, metrics, TEXT_INT8_HOW));
  }
}

export const OCR_STATIC_OPTIONS: Omit<StaticOptions, 'method'> = {
  percentile: 99.99,
  // MatMul static too (issue 13): the dynamic quantizer's per-batch activation scale made a recognised
  // line depend on its batch-mates
  ops: ['Conv', 'MatMul'],
  elementwise: ELEMENTWISE_OPS,
};
const METHODS: readonly CalibrationMethod[] = ['minmax', 'percentile'];

/** "38 Conv + 9 MatMul" from the QDQ report's quantized nodes. */
export function countOps(quantized: readonly { op: string }[]): string {
  const counts = new Map<string, number>();
  for (const q of quantized) counts.set(q.op, (counts.get(q.op) ?? 0) + 1);
  return [...counts].map(([op, n]) => `${n} ${op}`).join(' + ') || 'no';
}

/** "34 HardSigmoid as u8 requantization, 34 Mul, …" from the QDQ report's element-wise counts. */
export function describeElementwise(counts: Record<string, number>): string {
  const parts = Object.entries(counts)
    .filter(([op]) => op !== 'affineFolded')
    .map(([op, n]) =>
      op === 'HardSigmoid' ? `${n} HardSigmoid as u8 requantization (QLinearAdd of 0)` : `${n} ${op}`,
    );
  if (counts.affineFolded)
    parts.push(`${counts.affineFolded} scalar affines folded into quantization parameters`);
  return parts.join(', ') || 'none';
}

/** FP32 det + rec, and a way to score a replacement for one of them on the fixtures. */
async function ocrPair() {
  const manifest = readManifest();
  const det = findEntry(manifest, 'ocr-det', 'fp32')!;
  const rec = findEntry(manifest, 'ocr-rec', 'fp32')!;
  const paths = { det: await verifiedPath(det), rec: await verifiedPath(rec) };
  const evaluate = async (role: 'det' | 'rec', path: string) => {
    const ctx = await ortContext([
      { entry: det, path: role === 'det' ? path : paths.det },
      { entry: rec, path: role === 'rec' ? path : paths.rec },
    ]);
    try {
      return await evalOcr(ctx);
    } finally {
      await ctx.release();
    }
  };
  const fp32Ctx = await ortContext([
    { entry: det, path: paths.det },
    { entry: rec, path: paths.rec },
  ]);
  const feeds = await ocrCalibrationFeeds(fp32Ctx);
  await fp32Ctx.release();
  return { det, rec, paths, evaluate, feeds };
}

/**
 * Static INT8 of one OCR model: calibrated on models/calibration/ocr with min-max and with percentile
 * ranges, each scored on the fixtures (det or rec swapped, the other FP32); the better one is written (a tie
 * keeps min-max), and only if it loses ≤ 1 point.
 */
async function ocrStatic(
  raw: RawManifest,
  role: 'det' | 'rec',
  pair: Awaited<ReturnType<typeof ocrPair>>,
  dryRun: boolean,
) {
  const fp32 = pair[role];
  let src: Uint8Array = new Uint8Array(readFileSync(pair.paths[role]));
  let how = '';
  if ((defaultOpset(decodeModel(src)) ?? 0) < 11) {
    const up = upgradeOpset(src);
    src = up.bytes;
    how = `opset ${up.report.from} upgraded to ${up.report.to} (scripts/quantize/upgrade.ts), `;
  }
  const f = await pair.evaluate(role, pair.paths[role]);
  const file = fp32.file.replace(/\.onnx$/, '.int8.onnx');
  let best: { bytes: Uint8Array; report: StaticReport; acc: OcrEval } | undefined;
  for (const method of METHODS) {
    const q = await quantizeStatic(src, pair.feeds[role], {
      ...OCR_STATIC_OPTIONS,
      method,
    });
    const path = (await writeModel(file, q.bytes)).path;
    const acc = await pair.evaluate(role, path);
    console.log(
      `ocr-${role} static ${method}: ${fp32.bytes} -> ${q.bytes.byteLength} bytes (${((100 * q.bytes.byteLength) / fp32.bytes).toFixed(1)}%), ` +
        `${countOps(q.report.qdq.quantized)}, ` +
        `fixture character accuracy fp32 ${f.charAccuracy.toFixed(4)} int8 ${acc.charAccuracy.toFixed(4)}`,
    );
    if (!best || acc.charAccuracy > best.acc.charAccuracy) best = { ...q, acc };
  }
  const written = await writeModel(file, best!.bytes);
  const r = best!.report;
  const drop = f.charAccuracy - best!.acc.charAccuracy;
  if (dryRun) return;
  const fp32Raw = raw.models.find((m) => m.name === fp32.name && m.precision === 'fp32')!;
  fp32Raw.metrics = {
    ...(fp32Raw.metrics as Record<string, number>),
    fixtureCharAccuracy: round4(f.charAccuracy),
    fixtureCharAccuracyNoSpaces: round4(f.charAccuracyNoSpaces),
    fixtureChars: f.chars,
  };
  if (drop > MAX_DROP) {
    console.log(`ocr-${role}: static INT8 drops ${(100 * drop).toFixed(2)} points (> 1): no INT8 entry`);
    removeInt8(raw, fp32.name, fp32.version);
    return;
  }
  const metrics = {
    fixtureCharAccuracy: round4(best!.acc.charAccuracy),
    fixtureCharAccuracyNoSpaces: round4(best!.acc.charAccuracyNoSpaces),
    fixtureChars: best!.acc.chars,
    fp32FixtureCharAccuracy: round4(f.charAccuracy),
  };
  how +=
    `static QDQ: ${r.simplify.convAffineFolded} scalar affines folded into Conv, ${r.simplify.hardSwishFused} HardSwish rewritten ` +
    `and ${r.simplify.convTransposeFolded} bias Add / BatchNormalization folded into ConvTranspose` +
    (r.simplify.convTransposePairsComposed
      ? `, ${r.simplify.convTransposePairsComposed} pair of ConvTranspose (kernel = stride) [→ Relu] → ConvTranspose as 1 × 1 Conv → Relu → 1 × 1 Conv → DepthToSpace`
      : '') +
    ' ' +
    `(scripts/quantize/simplify.ts), ${countOps(r.qdq.quantized)} weights int8 per-channel symmetric` +
    (r.qdq.quantized.some((q) => q.op === 'MatMul')
      ? ' (MatMul inputs u8 with calibrated scales, outputs float: MatMulIntegerToFloat, batch-independent)'
      : '') +
    ', ' +
    `element-wise ops between them in u8 (${describeElementwise(r.qdq.elementwise)}; scripts/quantize/qdq-elementwise.ts), activations uint8 ` +
    `calibrated by ${r.method}${r.percentile ? ` (${r.percentile} %)` : ''} on ${r.calibrationFeeds} inputs from models/calibration/ocr`;
  upsertInt8(raw, int8Entry(fp32, raw, file, written.sha256, written.bytes, metrics, how));
}

async function main() {
  const { values } = parseArgs({
    options: { only: { type: 'string' }, 'dry-run': { type: 'boolean', default: false } },
  });
  const raw = readRaw();
  const dryRun = values['dry-run'] ?? false;
  if (!values.only || values.only === 'text-spam') await textSpam(raw, dryRun);
  if (!values.only || values.only.startsWith('ocr')) {
    const pair = await ocrPair();
    for (const role of ['det', 'rec'] as const)
      if (!values.only || values.only === 'ocr' || values.only === `ocr-${role}`)
        await ocrStatic(raw, role, pair, dryRun);
  }
  if (!dryRun) {
    writeFileSync(join(MODELS_DIR, 'manifest.json'), `${JSON.stringify(raw, null, 2)}\n`);
    readManifest(); // still valid
    console.log('models/manifest.json updated');
  }
}

if (import.meta.url === `file://${process.argv[1]}`) await main();
