/**
 * `npm run bench:models`: every shipped model, FP32 and INT8 side by side in one run.
 *
 * Per model and precision, in a child process of its own (so peak RSS is that variant's alone): file size;
 * p50 latency of one `session.run` at batch 1 and batch 8 (onnxruntime-node, 1 intra-op thread, as the
 * engine runs it); peak RSS (VmHWM) after session creation and the timed runs; accuracy on the model's
 * evaluation set, through the app's task modules (text: the whole held-out SpamAssassin split; OCR: fixture
 * character accuracy; VAD: segment F1 on the speech fixtures). For text-spam an ORT profile splits the time by
 * op type, and ORT's floor (a graph with text-spam's inputs and output and one Slice node) is timed interleaved
 * with its variants, so that a batch-1 target can be set against what a session.run costs with no model work.
 * Then the whole service (role `all`, MODELS='' = every model, one request per task) is started in a child per
 * MODEL_PRECISION and its VmHWM read from /proc.
 *
 *   npx tsx scripts/bench-models.ts [--quick] [--write-docs] [--json out.json] [--from-json out.json]
 *
 * `--write-docs` replaces the "Models (bench:models)" section of docs/benchmarks.md (other sections stay).
 * `--from-json` renders the section from a run saved with `--json`, without measuring again. `--only <model>`
 * measures (or renders) that model alone, without the service; with `--write-docs` it writes a subsection at
 * the end of the Models section and leaves the other models' rows from the last full run as they are.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync, existsSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import ort from 'onnxruntime-node';
import {
  hashTextFeatures,
  packFeatureBatch,
  parseHashedFeatureSpec,
} from '../app/src/modalities/text/features.ts';
import type { ModelEntry } from '../app/src/models/manifest.ts';
import {
  evalOcr,
  evalText,
  evalVad,
  findEntry,
  MODELS_DIR,
  ortContext,
  readManifest,
  ROOT,
  SESSION_OPTIONS,
  textFixture,
} from './lib/model-eval.ts';
import { formatLoad, runInfo, type RunInfo } from './bench/machine.ts';
import { replaceSection } from './lib/doc-section.ts';
import {
  fp32OnlyBullet,
  int8Bullet,
  int8Heading,
  INT8_TARGETS,
  ratioCell,
  staticBullet,
  type StaticFacts,
  type QuantizerFacts,
  type VariantFacts,
  accuracySentence,
  latencySentence,
  sizeSentence,
  topOps,
  bagBullet,
  bagTable,
  type BagFacts,
} from './bench/models-prose.ts';
import { packingRows, packingTable, type PackingRow } from './bench/text-packing.ts';
import { oldTextVariants, textBagFacts } from './bench/text-bag.ts';
import { sessionFloorOnnx } from './lib/text-graph.ts';
import { seededRandom } from './quantize/index.ts';

type Precision = 'fp32' | 'int8';

interface VariantResult {
  name: string;
  precision: Precision;
  file: string;
  bytes: number;
  /** p50 / p90 of one session.run, ms */
  batch1: { p50: number; p90: number; runs: number; input: string };
  batch8: { p50: number; p90: number; runs: number; input: string };
  /** VmRSS before the session was created (node + ORT + inputs), VmHWM after the timed runs, MB */
  baseRssMb: number;
  peakRssMb: number;
  accuracy: { metric: string; value: number; set: string; texts?: Record<string, string[]> };
  /** the manifest's batching: 'none' means the engine never batches this model */
  batching: string;
  /** p50s measured in the variant's own process, when the table shows the interleaved ones */
  separate?: { batch1: number; batch8: number };
  /** text-spam (batch 8), ocr-det and ocr-rec (batch 1): share of profiled kernel time per op type */
  profile?: Record<string, number>;
  /** the manifest entry's source ("INT8 static quantization of …" for the static variants) */
  source: string;
  /** static INT8 models: the extra variants timed interleaved with FP32 and INT8 (pairChild) */
  extras?: Extras;
  /** text-spam: the old and new formulations of the weighted sum (scripts/bench/text-bag.ts) */
  bag?: BagFacts;
  /** text-spam INT8: one padded batch against the batch packed by length (scripts/bench/text-packing.ts) */
  packing?: PackingRow[];
}

/** Variants built in memory from the FP32 file and timed beside it: ORT-simplified FP32, dynamic INT8. */
interface Extras {
  simplified: { batch1: number; batch8: number };
  dynamic?: { batch1: number; batch8: number; bytes: number; accuracy: number };
}

interface ServiceResult {
  precision: Precision;
  peakRssMb: number;
  rssAfterRequestsMb: number;
  models: string[];
  /** the requests made before RSS was read, e.g. "POST /v1/image/ocr (ocr-large.png)" */
  calls: string[];
  inferenceThreads: number;
}

/** What `--json` saves and `--from-json` renders. */
interface SavedRun {
  run: RunInfo;
  results: VariantResult[];
  services: ServiceResult[];
  loadEnd: number[];
}

const MB = 1024 * 1024;
const status = (pid: number | 'self', key: 'VmHWM' | 'VmRSS') => {
  const m = new RegExp(`^${key}:\\s+(\\d+) kB`, 'm').exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) / 1024 : NaN;
};
const percentile = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(p * s.length))]!;
};

// ---------------------------------------------------------------------------------------------------------
// child: one model variant

type Feeds = Record<string, ort.Tensor>;

function inputsFor(
  entry: ModelEntry,
  batch: number,
): { feeds: Feeds[]; label: string; paddingShare?: number } {
  const rand = seededRandom(42 + batch);
  const uniform = (n: number) => Float32Array.from({ length: n }, () => 2 * rand() - 1);
  switch (entry.name) {
    case 'text-spam': {
      // real messages of the held-out fixture sample, featurized like the app, zero-padded per batch
      const spec = parseHashedFeatureSpec(entry.preprocess);
      const features = textFixture().map((s) => hashTextFeatures(s.text, spec));
      const feeds: Feeds[] = [];
      let real = 0;
      for (let i = 0; i + batch <= features.length && feeds.length < 64; i += batch) {
        const items = features.slice(i, i + batch);
        real += items.reduce((s, f) => s + f.ids.length, 0);
        const p = packFeatureBatch(items);
        feeds.push({
          ids: new ort.Tensor('int64', p.ids, p.dims),
          weights: new ort.Tensor('float32', p.weights, p.dims),
        });
      }
      const meanLen = feeds.reduce((s, f) => s + f.ids!.dims[1]!, 0) / feeds.length;
      const rows = feeds.reduce((s, f) => s + f.ids!.data.length, 0);
      const paddingShare = (rows - real) / rows;
      const padding = batch > 1 ? `, ${Math.round(100 * paddingShare)} % of the ids padding` : '';
      return {
        feeds,
        label: `${batch}×L held-out messages (mean L ${meanLen.toFixed(0)}${padding})`,
        paddingShare,
      };
    }
    case 'ocr-rec':
      return {
        feeds: [{ x: new ort.Tensor('float32', uniform(batch * 3 * 48 * 320), [batch, 3, 48, 320]) }],
        label: `${batch}×3×48×320`,
      };
    case 'ocr-det':
      return {
        feeds: [{ x: new ort.Tensor('float32', uniform(batch * 3 * 320 * 640), [batch, 3, 320, 640]) }],
        label: `${batch}×3×320×640`,
      };
    case 'silero-vad':
      return {
        feeds: [
          {
            input: new ort.Tensor(
              'float32',
              uniform(batch * 576).map((v) => v * 0.1),
              [batch, 576],
            ),
            state: new ort.Tensor('float32', new Float32Array(2 * batch * 128), [2, batch, 128]),
            sr: new ort.Tensor('int64', BigInt64Array.from([16000n]), []),
          },
        ],
        label: `${batch}×576 samples + state`,
      };
    default:
      throw new Error(`no benchmark inputs for ${entry.name}`);
  }
}

const RUNS: Record<string, [number, number]> = {
  'text-spam': [300, 120],
  'ocr-rec': [40, 12],
  'ocr-det': [12, 4],
  'silero-vad': [500, 200],
};

async function time(session: ort.InferenceSession, feeds: Feeds[], runs: number) {
  for (let i = 0; i < 3; i++) await session.run(feeds[i % feeds.length]!);
  const ms: number[] = [];
  for (let i = 0; i < runs; i++) {
    const t = process.hrtime.bigint();
    await session.run(feeds[i % feeds.length]!);
    ms.push(Number(process.hrtime.bigint() - t) / 1e6);
  }
  return { p50: percentile(ms, 0.5), p90: percentile(ms, 0.9), runs };
}

/**
 * Share of kernel time per op type from ORT's profile of `runs` runs. `sum` adds every kernel event;
 * `median` takes each node's median over the runs first, so that a kernel preempted by other work on a
 * loaded machine does not dominate a model whose kernels take microseconds (text-spam).
 */
async function profileByOp(
  path: string,
  feeds: Feeds[],
  runs: number,
  statistic: 'sum' | 'median' = 'sum',
): Promise<Record<string, number>> {
  const dir = mkdtempSync(join(tmpdir(), 'clawstack-prof-'));
  try {
    const session = await ort.InferenceSession.create(path, {
      ...SESSION_OPTIONS,
      enableProfiling: true,
      profileFilePrefix: join(dir, 'p'),
    });
    for (let i = 0; i < runs; i++) await session.run(feeds[i % feeds.length]!);
    session.endProfiling();
    await session.release();
    const file = readdirSync(dir).find((f) => f.endsWith('.json'))!;
    const events = JSON.parse(readFileSync(join(dir, file), 'utf8')) as {
      cat: string;
      name: string;
      dur: number;
      args?: { op_name?: string };
    }[];
    const byNode = new Map<string, { op: string; durs: number[] }>();
    for (const e of events) {
      if (e.cat !== 'Node' || !e.name.endsWith('_kernel_time') || !e.args?.op_name) continue;
      const n = byNode.get(e.name) ?? { op: e.args.op_name, durs: [] };
      n.durs.push(e.dur);
      byNode.set(e.name, n);
    }
    const byOp: Record<string, number> = {};
    let total = 0;
    for (const { op, durs } of byNode.values()) {
      const v = statistic === 'median' ? percentile(durs, 0.5) : durs.reduce((a, b) => a + b, 0);
      byOp[op] = (byOp[op] ?? 0) + v;
      total += v;
    }
    return Object.fromEntries(
      Object.entries(byOp)
        .sort((a, b) => b[1] - a[1])
        .map(([k, v]) => [k, Math.round((1000 * v) / total) / 1000]),
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

async function child(name: string, precision: Precision, quick: boolean): Promise<VariantResult> {
  const manifest = readManifest();
  const entry = findEntry(manifest, name, precision);
  if (!entry) throw new Error(`no ${precision} entry for ${name}`);
  const path = join(MODELS_DIR, entry.file);
  const [runs1, runs8] = RUNS[name]!.map((r) => (quick ? Math.max(3, Math.ceil(r / 10)) : r)) as [
    number,
    number,
  ];
  const in1 = inputsFor(entry, 1);
  const in8 = inputsFor(entry, 8);
  const baseRssMb = status('self', 'VmRSS');
  const session = await ort.InferenceSession.create(path, SESSION_OPTIONS);
  const batch1 = { ...(await time(session, in1.feeds, runs1)), input: in1.label };
  const batch8 = { ...(await time(session, in8.feeds, runs8)), input: in8.label };
  const peakRssMb = status('self', 'VmHWM');
  await session.release();
  const profile =
    name === 'text-spam'
      ? await profileByOp(path, in8.feeds, 40, 'median')
      : name === 'ocr-rec' || name === 'ocr-det'
        ? await profileByOp(path, in1.feeds, quick ? 3 : name === 'ocr-det' ? 6 : 15)
        : undefined;

  let accuracy: VariantResult['accuracy'];
  if (name === 'text-spam') {
    const { loadSpamSplit } = await import('./lib/spam-corpus.ts');
    const { heldOut } = loadSpamSplit();
    const r = await evalText(path, entry, heldOut);
    accuracy = { metric: 'accuracy', value: r.accuracy, set: `held-out SpamAssassin split, ${r.n} messages` };
  } else if (name === 'ocr-rec' || name === 'ocr-det') {
    const det = name === 'ocr-det' ? entry : findEntry(manifest, 'ocr-det', 'fp32')!;
    const rec = name === 'ocr-rec' ? entry : findEntry(manifest, 'ocr-rec', 'fp32')!;
    const ctx = await ortContext([
      { entry: det, path: join(MODELS_DIR, det.file) },
      { entry: rec, path: join(MODELS_DIR, rec.file) },
    ]);
    const r = await evalOcr(ctx);
    await ctx.release();
    accuracy = {
      metric: 'character accuracy',
      value: r.charAccuracy,
      set: `OCR fixtures, ${r.chars} characters (det ${det.precision} + rec ${rec.precision})`,
      texts: r.texts,
    };
  } else {
    const ctx = await ortContext([{ entry, path }]);
    const r = await evalVad(ctx);
    await ctx.release();
    accuracy = {
      metric: 'segment F1',
      value: r.f1,
      set: `speech fixtures, ${r.expected} true segments, ${r.detected} detected, IoU ≥ 0.5`,
    };
  }
  return {
    name,
    precision,
    file: entry.file,
    bytes: statSync(path).size,
    batch1,
    batch8,
    baseRssMb,
    peakRssMb,
    accuracy,
    batching: entry.batching,
    profile,
    source: entry.source,
  };
}

/**
 * The variants of a statically quantized OCR model that are not in the manifest, built from its FP32 file:
 * the same exact simplifications without quantization, and (ocr-rec) make-int8's former dynamic recipe.
 */
async function extraVariants(entry: ModelEntry): Promise<Record<string, Uint8Array>> {
  if (!entry.source.startsWith('INT8 static')) return {};
  const { upgradeOpset } = await import('./quantize/upgrade.ts');
  const { simplifiedFp32 } = await import('./quantize/static.ts');
  const { quantizeModel } = await import('./quantize/index.ts');
  const { OCR_REC_OPTIONS } = await import('./make-int8.ts');
  const fp32 = upgradeOpset(
    readFileSync(join(MODELS_DIR, findEntry(readManifest(), entry.name, 'fp32')!.file)),
  ).bytes;
  const out: Record<string, Uint8Array> = { simplified: await simplifiedFp32(fp32) };
  if (entry.name === 'ocr-rec') out.dynamic = quantizeModel(fp32, OCR_REC_OPTIONS).bytes;
  return out;
}

type Timing = { p50: number; p90: number; runs: number; input: string };

/** FP32, INT8 (and extra variants) of one model in one process, runs rotating, so machine noise hits all alike. */
async function pairChild(name: string, quick: boolean) {
  const manifest = readManifest();
  const entries = (['fp32', 'int8'] as const).map((p) => findEntry(manifest, name, p)!);
  const extra: Record<string, Uint8Array> =
    name === 'text-spam'
      ? { ...(await oldTextVariants()), floor: sessionFloorOnnx() }
      : await extraVariants(entries[1]!);
  const labels = ['fp32', 'int8', ...Object.keys(extra)];
  const sessions = [
    ...(await Promise.all(
      entries.map((e) => ort.InferenceSession.create(join(MODELS_DIR, e.file), SESSION_OPTIONS)),
    )),
    ...(await Promise.all(Object.values(extra).map((b) => ort.InferenceSession.create(b, SESSION_OPTIONS)))),
  ];
  const [runs1, runs8] = RUNS[name]!.map((r) => (quick ? Math.max(3, Math.ceil(r / 10)) : r)) as [
    number,
    number,
  ];
  const out: Record<string, Record<'batch1' | 'batch8', Timing>> = Object.fromEntries(
    labels.map((l) => [l, {} as Record<'batch1' | 'batch8', Timing>]),
  );
  for (const [key, batch, runs] of [
    ['batch1', 1, runs1],
    ['batch8', 8, runs8],
  ] as const) {
    const { feeds, label } = inputsFor(entries[0]!, batch);
    for (const s of sessions) for (let i = 0; i < 3; i++) await s.run(feeds[i % feeds.length]!);
    const ms: number[][] = sessions.map(() => []);
    for (let i = 0; i < runs; i++) {
      for (let k = 0; k < sessions.length; k++) {
        const j = (i + k) % sessions.length; // rotate which variant goes first
        const t = process.hrtime.bigint();
        await sessions[j]!.run(feeds[i % feeds.length]!);
        ms[j]!.push(Number(process.hrtime.bigint() - t) / 1e6);
      }
    }
    labels.forEach((l, j) => {
      out[l]![key] = { p50: percentile(ms[j]!, 0.5), p90: percentile(ms[j]!, 0.9), runs, input: label };
    });
  }
  const packing =
    name === 'text-spam'
      ? await packingRows(
          sessions[1]!,
          entries[1]!,
          textFixture().map((s) => s.text),
          {
            batches: [8, 32],
            rounds: quick ? 2 : 10,
          },
        )
      : undefined;
  for (const s of sessions) await s.release();
  if (name === 'text-spam') {
    const t = (l: string) => ({ batch1: out[l]!.batch1.p50, batch8: out[l]!.batch8.p50 });
    const { feeds: in8, paddingShare } = inputsFor(entries[0]!, 8);
    const timings = { oldFp32: t('oldFp32'), oldInt8: t('oldInt8'), newFp32: t('fp32'), newInt8: t('int8') };
    const bag = await textBagFacts(extra as Awaited<ReturnType<typeof oldTextVariants>>, timings, (path) =>
      profileByOp(path, in8, quick ? 8 : 40, 'median'),
    );
    return {
      fp32: out.fp32!,
      int8: out.int8!,
      bag: { ...bag, floor: t('floor'), paddingShare8: paddingShare },
      packing,
    };
  }
  const extras: Extras | undefined = extra.simplified
    ? {
        simplified: { batch1: out.simplified!.batch1.p50, batch8: out.simplified!.batch8.p50 },
        dynamic: extra.dynamic
          ? {
              batch1: out.dynamic!.batch1.p50,
              batch8: out.dynamic!.batch8.p50,
              bytes: extra.dynamic.byteLength,
              accuracy: await ocrAccuracyWith(name, extra.dynamic),
            }
          : undefined,
      }
    : undefined;
  return { fp32: out.fp32!, int8: out.int8!, extras };
}

/** Fixture character accuracy with `bytes` as the model `name` (the other OCR model FP32). */
async function ocrAccuracyWith(name: string, bytes: Uint8Array): Promise<number> {
  const manifest = readManifest();
  const dir = mkdtempSync(join(tmpdir(), 'clawstack-variant-'));
  try {
    const path = join(dir, 'model.onnx');
    writeFileSync(path, bytes);
    const det = findEntry(manifest, 'ocr-det', 'fp32')!;
    const rec = findEntry(manifest, 'ocr-rec', 'fp32')!;
    const ctx = await ortContext([
      { entry: det, path: name === 'ocr-det' ? path : join(MODELS_DIR, det.file) },
      { entry: rec, path: name === 'ocr-rec' ? path : join(MODELS_DIR, rec.file) },
    ]);
    const r = await evalOcr(ctx);
    await ctx.release();
    return r.charAccuracy;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

// ---------------------------------------------------------------------------------------------------------
// parent

function runChild(args: string[], env: Record<string, string> = {}): Promise<string> {
  return new Promise((resolve, reject) => {
    const p = spawn(process.execPath, ['--import', 'tsx', ...args], {
      cwd: ROOT,
      env: { ...process.env, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    p.stdout.on('data', (d: Buffer) => (out += d.toString()));
    p.stderr.on('data', (d: Buffer) => (err += d.toString()));
    p.on('exit', (code) =>
      code === 0 ? resolve(out) : reject(new Error(`${args.join(' ')} exited with ${code}:\n${err}`)),
    );
  });
}

async function benchService(precision: Precision): Promise<ServiceResult> {
  const { startLocalServices, ensureDatabase } = await import('../app/src/local/services.ts');
  const dir = mkdtempSync(join(tmpdir(), 'clawstack-bench-'));
  const { chmodSync } = await import('node:fs');
  chmodSync(dir, 0o755);
  const local = await startLocalServices({ redis: join(dir, 'redis'), postgres: join(dir, 'pg') });
  const [redis, pg] = [local.redis!, local.postgres!];
  const key = `bench-models-${'k'.repeat(24)}`;
  const env = {
    ...process.env,
    CLAWSTACK_ROLE: 'all',
    MODELS: '',
    MODEL_PRECISION: precision,
    PORT: '0',
    LOG_LEVEL: 'info',
    REDIS_URL: redis.url,
    DATABASE_URL: await ensureDatabase(pg.url, 'bench'),
    BOOTSTRAP_API_KEY: key,
    CLAWSTACK_DATA_DIR: dir,
  };
  const { loadConfig } = await import('../app/src/config.ts');
  const app = spawn(process.execPath, ['--import', 'tsx', 'app/src/main.ts'], {
    cwd: ROOT,
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  app.stdout.on('data', (d: Buffer) => (out += d.toString()));
  app.stderr.on('data', (d: Buffer) => (out += d.toString()));
  try {
    const url = await new Promise<string>((res, rej) => {
      const timer = setTimeout(() => rej(new Error(`app did not start:\n${out}`)), 60_000);
      const poll = setInterval(() => {
        const m = /"url":"(http:\/\/[^"]+)","role"/.exec(out);
        if (m) {
          clearTimeout(timer);
          clearInterval(poll);
          res(m[1]!);
        }
      }, 50);
      app.once('exit', (code) => rej(new Error(`app exited with ${code}:\n${out}`)));
    });
    const loaded =
      /"models":\[([^\]]*)\]/
        .exec(out)?.[1]
        ?.split(',')
        .map((s) => s.replace(/"/g, '')) ?? [];
    const auth = { authorization: `Bearer ${key}` };
    const fixtures = join(ROOT, 'test/fixtures');
    const calls: [string, string, Buffer | string][] = [
      ['/v1/text/classify', 'application/json', JSON.stringify({ text: textFixture()[0]!.text })],
      ['/v1/image/ocr', 'image/png', readFileSync(join(fixtures, 'image/ocr-large.png'))],
      ['/v1/image/ocr', 'image/png', readFileSync(join(fixtures, 'image/ocr-sans.png'))],
      ['/v1/speech/detect', 'audio/wav', readFileSync(join(fixtures, 'speech/speech-16k-mono-s16.wav'))],
    ];
    for (const [path, type, body] of calls) {
      const res = await fetch(`${url}${path}`, {
        method: 'POST',
        headers: { ...auth, 'content-type': type },
        body,
      });
      if (res.status !== 200) throw new Error(`${path}: HTTP ${res.status} ${await res.text()}`);
      await res.arrayBuffer();
    }
    return {
      precision,
      peakRssMb: status(app.pid!, 'VmHWM'),
      rssAfterRequestsMb: status(app.pid!, 'VmRSS'),
      models: loaded,
      calls: calls.map(([path, type]) => `POST ${path} (${type})`),
      inferenceThreads: loadConfig(env).INFERENCE_THREADS,
    };
  } finally {
    app.kill('SIGTERM');
    await new Promise((r) => (app.exitCode !== null ? r(null) : app.once('exit', r)));
    await local.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

const f1 = (x: number) => x.toFixed(1);
const f2 = (x: number) => x.toFixed(2);
const pctAcc = (x: number) => `${(100 * x).toFixed(2)}%`;

type ByName = Map<string, VariantResult[]>;

function variantTable(byName: ByName): string[] {
  const lines = [
    '| model | precision | file | batch 1 p50 | batch 8 p50 | peak RSS (base) | accuracy | evaluation set |',
    '| --- | --- | ---: | ---: | ---: | ---: | ---: | --- |',
  ];
  for (const r of [...byName.values()].flat()) {
    const acc = r.accuracy.metric === 'segment F1' ? r.accuracy.value.toFixed(3) : pctAcc(r.accuracy.value);
    lines.push(
      `| ${r.name} | ${r.precision} | ${(r.bytes / MB).toFixed(2)} MiB | ${f2(r.batch1.p50)} ms | ${f2(r.batch8.p50)} ms | ${f1(r.peakRssMb)} MB (${f1(r.baseRssMb)}) | ${acc} ${r.accuracy.metric} | ${r.accuracy.set} |`,
    );
  }
  const unbatched = [...byName.values()].map((rs) => rs[0]!).filter((r) => r.batching === 'none');
  lines.push(
    '',
    'Inputs: ' +
      [...byName.values()]
        .map((rs) => `${rs[0]!.name} ${rs[0]!.batch1.input} / ${rs[0]!.batch8.input}`)
        .join('; ') +
      '. Timed runs per variant: ' +
      [...byName.values()]
        .flat()
        .map((r) => `${r.name} ${r.precision} ${r.batch1.runs} / ${r.batch8.runs}`)
        .join(', ') +
      '.' +
      (unbatched.length
        ? ` ${unbatched.map((r) => r.name).join(' and ')} ${unbatched.length === 1 ? 'is' : 'are'} \`batching: none\` in the manifest: the engine never batches ${unbatched.length === 1 ? 'it' : 'them'}, so the batch-8 column (and the peak RSS, taken after the batch-8 runs) shows what the model would cost, not what the service does.`
        : ''),
    '',
  );
  return lines;
}

function targetsTable(byName: ByName): string[] {
  const lines = [
    '### INT8 against the targets',
    '',
    `| model | INT8 / FP32 size (≤ ${INT8_TARGETS.sizeRatio}) | INT8 / FP32 p50 batch 1 (≤ ${INT8_TARGETS.latencyRatio}) | batch 8 | accuracy drop (≤ ${INT8_TARGETS.accuracyDropPoints} point) |`,
    '| --- | ---: | ---: | ---: | ---: |',
  ];
  const note =
    'Latency ratios: FP32 and INT8 interleaved in one process; "separate": each timed in a process of its own, earlier in the same run. ✓ only when both are within the target.';
  const ok = (v: number, limit: number) => `${v.toFixed(2)} ${v <= limit ? '✓' : '✗'}`;
  for (const [name, rs] of byName) {
    const f = rs.find((r) => r.precision === 'fp32');
    const q = rs.find((r) => r.precision === 'int8');
    if (!f || !q) continue;
    const drop = 100 * (f.accuracy.value - q.accuracy.value);
    const latency = (b: 'batch1' | 'batch8') =>
      ratioCell(
        q[b].p50 / f[b].p50,
        f.separate && q.separate ? q.separate[b] / f.separate[b] : undefined,
        INT8_TARGETS.latencyRatio,
      );
    lines.push(
      `| ${name} | ${ok(q.bytes / f.bytes, INT8_TARGETS.sizeRatio)} | ${latency('batch1')} | ${latency('batch8')} | ${ok(drop, INT8_TARGETS.accuracyDropPoints)} |`,
    );
  }
  return [...lines, '', note, ''];
}

function serviceSection(services: ServiceResult[]): string[] {
  if (services.length === 0)
    return ['(Role `all` with every model loaded: not measured in this run, `--no-service`.)', ''];
  const lines = [
    "### Role `all` with every model loaded (MODELS='')",
    '',
    '| MODEL_PRECISION | models loaded | peak RSS (VmHWM) | RSS after requests | target ≤ 600 MB |',
    '| --- | --- | ---: | ---: | --- |',
  ];
  for (const s of services) {
    lines.push(
      `| ${s.precision} | ${s.models.join(', ')} | ${f1(s.peakRssMb)} MB | ${f1(s.rssAfterRequestsMb)} MB | ${s.peakRssMb <= 600 ? '✓' : '✗'} |`,
    );
  }
  const s = services[0]!;
  lines.push(
    '',
    `The service process (app/src/main.ts, INFERENCE_THREADS=${s.inferenceThreads}, Redis and Postgres in their own processes) after start-up and ` +
      `one request each: ${s.calls.join(', ')}; VmHWM read from /proc/<pid>/status.`,
    '',
  );
  return lines;
}

/** What the quantizer makes of a model's FP32 file (the same options make-int8 uses for it). */
async function quantizerFacts(file: string, options: object): Promise<QuantizerFacts | string> {
  const { upgradeOpset } = await import('./quantize/upgrade.ts');
  const { quantizeModel } = await import('./quantize/index.ts');
  try {
    const r = quantizeModel(upgradeOpset(readFileSync(join(MODELS_DIR, file))).bytes, options).report;
    return {
      quantized: r.quantized.map((w) => ({ op: w.op, shape: w.shape })),
      skipped: r.skipped.map((x) => ({ op: x.op, reason: x.reason })),
      leftFloat: r.leftFloat,
      weightBytes: r.weightBytesBefore,
    };
  } catch (err) {
    return (err as Error).message.split('\n')[0]!;
  }
}

const facts = (r: VariantResult): VariantFacts => ({
  bytes: r.bytes,
  batch1: r.batch1.p50,
  batch8: r.batch8.p50,
  accuracy: r.accuracy,
  profile: r.profile,
  texts: r.accuracy.texts,
});

/** The recipe part of a static INT8 entry's source ("… by scripts/make-int8.ts: <recipe>. FP32 source: …"). */
const staticHow = (source: string) =>
  /by scripts\/make-int8\.ts: (.*?)\. FP32 source/.exec(source)?.[1] ?? 'see the manifest';

function staticFacts(q: VariantResult, cpuFlags: string[]): StaticFacts {
  const d = q.extras?.dynamic;
  return {
    simplifiedBatch1: q.extras?.simplified.batch1,
    dynamic: d
      ? {
          bytes: d.bytes,
          batch1: d.batch1,
          batch8: d.batch8,
          accuracy: { metric: 'character accuracy', value: d.accuracy },
        }
      : undefined,
    cpuFlags,
  };
}

/** FP32, static INT8, simplified FP32 and dynamic INT8 side by side, for the statically quantized models. */
function staticTable(byName: ByName): string[] {
  const rows: string[] = [];
  for (const [name, rs] of byName) {
    const f = rs.find((r) => r.precision === 'fp32');
    const q = rs.find((r) => r.precision === 'int8');
    if (!f || !q?.extras) continue;
    const row = (
      variant: string,
      bytes: number | undefined,
      b1: number,
      b8: number,
      acc: number | undefined,
    ) =>
      `| ${name} | ${variant} | ${bytes === undefined ? '–' : `${(bytes / MB).toFixed(2)} MiB`} | ${f2(b1)} ms | ${f2(b1 / f.batch1.p50)} | ${f2(b8)} ms | ${f2(b8 / f.batch8.p50)} | ${acc === undefined ? '–' : pctAcc(acc)} |`;
    rows.push(row('FP32 (shipped)', f.bytes, f.batch1.p50, f.batch8.p50, f.accuracy.value));
    rows.push(
      row(
        'FP32, simplified (not shipped)',
        undefined,
        q.extras.simplified.batch1,
        q.extras.simplified.batch8,
        undefined,
      ),
    );
    rows.push(row('INT8 static (shipped)', q.bytes, q.batch1.p50, q.batch8.p50, q.accuracy.value));
    const d = q.extras.dynamic;
    if (d) rows.push(row('INT8 dynamic (not shipped)', d.bytes, d.batch1, d.batch8, d.accuracy));
  }
  if (rows.length === 0) return [];
  return [
    '### Static against dynamic INT8 (all variants interleaved in one process)',
    '',
    '| model | variant | file | batch 1 p50 | × FP32 | batch 8 p50 | × FP32 | character accuracy |',
    '| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |',
    ...rows,
    '',
    '"Simplified" is the FP32 model after the same exact graph rewrites the static path applies before quantizing (scripts/quantize/simplify.ts), so the two rows show what quantization itself adds. Accuracy: the other OCR model FP32.',
    '',
  ];
}

/** text-spam: the weighted sum before and after issue 13, all four variants interleaved in one process. */
function textBagSection(byName: ByName): string[] {
  const withBag = byName.get('text-spam')?.find((r) => r.bag);
  const bag = withBag?.bag;
  if (!bag) return [];
  const packing = withBag.packing
    ? [
        '',
        '#### text-spam: packed by length (the product) against one padded batch (raw), interleaved',
        '',
        ...packingTable(withBag.packing),
      ]
    : [];
  return [
    '### text-spam: the weighted sum, old against new formulation (all variants interleaved in one process)',
    '',
    ...bagTable(bag),
    '',
    '"Before" is the graph shipped until issue 13 (Gather → Unsqueeze → Mul → ReduceSum; its INT8 made by the dynamic quantizer: uint8 table dequantized row by row, MatMuls as DynamicQuantizeMatMul), rebuilt from the shipped weights by scripts/lib/text-graph.ts. Accuracy on the whole held-out split: 1,184 e-mails and 615 short messages.',
    ...packing,
    '',
  ];
}

async function int8Section(byName: ByName, cpuFlagsOfRun: string[]): Promise<string[]> {
  const { OCR_REC_OPTIONS, TEXT_OPTIONS } = await import('./make-int8.ts');
  const optionsFor: Record<string, object> = { 'text-spam': TEXT_OPTIONS, 'ocr-rec': OCR_REC_OPTIONS };
  const ratios: number[] = [];
  const bullets: string[] = [];
  for (const [name, rs] of byName) {
    const f = rs.find((r) => r.precision === 'fp32');
    const q = rs.find((r) => r.precision === 'int8');
    if (!f) continue;
    const qf = await quantizerFacts(f.file, optionsFor[name] ?? {});
    if (!q) {
      bullets.push(fp32OnlyBullet(name, facts(f), qf));
      continue;
    }
    ratios.push(q.batch1.p50 / f.batch1.p50, q.batch8.p50 / f.batch8.p50);
    if (q.bag) {
      const [fv, qv] = [facts(f), facts(q)];
      const profile = `ORT's profile at batch 8 (share of kernel time, each node's median over the profiled runs): FP32 ${topOps(f.profile ?? {})}; INT8 ${topOps(q.profile ?? {})}.`;
      bullets.push(
        `- **${name}** (INT8: ${staticHow(q.source)}): ${sizeSentence(fv, qv)} ${accuracySentence(fv, qv)} ${latencySentence(fv, qv)} ${profile}`,
        bagBullet(q.bag),
      );
      continue;
    }
    if (q.source.startsWith('INT8 static')) {
      bullets.push(
        staticBullet(name, facts(f), facts(q), staticFacts(q, cpuFlagsOfRun), staticHow(q.source)),
      );
      continue;
    }
    const profileBatch = name === 'text-spam' ? 8 : 1;
    bullets.push(
      typeof qf === 'string'
        ? `- **${name}**: the quantizer fails on the FP32 file here (${qf}).`
        : int8Bullet(name, facts(f), facts(q), qf, profileBatch),
    );
  }
  return [`### ${int8Heading(ratios)}`, '', ...bullets, ''];
}

async function markdown(
  results: VariantResult[],
  services: ServiceResult[],
  run: RunInfo,
  loadEnd: number[],
  quick: boolean,
): Promise<string> {
  const byName: ByName = new Map();
  for (const r of results) byName.set(r.name, [...(byName.get(r.name) ?? []), r]);
  const lines: string[] = ['## Models (bench:models)', ''];
  lines.push(
    `\`npm run bench:models${quick ? ' -- --quick' : ''}\` (scripts/bench-models.ts${quick ? ', quick mode: a tenth of the timed runs' : ''}) at commit ${run.commit}, ${run.date.slice(0, 16).replace('T', ' ')} UTC, ` +
      `${run.cpuModel} (${run.cores} cores, shared with other work; CPU features ${run.cpuFlags.join(', ') || 'unknown'}; load average ${formatLoad(run.loadAvg)} at the start, ${formatLoad(loadEnd)} at the end), ` +
      `Node ${process.version}, onnxruntime-node ${ort.env.versions.common}, one intra-op thread per session as the engine runs it. ` +
      'Latency: p50 of one `session.run` (after 3 warm-up runs); for models with both precisions FP32 and INT8 are timed in one process with their runs ' +
      'interleaved, so that load from other work hits both alike. Peak RSS: VmHWM of a child process that loaded only this variant and ran the timed ' +
      "batches (node + ORT baseline in parentheses). Accuracy: through the app's own task modules. Every sentence below is computed from this run's numbers " +
      "and the quantizer's report on the FP32 files, except those marked as background.",
    '',
  );
  lines.push(
    ...variantTable(byName),
    ...targetsTable(byName),
    ...staticTable(byName),
    ...textBagSection(byName),
    ...serviceSection(services),
  );
  lines.push(...(await int8Section(byName, run.cpuFlags)));
  return lines.join('\n');
}

/**
 * A one-model run as a subsection of the Models section, so that the other models' rows (from the last full
 * run) are left as they are; it replaces the subsection a previous `--only` run of the same model wrote.
 */
function onlySubsection(name: string, section: string): string {
  return section
    .replace('`npm run bench:models`', `\`npm run bench:models -- --only ${name}\``)
    .replace(/\n### /g, '\n#### ')
    .replace(
      '## Models (bench:models)',
      `### ${name} alone (bench:models --only ${name})\n\nMeasured alone, after the full run above: where the two differ, the ${name} rows above describe the model files of that run's commit.`,
    )
    .replace(/\n\(Role `all` with every model loaded: not measured in this run, `--no-service`\.\)\n/, '\n');
}

/**
 * Writes a one-model subsection between `<!-- bench:models only <name>:begin/end -->` markers at the end of
 * the Models section (a full run's writeDocs replaces the whole section, markers included).
 */
function writeOnlyDocs(name: string, subsection: string) {
  const path = join(ROOT, 'docs/benchmarks.md');
  const marker = `bench:models only ${name}`;
  const text = readFileSync(path, 'utf8');
  if (text.includes(`<!-- ${marker}:begin -->`)) {
    writeFileSync(path, replaceSection(text, marker, subsection));
    return;
  }
  const start = text.indexOf('## Models (bench:models)');
  if (start < 0) throw new Error('docs/benchmarks.md has no Models section: run without --only first');
  const next = text.slice(start + 1).search(/\n## (?!#)/);
  const end = next < 0 ? text.length : start + 1 + next + 1;
  const block = `<!-- ${marker}:begin -->\n${subsection}\n<!-- ${marker}:end -->\n\n`;
  writeFileSync(path, `${text.slice(0, end).replace(/\n*$/, '\n\n')}${block}${text.slice(end)}`);
}

function writeDocs(section: string) {
  const path = join(ROOT, 'docs/benchmarks.md');
  const heading = '## Models (bench:models)';
  if (!existsSync(path)) {
    writeFileSync(path, `# Benchmarks\n\n${section}`);
    return;
  }
  const text = readFileSync(path, 'utf8');
  const start = text.indexOf(heading);
  if (start < 0) {
    writeFileSync(path, `${text.replace(/\n*$/, '\n\n')}${section}`);
    return;
  }
  const rest = text.slice(start + heading.length);
  const next = rest.search(/\n## (?!#)/);
  const end = next < 0 ? text.length : start + heading.length + next + 1;
  writeFileSync(path, `${text.slice(0, start)}${section}${next < 0 ? '' : '\n'}${text.slice(end)}`);
}

async function main() {
  const { values } = parseArgs({
    options: {
      child: { type: 'string' },
      pair: { type: 'string' },
      quick: { type: 'boolean', default: false },
      'write-docs': { type: 'boolean', default: false },
      json: { type: 'string' },
      'no-service': { type: 'boolean', default: false },
      'from-json': { type: 'string' },
      only: { type: 'string' },
    },
  });
  const quick = values.quick ?? false;
  const only = values.only;
  if (values['from-json']) {
    // re-render the section from a saved run (e.g. after a prose change) without measuring again
    const saved = JSON.parse(readFileSync(values['from-json'], 'utf8')) as SavedRun;
    const results = saved.results.filter((r) => !only || r.name === only);
    const services = only ? [] : saved.services;
    const section = await markdown(results, services, saved.run, saved.loadEnd, quick);
    process.stdout.write(`${section}\n`);
    if (values['write-docs']) {
      if (only) writeOnlyDocs(only, onlySubsection(only, section));
      else writeDocs(section);
    }
    return;
  }
  if (values.pair) {
    process.stdout.write(`${JSON.stringify(await pairChild(values.pair, quick))}\n`);
    return;
  }
  if (values.child) {
    const [name, precision] = values.child.split(':') as [string, Precision];
    process.stdout.write(`${JSON.stringify(await child(name, precision, quick))}\n`);
    return;
  }
  const run = runInfo();
  const manifest = readManifest();
  const variants = manifest.models
    .filter((m) => !only || m.name === only)
    .map((m) => [m.name, m.precision] as const);
  const results: VariantResult[] = [];
  for (const [name, precision] of variants) {
    process.stderr.write(`bench ${name} ${precision}…\n`);
    const out = await runChild([
      'scripts/bench-models.ts',
      '--child',
      `${name}:${precision}`,
      ...(quick ? ['--quick'] : []),
    ]);
    const r = JSON.parse(out.trim().split('\n').pop()!) as VariantResult;
    results.push(r);
    process.stderr.write(
      `  ${(r.bytes / MB).toFixed(2)} MiB, p50 b1 ${f2(r.batch1.p50)} ms, b8 ${f2(r.batch8.p50)} ms, peak RSS ${f1(r.peakRssMb)} MB, ${r.accuracy.metric} ${r.accuracy.value.toFixed(4)}\n`,
    );
  }
  // latency of models with both precisions: FP32 and INT8 interleaved in one process
  for (const name of new Set(results.filter((r) => r.precision === 'int8').map((r) => r.name))) {
    process.stderr.write(`bench ${name} fp32 vs int8 interleaved…\n`);
    const out = await runChild(['scripts/bench-models.ts', '--pair', name, ...(quick ? ['--quick'] : [])]);
    const pair = JSON.parse(out.trim().split('\n').pop()!) as Record<
      Precision,
      Pick<VariantResult, 'batch1' | 'batch8'>
    > & { extras?: Extras; bag?: BagFacts; packing?: PackingRow[] };
    for (const r of results.filter((x) => x.name === name)) {
      r.separate = { batch1: r.batch1.p50, batch8: r.batch8.p50 };
      Object.assign(r, pair[r.precision]);
      if (r.precision === 'int8')
        Object.assign(r, { extras: pair.extras, bag: pair.bag, packing: pair.packing });
      process.stderr.write(`  ${r.precision}: p50 b1 ${f2(r.batch1.p50)} ms, b8 ${f2(r.batch8.p50)} ms\n`);
    }
  }
  const services: ServiceResult[] = [];
  if (!values['no-service'] && !only) {
    for (const precision of ['int8', 'fp32'] as const) {
      process.stderr.write(`bench service role all, MODELS='', MODEL_PRECISION=${precision}…\n`);
      const s = await benchService(precision);
      services.push(s);
      process.stderr.write(`  peak RSS ${f1(s.peakRssMb)} MB (${s.models.join(', ')})\n`);
    }
  }
  const loadEnd = loadavg();
  const section = await markdown(results, services, run, loadEnd, quick);
  process.stdout.write(`${section}\n`);
  if (values.json)
    writeFileSync(
      values.json,
      JSON.stringify({ run, results, services, loadEnd } satisfies SavedRun, null, 2),
    );
  if (values['write-docs']) {
    if (only) writeOnlyDocs(only, onlySubsection(only, section));
    else writeDocs(section);
  }
}

if (import.meta.url === `file://${process.argv[1]}`) await main();
