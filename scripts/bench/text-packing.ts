/**
 * bench:models, text-spam INT8: a batch of held-out messages run as one padded [B, L] batch (the raw
 * approach, and the product before packing) against the same batch packed by length
 * (app/src/inference/pack.ts: sub-batches of similar length, each its own session.run, rows back in request
 * order), at batch 8 and 32, timed interleaved in one process. The packed time includes planning,
 * collating each sub-batch and putting the rows back, as the inference thread does it.
 */
import ort from 'onnxruntime-node';
import { gatherRows, paddedSize, planByLength, RUN_OVERHEAD_IDS } from '../../app/src/inference/pack.ts';
import { collate } from '../../app/src/inference/tensors.ts';
import { textFeeds } from '../../app/src/modalities/text/feeds.ts';
import type { TensorData, TensorMap } from '../../app/src/modalities/types.ts';
import type { ModelEntry } from '../../app/src/models/manifest.ts';

export interface PackingRow {
  batch: number;
  /** p50 ms per batch: one padded session.run; packed (plan + sub-batch runs + gather) */
  paddedMs: number;
  packedMs: number;
  /** mean sub-batches per batch */
  runsPerBatch: number;
  /** ids the model's Gather reads, padded and packed, as a share of the padded batch's */
  paddingShare: number;
  packedPaddingShare: number;
  /** the packed outputs equal the padded ones byte for byte on every batch */
  identical: boolean;
}

const toOrt = (feeds: TensorMap) =>
  Object.fromEntries(Object.entries(feeds).map(([k, t]) => [k, new ort.Tensor(t.type, t.data, t.dims)]));

const fromOrt = (out: ort.InferenceSession.ReturnType): TensorMap =>
  Object.fromEntries(
    Object.entries(out).map(([k, t]): [string, TensorData] => [
      k,
      { type: 'float32', data: t.data as Float32Array, dims: [...t.dims] },
    ]),
  );

const p50 = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

/** The rows for `batches` of the held-out `texts` through the INT8 `entry` in `session`. */
export async function packingRows(
  session: ort.InferenceSession,
  entry: ModelEntry,
  texts: string[],
  opts: { batches: number[]; rounds: number },
): Promise<PackingRow[]> {
  const feeds = texts.map((t) => textFeeds(entry, t));
  const length = (f: TensorMap) => f.ids!.dims[1]!;
  const rows: PackingRow[] = [];
  for (const B of opts.batches) {
    const batches: TensorMap[][] = [];
    for (let i = 0; i + B <= feeds.length; i += B) batches.push(feeds.slice(i, i + B));
    const padded = async (b: TensorMap[]) => fromOrt(await session.run(toOrt(collate(b))));
    const packed = async (b: TensorMap[]) => {
      const plan = planByLength(b.map(length));
      const parts: TensorMap[] = [];
      for (const g of plan) parts.push(fromOrt(await session.run(toOrt(collate(g.map((i) => b[i]!))))));
      return gatherRows(plan, parts, b.length);
    };
    let identical = true;
    for (const b of batches) {
      const [x, y] = [(await padded(b)).probabilities!.data, (await packed(b)).probabilities!.data];
      identical &&=
        Buffer.compare(
          Buffer.from(x.buffer, x.byteOffset, x.byteLength),
          Buffer.from(y.buffer, y.byteOffset, y.byteLength),
        ) === 0;
    }
    const ms: [number[], number[]] = [[], []];
    for (let r = 0; r < opts.rounds; r++) {
      for (const [k, b] of batches.entries()) {
        // Alternate which goes first, so that load from other work hits both alike.
        const order = (r + k) % 2 ? ([1, 0] as const) : ([0, 1] as const);
        for (const j of order) {
          const t = performance.now();
          await (j === 0 ? padded(b) : packed(b));
          ms[j].push(performance.now() - t);
        }
      }
    }
    let real = 0;
    let paddedIds = 0;
    let packedIds = 0;
    let runs = 0;
    for (const b of batches) {
      const lengths = b.map(length);
      const plan = planByLength(lengths);
      real += lengths.reduce((a, c) => a + c, 0);
      paddedIds += paddedSize(lengths, [lengths.map((_, i) => i)]);
      packedIds += paddedSize(lengths, plan);
      runs += plan.length;
    }
    rows.push({
      batch: B,
      paddedMs: p50(ms[0]),
      packedMs: p50(ms[1]),
      runsPerBatch: runs / batches.length,
      paddingShare: (paddedIds - real) / paddedIds,
      packedPaddingShare: (packedIds - real) / packedIds,
      identical,
    });
  }
  return rows;
}

/** The markdown rows (and the overhead the plan assumed) for the text-spam section. */
export function packingTable(rows: PackingRow[]): string[] {
  const pct = (x: number) => `${Math.round(100 * x)} %`;
  return [
    `| text-spam INT8, held-out messages | ms per batch (p50) | × padded | session.runs per batch | ids that are padding | scores |`,
    `| --------------------------------- | ------------------ | -------- | ---------------------- | -------------------- | ------ |`,
    ...rows.flatMap((r) => [
      `| batch ${r.batch}, one padded [B, L] (raw, and the product before) | ${r.paddedMs.toFixed(3)} | 1.00 | 1 | ${pct(r.paddingShare)} | – |`,
      `| batch ${r.batch}, packed by length (the product) | ${r.packedMs.toFixed(3)} | ${(r.packedMs / r.paddedMs).toFixed(2)} | ${r.runsPerBatch.toFixed(2)} | ${pct(r.packedPaddingShare)} | ${r.identical ? 'bit-identical' : '**differ**'} |`,
    ]),
    '',
    `Packed: app/src/inference/pack.ts plans each batch (sorted by length, cuts minimising Σ rows × L + ${RUN_OVERHEAD_IDS} padded ids per extra session.run: one run's cost, RUN_OVERHEAD_IDS), runs each sub-batch and puts the rows back in request order, all inside the timed span.`,
  ];
}
