/**
 * The benches' prose (scripts/bench/models-prose.ts, scripts/bench/serve-prose.ts): given numbers, the
 * sentence says what they show — and not what they do not.
 */
import assert from 'node:assert/strict';
import type { Stage } from '../../app/src/telemetry/stages.ts';
import type { StageRun } from '../../scripts/bench/stages.ts';
import { describe, test } from 'node:test';
import {
  accuracySentence,
  addedOps,
  bagBullet,
  bagTable,
  floorSentence,
  gatherSentence,
  type BagFacts,
  cpuSentence,
  ratioCell,
  dynamicSentence,
  staticAttributionSentence,
  staticBullet,
  int8BreakdownSentence,
  amdahlSentence,
  int8Bullet,
  int8Heading,
  latencySentence,
  ocrTextsSentence,
  quantizerSentence,
  ratioPhrase,
  sizeSentence,
  type QuantizerFacts,
  type VariantFacts,
} from '../../scripts/bench/models-prose.ts';
import { cpuFlags, runLine } from '../../scripts/bench/machine.ts';
import {
  allUnder,
  boundPhrase,
  bundleAdvice,
  c1Bullets,
  stagesBullet,
  c64Bullets,
  ceilingBullet,
  changes,
  compileCacheAdvice,
  numbered,
  rawBatchSentence,
  settingsLine,
  shares,
  startRows,
  startSentence,
  sweepSentence,
  issue13Rows,
  jobsSentence,
  loadedRssStatus,
  allModelsSentence,
  spreadStatus,
  prepareSentence,
  windowsSentence,
  queueCostRows,
  queueSentence,
  bulkSentence,
  extraRedisCommands,
  stageRows,
  stageSentence,
  type QueueFacts,
  type C1Input,
  type Shares,
} from '../../scripts/bench/serve-prose.ts';

const variant = (over: Partial<VariantFacts> = {}): VariantFacts => ({
  bytes: 8_000_000,
  batch1: 0.14,
  batch8: 0.7,
  accuracy: { metric: 'accuracy', value: 0.9856 },
  ...over,
});

const OCR_REC_REPORT: QuantizerFacts = {
  quantized: Array.from({ length: 9 }, (_, i) => ({
    op: 'MatMul',
    shape: i === 8 ? [120, 6625] : [120, 360],
  })),
  skipped: Array.from({ length: 4 }, () => ({
    op: 'MatMul',
    reason: 'weight (input B) is not a constant initializer',
  })),
  leftFloat: { Conv: 38 },
  weightBytes: 4_101_600,
};

describe('bench:models prose', () => {
  test('latency wording follows the ratio: 0.35 × is "faster", never "about the same"', () => {
    assert.equal(ratioPhrase(0.35), '0.35 × FP32, faster');
    assert.equal(ratioPhrase(1.03), '1.03 × FP32, about the same');
    assert.equal(ratioPhrase(0.95), '0.95 × FP32, about the same');
    assert.equal(ratioPhrase(1.4), '1.40 × FP32, slower');
    const fast = latencySentence(variant(), variant({ batch1: 0.049, batch8: 0.245 }));
    assert.match(fast, /0\.35 × FP32, faster.*0\.35 × FP32, faster.*met at both batch sizes/);
    assert.doesNotMatch(fast, /about the same/);
    const mixed = latencySentence(variant(), variant({ batch1: 0.07, batch8: 0.7 }));
    assert.match(mixed, /met at one batch size only/);
    assert.match(latencySentence(variant(), variant({ batch1: 0.14, batch8: 0.68 })), /not met\.$/);
  });

  test('size and accuracy sentences come from the bytes and the accuracies', () => {
    assert.match(sizeSentence(variant(), variant({ bytes: 2_000_000 })), /0\.25 × .*4\.00× smaller.*met\)/);
    assert.match(sizeSentence(variant(), variant({ bytes: 5_760_000 })), /0\.72 × .*not met/);
    assert.equal(accuracySentence(variant(), variant()), 'Accuracy is the same in both (98.56 %).');
    assert.match(
      accuracySentence(variant(), variant({ accuracy: { metric: 'accuracy', value: 0.97 } })),
      /98\.56 % → 97\.00 % \(drop of 1\.56 points/,
    );
    const f1 = (v: number) => variant({ accuracy: { metric: 'segment F1', value: v } });
    assert.match(accuracySentence(f1(0.9), f1(0.95)), /Segment F1 0\.900 → 0\.950 \(gain of 5\.00 points/);
  });

  test('the heading says "not faster" only when no model got faster', () => {
    assert.equal(int8Heading([1.03, 0.96, 1.0, 1.03]), 'Why INT8 is not faster here');
    assert.equal(int8Heading([0.35, 0.4]), 'Why INT8 is faster here');
    assert.equal(int8Heading([0.35, 1.02]), 'INT8 latency, model by model');
    assert.equal(int8Heading([0.8]), 'INT8 latency, model by model');
  });

  test('the Amdahl bound: out of reach only when the rest of the time is above the target', () => {
    const profile = { Conv: 0.69, Mul: 0.06, MatMul: 0.03, Gemm: 0.007 };
    assert.match(amdahlSentence(profile, /MatMul|Gemm/, 'MatMul'), /3\.7 % .* 0\.96 × .*cannot reach it/);
    assert.match(
      amdahlSentence({ Gather: 0.7, Mul: 0.2, FusedGemm: 0.1 }, /Gather|MatMul|Gemm/, 'Gather + MatMul'),
      /80 % .* 0\.20 × .*under the 0\.6 × target/,
    );
  });

  test('ops INT8 adds are named only when the INT8 profile has them', () => {
    assert.equal(
      addedOps({ Mul: 0.68, Gather: 0.24 }, { Mul: 0.38, DequantizeLinear: 0.24, Gather: 0.21 }),
      'INT8 adds DequantizeLinear (24 % of its kernel time).',
    );
    assert.equal(addedOps({ Mul: 0.5, Gather: 0.5 }, { Mul: 0.5, Gather: 0.5 }), undefined);
  });

  test("op counts come from the quantizer's report, not from the text", () => {
    const s = quantizerSentence(OCR_REC_REPORT, 10_825_161);
    assert.match(s, /rewrites 9 MatMuls \(weights 120 × 360, 120 × 6,625\)/);
    assert.match(s, /skips 4 \(MatMul: weight \(input B\) is not a constant initializer\)/);
    assert.match(s, /leaves 38 Conv in float/);
    assert.match(s, /38 % of the FP32 file.*≈ 0\.72 × at best/);
    const other = quantizerSentence(
      { ...OCR_REC_REPORT, quantized: OCR_REC_REPORT.quantized.slice(0, 2) },
      1e7,
    );
    assert.match(other, /rewrites 2 MatMuls/);
    const none = quantizerSentence(
      { quantized: [], skipped: [], leftFloat: { Conv: 62, ConvTranspose: 2 }, weightBytes: 0 },
      1e6,
    );
    assert.equal(none, 'the quantizer finds no weight to rewrite, leaves 62 Conv, 2 ConvTranspose in float.');
  });

  test('"identical text on every image" only when every image reads the same', () => {
    const a = { 'a.png': ['INVOICE 42'], 'b.png': ['Hello', 'world'] };
    assert.equal(
      ocrTextsSentence(a, structuredClone(a)),
      'FP32 and INT8 read identical text on all 2 fixture images.',
    );
    assert.equal(
      ocrTextsSentence(a, { ...a, 'b.png': ['Hello', 'w0rld'] }),
      'FP32 and INT8 read different text on 1 of 2 fixture images (b.png).',
    );
  });

  test('a model bullet carries the measured ratio and the profile-derived claims', () => {
    const f = variant({
      bytes: 10_825_161,
      batch1: 53.26,
      batch8: 666,
      profile: { Conv: 0.69, Mul: 0.06, Gemm: 0.03 },
    });
    const q = variant({
      bytes: 7_760_000,
      batch1: 18.6,
      batch8: 690,
      profile: { Conv: 0.68, DynamicQuantizeMatMul: 0.04 },
    });
    const bullet = int8Bullet('ocr-rec', f, q, OCR_REC_REPORT, 1);
    assert.match(bullet, /^- \*\*ocr-rec\*\*: the quantizer rewrites 9 MatMuls/);
    assert.match(bullet, /53\.26 → 18\.60 ms at batch 1 \(0\.35 × FP32, faster\)/);
    assert.match(bullet, /MatMul kernels are 3\.0 % .*cannot reach it/);
    assert.match(bullet, /INT8 adds DynamicQuantizeMatMul/);
    assert.match(bullet, /ops left in float \(Conv\) are 69 %/);
  });
});

const bag = (over: Partial<Record<keyof BagFacts, Partial<BagFacts['oldFp32']>>> = {}): BagFacts => {
  const v = (
    batch1: number,
    batch8: number,
    emails: number,
    shorts: number,
    profile: Record<string, number>,
  ) => ({
    bytes: 8_398_642,
    batch1,
    batch8,
    emails,
    shorts,
    maxDeltaVsOldFp32: 0,
    profile,
  });
  return {
    oldFp32: {
      ...v(0.05, 0.4, 0.984, 0.8358, { Mul: 0.43, Gather: 0.4, ReduceSum: 0.09, Unsqueeze: 0.02 }),
      ...over.oldFp32,
    },
    oldInt8: {
      ...v(0.052, 0.36, 0.984, 0.8374, { Mul: 0.44, DequantizeLinear: 0.39, Gather: 0.12 }),
      ...over.oldInt8,
    },
    newFp32: {
      ...v(0.04, 0.28, 0.984, 0.8358, { Gather: 0.68, MatMul: 0.13, FusedGemm: 0.1 }),
      ...over.newFp32,
    },
    newInt8: {
      ...v(0.038, 0.19, 0.984, 0.8358, { Gather: 0.4, MatMulInteger: 0.2, QuantizeLinear: 0.1 }),
      ...over.newInt8,
    },
  };
};

describe('bench:models prose, text-spam formulations', () => {
  test('the table puts every variant against the old FP32 graph, from the run’s p50s', () => {
    const rows = bagTable(bag());
    assert.equal(rows.length, 6);
    assert.match(
      rows[2]!,
      /^\| FP32, Mul \+ ReduceSum \(before\) \| 8\.01 MiB \| 0\.050 ms \| 1\.00 \| 0\.400 ms \| 1\.00 \|/,
    );
    assert.match(
      rows[4]!,
      /^\| FP32, one MatMul \(shipped\) .*\| 0\.040 ms \| 0\.80 \| 0\.280 ms \| 0\.70 \|/,
    );
    assert.match(rows[5]!, /\| 0\.038 ms \| 0\.76 \| 0\.190 ms \| 0\.47 \| 98\.40% \| 83\.58% \|/);
  });

  test('"faster" and "about the same" follow the ratios to the old graph', () => {
    assert.match(bagBullet(bag()), /0\.040 ms at batch 1 \(0\.80 × the old graph, faster\)/);
    const same = bagBullet(bag({ newFp32: { batch1: 0.048 } }));
    assert.match(same, /0\.048 ms at batch 1 \(0\.96 × the old graph, about the same\)/);
    assert.match(bagBullet(bag()), /with scores identical to the old graph’s/);
    assert.match(bagBullet(bag({ newFp32: { maxDeltaVsOldFp32: 6e-8 } })), /within 6\.0e-8 on both/);
    assert.match(bagBullet(bag()), /0\.95 \/ 0\.68 × the shipped FP32 and 0\.76 \/ 0\.47 × the old FP32/);
  });

  test('the accuracy verdict is the largest drop of any new variant on either set', () => {
    assert.match(bagBullet(bag()), /largest drop against the old FP32 is 0\.00 points \(≤ 1: met\)/);
    const worse = bagBullet(bag({ newInt8: { shorts: 0.82 } }));
    assert.match(worse, /largest drop against the old FP32 is 1\.58 points \(≤ 1: not met\)/);
  });

  test('profile claims come from the profiles: replaced ops, the old DequantizeLinear, Gather only when largest', () => {
    const b = bagBullet(bag());
    assert.match(b, /old graph spent 54 % of its kernel time in Mul \+ ReduceSum \+ Unsqueeze/);
    assert.match(b, /the MatMul that replaces them is 13 % of the new FP32 time/);
    assert.match(b, /DequantizeLinear \(39 %\) is gone/);
    assert.match(b, /Gather, one row copy per feature, is now the largest INT8 op \(40 %\)/);
    const notLargest = bagBullet(bag({ newInt8: { profile: { MatMulInteger: 0.5, Gather: 0.3 } } }));
    assert.doesNotMatch(notLargest, /largest INT8 op/);
  });
});

describe('bench:models prose, ORT floor of text-spam', () => {
  const floor = { batch1: 0.025, batch8: 0.03 };
  test('the floor is a table row against the old FP32 graph, only when measured', () => {
    assert.equal(bagTable(bag()).length, 6);
    const rows = bagTable({ ...bag(), floor });
    assert.equal(rows.length, 7);
    assert.match(rows[6]!, /^\| ORT floor: .* \| – \| 0\.025 ms \| 0\.50 \| 0\.030 ms \| 0\.07 \| – \|/);
    assert.doesNotMatch(bagBullet(bag()), /ORT’s floor/);
    assert.match(bagBullet({ ...bag(), floor }), /ORT’s floor, a graph with the same inputs and output/);
  });

  test('a batch-1 target under the floor is called unreachable, from the numbers', () => {
    const s = floorSentence(floor, { batch1: 0.04, batch8: 0.28 }, { batch1: 0.038, batch8: 0.19 });
    assert.match(
      s,
      /takes 0\.025 ms \/ 0\.030 ms per session\.run at batch 1 \/ 8 \(0\.63 \/ 0\.11 × the shipped FP32\)/,
    );
    assert.match(
      s,
      /0\.6 × the FP32 p50 at batch 1 is 0\.024 ms, below the floor \(0\.025 ms\): no graph can meet it/,
    );
    assert.match(
      s,
      /FP32 → INT8 is 0\.015 ms → 0\.013 ms \(0\.87 ×\) at batch 1 and 0\.250 ms → 0\.160 ms \(0\.64 ×\) at batch 8/,
    );
  });

  test('padding and the fc1 fold are stated from the run’s numbers, only when measured', () => {
    const s = gatherSentence({ paddingShare8: 0.656, dims: { V: 65536, D: 32, H: 64 } });
    assert.match(s, /At batch 8, 66 % of the ids Gather copies a row for are padding/);
    assert.match(s, /would widen its 65,536 rows from 32 to 64 values, so it is not done/);
    assert.match(
      gatherSentence({ dims: { V: 4096, D: 64, H: 16 } }),
      /would narrow its 4,096 rows from 64 to 16/,
    );
    assert.doesNotMatch(bagBullet(bag()), /padding/);
    assert.match(bagBullet({ ...bag(), paddingShare8: 0.5 }), /At batch 8, 50 % of the ids/);
  });

  test('a target within half a microsecond of the floor is called at the floor', () => {
    const s = floorSentence(
      { batch1: 0.0238, batch8: 0.05 },
      { batch1: 0.04, batch8: 0.28 },
      { batch1: 0.038, batch8: 0.19 },
    );
    assert.match(s, /is 0\.024 ms, at the floor \(0\.024 ms\): it leaves a graph no time for work/);
  });

  test('a target above the floor says how much work it leaves', () => {
    const s = floorSentence(
      { batch1: 0.01, batch8: 0.02 },
      { batch1: 0.04, batch8: 0.28 },
      { batch1: 0.03, batch8: 0.19 },
    );
    assert.match(
      s,
      /is 0\.024 ms, 0\.014 ms above the floor \(0\.010 ms\), which would leave the INT8 graph 0\.014 ms of work where FP32 does 0\.030 ms/,
    );
  });
});

describe('bench:models prose, static INT8', () => {
  test('the attribution splits the gain between the simplifications and quantization', () => {
    const s = staticAttributionSentence(74, 54.6, 41.8);
    assert.match(s, /from 74\.00 to 54\.60 ms at batch 1 \(0\.74 × FP32, faster\)/);
    assert.match(s, /41\.80 ms \(0\.77 × the simplified FP32\), 0\.56 × the shipped FP32 overall/);
    // simplifications that change nothing are "about the same", not "faster"
    assert.match(staticAttributionSentence(100, 104, 70), /1\.04 × FP32, about the same/);
  });

  test('dynamic beside static: latency ratios and accuracies of both', () => {
    const f = variant({
      bytes: 10_000_000,
      batch1: 50,
      accuracy: { metric: 'character accuracy', value: 0.9884 },
    });
    const st = variant({
      bytes: 2_700_000,
      batch1: 30,
      accuracy: { metric: 'character accuracy', value: 1 },
    });
    const d = variant({
      bytes: 7_200_000,
      batch1: 51,
      accuracy: { metric: 'character accuracy', value: 0.9884 },
    });
    const s = dynamicSentence(f, st, d);
    assert.match(
      s,
      /51\.00 ms at batch 1 \(1\.02 × FP32, about the same\), 0\.72 × the file, character accuracy 98\.84 %/,
    );
    assert.match(s, /static: 30\.00 ms \(0\.60 × FP32, faster\), 0\.27 × the file, 100\.00 %/);
  });

  test('the machine line written with the fault and soak results carries commit, CPU, features and load', () => {
    const line = runLine(
      {
        commit: 'abc1234-dirty',
        cpuModel: 'AMD EPYC 7B13',
        cores: 2,
        loadAvg: [1.5, 2, 3],
        date: '2026-11-30T22:10:00.000Z',
        cpuFlags: ['avx2', 'avx512_vnni'],
      },
      [4, 5, 6],
    );
    assert.equal(
      line,
      'Measured at commit abc1234-dirty, 2026-11-30 22:10 UTC, on AMD EPYC 7B13 (2 cores, shared with other work; CPU features avx2, avx512_vnni); load average 1.50 2.00 3.00 at the start, 4.00 5.00 6.00 at the end.',
    );
  });

  test('the CPU sentence names VNNI only when /proc/cpuinfo lists it', () => {
    const epyc = cpuFlags(
      'processor : 0\nflags : fpu sse avx2 fma avx512f avx512bw avx512vl avx512_vnni avx_vnni\n',
    );
    assert.deepEqual(epyc, ['avx2', 'fma', 'avx512f', 'avx512bw', 'avx512vl', 'avx512_vnni', 'avx_vnni']);
    assert.match(cpuSentence(epyc), /lists avx512_vnni and avx_vnni on this CPU/);
    const old = cpuFlags('flags : fpu sse avx2 fma\n');
    assert.match(cpuSentence(old), /lists no VNNI on this CPU \(AVX2 only\)/);
    // What ORT does with them is not measured: said as background, in both cases.
    for (const s of [cpuSentence(epyc), cpuSentence(old)])
      assert.match(s, /\(Background, not measured by this run: .*VPMADDUBSW otherwise\.\)$/);
  });

  test('a latency target is ticked only when the interleaved and the separate runs are both within it', () => {
    assert.equal(ratioCell(0.54, 0.58, 0.6), '0.54 (separate: 0.58) ✓');
    assert.equal(ratioCell(0.54, 0.71, 0.6), '0.54 (separate: 0.71) ✗ (1 of 2)');
    assert.equal(ratioCell(0.81, 0.9, 0.6), '0.81 (separate: 0.90) ✗');
    assert.equal(ratioCell(0.5, undefined, 0.6), '0.50 ✓');
  });

  test('a static bullet carries the size, latency and profile shares of this run', () => {
    const f = variant({
      bytes: 4_745_517,
      batch1: 112,
      batch8: 1000,
      accuracy: { metric: 'character accuracy', value: 0.9884 },
      profile: { Conv: 0.43, Clip: 0.25, Add: 0.1 },
    });
    const q = variant({
      bytes: 1_398_795,
      batch1: 77,
      batch8: 650,
      accuracy: { metric: 'character accuracy', value: 0.9961 },
      profile: { QLinearConv: 0.28, HardSigmoid: 0.27, DequantizeLinear: 0.26, QuantizeLinear: 0.03 },
    });
    const b = staticBullet('ocr-det', f, q, { simplifiedBatch1: 119, cpuFlags: ['avx2'] }, '62 Conv int8');
    assert.match(b, /^- \*\*ocr-det\*\* \(static INT8: 62 Conv int8\):/);
    assert.match(b, /0\.29 × the FP32 file .*target ≤ 0\.3 × met/);
    assert.match(b, /112\.00 → 77\.00 ms at batch 1 \(0\.69 × FP32, faster\)/);
    assert.match(b, /target ≤ 0\.6 × not met/);
    assert.match(
      b,
      /Conv is 43 % of the FP32 kernel time; in INT8 QLinearConv is 28 %, the other u8 kernels 0\.0 %, the float ↔ u8 conversions \(QuantizeLinear, DequantizeLinear\) 29 % and everything else 27 % \(largest: HardSigmoid 27 %\)/,
    );
    assert.match(b, /no VNNI/);
  });

  test('the INT8 breakdown counts QLinear* (not QLinearConv) and DynamicQuantizeMatMul as u8 kernels, the rest by name', () => {
    const s = int8BreakdownSentence(
      { Conv: 0.5, Add: 0.3, Mul: 0.2 },
      {
        QLinearConv: 0.33,
        ConvTranspose: 0.2,
        QLinearMul: 0.12,
        Resize: 0.1,
        QLinearLeakyRelu: 0.08,
        QLinearAdd: 0.06,
        DynamicQuantizeMatMul: 0.05,
        QuantizeLinear: 0.02,
        Transpose: 0.02,
        DequantizeLinear: 0.02,
      },
    );
    assert.equal(
      s,
      'Conv is 50 % of the FP32 kernel time; in INT8 QLinearConv is 33 %, the other u8 kernels 31 %, ' +
        'the float ↔ u8 conversions (QuantizeLinear, DequantizeLinear) 4.0 % and everything else 32 % ' +
        '(largest: ConvTranspose 20 %, Resize 10 %, Transpose 2.0 %).',
    );
  });
});

const SHARES: Shares = {
  featurizer: 0.36,
  http: 0.23,
  express: 0.12,
  pino: 0,
  redis: 0.032,
  zod: 0.002,
  engine: 0.015,
  gc: 0.058,
  rest: 0.173,
};

const C1: C1Input = {
  rawTotalP50: 0.39,
  naiveP50: 1.35,
  c1P50: 2.37,
  redisP50: 0.16,
  threadP50: 0.08,
  medianFeatures: 263,
  cpus: 2,
  main: { busy: 0.67, msPerReq: 2.34, shares: SHARES },
};

describe('bench:serve prose', () => {
  test('a target is met only when every run is under it; cold and warm starts are separate rows', () => {
    assert.equal(allUnder([699, 746, 696], 800), 'met (all 3 ≤ 800 ms)');
    assert.equal(allUnder([699, 1150, 1220], 800), '**missed** (2 of 3 over 800 ms)');
    assert.equal(allUnder([], 800), 'not measured');
    const rows = startRows(
      { coldMs: 1480, warmMs: [699, 746, 696], loadAvg: [1.5, 1.2, 1.5], cpuModel: 'AMD EPYC' },
      800,
    );
    assert.equal(rows.length, 2);
    assert.match(rows[0]![0]!, /first start \(fresh database/);
    assert.deepEqual([rows[0]![1], rows[0]![4]], ['1,480 ms', '**missed** (1 of 1 over 800 ms)']);
    assert.deepEqual(
      [rows[1]![1], rows[1]![2], rows[1]![4]],
      ['696–746 ms (699, 746, 696)', '0.93 × (slowest)', 'met (all 3 ≤ 800 ms)'],
    );
    const s = startSentence(
      { coldMs: 1480, warmMs: [699, 746, 696], loadAvg: [1.47, 1.24, 1.48], cpuModel: 'AMD EPYC 7B13' },
      800,
    );
    assert.match(s, /AMD EPYC 7B13 \(load average 1\.47 1\.24 1\.48/);
    assert.match(s, /first start against a fresh database 1,480 ms \(missed \(1 of 1 over 800 ms\)\)/);
    assert.match(s, /734 ms slower than the slowest restart/);
    const fastCold = startSentence(
      { coldMs: 700, warmMs: [699, 746, 696], loadAvg: [1, 1, 1], cpuModel: 'x' },
      800,
    );
    assert.match(fastCold, /46 ms faster than the slowest restart/);
  });

  test('changes are numbered as printed, and the c=1 advice refers to those numbers only', () => {
    const list = changes(SHARES, 0.95, [0.23], 0.16);
    const printed = numbered(list);
    assert.equal(printed.length, 3);
    assert.match(printed[0]!, /^1\. Featurize in the inference thread.*up to 1\.56 ×.*has headroom/);
    assert.match(printed[1]!, /^2\. Less Redis client work on the main thread: it is still 3\.2 % /);
    // The leases and the failed-auth cache are in the code already: never advised as a change to make.
    assert.doesNotMatch(printed[1]!, /rate limiter off|what is left is/);
    const advice = c1Bullets(C1, list).at(-1)!;
    assert.match(advice, /less Redis client work \(change 2\)/);
    assert.match(advice, /featurizing in the thread \(change 1\)/);
    for (const m of advice.matchAll(/change (\d+)/g)) assert.ok(Number(m[1]) <= list.length, advice);

    // A profile where the featurizer and Redis hardly show: neither change is listed nor referred to.
    const httpBound = { ...SHARES, featurizer: 0.01, redis: 0.005, http: 0.6 };
    const short = changes(httpBound, 0.95, [0.9], 0.16);
    assert.deepEqual(
      short.map((c) => c.id),
      ['more-processes'],
    );
    assert.match(short[0]!.text, /ceiling is HTTP itself/);
    assert.doesNotMatch(c1Bullets(C1, short).join('\n'), /change \d/);
    const gcBound = changes({ ...SHARES, featurizer: 0.02, gc: 0.5, http: 0.1 }, 0.95, [0.2], 0.16);
    assert.match(gcBound.at(-1)!.text, /largest main-thread share here is GC \(50 %\)/);
  });

  test('"a lone request is mostly main-thread work" only when the main thread was busy most of the time', () => {
    assert.match(c1Bullets(C1, [])[1]!, /mostly main-thread work/);
    const idle = c1Bullets({ ...C1, main: { ...C1.main!, busy: 0.3 } }, [])[1]!;
    assert.doesNotMatch(idle, /mostly main-thread work/);
    assert.match(idle, /idle more than half the time/);
  });

  test('the c=1 stage bullet: outside vs inside the server, stages where clawstack spends more first', () => {
    const run = (label: string, p50: number, span: number, stages: [Stage, number][]): StageRun => ({
      label,
      load: { p50, p99: p50 * 3, ok: 1000, rps: 500 },
      summary: {
        requests: 1000,
        spanP50: span,
        stages: stages.map(([stage, v]) => ({ stage, p50: v, mean: v })),
      },
    });
    const naive = run('naive', 0.5, 0.3, [
      ['parsed', 0.06],
      ['featurized', 0.1],
      ['run', 0.05],
      ['written', 0.09],
    ]);
    const claw = run('clawstack', 0.96, 0.7, [
      ['middleware', 0.03],
      ['auth', 0.02],
      ['parsed', 0.05],
      ['threadReceived', 0.12],
      ['featurized', 0.1],
      ['run', 0.05],
      ['mainReceived', 0.08],
      ['written', 0.06],
    ]);
    const b = stagesBullet({ naive, clawstack: claw });
    assert.match(b, /client p50 naive 0\.50 ms, clawstack 0\.96 ms/);
    assert.match(b, /naive 0\.20 ms, clawstack 0\.26 ms\. Server span: naive 0\.30 ms, clawstack 0\.70 ms/);
    assert.match(
      b,
      /more in: engine hand-off to the thread 0\.120, result back to the main thread 0\.080, middleware \(request id, helmet, metrics, readiness\) 0\.030, auth 0\.020 ms; less in: result, serialisation, response written 0\.030, routing, body read, JSON parse 0\.010 ms\./,
    );
    assert.match(b, /naive 0\.100 ms, clawstack 0\.100 ms in its inference thread/);
    const withStages = c1Bullets({ ...C1, stages: { naive, clawstack: claw } }, []);
    assert.equal(withStages[1], b);
    assert.match(
      withStages.at(-1)!,
      /What would move it: less main-thread work per request — the largest stage difference measured above, engine hand-off to the thread \(\+0\.120 ms\)\./,
    );
    assert.ok(!c1Bullets(C1, []).some((l) => l.includes('Stage by stage')));
  });

  test('a c=1 p50 under naive is called noise, never "-24 ms less" nor explained by the pieces', () => {
    const more = c1Bullets(C1, [])[0]!;
    assert.match(
      more,
      /clawstack answers in 2\.37 ms, 1\.02 ms more than naive\. Measured pieces of that difference:/,
    );
    const less = c1Bullets({ ...C1, c1P50: 7.03, naiveP50: 31.17 }, [])[0]!;
    assert.match(
      less,
      /7\.03 ms, 24\.14 ms less than naive\. clawstack does more per request than naive, so a lower p50 is run-to-run noise/,
    );
    assert.doesNotMatch(less, /-\d|pieces of that difference/);
  });

  test('peak RSS under text + OCR + speech load is judged only when OCR and speech responses completed', () => {
    assert.equal(loadedRssStatus(209, 600, { ocr: 12, speech: 40 }), 'met');
    assert.equal(loadedRssStatus(650, 600, { ocr: 12, speech: 40 }), '**missed**');
    assert.equal(
      loadedRssStatus(209, 600, { ocr: 0, speech: 0 }),
      'not shown: no OCR or speech response completed in the window',
    );
    assert.match(loadedRssStatus(209, 600, { ocr: 3, speech: 0 }), /no speech response/);
  });

  test('the all-models row says whether speech and OCR were served under the text load, from the counts', () => {
    const served = allModelsSentence({
      windowSeconds: 5,
      connections: 2,
      text: { rps: 420, aloneRps: 560 },
      ocr: { ok: 12, p50: 800, aloneP50: 400 },
      speech: { ok: 40, p50: 250, aloneP50: 100 },
    });
    assert.match(
      served,
      /^12 OCR and 40 speech responses completed in the 5 s window \(2 connections each\)/,
    );
    assert.match(served, /speech p50 250 ms against 100 ms alone \(2\.50 ×\)/);
    assert.match(served, /OCR p50 800 ms against 400 ms alone \(2\.00 ×\)/);
    assert.match(served, /text 420 req\/s against 560 req\/s on the text-only server \(0\.75 ×\)/);
    assert.match(served, /by the thread time each used/);
    const starved = allModelsSentence({
      windowSeconds: 5,
      connections: 2,
      text: { rps: 539 },
      ocr: { ok: 34, p50: 300 },
      speech: { ok: 0, p50: NaN },
    });
    assert.match(starved, /^34 OCR and 0 speech responses/);
    assert.match(starved, /no speech response completed in the window: speech starved behind the text load/);
    assert.match(starved, /OCR p50 300 ms;|OCR p50 300 ms\./);
    assert.doesNotMatch(starved, /alone|text-only|NaN|shares its threads/);
  });

  test('what bounds c=64 follows the busy fractions', () => {
    assert.match(boundPhrase(0.95, [0.23]), /bound by its main thread/);
    assert.match(boundPhrase(0.5, [0.95]), /bound by inference/);
    assert.match(boundPhrase(0.9, [0.9]), /both/);
    assert.match(boundPhrase(0.6, [0.3]), /neither thread is saturated/);
  });

  test('c=64 budget sentence: "out of reach" only when the naive server already spends more than the budget', () => {
    const base = {
      cpus: 2,
      c64Rps: 851,
      naiveRps: 700,
      serverCpuMsPerReq: 1.42,
      naiveCpuMsPerReq: 0.98,
      rawCpuMsPerItem: 0.56,
      rawRunMean: 0.16,
      rawFeaturizeMean: 0.39,
      rawLimitItemsPerSec: 10742,
    };
    const [extra] = c64Bullets(base).slice(-2);
    assert.match(c64Bullets(base).at(-1)!, /≤ 0\.95 ms; .*out of reach/);
    assert.match(extra!, /0\.44 ms more CPU/);
    assert.match(c64Bullets({ ...base, naiveCpuMsPerReq: 0.5 }).at(-1)!, /clawstack-specific/);
    assert.match(c64Bullets({ ...base, serverCpuMsPerReq: 0.8 }).at(-2)!, /0\.18 ms less CPU/);
  });

  test('2 × naive ceiling: the budget left after the load generator, and who fits it', () => {
    // docs/benchmarks.md's run: naive 2,164 req/s at 0.49 ms, clawstack 0.59 ms, autocannon 0.20 cores at 2,287 req/s
    const base = {
      cpus: 2,
      naiveRps: 2164,
      naiveCpuMsPerReq: 0.49,
      serverCpuMsPerReq: 0.59,
      loadgenCores: 0.2,
      loadgenRps: 2287,
      factor: 2,
    };
    const line = ceilingBullet(base);
    assert.match(
      line,
      /^- Ceiling of 2 × \(b\) \(4,328 req\/s\) on 2 cores: the load generator takes 0\.09 ms/,
    );
    assert.match(line, /leaves ≤ 0\.37 ms of server CPU per request/);
    assert.match(line, /even the naive server \(0\.49 ms, 1\.31 × the budget\) could not reach it/);
    // 2000 / (0.49 + 0.087) / 2164 and 2000 / (0.59 + 0.087) / 2164
    assert.match(
      line,
      /naive server's CPU per request would reach at most 1\.60 × \(b\), clawstack at its own 1\.36 ×\.$/,
    );
    assert.match(
      ceilingBullet({ ...base, naiveCpuMsPerReq: 0.3 }),
      /clawstack must cut 0\.22 ms per request/,
    );
    assert.match(
      ceilingBullet({ ...base, naiveCpuMsPerReq: 0.3, serverCpuMsPerReq: 0.3 }),
      /clawstack \(0\.30 ms\) fits it/,
    );
    assert.match(ceilingBullet({ ...base, cpus: 4 }), /leaves ≤ 0\.84 ms/);
  });

  test('the sweep sentence says what a second inference thread did in this run', () => {
    const rows = (two: number) => [
      { label: 't1', threads: 1, rps: 970 },
      { label: 't2', threads: 2, rps: two },
      { label: 't1b', threads: 1, rps: 880 },
    ];
    assert.match(
      sweepSentence(rows(800), { label: 't1', rps: 960 }, 2),
      /18 % fewer on 2 cores \(not tested by this run: a second inference thread competing/,
    );
    assert.match(
      sweepSentence(rows(1200), { label: 't2', rps: 1190 }, 2),
      /24 % more, consistent with inference being part of the bound/,
    );
    assert.match(sweepSentence(rows(950), { label: 't1', rps: 960 }, 2), /within run-to-run noise\.$/);
  });

  test('the raw batching sentence names padding only when larger batches were slower', () => {
    const rows = [
      { batch: 8, intraOp: 1, runItemsPerSec: 10742 },
      { batch: 32, intraOp: 1, runItemsPerSec: 6377 },
      { batch: 8, intraOp: 2, runItemsPerSec: 3984 },
    ];
    assert.match(
      rawBatchSentence(rows),
      /batch 8 \(10,742\/s\); larger batches gave fewer \(batch 32 6,377\/s\): .*padded/,
    );
    const flat = rawBatchSentence([rows[0]!, { ...rows[1]!, runItemsPerSec: 12000 }]);
    assert.match(flat, /batch 32 \(12,000\/s\)\.$/);
    assert.doesNotMatch(flat, /padd/);
  });

  test('start-up advice follows the Node version and the bundle', () => {
    assert.match(compileCacheAdvice('v20.20.2'), /vm\.Script`, as this Node \(v20\.20\.2\) has no/);
    assert.match(compileCacheAdvice('v22.0.0'), /vm\.Script/);
    assert.match(compileCacheAdvice('v22.1.0'), /this Node's \(v22\.1\.0\) `module\.enableCompileCache\(\)`/);
    assert.match(compileCacheAdvice('v24.3.0'), /enableCompileCache/);
    assert.doesNotMatch(compileCacheAdvice('v24.3.0'), /vm\.Script/);
    assert.equal(
      bundleAdvice([
        { name: 'bullmq', kb: 1388 },
        { name: 'zod', kb: 807 },
        { name: 'left', kb: 100 },
        { name: 'right', kb: 10 },
      ]),
      'Fewer bytes to compile: the largest inputs of the bundle are bullmq (1,388 KB), zod (807 KB), left (100 KB).',
    );
  });

  test('the settings line is the config the server loaded, not a fixed text', () => {
    const line = settingsLine(
      {
        CLAWSTACK_ROLE: 'all',
        MODELS: ['text-spam'],
        WORKER_CONCURRENCY: 4,
        ORT_INTRA_OP_THREADS: 2,
        RESULT_CACHE_TTL_SECONDS: 0,
        RATE_LIMIT_REQUESTS: 10_000_000,
        PORT: 1234,
      },
      ['INFERENCE_THREADS', 'MAX_BATCH_SIZE'],
    );
    assert.match(line, /CLAWSTACK_ROLE=all, MODELS=text-spam, ORT_INTRA_OP_THREADS=2, WORKER_CONCURRENCY=4/);
    assert.match(line, /result cache off.*rate limit out of reach.*one round trip per 64 requests/);
    assert.match(line, /The sweep varies INFERENCE_THREADS, MAX_BATCH_SIZE;/);
    assert.doesNotMatch(line, /PORT/);
    assert.doesNotMatch(
      settingsLine({ RESULT_CACHE_TTL_SECONDS: 3600, RATE_LIMIT_REQUESTS: 6000 }, []),
      /result cache off|out of reach/,
    );
  });

  test('the warm-up sentence says what each measurement had, and that raw BullMQ had none', () => {
    const w = {
      warmup: 1.5,
      c1: 5,
      c64: 6,
      sweep: 5,
      jobsWarmup: 200,
      rawWarmupCalls: 300,
      rawWarmupBatches: 3,
    };
    const s = windowsSentence(w, true);
    assert.match(
      s,
      /\(a\) 300 session\.run calls before the batch-1 timing and 3 batches before each batched run/,
    );
    assert.match(s, /\(b\) and \(c\) 1\.5 s of load/);
    assert.match(s, /\(d\) 200 jobs/);
    assert.match(s, /raw BullMQ row is not warmed up/);
    assert.match(s, /c=1 5 s and c=64 6 s/);
    assert.doesNotMatch(windowsSentence(w, false), /BullMQ/);
    // A saved run from before the raw warm-ups were recorded says so instead of inventing them.
    assert.match(
      windowsSentence({ ...w, rawWarmupCalls: undefined }, false),
      /\(not recorded\) session\.run calls/,
    );
  });

  test('the jobs sentence follows the submit and finish rates, with both numbers', () => {
    assert.match(
      jobsSentence(900, 300),
      /submitted faster than they ran \(900 submits\/s against 300 jobs\/s\)/,
    );
    assert.match(
      jobsSentence(310, 300),
      /about as fast as they were submitted \(310 submits\/s, 300 jobs\/s\)/,
    );
    assert.doesNotMatch(jobsSentence(900, 300) + jobsSentence(310, 300), /grows with N/);
  });

  test('main-thread shares group the profile categories', () => {
    const s = shares({
      busyMs: 100,
      wallMs: 100,
      categories: [
        { category: 'featurizer (hashTextFeatures)', share: 0.3 },
        { category: 'RegExp execution', share: 0.05 },
        { category: 'Node core: http/net/streams', share: 0.25 },
        { category: 'GC', share: 0.1 },
        { category: 'V8/native (program)', share: 0.3 },
      ],
    });
    assert.ok(
      Math.abs(s.featurizer - 0.35) < 1e-9 && Math.abs(s.http - 0.25) < 1e-9 && Math.abs(s.rest - 0.3) < 1e-9,
    );
  });
});

describe('bench:serve issue 13 targets', () => {
  const base = {
    c64Rps: 1500,
    naiveC64Rps: 1000,
    cpuMsPerReq: 1.2,
    naiveCpuMsPerReq: 1.0,
    c1P50: 1.5,
    naiveC1P50: 1.3,
    rawTotalItemsPerSec: 1800,
    jobsPerSec: 240,
  };
  test('each row is a ratio of the run’s numbers, met or missed against the issue’s bound', () => {
    const rows = issue13Rows({ ...base, batchItemsPerSec: 1500, rawQueueJobsPerSec: 2000 });
    assert.deepEqual(
      rows.map((r) => [r[2], r[3]]),
      [
        ['1.50 ×', '**missed**'],
        ['1.20 ×', '**missed**'],
        ['–', 'met'],
        ['0.83 ×', 'met'],
        ['0.12 ×', '**missed**'],
      ],
    );
    assert.equal(rows[2]![1], '1.50 vs 1.30 ms (+0.20 ms)');
    const fast = issue13Rows({ ...base, c64Rps: 2100, cpuMsPerReq: 0.9, c1P50: 1.7 });
    assert.deepEqual(
      fast.map((r) => r[3]),
      ['met (one window, spread not recorded)', 'met', '**missed**'],
      'without batch path or raw queue figures, their rows are left out',
    );
    const echo = issue13Rows({ ...base, rawQueueJobsPerSec: 2000, echoJobsPerSec: 1100 }).at(-1)!;
    assert.match(echo[0]!, /no-op task debug\.echo/);
    assert.deepEqual(
      echo.slice(1),
      ['1,100 vs 2,000 jobs/s', '0.55 ×', 'met'],
      'the target is judged on the no-op task',
    );
  });
  test('with a bulk row, the queue target is judged on it and the per-job row is kept beside, unjudged', () => {
    const rows = issue13Rows({
      ...base,
      rawQueueJobsPerSec: 2000,
      echoJobsPerSec: 300,
      bulkJobsPerSec: 1200,
      bulkPerRequest: 100,
    }).slice(-2);
    assert.match(rows[0]![0]!, /100 per request: POST \/v1\/jobs\/batch/);
    assert.deepEqual(rows[0]!.slice(1), ['1,200 vs 2,000 jobs/s', '0.60 ×', 'met']);
    assert.match(rows[1]![0]!, /one job per request .* kept beside/);
    assert.deepEqual(rows[1]!.slice(1), [
      '300 vs 2,000 jobs/s',
      '0.15 ×',
      '– (below 0.5 ×; not the bulk path)',
    ]);
    const slow = issue13Rows({
      ...base,
      rawQueueJobsPerSec: 2000,
      echoJobsPerSec: 300,
      bulkJobsPerSec: 900,
      bulkPerRequest: 100,
    });
    assert.equal(slow.at(-2)![3], '**missed**');
  });
  test('c=64 against naive is "met" with its spread: every second, or on the means only', () => {
    const steady = issue13Rows({ ...base, c64Rps: 2500, c64RpsMin: 2300, naiveC64RpsMax: 1100 })[0]!;
    assert.equal(steady[1], "2,500 vs 1,000 req/s (slowest second 2,300, naive's fastest 1,100)");
    assert.equal(steady[3], 'met (every second)');
    const jumpy = issue13Rows({ ...base, c64Rps: 2500, c64RpsMin: 1500, naiveC64RpsMax: 1200 })[0]!;
    assert.equal(jumpy[3], 'met on the means only (worst seconds 1.25 ×)');
    assert.equal(spreadStatus(1.5, 1.4, 2), '**missed**');
  });
  test('featurizing in the threads is compared per thread count, small differences called noise', () => {
    assert.equal(prepareSentence([{ threads: 1, inThreads: true, rps: 900 }]), undefined);
    const s = prepareSentence([
      { threads: 1, inThreads: true, rps: 1200 },
      { threads: 1, inThreads: false, rps: 900 },
      { threads: 2, inThreads: true, rps: 950 },
      { threads: 2, inThreads: false, rps: 900 },
    ])!;
    assert.match(s, /with 1 inference thread, 1,200 req\/s .* against 900 .* \(1\.33 ×, faster\)/);
    assert.match(s, /with 2 inference threads, 950 req\/s .* \(1\.06 ×, within noise\)/);
  });
});

describe('bench:serve plot', () => {
  test('one line and one marker per measured point in each panel, unmeasured points left out', async () => {
    const { servingPlot } = await import('../../scripts/bench/plot.ts');
    const svg = servingPlot(
      [
        {
          name: 'naive',
          color: '#888',
          points: [
            { c: 1, rps: 400, p50: 1.3 },
            { c: 8, rps: 900, p50: 8 },
            { c: 64, rps: 1000, p50: 60 },
          ],
        },
        {
          name: 'clawstack',
          color: '#c00',
          points: [
            { c: 1, rps: 350, p50: 1.6 },
            { c: 8, rps: NaN, p50: NaN },
            { c: 64, rps: 1500, p50: 40 },
          ],
        },
      ],
      'caption <test>',
    );
    assert.match(svg, /^<svg xmlns="http:\/\/www.w3.org\/2000\/svg"/);
    assert.equal(svg.match(/<polyline/g)?.length, 4, 'two series × two panels');
    assert.equal(svg.match(/<circle/g)?.length, 10, '(3 + 2 measured points) × two panels');
    assert.match(svg, /<title>clawstack: c=64, 1500<\/title>/);
    assert.match(svg, /<title>naive: c=1, 1\.3<\/title>/);
    assert.match(svg, />1500<\/text>/, 'throughput axis ends at the largest value');
    assert.match(svg, /caption &lt;test>/);
  });
});

describe('bench:serve (d) the queue', () => {
  const cost = (jobsPerSec: number, cpuMsPerJob: number, pg = 0.35) => ({
    jobsPerSec,
    cpuMsPerJob,
    pgWriteTransactions: pg,
    redisCommands: 40,
    redisScripts: 2,
    redisCpuMs: 0.3,
  });
  const facts = (over: Partial<QueueFacts> = {}): QueueFacts => ({
    concurrency: 16,
    cpus: 2,
    text: cost(90, 2.5),
    echo: cost(200, 1.0),
    raw: cost(670, 0.3, 0),
    ...over,
  });
  test('the cost table has one row per setup, in the order of the run', () => {
    const rows = queueCostRows(facts());
    assert.deepEqual(
      rows.map((r) => r[0]),
      ['clawstack, text.classify', 'clawstack, debug.echo (no-op)', 'raw BullMQ, add + no-op processor'],
    );
    assert.deepEqual(rows[1], [
      'clawstack, debug.echo (no-op)',
      '200',
      '1.00',
      '0.35',
      '40.00 (2.00)',
      '0.30',
    ]);
  });
  test('the sentence judges the target on the numbers and names what bounds the rate', () => {
    const shared = queueSentence(facts());
    assert.match(shared, /200 jobs\/s, 0\.30 × raw BullMQ's 670 .*target ≥ 0\.5 ×: missed/);
    assert.match(shared, /fewer than one: statements carry several jobs' rows/);
    assert.match(
      shared,
      /about the same CPU \(0\.20 and 0\.20 cores of 2/,
      'equal CPU shares: CPU per job sets the ratio',
    );
    assert.match(shared, /inference, not the queue, bounds those jobs/);
    const cpuBound = queueSentence(facts({ echo: cost(1800, 1.0), raw: cost(2000, 0.3, 0) }));
    assert.match(cpuBound, /0\.90 × .*met/);
    assert.match(cpuBound, /used 1\.80 of the 2 cores, so its CPU per job is the bound/);
    const waiting = queueSentence(facts({ echo: cost(100, 1.0, 3), raw: cost(1000, 0.3, 0) }));
    assert.match(waiting, /got 0\.10 cores against raw BullMQ's 0\.30: it waited more than it computed/);
    assert.match(waiting, /one or more per job/);
    assert.doesNotMatch(shared, /HTTP alone/, 'no profile, no HTTP clause');
    assert.match(
      queueSentence(facts({ httpShare: 0.7 })),
      /HTTP alone .* was 70 % .* about 0\.70 ms per job: more than twice raw BullMQ's whole job/,
    );
    assert.match(
      queueSentence(facts({ httpShare: 0.5, raw: cost(670, 0.5, 0) })),
      /within twice raw BullMQ's whole job/,
    );
    const sameRate = queueSentence(facts({ text: cost(195, 1.1) }));
    assert.match(sameRate, /the queue bounds them as much as inference does/);
  });
  test('the bulk row: its own cost row, and a sentence judging the target on it from its numbers', () => {
    const withBulk = facts({ bulk: { ...cost(500, 0.4, 0.02), perRequest: 100 } });
    assert.deepEqual(
      queueCostRows(withBulk).map((r) => r[0]),
      [
        'clawstack, text.classify',
        'clawstack, debug.echo (no-op)',
        'clawstack, debug.echo, 100 per request (batch)',
        'raw BullMQ, add + no-op processor',
      ],
    );
    const bulk = bulkSentence({ ...withBulk, bulk: withBulk.bulk! });
    assert.match(
      bulk,
      /moved 500 jobs\/s, 0\.75 × raw BullMQ \(target ≥ 0\.5 ×, judged on this path: met\) and 2\.50 × one request per job/,
    );
    assert.match(
      bulk,
      /0\.40 ms against 1\.00 ms \(0\.60 ms less: the HTTP request, auth and rate limit are paid once per 100 jobs\)/,
    );
    assert.match(bulk, /0\.02 Postgres write transactions/);
    const missed = facts({ bulk: { ...cost(300, 1.2), perRequest: 100 } });
    const m = bulkSentence({ ...missed, bulk: missed.bulk! });
    assert.match(m, /judged on this path: missed/);
    assert.match(m, /no less: the per-request cost was not what bounded it/);
    assert.match(queueSentence(withBulk), /one request per job; the target is judged on the bulk path/);
    assert.doesNotMatch(queueSentence(withBulk), /target ≥ 0\.5 ×: missed/);
  });
  test('Redis calls beyond raw BullMQ: the commands that differ by half a call or more, most first, with their cause', () => {
    const extra = extraRedisCommands(
      { xadd: 4, zadd: 3, exists: 2, incr: 2, zpopmin: 1, del: 1.6, hmget: 3.2, lpush: 1 },
      { xadd: 4, zadd: 2, exists: 1, incr: 1, del: 2, hmget: 3, lpush: 1, hset: 0.1 },
    );
    assert.deepEqual(
      extra.map((c) => [c.command, c.extra]),
      [
        ['zadd', 1],
        ['exists', 1],
        ['incr', 1],
        ['zpopmin', 1],
      ],
      'hmget +0.2 and del −0.4 are under half a call; equal counts are left out',
    );
    assert.match(extra[0]!.cause, /priorities/);
    assert.match(extra[1]!.cause, /own job ids/);
    assert.equal(extraRedisCommands({ foo: 2 }, {})[0]!.cause, 'not attributed');
    assert.deepEqual(extraRedisCommands({ del: 1 }, { del: 2 }), [
      { command: 'del', extra: -1, cause: 'not attributed' },
    ]);
  });
  test("the stage table and sentence: slot time against raw BullMQ's, the longest stage, the extra Redis calls", () => {
    const stages = {
      'waiting in Redis': { p50: 3000, mean: 2900 },
      'taken → claim ran': { p50: 8, mean: 7.5 },
      'claim ran → result ran': { p50: 4, mean: 5 },
      'slot busy per job': { p50: 21, mean: 22.2 },
    };
    assert.deepEqual(stageRows(stages)[1], ['taken → claim ran', '8.00', '7.50']);
    const extra = extraRedisCommands({ exists: 2, del: 1 }, { exists: 1, del: 2 });
    const s = stageSentence({ slotMs: 22.2, stages, concurrency: 16, raw: cost(1600, 0.2, 0), extra });
    assert.match(
      s,
      /held each job 22\.20 ms \(mean\) against raw BullMQ's 10\.00 ms \(16 slots at 1,600 jobs\/s\)/,
    );
    assert.match(
      s,
      /the longest stage: taken → claim ran, 7\.50 ms/,
      'neither the queue wait nor the whole slot',
    );
    assert.match(s, /exists \+1\.00 \(own job ids/);
    assert.doesNotMatch(s, /del/, 'fewer calls than raw are not extra');
    assert.match(
      stageSentence({ slotMs: 10, stages, concurrency: 16, raw: cost(1600, 0.2, 0), extra: [] }),
      /none beyond raw BullMQ's/,
    );
  });
});
