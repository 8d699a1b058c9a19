/**
 * Packing a batch by length: rows of different lengths collated into one `[B, L]` tensor are padded to
 * the longest, and for the text model (an embedding bag: Gather + weighted sum) the padding costs as much
 * as real ids — Gather copies a row per id — so at batch 8 of held-out messages 66 % of its work was
 * padding (docs/benchmarks.md, models section). A batch is instead split into sub-batches of similar
 * length, each its own session.run, chosen to minimise Σ (rows × longest length) + one run's overhead per
 * sub-batch; results go back in request order.
 *
 * Only for models where padding is inert (prepare.ts `packsByLength`): the text bag's padding id 0 has
 * weight 0, so a row's output does not depend on its batch-mates or on L (the INT8 bag sums in int32,
 * exactly; test/app/pack.test.ts compares packed and unpacked scores on the held-out fixtures).
 */
import type { TensorData, TensorMap } from '../modalities/types.ts';
import { allocate, elementCount } from './tensors.ts';

/**
 * One session.run's fixed cost, in padded ids of the text model. ORT's floor (a one-Slice graph with the
 * same inputs, ≈ 0.02 ms per run, bench:models) over the average cost of one more id (≈ 1.4e-5 ms: (0.148 −
 * 0.027) ms at batch 8 over 8 × 1,085 ids) gives ≈ 1,500, but that undercounts: every padding id fetches the
 * same table row (id 0), which stays in cache, so a padding id costs less than the average id, and each
 * extra run also collates and copies rows. A sweep of the INT8 model on the held-out messages (1,500 to
 * 32,000 ids, padded and packed interleaved, 2026-12-01) split batch 8 into 1.76 runs at 1,500 and was
 * 1.10–1.13 × slower than one padded run; at 8,000 batch 8 was 0.92–1.10 ×, batch 16 0.79–0.91 × and
 * batch 32 0.74–0.78 × (as good as at 1,500). bench:models' "packed by length" rows measure it again.
 */
export const RUN_OVERHEAD_IDS = 8000;

/**
 * Sub-batches (lists of indices into `lengths`, each sorted by length) minimising Σ over sub-batches of
 * rows × max length + `runOverhead`. Exact: sorted by length, the best cuts of a sorted list are contiguous,
 * found by dynamic programming over the cut points (O(n²), n ≤ the engine's batch size).
 */
export function planByLength(lengths: readonly number[], runOverhead = RUN_OVERHEAD_IDS): number[][] {
  const n = lengths.length;
  if (n <= 1) return n ? [[0]] : [];
  // Stable: equal lengths keep request order.
  const order = lengths.map((_, i) => i).sort((a, b) => lengths[a]! - lengths[b]! || a - b);
  const len = order.map((i) => Math.max(1, lengths[i]!));
  const best = new Float64Array(n + 1); // best[j]: cost of the first j sorted rows
  const cut = new Int32Array(n + 1); // cut[j]: where the last sub-batch of the first j rows starts
  for (let j = 1; j <= n; j++) {
    best[j] = Infinity;
    for (let i = 0; i < j; i++) {
      const cost = best[i]! + (j - i) * len[j - 1]! + runOverhead;
      if (cost < best[j]!) {
        best[j] = cost;
        cut[j] = i;
      }
    }
  }
  const groups: number[][] = [];
  for (let j = n; j > 0; j = cut[j]!) groups.unshift(order.slice(cut[j]!, j));
  return groups;
}

/** Σ rows × longest length of each group (the ids a batched Gather copies), for reports and tests. */
export function paddedSize(lengths: readonly number[], groups: readonly number[][]): number {
  let total = 0;
  for (const g of groups) total += g.length * Math.max(1, ...g.map((i) => lengths[i]!));
  return total;
}

/**
 * Puts sub-batch outputs back together in request order: `parts[k]` holds the outputs of the rows
 * `groups[k]` (in that order). Every output must have the same non-batch dims in every part.
 */
export function gatherRows(
  groups: readonly number[][],
  parts: readonly TensorMap[],
  count: number,
): TensorMap {
  const out: TensorMap = {};
  for (const name of Object.keys(parts[0] ?? {})) {
    const inner = parts[0]![name]!.dims.slice(1);
    const stride = elementCount(inner);
    const first = parts[0]![name]!;
    const data = allocate(first.type, count * stride);
    parts.forEach((p, k) => {
      const t: TensorData | undefined = p[name];
      if (!t || t.type !== first.type || t.dims.slice(1).join() !== inner.join())
        throw new Error(`output ${name}: sub-batches disagree on its shape, so they cannot be packed`);
      groups[k]!.forEach((row, r) =>
        (data as Float32Array).set(
          (t.data as Float32Array).subarray(r * stride, (r + 1) * stride),
          row * stride,
        ),
      );
    });
    out[name] = { type: first.type, data, dims: [count, ...inner] };
  }
  return out;
}
