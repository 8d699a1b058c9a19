/**
 * bench:models, text-spam: the weighted sum as shipped before issue 13 (Gather → Mul → ReduceSum; INT8 by the
 * dynamic quantizer) beside the shipped formulation (one batched MatMul; INT8 table read by MatMulInteger),
 * built from the shipped FP32 file's weights, so all four variants carry the same trained model.
 */
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ModelEntry } from '../../app/src/models/manifest.ts';
import { evalText, findEntry, MODELS_DIR, readManifest } from '../lib/model-eval.ts';
import { loadSpamSplit, shortMessagesOf } from '../lib/spam-corpus.ts';
import { textSpamOnnx, textSpamWeights } from '../lib/text-graph.ts';
import type { BagFacts, BagKey, BagVariant, OpProfile } from './models-prose.ts';

type Key = BagKey;

/** The old formulation's FP32 and INT8 bytes, rebuilt from the shipped FP32 file. */
export async function oldTextVariants(): Promise<Record<'oldFp32' | 'oldInt8', Uint8Array>> {
  const { quantizeModel } = await import('../quantize/index.ts');
  const { TEXT_OPTIONS } = await import('../make-int8.ts');
  const fp32 = findEntry(readManifest(), 'text-spam', 'fp32')!;
  const oldFp32 = textSpamOnnx(
    textSpamWeights(readFileSync(join(MODELS_DIR, fp32.file))),
    'mul-reducesum',
    'fp32',
  );
  return { oldFp32, oldInt8: quantizeModel(oldFp32, TEXT_OPTIONS).bytes };
}

/**
 * Accuracy (held-out e-mails and short messages), max |ΔP(spam)| against the old FP32 and the batch-8 ORT
 * profile of each variant; `timings` are the interleaved p50s (ms) measured by the caller.
 */
export async function textBagFacts(
  old: Record<'oldFp32' | 'oldInt8', Uint8Array>,
  timings: Record<Key, { batch1: number; batch8: number }>,
  profile: (path: string) => Promise<OpProfile>,
): Promise<BagFacts> {
  const manifest = readManifest();
  const entry = findEntry(manifest, 'text-spam', 'fp32')!;
  const dir = mkdtempSync(join(tmpdir(), 'clawstack-text-bag-'));
  try {
    const paths: Record<Key, string> = {
      oldFp32: join(dir, 'old-fp32.onnx'),
      oldInt8: join(dir, 'old-int8.onnx'),
      newFp32: join(MODELS_DIR, entry.file),
      newInt8: join(MODELS_DIR, findEntry(manifest, 'text-spam', 'int8')!.file),
    };
    writeFileSync(paths.oldFp32, old.oldFp32);
    writeFileSync(paths.oldInt8, old.oldInt8);
    const split = loadSpamSplit();
    const sets = { emails: split.heldOut, shorts: shortMessagesOf(split).heldOut };
    const out = {} as BagFacts;
    let reference: { emails: Float32Array; shorts: Float32Array } | undefined;
    for (const key of ['oldFp32', 'oldInt8', 'newFp32', 'newInt8'] as const) {
      const v = await variantFacts(paths[key], entry, sets, reference);
      reference ??= v.p;
      out[key] = { ...v.facts, ...timings[key], profile: await profile(paths[key]) };
    }
    const w = textSpamWeights(readFileSync(paths.newFp32));
    return { ...out, dims: { V: w.V, D: w.D, H: w.H } };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

async function variantFacts(
  path: string,
  entry: ModelEntry,
  sets: Record<'emails' | 'shorts', { text: string; y: 0 | 1 }[]>,
  reference: { emails: Float32Array; shorts: Float32Array } | undefined,
): Promise<{
  facts: Omit<BagVariant, 'batch1' | 'batch8'>;
  p: { emails: Float32Array; shorts: Float32Array };
}> {
  const e = await evalText(path, entry, sets.emails);
  const s = await evalText(path, entry, sets.shorts);
  let maxDelta = 0;
  if (reference)
    for (const [a, b] of [
      [e.pSpam, reference.emails],
      [s.pSpam, reference.shorts],
    ] as const)
      a.forEach((p, i) => (maxDelta = Math.max(maxDelta, Math.abs(p - b[i]!))));
  return {
    facts: {
      bytes: statSync(path).size,
      emails: e.accuracy,
      shorts: s.accuracy,
      maxDeltaVsOldFp32: maxDelta,
    },
    p: { emails: e.pSpam, shorts: s.pSpam },
  };
}
