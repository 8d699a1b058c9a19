/**
 * The sentences `bench:models` writes about FP32 vs INT8, each computed from the run's own numbers
 * (latencies, sizes, accuracies, ORT profiles, the quantizer's report on the FP32 file). Pure functions,
 * tested in test/scripts/bench-prose.test.ts: a claim the numbers do not support is never printed.
 */

/** The issue's INT8 targets. */
export const INT8_TARGETS = { sizeRatio: 0.3, latencyRatio: 0.6, accuracyDropPoints: 1 } as const;

/** Ratios within ±10 % of 1 are reported as "about the same" (smaller differences are machine noise here). */
export const SAME_BAND = 0.1;

/** Op type → share of profiled kernel time (0–1), largest first. */
export type OpProfile = Record<string, number>;

/** What the quantizer does to the FP32 file (a subset of scripts/quantize's report). */
export interface QuantizerFacts {
  /** op and weight shape of every weight it quantizes */
  quantized: { op: string; shape: number[] }[];
  /** ops it skips, with its reason */
  skipped: { op: string; reason: string }[];
  /** op types left in float by design, with counts */
  leftFloat: Record<string, number>;
  /** float32 bytes of the quantized weights */
  weightBytes: number;
}

export interface VariantFacts {
  bytes: number;
  batch1: number;
  batch8: number;
  accuracy: { metric: string; value: number };
  profile?: OpProfile;
  /** OCR only: recognised lines per fixture image */
  texts?: Record<string, string[]>;
}

const f2 = (x: number) => x.toFixed(2);
const pct = (x: number) => `${(100 * x).toFixed(x < 0.1 ? 1 : 0)} %`;
const plural = (n: number, word: string) => `${n} ${word}${n === 1 ? '' : 's'}`;

/** "0.35 × FP32, faster" / "1.03 × FP32, about the same" / "1.40 × FP32, slower". */
export function ratioPhrase(ratio: number): string {
  const verdict = ratio < 1 - SAME_BAND ? 'faster' : ratio > 1 + SAME_BAND ? 'slower' : 'about the same';
  return `${f2(ratio)} × FP32, ${verdict}`;
}

export function latencySentence(f: VariantFacts, q: VariantFacts): string {
  return (
    `INT8 latency (p50): ${f2(f.batch1)} → ${f2(q.batch1)} ms at batch 1 (${ratioPhrase(q.batch1 / f.batch1)}), ` +
    `${f2(f.batch8)} → ${f2(q.batch8)} ms at batch 8 (${ratioPhrase(q.batch8 / f.batch8)}); ` +
    `target ≤ ${INT8_TARGETS.latencyRatio} × ${
      Math.max(q.batch1 / f.batch1, q.batch8 / f.batch8) <= INT8_TARGETS.latencyRatio
        ? 'met at both batch sizes'
        : Math.min(q.batch1 / f.batch1, q.batch8 / f.batch8) <= INT8_TARGETS.latencyRatio
          ? 'met at one batch size only'
          : 'not met'
    }.`
  );
}

export function sizeSentence(f: VariantFacts, q: VariantFacts): string {
  const r = q.bytes / f.bytes;
  return `The INT8 file is ${f2(r)} × the FP32 file (${f2(1 / r)}× smaller; target ≤ ${INT8_TARGETS.sizeRatio} × ${r <= INT8_TARGETS.sizeRatio ? 'met' : 'not met'}).`;
}

export function accuracySentence(f: VariantFacts, q: VariantFacts): string {
  const drop = 100 * (f.accuracy.value - q.accuracy.value);
  const show = (v: number) =>
    f.accuracy.metric === 'segment F1' ? v.toFixed(3) : `${(100 * v).toFixed(2)} %`;
  const metric = f.accuracy.metric.charAt(0).toUpperCase() + f.accuracy.metric.slice(1);
  if (Math.abs(drop) < 0.005) return `${metric} is the same in both (${show(f.accuracy.value)}).`;
  return (
    `${metric} ${show(f.accuracy.value)} → ${show(q.accuracy.value)} ` +
    `(${drop > 0 ? `drop of ${f2(drop)}` : `gain of ${f2(-drop)}`} points; a drop ≤ ${INT8_TARGETS.accuracyDropPoints} point is the target).`
  );
}

/** The section heading, from the batch-1 and batch-8 INT8/FP32 latency ratios of every model. */
export function int8Heading(ratios: number[]): string {
  if (ratios.length === 0) return 'INT8 latency';
  if (ratios.every((r) => r <= INT8_TARGETS.latencyRatio)) return 'Why INT8 is faster here';
  if (ratios.every((r) => r > 1 - SAME_BAND)) return 'Why INT8 is not faster here';
  return 'INT8 latency, model by model';
}

export function topOps(profile: OpProfile, n = 5): string {
  return Object.entries(profile)
    .slice(0, n)
    .map(([op, share]) => `${op} ${pct(share)}`)
    .join(', ');
}

/** Share of kernel time in ops whose name matches `re` (MatMul and its quantized forms, Conv, …). */
export function share(profile: OpProfile | undefined, re: RegExp): number {
  return Object.entries(profile ?? {})
    .filter(([op]) => re.test(op))
    .reduce((sum, [, v]) => sum + v, 0);
}

/**
 * What speeding up the quantized ops could at best achieve (Amdahl): if they became free, the rest of
 * the FP32 time would remain.
 */
export function amdahlSentence(fp32Profile: OpProfile, quantizedOps: RegExp, label: string): string {
  const s = share(fp32Profile, quantizedOps);
  const floor = 1 - s;
  const t = INT8_TARGETS.latencyRatio;
  return (
    `${label} kernels are ${pct(s)} of the FP32 kernel time; if INT8 made them free, the rest would take ${f2(floor)} × the FP32 time` +
    (floor > t
      ? `, above the ${t} × target: quantizing these ops cannot reach it.`
      : `, under the ${t} × target: reaching it depends on how much faster the quantized kernels run.`)
  );
}

/** Ops that take ≥ 1 % of INT8's kernel time and do not appear in FP32's profile (the cost INT8 adds). */
export function addedOps(fp32: OpProfile, int8: OpProfile): string | undefined {
  const added = Object.entries(int8).filter(([op, v]) => v >= 0.01 && !(op in fp32));
  if (added.length === 0) return undefined;
  return `INT8 adds ${added.map(([op, v]) => `${op} (${pct(v)} of its kernel time)`).join(', ')}.`;
}

const shape = (s: number[]) => s.map((d) => d.toLocaleString('en-US')).join(' × ');

/** What the quantizer rewrote in this model, and what it left in float, from its report. */
export function quantizerSentence(q: QuantizerFacts, fp32Bytes: number): string {
  const byOp = new Map<string, number[][]>();
  for (const w of q.quantized) byOp.set(w.op, [...(byOp.get(w.op) ?? []), w.shape]);
  const rewritten = [...byOp]
    .map(([op, shapes]) => {
      const distinct = [...new Set(shapes.map(shape))];
      return `${plural(shapes.length, op)} (weights ${distinct.slice(0, 4).join(', ')}${distinct.length > 4 ? ', …' : ''})`;
    })
    .join(' and ');
  const skipped = new Map<string, number>();
  for (const s of q.skipped)
    skipped.set(`${s.op}: ${s.reason}`, (skipped.get(`${s.op}: ${s.reason}`) ?? 0) + 1);
  const left = Object.entries(q.leftFloat).map(([op, n]) => `${n} ${op}`);
  const parts = [
    q.quantized.length ? `the quantizer rewrites ${rewritten}` : 'the quantizer finds no weight to rewrite',
    ...[...skipped].map(([why, n]) => `skips ${n} (${why})`),
    ...(left.length ? [`leaves ${left.join(', ')} in float`] : []),
  ];
  const tail = q.quantized.length
    ? `; the quantized weights are ${pct(q.weightBytes / fp32Bytes)} of the FP32 file, so INT8 (¼ of their size) can shrink the file to ≈ ${f2(1 - 0.75 * (q.weightBytes / fp32Bytes))} × at best`
    : '';
  return `${parts.join(', ')}${tail}.`;
}

/** OCR: whether FP32 and INT8 read the same text on each fixture image. */
export function ocrTextsSentence(f: Record<string, string[]>, q: Record<string, string[]>): string {
  const names = Object.keys(f);
  const differ = names.filter((n) => (f[n] ?? []).join('\n') !== (q[n] ?? []).join('\n'));
  if (differ.length === 0)
    return `FP32 and INT8 read identical text on all ${plural(names.length, 'fixture image')}.`;
  return `FP32 and INT8 read different text on ${differ.length} of ${plural(names.length, 'fixture image')} (${differ.join(', ')}).`;
}

/** One bullet per model with both precisions. */
export function int8Bullet(
  name: string,
  f: VariantFacts,
  q: VariantFacts,
  quantizer: QuantizerFacts,
  profileBatch: number,
): string {
  const parts = [
    `**${name}**: ${quantizerSentence(quantizer, f.bytes)}`,
    sizeSentence(f, q),
    accuracySentence(f, q) + (f.texts && q.texts ? ` ${ocrTextsSentence(f.texts, q.texts)}` : ''),
    latencySentence(f, q),
  ];
  if (f.profile && q.profile) {
    parts.push(
      `ORT's profile at batch ${profileBatch} (share of kernel time): FP32 ${topOps(f.profile)}; INT8 ${topOps(q.profile)}.`,
    );
    const ops = [...new Set(quantizer.quantized.map((w) => w.op))];
    // ORT fuses MatMul (+ Add) into Gemm / FusedGemm in its optimized FP32 graph
    const opsRe = new RegExp(ops.map((op) => (op === 'MatMul' ? 'MatMul|Gemm' : op)).join('|'));
    if (ops.length) parts.push(amdahlSentence(f.profile, opsRe, ops.join(' + ')));
    const added = addedOps(f.profile, q.profile);
    if (added) parts.push(added);
    const floatOps = Object.keys(quantizer.leftFloat);
    const floatShare = floatOps.length
      ? share(f.profile, new RegExp(`^(Fused)?(${floatOps.join('|')})$`))
      : 0;
    if (floatShare > 0)
      parts.push(
        `The ops left in float (${Object.keys(quantizer.leftFloat).join(', ')}) are ${pct(floatShare)} of the FP32 kernel time.`,
      );
  }
  return `- ${parts.join(' ')}`;
}

/** A model shipped in FP32 only: what the quantizer would do to it, and what it costs as it is. */
export function fp32OnlyBullet(name: string, f: VariantFacts, quantizer: QuantizerFacts | string): string {
  const why =
    typeof quantizer === 'string'
      ? `the quantizer fails on it (${quantizer})`
      : quantizerSentence(quantizer, f.bytes).replace(/\.$/, '');
  return `- **${name}** has no INT8 variant in the manifest; with its default ops ${why}. FP32: ${(f.bytes / 1024 / 1024).toFixed(2)} MiB, p50 ${f2(f.batch1)} ms at batch 1.`;
}

/** What the static quantizer did to a model (from make-int8's manifest source and the run). */
export interface StaticFacts {
  /** latency p50s (ms) of the extra variants timed interleaved with FP32 and static INT8 */
  simplifiedBatch1?: number;
  dynamic?: VariantFacts;
  /** x86 features that matter for ORT's int8 kernels, as /proc/cpuinfo names them */
  cpuFlags: string[];
}

/**
 * Splits the static INT8 gain into the part the exact graph simplifications give FP32 alone and the part
 * quantization adds on top (from the interleaved p50s at batch 1).
 */
export function staticAttributionSentence(fp32: number, simplified: number, int8: number): string {
  return (
    `The graph simplifications alone take FP32 from ${f2(fp32)} to ${f2(simplified)} ms at batch 1 (${ratioPhrase(simplified / fp32)}); ` +
    `quantization on top of them gives ${f2(int8)} ms (${f2(int8 / simplified)} × the simplified FP32), ${f2(int8 / fp32)} × the shipped FP32 overall.`
  );
}

/** The dynamic INT8 variant beside the static one: latency and accuracy, at batch 1. */
export function dynamicSentence(f: VariantFacts, s: VariantFacts, d: VariantFacts): string {
  const show = (v: number) => `${(100 * v).toFixed(2)} %`;
  return (
    `Dynamic INT8 of the same FP32 file (MatMul weights only): ${f2(d.batch1)} ms at batch 1 (${ratioPhrase(d.batch1 / f.batch1)}), ` +
    `${f2(d.bytes / f.bytes)} × the file, ${d.accuracy.metric} ${show(d.accuracy.value)}; static: ${f2(s.batch1)} ms (${ratioPhrase(s.batch1 / f.batch1)}), ` +
    `${f2(s.bytes / f.bytes)} × the file, ${show(s.accuracy.value)}.`
  );
}

/**
 * Which int8 dot-product instructions /proc/cpuinfo lists (measured); what ORT's kernels do with them is
 * background knowledge, not something this run measures, and the sentence says so.
 */
export function cpuSentence(flags: string[]): string {
  const has = (f: string) => flags.includes(f);
  const vnni = ['avx512_vnni', 'avx_vnni'].filter(has);
  const background =
    "(Background, not measured by this run: ORT's u8 × s8 GEMM and QLinearConv kernels use VNNI dot products where the CPU has them, AVX2's VPMADDUBSW otherwise.)";
  return vnni.length
    ? `/proc/cpuinfo lists ${vnni.join(' and ')} on this CPU. ${background}`
    : `/proc/cpuinfo lists no VNNI on this CPU (${has('avx2') ? 'AVX2 only' : 'no AVX2 either'}). ${background}`;
}

const U8_KERNEL = /^(QLinear(?!Conv$)\w+|DynamicQuantizeMatMul|MatMulInteger\w*)$/;
const CONVERSION = /^(QuantizeLinear|DequantizeLinear)$/;

/**
 * Where the INT8 kernel time goes: QLinearConv, the other u8 kernels, the float ↔ u8 conversions, and the
 * rest (ops ORT has no u8 kernel for, plus layout and shape ops), naming the largest of the rest.
 */
export function int8BreakdownSentence(fp32: OpProfile, int8: OpProfile): string {
  const conv = share(fp32, /^(Fused)?Conv$/);
  const qconv = share(int8, /^QLinearConv$/);
  const u8 = share(int8, U8_KERNEL);
  const qdq = share(int8, CONVERSION);
  const rest = Object.entries(int8).filter(
    ([op]) => op !== 'QLinearConv' && !U8_KERNEL.test(op) && !CONVERSION.test(op),
  );
  const restShare = rest.reduce((sum, [, v]) => sum + v, 0);
  const largest = rest
    .slice(0, 3)
    .map(([op, v]) => `${op} ${pct(v)}`)
    .join(', ');
  return (
    `Conv is ${pct(conv)} of the FP32 kernel time; in INT8 QLinearConv is ${pct(qconv)}, the other u8 kernels ${pct(u8)}, ` +
    `the float ↔ u8 conversions (QuantizeLinear, DequantizeLinear) ${pct(qdq)} and everything else ${pct(restShare)}` +
    (largest ? ` (largest: ${largest})` : '') +
    '.'
  );
}

/** One bullet per statically quantized model. */
export function staticBullet(
  name: string,
  f: VariantFacts,
  q: VariantFacts,
  s: StaticFacts,
  how: string,
): string {
  const parts = [
    `**${name}** (static INT8: ${how}):`,
    sizeSentence(f, q),
    accuracySentence(f, q) + (f.texts && q.texts ? ` ${ocrTextsSentence(f.texts, q.texts)}` : ''),
    latencySentence(f, q),
  ];
  if (s.simplifiedBatch1 !== undefined)
    parts.push(staticAttributionSentence(f.batch1, s.simplifiedBatch1, q.batch1));
  if (s.dynamic) parts.push(dynamicSentence(f, q, s.dynamic));
  if (f.profile && q.profile) {
    parts.push(
      `ORT's profile at batch 1 (share of kernel time): FP32 ${topOps(f.profile)}; INT8 ${topOps(q.profile)}.`,
    );
    parts.push(int8BreakdownSentence(f.profile, q.profile));
  }
  parts.push(cpuSentence(s.cpuFlags));
  return `- ${parts.join(' ')}`;
}

/**
 * A latency-ratio cell of the targets table with its spread: the interleaved run's ratio and, when the
 * variants were also timed in processes of their own, that ratio too. ✓ only when every measurement is
 * within the target; "✗ (1 of 2)" when one is not.
 */
export function ratioCell(interleaved: number, separate: number | undefined, limit: number): string {
  const all = separate === undefined ? [interleaved] : [interleaved, separate];
  const over = all.filter((r) => !(r <= limit)).length;
  const mark = over === 0 ? '✓' : over === all.length ? '✗' : `✗ (${over} of ${all.length})`;
  return `${f2(interleaved)}${separate === undefined ? '' : ` (separate: ${f2(separate)})`} ${mark}`;
}

/** text-spam, one formulation of the weighted sum (issue 13), measured in this run. */
export interface BagVariant {
  bytes: number;
  /** interleaved p50s, ms */
  batch1: number;
  batch8: number;
  /** accuracy on the held-out e-mails and on the held-out short messages */
  emails: number;
  shorts: number;
  /** largest |ΔP(spam)| against the old FP32 graph over both held-out sets */
  maxDeltaVsOldFp32: number;
  /** ORT profile at batch 8 */
  profile?: OpProfile;
}

/** Before issue 13 (Mul + ReduceSum; INT8 by the dynamic quantizer) and now (one MatMul; INT8 MatMulInteger). */
export interface BagFacts {
  oldFp32: BagVariant;
  oldInt8: BagVariant;
  newFp32: BagVariant;
  newInt8: BagVariant;
  /**
   * interleaved p50s (ms) of a graph with the same inputs and output and one Slice node
   * (scripts/lib/text-graph.ts sessionFloorOnnx): ORT's cost of a session.run without model work
   */
  floor?: { batch1: number; batch8: number };
  /** share of the batch-8 [B,L] ids that are padding (id 0, weight 0: messages of different lengths) */
  paddingShare8?: number;
  /** the trained model's table rows V, width D and fc1 width H */
  dims?: { V: number; D: number; H: number };
}

export type BagKey = Exclude<keyof BagFacts, 'floor' | 'paddingShare8' | 'dims'>;

const BAG_LABELS: Record<BagKey, string> = {
  oldFp32: 'FP32, Mul + ReduceSum (before)',
  oldInt8: 'INT8 dynamic, Mul + ReduceSum (before)',
  newFp32: 'FP32, one MatMul (shipped)',
  newInt8: 'INT8 table + MatMulInteger (shipped)',
};

/** The side-by-side table: every variant against the old FP32 graph. */
export function bagTable(b: BagFacts): string[] {
  const base = b.oldFp32;
  const acc = (x: number) => `${(100 * x).toFixed(2)}%`;
  return [
    '| variant | file | batch 1 p50 | × old FP32 | batch 8 p50 | × old FP32 | e-mails acc. | short acc. | max \\|ΔP(spam)\\| vs old FP32 | top ops at batch 8 |',
    '| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |',
    ...(Object.keys(BAG_LABELS) as BagKey[]).map((k) => {
      const v = b[k];
      return `| ${BAG_LABELS[k]} | ${(v.bytes / 1024 / 1024).toFixed(2)} MiB | ${v.batch1.toFixed(3)} ms | ${f2(v.batch1 / base.batch1)} | ${v.batch8.toFixed(3)} ms | ${f2(v.batch8 / base.batch8)} | ${acc(v.emails)} | ${acc(v.shorts)} | ${v.maxDeltaVsOldFp32.toExponential(1)} | ${v.profile ? topOps(v.profile, 3) : '–'} |`;
    }),
    ...(b.floor
      ? [
          `| ORT floor: same inputs and output, one Slice node (no model) | – | ${b.floor.batch1.toFixed(3)} ms | ${f2(b.floor.batch1 / base.batch1)} | ${b.floor.batch8.toFixed(3)} ms | ${f2(b.floor.batch8 / base.batch8)} | – | – | – | – |`,
        ]
      : []),
  ];
}

/**
 * What the Gather works on, from the run: how much of a batch of 8 is padding, and whether folding fc1 into the
 * table (exact: nothing non-linear sits between the bag and fc1) would make its rows narrower.
 */
export function gatherSentence(b: Pick<BagFacts, 'paddingShare8' | 'dims'>): string {
  const parts: string[] = [];
  if (b.paddingShare8 !== undefined)
    parts.push(
      `At batch 8, ${pct(b.paddingShare8)} of the ids Gather copies a row for are padding (id 0 with weight 0: messages of different lengths packed into one [B, L]), work that only the packing can avoid: the inference thread packs INT8 text batches by length (app/src/inference/pack.ts; the "packed by length" table below).`,
    );
  if (b.dims) {
    const { V, D, H } = b.dims;
    parts.push(
      H < D
        ? `Folding fc1 into the table (exact: no non-linearity between the bag and fc1) would narrow its ${V.toLocaleString('en-US')} rows from ${D} to ${H} values.`
        : `Folding fc1 into the table (exact: no non-linearity between the bag and fc1) would widen its ${V.toLocaleString('en-US')} rows from ${D} to ${H} values, so it is not done.`,
    );
  }
  return parts.join(' ');
}

/**
 * What ORT's floor (a session.run with no model work, timed in the same loop) leaves of the batch-1 target:
 * the target's absolute time against the floor, and FP32 and INT8 above the floor at both batch sizes.
 */
export function floorSentence(
  floor: { batch1: number; batch8: number },
  fp32: { batch1: number; batch8: number },
  int8: { batch1: number; batch8: number },
): string {
  const ms = (x: number) => `${x.toFixed(3)} ms`;
  const target = INT8_TARGETS.latencyRatio * fp32.batch1;
  const margin = target - floor.batch1;
  const verdict =
    margin <= 0
      ? `below the floor (${ms(floor.batch1)}): no graph can meet it at batch 1`
      : margin < 0.0005
        ? `at the floor (${ms(floor.batch1)}): it leaves a graph no time for work at batch 1`
        : `${ms(margin)} above the floor (${ms(floor.batch1)}), which would leave the INT8 graph ${ms(margin)} of work where FP32 does ${ms(fp32.batch1 - floor.batch1)}`;
  const above = (b: 'batch1' | 'batch8') => {
    const f = fp32[b] - floor[b];
    const q = int8[b] - floor[b];
    return `${ms(f)} → ${ms(q)}${f > 0 ? ` (${f2(q / f)} ×)` : ''}`;
  };
  return (
    `ORT’s floor, a graph with the same inputs and output and one Slice node timed in the same loop, takes ${ms(floor.batch1)} / ${ms(floor.batch8)} per session.run at batch 1 / 8 (${f2(floor.batch1 / fp32.batch1)} / ${f2(floor.batch8 / fp32.batch8)} × the shipped FP32). ` +
    `${INT8_TARGETS.latencyRatio} × the FP32 p50 at batch 1 is ${ms(target)}, ${verdict}. ` +
    `Above the floor, FP32 → INT8 is ${above('batch1')} at batch 1 and ${above('batch8')} at batch 8.`
  );
}

/** "0.83 × the old graph, faster" with the same ±10 % band as ratioPhrase. */
function againstOld(ratio: number): string {
  return ratioPhrase(ratio).replace('× FP32', '× the old graph');
}

/** What the reformulation bought, computed from the table's numbers. */
export function bagBullet(b: BagFacts): string {
  const { oldFp32: o, oldInt8: oq, newFp32: n, newInt8: nq } = b;
  const worstDrop = Math.max(
    ...[oq, n, nq].flatMap((v) => [o.emails - v.emails, o.shorts - v.shorts]).map((d) => 100 * d),
  );
  const dropOk = worstDrop <= INT8_TARGETS.accuracyDropPoints;
  const parts = [
    `**text-spam, the weighted sum**: as one batched MatMul the FP32 model takes ${n.batch1.toFixed(3)} ms at batch 1 (${againstOld(n.batch1 / o.batch1)}) and ${n.batch8.toFixed(3)} ms at batch 8 (${againstOld(n.batch8 / o.batch8)}), ${n.maxDeltaVsOldFp32 === 0 ? 'with scores identical to the old graph’s' : `scores equal to the old graph’s within ${n.maxDeltaVsOldFp32.toExponential(1)}`} on both held-out sets.`,
    `The INT8 model (int8 table, uint8 weights, one MatMulInteger, the dequantize scale folded into fc1) takes ${nq.batch1.toFixed(3)} / ${nq.batch8.toFixed(3)} ms: ${f2(nq.batch1 / n.batch1)} / ${f2(nq.batch8 / n.batch8)} × the shipped FP32 and ${f2(nq.batch1 / o.batch1)} / ${f2(nq.batch8 / o.batch8)} × the old FP32 at batch 1 / 8, where the old dynamic INT8 took ${f2(oq.batch1 / o.batch1)} / ${f2(oq.batch8 / o.batch8)} ×.`,
    `Accuracy, e-mails / short messages: old FP32 ${(100 * o.emails).toFixed(2)} / ${(100 * o.shorts).toFixed(2)} %, new FP32 ${(100 * n.emails).toFixed(2)} / ${(100 * n.shorts).toFixed(2)} %, new INT8 ${(100 * nq.emails).toFixed(2)} / ${(100 * nq.shorts).toFixed(2)} % (max |ΔP(spam)| ${nq.maxDeltaVsOldFp32.toFixed(4)}); ` +
      `the largest drop against the old FP32 is ${f2(Math.max(0, worstDrop))} points (≤ ${INT8_TARGETS.accuracyDropPoints}: ${dropOk ? 'met' : 'not met'}).`,
  ];
  if (o.profile && n.profile && nq.profile) {
    const oldSum = share(o.profile, /^(Mul|ReduceSum|Unsqueeze)$/);
    const deq = share(oq.profile, /^DequantizeLinear$/);
    const gather = share(nq.profile, /^Gather$/);
    parts.push(
      `At batch 8 the old graph spent ${pct(oldSum)} of its kernel time in Mul + ReduceSum + Unsqueeze; the MatMul that replaces them is ${pct(share(n.profile, /^MatMul$/))} of the new FP32 time` +
        (oq.profile
          ? `, and the old INT8's DequantizeLinear (${pct(deq)}) is gone from the new INT8, which has none`
          : '') +
        '.',
    );
    const largest = Object.keys(nq.profile)[0];
    if (largest === 'Gather')
      parts.push(
        `Gather, one row copy per feature, is now the largest INT8 op (${pct(gather)}): what remains is mostly the lookup itself.`,
      );
  }
  if (b.paddingShare8 !== undefined || b.dims) parts.push(gatherSentence(b));
  if (b.floor) parts.push(floorSentence(b.floor, n, nq));
  return `- ${parts.join(' ')}`;
}
