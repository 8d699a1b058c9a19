/**
 * `npm run bench:serve`: serving benchmark, measured side by side in one run on the same model
 * (text-spam) and the same inputs (the held-out messages of test/fixtures/text-heldout.json):
 *
 *   (a) raw onnxruntime-node in this process: session.run at batch 1 and batched (the limit);
 *   (b) a naive Express server (scripts/bench/naive-server.ts) calling session.run per request;
 *   (c) clawstack's production bundle (`npm run build` → dist/main.js) serving POST /v1/text/classify at
 *       concurrency 1 and 64, a sweep of engine settings, process start → first 200, peak RSS;
 *   (d) async jobs end to end (POST /v1/jobs → job records in Postgres), with text inference and with the
 *       no-op task (debug.echo), beside raw BullMQ on the same Redis (scripts/bench/queue-part.ts).
 *
 * Redis and Postgres are started on loopback (app/src/local/services.ts) in a temp dir, and removed with
 * every child process at the end, also on failure or Ctrl-C. Results are printed and written to the
 * "Serving (bench:serve)" section of docs/benchmarks.md.
 *
 * Options: --quick (short runs, for trying the script), --no-docs (do not touch docs/benchmarks.md),
 * --no-profile (skip the CPU profile runs), --profiles-dir=PATH (keep the .cpuprofile files there),
 * --json=PATH (also write the results as JSON), --render=PATH (print the report of such a file again, with
 * the current prose; measures nothing), --only=start,serve,stages,mixed,profile (a short run of those parts,
 * printed only: scripts/bench/partial.ts; --seconds=N sets its windows, --rounds=N the batch part's
 * interleaved rounds), --baseline=DIR (with --only, or
 * alone for --only=serve: another build's dist/, kept inside this repository so it finds onnxruntime-node,
 * measured beside this one), --only-queue (only (d), printed, docs untouched: for iterating on the queue;
 * with --queue-baseline=DIR [--rounds=N], the bulk path of DIR's build and this one side by side, N rounds:
 * scripts/bench/queue-compare.ts).
 */
import { logEvents, timelineFromLogs } from './bench/startup-timeline.ts';
import { formatTimeline, type StartupPhase } from '../app/src/telemetry/startup.ts';
import { execSync } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { loadConfig, type AppConfig } from '../app/src/config.ts';
import { join, resolve } from 'node:path';
import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { ensureDatabase, freePort, startLocalServices } from '../app/src/local/services.ts';
import {
  BUNDLE_DIR,
  buildBundle,
  startServer,
  type BenchEnv,
  type Server,
  type ServerSettings,
} from './bench/clawstack.ts';
import { hashTextFeatures, loadMessages, loadModel } from './bench/inputs.ts';
import { redisRoundTrip, threadRoundTrip } from './bench/probes.ts';
import { type RawQueueResult } from './bench/raw-bullmq.ts';
import { runQueuePart, type JobsRun, type QueuePart } from './bench/queue-part.ts';
import { compareBulk, compareReport } from './bench/queue-compare.ts';
import { STAGES } from './bench/queue-stages.ts';
import { servingPlot } from './bench/plot.ts';
import { runLoad, type LoadResult } from './bench/load.ts';
import { allModelsLoad } from './bench/all-models.ts';
import { cleanup, installSignalCleanup, onCleanup, peakRssMb, startNaiveServer } from './bench/procs.ts';
import {
  bundleComposition,
  categoryShare,
  profilesIn,
  summarizeProfile,
  type ProfileSummary,
} from './bench/profile.ts';
import { measureStages, type StageRun } from './bench/stages.ts';
import { partialRequest, partialRun } from './bench/partial.ts';
import { BATCH_CONNECTIONS, BATCH_TEXTS, batchBodies } from './bench/batch-part.ts';
import {
  createSession,
  rawBatch1,
  rawBatched,
  RAW_WARMUP_BATCHES,
  type RawBatch1,
  type RawBatched,
} from './bench/raw.ts';
import { gitCommit } from './bench/machine.ts';
import {
  bundleAdvice,
  c1Bullets,
  c64Bullets,
  ceilingBullet,
  changes,
  compileCacheAdvice,
  numbered,
  pct,
  rawBatchSentence,
  settingsLine,
  shares,
  startRows,
  startSentence,
  sweepSentence,
  issue13Rows,
  allModelsSentence,
  type AllModelsFacts,
  jobsSentence,
  loadedRssStatus,
  prepareSentence,
  windowsSentence,
  queueCostRows,
  queueSentence,
  extraRedisCommands,
  stageRows,
  stageSentence,
  bulkSentence,
  type QueueFacts,
  type StartTimes,
} from './bench/serve-prose.ts';

const args = new Set(process.argv.slice(2));
const QUICK = args.has('--quick');
const WRITE_DOCS = !args.has('--no-docs');
const PROFILE = !args.has('--no-profile');
const ONLY_QUEUE = args.has('--only-queue');
const argValue = (name: string) => process.argv.find((a) => a.startsWith(`${name}=`))?.slice(name.length + 1);
/** --json=PATH writes the run's results; --render=PATH prints the report of such a file (no measuring). */
const JSON_OUT = argValue('--json');
const RENDER_FROM = argValue('--render');
/** --profiles-dir=PATH keeps the .cpuprofile files (open them in Chrome DevTools); default: a temp dir, removed. */
/**
 * --only=start,serve[,profile]: a short run of those parts (scripts/bench/partial.ts); prints, writes no
 * docs. --baseline=DIR measures another build beside this one (alone, it means --only=serve).
 */
const ONLY = partialRequest(process.argv.slice(2));
const PROFILES_DIR = process.argv
  .find((a) => a.startsWith('--profiles-dir='))
  ?.slice('--profiles-dir='.length);

const T = {
  warmup: QUICK ? 0.5 : 1.5,
  c1: QUICK ? 2 : 5,
  c64: QUICK ? 2 : 6,
  sweep: QUICK ? 2 : 5,
  rawIterations: QUICK ? 500 : 3000,
  rawWarmupCalls: 300,
  rawWarmupBatches: RAW_WARMUP_BATCHES,
  rawBatchedSeconds: QUICK ? 1 : 2,
  jobs: QUICK ? 300 : 2000,
  /** jobs submitted and finished before the measured jobs run, discarded */
  jobsWarmup: QUICK ? 50 : 200,
  /** debug.echo jobs measured (and raw BullMQ jobs), and their warm-up */
  echoJobs: QUICK ? 1000 : 5000,
  echoWarmup: QUICK ? 200 : 500,
  starts: 3,
};
/** OCR and speech load (connections each) next to text load at c=64 in the MODELS='' run. */
const OTHER_MODALITY_CONNECTIONS = 2;
/** The issue's start-up target: process start → first 200. */
const START_TARGET_MS = 500;
const CONNECTIONS_HIGH = 64;
/** --quick windows measured again at a longer duration because no response completed in them. */
const extendedWindows: string[] = [];
const JOB_SUBMIT_CONNECTIONS = 32;

/** Engine settings tried for (c) at concurrency 64; the first is the app's defaults. */
const SWEEP: ServerSettings[] = [
  { INFERENCE_THREADS: 1, MAX_BATCH_SIZE: 32, MAX_BATCH_DELAY_MS: 2 },
  { INFERENCE_THREADS: 2, MAX_BATCH_SIZE: 32, MAX_BATCH_DELAY_MS: 2 },
  { INFERENCE_THREADS: 2, MAX_BATCH_SIZE: 8, MAX_BATCH_DELAY_MS: 0 },
  // featurizing on the event loop, as before the prepare step: what moving it into the threads gives
  { INFERENCE_THREADS: 1, MAX_BATCH_SIZE: 32, MAX_BATCH_DELAY_MS: 2, PREPARE_IN_THREADS: false },
  { INFERENCE_THREADS: 2, MAX_BATCH_SIZE: 32, MAX_BATCH_DELAY_MS: 2, PREPARE_IN_THREADS: false },
];
/** The plot's concurrencies: 1, this, CONNECTIONS_HIGH. */
const PLOT_MIDDLE = 8;
const PLOT_FILE = 'docs/benchmarks-serve.svg';

const log = (msg: string) =>
  process.stderr.write(`[bench:serve ${((performance.now() - t0) / 1000).toFixed(1)}s] ${msg}\n`);
const t0 = performance.now();
const f1 = (x: number) => (Number.isFinite(x) ? x.toFixed(1) : '–');
const f2 = (x: number) => (Number.isFinite(x) ? x.toFixed(2) : '–');
const f0 = (x: number) => (Number.isFinite(x) ? Math.round(x).toLocaleString('en-US') : '–');
const settingsLabel = (s: ServerSettings) =>
  `threads=${s.INFERENCE_THREADS ?? 1} batch=${s.MAX_BATCH_SIZE ?? 32} delay=${s.MAX_BATCH_DELAY_MS ?? 2}ms${s.PREPARE_IN_THREADS === false ? ' featurize=main' : ''}`;

interface Machine {
  /** git commit of the code measured (-dirty: with uncommitted changes to tracked files) */
  commit: string;
  cpus: string;
  model: string;
  node: string;
  ort: string;
  memGb: string;
  /** SIMD features from /proc/cpuinfo that matter to ONNX Runtime (AVX2, AVX-512, VNNI) */
  features?: string;
  loadStart: number[];
  loadEnd: number[];
  date: string;
}

interface ServeRun {
  settings: ServerSettings;
  c1?: LoadResult;
  /** the plot's middle point (best settings only) */
  c8?: LoadResult;
  c64?: LoadResult;
  peakRssMb: number;
}

interface Results {
  machine: Machine;
  /** the run's windows and counts (quick or full) */
  windows: typeof T;
  /** --quick load windows that were repeated longer because no response completed in them */
  extendedWindows?: string[];
  messages: number;
  meanChars: number;
  modelFile: string;
  modelPrecision: string;
  rawB1: RawBatch1;
  rawBatched: (RawBatched & { intraOp: number })[];
  rawPeakRssMb: number;
  naive: { c1: LoadResult; c8?: LoadResult; c64: LoadResult; peakRssMb: number };
  startColdMs: number;
  startMs: number[];
  /** load average just before the measured starts */
  startLoad: number[];
  /** the app's config (app/src/config.ts) as loaded from the environment of the first measured server */
  serverConfig: AppConfig;
  sweep: ServeRun[];
  best: ServeRun;
  /** POST /v1/text/classify with {"texts": [BATCH_TEXTS texts]}, best settings */
  batchPath?: { load: LoadResult; texts: number; itemsPerSec: number };
  /** the same with PACK_BY_LENGTH=false (one padded batch, the behaviour before packing); absent in older runs */
  batchPathPadded?: { load: LoadResult; texts: number; itemsPerSec: number };
  /** raw BullMQ on the same Redis: add + no-op processor at the worker's concurrency */
  rawQueue?: RawQueueResult;
  allModels: {
    peakRssMb: number;
    startMs: number;
    c64?: LoadResult;
    /** OCR and speech requests running at the same time as the text load */
    ocr?: LoadResult;
    speech?: LoadResult;
    /** OCR and speech alone on the same server, before the mixed load (absent in older runs) */
    ocrAlone?: LoadResult;
    speechAlone?: LoadResult;
  };
  jobs: JobsRun;
  /** the no-op task (debug.echo); absent in runs from before it existed */
  echoJobs?: JobsRun;
  /** debug.echo submitted in batches (POST /v1/jobs/batch); absent in runs from before it existed */
  bulkJobs?: JobsRun;
  /** the server under the CPU profiler while it ran debug.echo jobs */
  queueProfile?: QueuePart['profile'];
  profile?: {
    settings: ServerSettings;
    load: LoadResult;
    summaries: ProfileSummary[];
    c1Load: LoadResult;
    c1Summaries: ProfileSummary[];
  };
  /** naive and clawstack traced at c=1 (STAGE_TRACE_FILE); absent in runs from before it existed */
  stages?: { naive: StageRun; clawstack: StageRun };
  probes: {
    medianFeatures: number;
    redis: { p50: number; p99: number };
    thread: { p50: number; p99: number };
  };
  startup: {
    events: { msg: string; ms: number }[];
    /** the app's start-up timeline in that start (absent in results from before it was logged) */
    phases?: StartupPhase[];
    profileStartMs: number;
    spawnedAtUs: number;
    summaries: ProfileSummary[];
    bundle: ReturnType<typeof bundleComposition>;
  };
}

function simdFeatures(): string {
  const flags = new Set(
    /^flags\s*:(.*)$/m.exec(readFileSync('/proc/cpuinfo', 'utf8'))?.[1]?.trim().split(/\s+/),
  );
  const wanted = ['avx2', 'fma', 'avx512f', 'avx512_vnni', 'avx_vnni', 'amx_int8'];
  return wanted.map((f) => `${f} ${flags.has(f) ? 'yes' : 'no'}`).join(', ');
}

function machine(): Machine {
  const sh = (cmd: string) => {
    try {
      return execSync(cmd, { encoding: 'utf8' }).trim();
    } catch {
      return '?';
    }
  };
  const ortVersion = (
    JSON.parse(readFileSync('node_modules/onnxruntime-node/package.json', 'utf8')) as { version: string }
  ).version;
  const memKb = Number(/MemTotal:\s+(\d+)/.exec(readFileSync('/proc/meminfo', 'utf8'))?.[1] ?? NaN);
  return {
    commit: gitCommit(),
    cpus: sh('nproc'),
    model: sh("lscpu | sed -n 's/^Model name:[[:space:]]*//p' | head -1"),
    node: process.version,
    ort: ortVersion,
    memGb: (memKb / 1024 / 1024).toFixed(1),
    features: simdFeatures(),
    loadStart: loadavg(),
    loadEnd: [],
    date: new Date().toISOString(),
  };
}

function loadSpec(server: Server, bodies: (string | Buffer)[], key: string) {
  return {
    url: server.url,
    path: '/v1/text/classify',
    headers: key ? { authorization: `Bearer ${key}` } : undefined,
    bodies,
    serverPid: server.child.pid,
  };
}

async function load(
  server: Server,
  bodies: string[],
  key: string,
  connections: number,
  seconds: number,
): Promise<LoadResult> {
  const spec = loadSpec(server, bodies, key);
  await runLoad({ ...spec, connections, seconds: T.warmup }); // warm-up, discarded
  let r = await runLoad({ ...spec, connections, seconds });
  // --quick on an overloaded machine: a window shorter than one response measures nothing; try longer ones.
  for (let s = seconds * 2; QUICK && r.ok === 0 && r.non2xx === 0 && s <= seconds * 8; s *= 2) {
    log(`    no response completed in ${s / 2} s at c=${connections}; --quick: measuring again for ${s} s`);
    extendedWindows.push(`c=${connections} ${s} s`);
    r = await runLoad({ ...spec, connections, seconds: s });
  }
  if (r.ok === 0)
    throw new Error(
      `no 2xx responses at concurrency ${connections}: ${JSON.stringify(r.status)}\n${server.child.output()}`,
    );
  return r;
}

/**
 * Text load at c=64 with OCR and speech requests running at the same time (each warmed up first, and
 * each measured alone first), so the peak RSS of the all-models server is taken with every model working.
 */
async function allModalities(server: Server, bodies: string[], key: string) {
  const load = await allModelsLoad(server, bodies, key, {
    warmupSeconds: T.warmup,
    seconds: T.sweep,
    textConnections: CONNECTIONS_HIGH,
    otherConnections: OTHER_MODALITY_CONNECTIONS,
  });
  return { ...load, peakRssMb: peakRssMb(server.child.pid) };
}

/** The all-models row's numbers for its prose; "alone" for text is the text-only server at the best settings. */
function allModelsFacts(r: Results): AllModelsFacts {
  const m = r.allModels;
  const facts = (mixed?: LoadResult, alone?: LoadResult) => ({
    ok: mixed?.ok ?? 0,
    p50: mixed?.p50 ?? NaN,
    aloneP50: alone?.ok ? alone.p50 : undefined,
  });
  return {
    windowSeconds: r.windows.sweep,
    connections: OTHER_MODALITY_CONNECTIONS,
    text: { rps: m.c64?.rps ?? NaN, aloneRps: r.best.c64?.rps },
    ocr: facts(m.ocr, m.ocrAlone),
    speech: facts(m.speech, m.speechAlone),
  };
}

type BatchPathRun = NonNullable<Results['batchPath']>;

/** The table's batch path rows: packed by length, and one padded batch beside it when measured. */
function batchPathRows(r: Results, cores: (l: LoadResult) => string): string[][] {
  const runs: [BatchPathRun | undefined, string][] = [
    [r.batchPath, r.batchPathPadded ? ', packed by length' : ''],
    [r.batchPathPadded, ', PACK_BY_LENGTH=false: one padded batch'],
  ];
  return runs.flatMap(([b, how]) =>
    b
      ? [
          [
            `(c) clawstack batch path, ${b.texts} texts per request (texts/s)${how}`,
            String(b.load.connections),
            f2(b.load.p50),
            f2(b.load.p99),
            f0(b.itemsPerSec),
            '',
            cores(b.load),
          ],
        ]
      : [],
  );
}

/** The batch path at the best settings: BATCH_TEXTS texts per request, BATCH_CONNECTIONS at once. */
async function batchPath(server: Server, texts: string[], key: string) {
  const l = await load(server, batchBodies(texts), key, BATCH_CONNECTIONS, T.sweep);
  return { load: l, texts: BATCH_TEXTS, itemsPerSec: l.rps * BATCH_TEXTS };
}

function queuePart(
  env: BenchEnv,
  settings: ServerSettings,
  texts: string[],
  profileRoot: string,
): Promise<QueuePart> {
  return runQueuePart({
    profileDir: PROFILE ? join(PROFILES_DIR ? resolve(PROFILES_DIR) : profileRoot, 'queue') : undefined,
    env,
    settings,
    texts,
    counts: { text: T.jobs, textWarmup: T.jobsWarmup, echo: T.echoJobs, echoWarmup: T.echoWarmup },
    connections: JOB_SUBMIT_CONNECTIONS,
    log,
  });
}

/** The numbers of (d) as the prose and cost table take them. */
function queueFacts(q: QueuePart, cpus: number): QueueFacts {
  const cost = (j: JobsRun) => ({ jobsPerSec: j.jobsPerSec, cpuMsPerJob: j.serverCpuMsPerJob, ...j.costs });
  const main = q.profile?.summaries.find((s) => s.thread.endsWith('thread 001'));
  return {
    httpShare: main && categoryShare(main, (c) => /http\/net\/streams|Express/.test(c)),
    concurrency: q.raw.concurrency,
    cpus,
    text: cost(q.text),
    echo: cost(q.echo),
    bulk: q.bulk && { ...cost(q.bulk), perRequest: q.bulk.perRequest ?? 1 },
    raw: { jobsPerSec: q.raw.jobsPerSec, cpuMsPerJob: q.raw.cpuMsPerJob, ...q.raw.costs },
  };
}

/** The bulk path's worker-side stages and the Redis calls beyond raw BullMQ's (runs that read them). */
function stagesReport(q: QueuePart, facts: QueueFacts): string[] {
  const stages = q.bulk?.stages;
  if (!stages) return [];
  const extra = extraRedisCommands(q.bulk?.costs.byCommand ?? {}, q.raw.costs.byCommand ?? {});
  const slotMs = stages[STAGES[STAGES.length - 1]!].mean;
  return [
    table(['worker side, bulk path (ms per job)', 'p50', 'mean'], stageRows(stages)),
    '',
    stageSentence({ slotMs, stages, concurrency: facts.concurrency, raw: facts.raw, extra }),
    '',
  ];
}

/** (d)'s cost table and sentence. */
function queueReport(q: QueuePart, cpus: number): string {
  const facts = queueFacts(q, cpus);
  return [
    table(
      [
        '(d) per job',
        'jobs/s',
        'CPU ms/job',
        'Postgres write transactions/job',
        'Redis commands/job (script calls)',
        'Redis CPU ms/job',
      ],
      queueCostRows(facts),
    ),
    '',
    ...(facts.bulk ? [bulkSentence({ ...facts, bulk: facts.bulk }), ''] : []),
    ...stagesReport(q, facts),
    queueSentence(facts),
    ...(q.profile
      ? [
          '',
          `Where the server's CPU goes per no-op job: one more run of ${q.echo.submitted} debug.echo jobs under \`node --cpu-prof\` (${f0(q.profile.jobsPerSec)} jobs/s with the profiler on; samples inside that run only):`,
          '',
          ...profileTables(q.profile.summaries, 1),
        ]
      : []),
  ].join('\n');
}

async function main() {
  installSignalCleanup();
  if (RENDER_FROM) {
    // Re-render a saved run (--json) with the current prose; nothing is measured.
    const saved = JSON.parse(readFileSync(RENDER_FROM, 'utf8')) as Results;
    process.stdout.write(`${render(saved).console}\n`);
    return;
  }
  if (ONLY) {
    if (ONLY.baselineDir && !existsSync(join(ONLY.baselineDir, 'main.js')))
      throw new Error(
        `--baseline=${ONLY.baselineDir}: no main.js there (give a dist/ built by npm run build)`,
      );
    // --seconds=N: longer windows, for a loaded machine where a 5 s window holds few slow responses.
    const seconds = Number(argValue('--seconds') ?? T.c1);
    const [warmupSeconds, starts] = [T.warmup, Number(argValue('--starts') ?? T.starts)];
    return partialRun({
      ...ONLY,
      warmupSeconds,
      seconds,
      starts,
      rounds: Number(argValue('--rounds') ?? 3),
      log,
    });
  }
  const results: Partial<Results> = {};
  results.machine = machine();
  results.windows = T;
  const model = loadModel();
  const texts = loadMessages();
  results.messages = texts.length;
  results.modelFile = model.file;
  results.modelPrecision = model.precision;
  results.meanChars = texts.reduce((a, t) => a + t.length, 0) / texts.length;
  const bodies = texts.map((text) => JSON.stringify({ text }));
  log(
    `${texts.length} held-out messages (mean ${Math.round(results.meanChars)} chars); ${results.machine.cpus} CPUs, ${results.machine.model}, node ${results.machine.node}`,
  );

  // --- services -------------------------------------------------------------------------------------
  const dir = mkdtempSync(join(tmpdir(), 'clawstack-bench-'));
  chmodSync(dir, 0o755); // as root, Postgres runs as the postgres user and must reach its data dir
  onCleanup(async () => rmSync(dir, { recursive: true, force: true }));
  log('starting Redis and Postgres on loopback');
  const local = await startLocalServices({ redis: join(dir, 'redis'), postgres: join(dir, 'pg') });
  onCleanup(() => local.stop());
  const [redis, postgres] = [local.redis!, local.postgres!];
  const databaseUrl = await ensureDatabase(postgres.url, 'clawstack_bench');
  const env: BenchEnv = {
    redisUrl: redis.url,
    databaseUrl,
    apiKey: `bench-${randomBytes(24).toString('base64url')}`,
    dataDir: join(dir, 'data'),
  };

  log('building the production bundle (npm run build)');
  const built = buildBundle();
  log(`bundle built and copied in ${built.ms} ms`);
  const queueBaseline = argValue('--queue-baseline');
  if (ONLY_QUEUE && queueBaseline) {
    // The bulk path of another build and this one, side by side: printed, nothing written.
    if (!existsSync(join(queueBaseline, 'main.js')))
      throw new Error(`--queue-baseline=${queueBaseline}: no main.js there (a dist/ from npm run build)`);
    const rounds = await compareBulk({
      envFor: async (build) => ({
        ...env,
        databaseUrl: await ensureDatabase(postgres.url, `clawstack_bench_${build.replace(/\W/g, '_')}`),
      }),
      settings: SWEEP[0]!,
      probe: texts[0]!,
      baselineDir: queueBaseline,
      rounds: Number(argValue('--rounds') ?? 3),
      jobs: T.echoJobs,
      warmup: T.echoWarmup,
      log,
      loadavg: () => loadavg()[0]!,
    });
    process.stdout.write(
      `\nMachine: commit ${results.machine.commit}; ${results.machine.cpus} CPUs, ${results.machine.model}\n${compareReport(rounds)}\n`,
    );
    return;
  }
  if (ONLY_QUEUE) {
    // Only (d), at the app's default engine settings: printed, nothing written.
    const q = await queuePart(env, SWEEP[0]!, texts, dir);
    results.machine.loadEnd = loadavg();
    const m = results.machine;
    process.stdout.write(
      `\nMachine: commit ${m.commit}; ${m.cpus} CPUs, ${m.model}; load average at start ${m.loadStart.map(f2).join(' ')}, at end ${m.loadEnd.map(f2).join(' ')}.\n\n${queueReport(q, Number(m.cpus))}\n`,
    );
    return;
  }

  // --- (a) raw --------------------------------------------------------------------------------------
  log('(a) raw onnxruntime-node: batch 1');
  const s1 = await createSession(model, 1);
  results.rawB1 = await rawBatch1(s1, model, texts, {
    warmup: T.rawWarmupCalls,
    iterations: T.rawIterations,
  });
  results.rawBatched = [];
  for (const intraOp of [1, 2]) {
    const s = intraOp === 1 ? s1 : await createSession(model, intraOp);
    for (const batch of [8, 32, 64]) {
      log(`(a) raw batched: batch ${batch}, intra-op threads ${intraOp}`);
      results.rawBatched.push({
        ...(await rawBatched(s, model, texts, { batch, seconds: T.rawBatchedSeconds })),
        intraOp,
      });
    }
    if (intraOp !== 1) await s.release();
  }
  await s1.release();
  results.rawPeakRssMb = peakRssMb(process.pid);
  {
    const counts = texts.map((t) => hashTextFeatures(t, model.spec).ids.length).sort((a, b) => a - b);
    const medianFeatures = counts[Math.floor(counts.length / 2)]!;
    log(`probes: Redis round trip, worker-thread round trip with ${medianFeatures} features`);
    results.probes = {
      medianFeatures,
      redis: await redisRoundTrip(redis.url),
      thread: await threadRoundTrip(medianFeatures),
    };
  }

  // --- (b) naive Express -----------------------------------------------------------------------------
  log('(b) naive Express server');
  {
    const port = await freePort();
    const naive = await startNaiveServer(port);
    const server = { child: naive, url: `http://127.0.0.1:${port}`, port, settings: {} };
    const c1 = await load(server, bodies, '', 1, T.c1);
    const c8 = await load(server, bodies, '', PLOT_MIDDLE, T.sweep);
    const c64 = await load(server, bodies, '', CONNECTIONS_HIGH, T.c64);
    results.naive = { c1, c8, c64, peakRssMb: peakRssMb(naive.pid) };
    await naive.stop();
  }

  // --- (c) clawstack: start-up -----------------------------------------------------------------------
  log('(c) clawstack: first start (fresh database: migrations, bootstrap key)');
  {
    results.startLoad = loadavg();
    const first = await startServer(env, SWEEP[0]!, texts[0]!);
    results.startColdMs = first.startMs;
    await first.child.stop();
    results.startMs = [];
    for (let i = 0; i < T.starts; i++) {
      const s = await startServer(env, SWEEP[0]!, texts[i + 1]!);
      results.startMs.push(s.startMs);
      log(`(c) start → first 200: ${s.startMs.toFixed(0)} ms`);
      await s.child.stop();
    }
  }

  // --- (c) start-up breakdown: a timeline from the app's own logs, and a CPU profile of the start -----
  log(
    '(c) start-up breakdown (one start with LOG_LEVEL=debug, one under the CPU profiler; not measured starts)',
  );
  {
    const s = await startServer(env, { ...SWEEP[0]!, LOG_LEVEL: 'debug' }, texts[0]!);
    await sleep(50);
    const events = logEvents(s.child.output(), s.spawnedAtEpochMs);
    events.push({ msg: 'first 200 from classify (bench)', ms: s.startMs });
    const phases = timelineFromLogs(s.child.output(), s.spawnedAtEpochMs);
    await s.child.stop();
    const profDir = join(PROFILES_DIR ? resolve(PROFILES_DIR) : dir, 'start');
    const p = await startServer(env, SWEEP[0]!, texts[0]!, {
      nodeArgs: ['--cpu-prof', `--cpu-prof-dir=${profDir}`, '--cpu-prof-interval=200'],
    });
    await p.child.stop(20_000);
    const files = existsSync(profDir) ? profilesIn(profDir) : [];
    const summaries = files
      .map((f) => summarizeProfile(f, 12, { fromUs: p.spawnedAtUs, toUs: p.readyAtUs }))
      .filter((x) => x.wallMs > 0);
    results.startup = {
      events,
      phases,
      profileStartMs: p.startMs,
      spawnedAtUs: p.spawnedAtUs,
      summaries: summaries.sort((a, b) => b.busyMs - a.busyMs),
      bundle: bundleComposition(join(BUNDLE_DIR, 'server.cjs.map')),
    };
  }

  // --- (c) clawstack: concurrency 1 and 64, settings sweep -------------------------------------------
  results.sweep = [];
  for (const [i, settings] of SWEEP.entries()) {
    log(`(c) clawstack ${settingsLabel(settings)}`);
    const server = await startServer(env, settings, texts[0]!);
    if (i === 0) results.serverConfig = loadConfig(server.env);
    const run: ServeRun = { settings, peakRssMb: NaN };
    if (i === 0) run.c1 = await load(server, bodies, env.apiKey, 1, T.c1);
    run.c64 = await load(server, bodies, env.apiKey, CONNECTIONS_HIGH, i === 0 ? T.c64 : T.sweep);
    run.peakRssMb = peakRssMb(server.child.pid);
    log(`    c64: ${f0(run.c64.rps)} req/s, p50 ${f2(run.c64.p50)} ms, p99 ${f2(run.c64.p99)} ms`);
    await server.child.stop();
    results.sweep.push(run);
  }
  const bestSettings = [...results.sweep].sort((a, b) => b.c64!.rps - a.c64!.rps)[0]!.settings;
  {
    // The best settings, measured again at both concurrencies in one process (peak RSS after both).
    log(`(c) clawstack best settings again: ${settingsLabel(bestSettings)}`);
    const server = await startServer(env, bestSettings, texts[0]!);
    const c1 = await load(server, bodies, env.apiKey, 1, T.c1);
    const c8 = await load(server, bodies, env.apiKey, PLOT_MIDDLE, T.sweep);
    const c64 = await load(server, bodies, env.apiKey, CONNECTIONS_HIGH, T.c64);
    results.best = { settings: bestSettings, c1, c8, c64, peakRssMb: peakRssMb(server.child.pid) };
    results.batchPath = await batchPath(server, texts, env.apiKey);
    log(`(c) batch path: ${f0(results.batchPath.itemsPerSec)} texts/s`);
    await server.child.stop();
  }
  {
    // The batch path as before packing by length (one padded batch per engine batch), beside it.
    const server = await startServer(env, { ...bestSettings, PACK_BY_LENGTH: false }, texts[0]!);
    results.batchPathPadded = await batchPath(server, texts, env.apiKey);
    log(`(c) batch path, PACK_BY_LENGTH=false: ${f0(results.batchPathPadded.itemsPerSec)} texts/s`);
    await server.child.stop();
  }
  log('(b)/(c) c=1 stage by stage: naive and clawstack traced (STAGE_TRACE_FILE)');
  results.stages = await measureStages(env, bodies, texts[0]!, { warmupSeconds: T.warmup, seconds: T.c1 });

  // --- peak RSS with every model loaded, text + OCR + speech load at once --------------------------------
  log("(c) clawstack with MODELS='' (every model in the manifest): text c=64 + OCR + speech load");
  {
    const server = await startServer(env, { ...bestSettings, MODELS: '' }, texts[0]!);
    results.allModels = { ...(await allModalities(server, bodies, env.apiKey)), startMs: server.startMs };
    await server.child.stop();
  }

  // --- CPU profile of the server at concurrency 64 -----------------------------------------------------
  if (PROFILE) {
    log('(c) CPU profile of the server at concurrency 1 and 64 (node --cpu-prof; not measured runs)');
    const profDir = join(PROFILES_DIR ? resolve(PROFILES_DIR) : dir, 'load');
    const server = await startServer(env, bestSettings, texts[0]!, {
      nodeArgs: ['--cpu-prof', `--cpu-prof-dir=${profDir}`, '--cpu-prof-interval=500'],
    });
    await runLoad({ ...loadSpec(server, bodies, env.apiKey), connections: 1, seconds: T.warmup });
    const c1From = Number(process.hrtime.bigint() / 1000n);
    const c1Load = await runLoad({ ...loadSpec(server, bodies, env.apiKey), connections: 1, seconds: T.c1 });
    const c1To = Number(process.hrtime.bigint() / 1000n);
    await runLoad({
      ...loadSpec(server, bodies, env.apiKey),
      connections: CONNECTIONS_HIGH,
      seconds: T.warmup,
    });
    const fromUs = Number(process.hrtime.bigint() / 1000n);
    const l = await runLoad({
      ...loadSpec(server, bodies, env.apiKey),
      connections: CONNECTIONS_HIGH,
      seconds: T.c64,
    });
    const toUs = Number(process.hrtime.bigint() / 1000n);
    await server.child.stop(20_000); // SIGTERM → drain → exit writes the profiles
    const files = existsSync(profDir) ? profilesIn(profDir) : [];
    const byBusy = (a: ProfileSummary, b: ProfileSummary) => b.busyMs - a.busyMs;
    const summaries = files.map((f) => summarizeProfile(f, 15, { fromUs, toUs })).filter((p) => p.wallMs > 0);
    const c1Summaries = files
      .map((f) => summarizeProfile(f, 15, { fromUs: c1From, toUs: c1To }))
      .filter((p) => p.wallMs > 0);
    results.profile = {
      settings: bestSettings,
      load: l,
      summaries: summaries.sort(byBusy),
      c1Load,
      c1Summaries: c1Summaries.sort(byBusy),
    };
  }

  // --- (d) async jobs ---------------------------------------------------------------------------------
  const queue = await queuePart(env, bestSettings, texts, dir);
  results.jobs = queue.text;
  results.echoJobs = queue.echo;
  results.bulkJobs = queue.bulk;
  results.rawQueue = queue.raw;
  results.queueProfile = queue.profile;

  results.machine.loadEnd = loadavg();
  const r = results as Results;
  r.extendedWindows = extendedWindows;
  if (JSON_OUT) writeFileSync(JSON_OUT, JSON.stringify(r, null, 2));
  const report = render(r);
  process.stdout.write(`\n${report.console}\n`);
  if (WRITE_DOCS && !QUICK) {
    writeDocs(report.markdown, report.historyRow);
    writeFileSync(PLOT_FILE, report.svg);
    log('wrote docs/benchmarks.md (section "Serving (bench:serve)")');
  }
}

// ---------------------------------------------------------------------------------------------------
// Report

interface Rendered {
  console: string;
  markdown: string;
  historyRow: string;
  svg: string;
}

/** A row of the (d) jobs table. */
function jobsRow(label: string, j: JobsRun): string[] {
  return [
    label,
    j.perRequest ? `${j.submit.connections} × ${j.perRequest}` : `${JOB_SUBMIT_CONNECTIONS} submit`,
    f1(j.p50),
    f1(j.p99),
    f0(j.jobsPerSec),
    f0(j.peakRssMb),
    '–',
  ];
}

function table(header: string[], rows: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]) => `| ${cells.map((c, i) => c.padEnd(widths[i]!)).join(' | ')} |`;
  return [line(header), `| ${widths.map((w) => '-'.repeat(w)).join(' | ')} |`, ...rows.map(line)].join('\n');
}

function render(r: Results): Rendered {
  const rawLimit = [...r.rawBatched].sort((a, b) => b.runItemsPerSec - a.runItemsPerSec)[0]!;
  const rawLimitTotal = [...r.rawBatched].sort((a, b) => b.totalItemsPerSec - a.totalItemsPerSec)[0]!;
  const best = r.best;
  const c1 = best.c1!;
  const c64 = best.c64!;
  const starts: StartTimes = {
    coldMs: r.startColdMs,
    warmMs: r.startMs,
    loadAvg: r.startLoad,
    cpuModel: r.machine.model,
  };
  const cores = (l: LoadResult) => `${f2(l.serverCores)} / ${f2(l.loadgenCores)}`;

  const main = table(
    ['setup', 'conc.', 'p50 ms', 'p99 ms', 'throughput /s', 'peak RSS MB', 'CPU server / loadgen'],
    [
      [
        '(a) raw session.run, batch 1',
        '1',
        f2(r.rawB1.run.p50),
        f2(r.rawB1.run.p99),
        f0(r.rawB1.runThroughput),
        f0(r.rawPeakRssMb),
        '–',
      ],
      [
        '(a) raw featurize + run, batch 1',
        '1',
        f2(r.rawB1.total.p50),
        f2(r.rawB1.total.p99),
        f0(r.rawB1.throughput),
        '',
        '–',
      ],
      [
        `(a) raw session.run, batch ${rawLimit.batch} (intra-op ${rawLimit.intraOp}) = limit`,
        '–',
        `${f2(rawLimit.runMsP50)}/batch`,
        '',
        f0(rawLimit.runItemsPerSec),
        '',
        '–',
      ],
      [
        `(a) raw featurize + run, batch ${rawLimitTotal.batch} (intra-op ${rawLimitTotal.intraOp})`,
        '–',
        '',
        '',
        f0(rawLimitTotal.totalItemsPerSec),
        '',
        '–',
      ],
      [
        '(b) naive Express + session.run',
        '1',
        f2(r.naive.c1.p50),
        f2(r.naive.c1.p99),
        f0(r.naive.c1.rps),
        '',
        cores(r.naive.c1),
      ],
      [
        '(b) naive Express + session.run',
        '64',
        f2(r.naive.c64.p50),
        f2(r.naive.c64.p99),
        f0(r.naive.c64.rps),
        f0(r.naive.peakRssMb),
        cores(r.naive.c64),
      ],
      ['(c) clawstack /v1/text/classify', '1', f2(c1.p50), f2(c1.p99), f0(c1.rps), '', cores(c1)],
      [
        '(c) clawstack /v1/text/classify',
        '64',
        f2(c64.p50),
        f2(c64.p99),
        f0(c64.rps),
        f0(best.peakRssMb),
        cores(c64),
      ],
      [
        "(c) clawstack, MODELS='' (all models), text",
        '64',
        f2(r.allModels.c64?.p50 ?? NaN),
        f2(r.allModels.c64?.p99 ?? NaN),
        f0(r.allModels.c64?.rps ?? NaN),
        f0(r.allModels.peakRssMb),
        r.allModels.c64 ? cores(r.allModels.c64) : '–',
      ],
      ...(
        [
          ['  … at the same time: /v1/image/ocr', r.allModels.ocr],
          ['  … at the same time: /v1/speech/detect', r.allModels.speech],
        ] as const
      ).map(([label, l]) => [
        label,
        String(OTHER_MODALITY_CONNECTIONS),
        f2(l?.p50 ?? NaN),
        f2(l?.p99 ?? NaN),
        f0(l?.rps ?? NaN),
        '',
        '–',
      ]),
      ...batchPathRows(r, cores),
      jobsRow(`(d) async jobs (${r.jobs.succeeded}/${r.jobs.submitted} ok), submit→finish`, r.jobs),
      ...(r.echoJobs
        ? [
            jobsRow(
              `(d) async jobs, no-op task debug.echo (${r.echoJobs.succeeded}/${r.echoJobs.submitted} ok)`,
              r.echoJobs,
            ),
          ]
        : []),
      ...(r.bulkJobs
        ? [
            jobsRow(
              `(d) the same, ${r.bulkJobs.perRequest} jobs per request, POST /v1/jobs/batch (${r.bulkJobs.succeeded}/${r.bulkJobs.submitted} ok)`,
              r.bulkJobs,
            ),
          ]
        : []),
      ...(r.rawQueue
        ? [
            [
              `(d) raw BullMQ, add + no-op processor (concurrency ${r.rawQueue.concurrency}) = queue limit`,
              `${JOB_SUBMIT_CONNECTIONS} add`,
              '',
              '',
              f0(r.rawQueue.jobsPerSec),
              '',
              '–',
            ],
          ]
        : []),
    ],
  );
  const sweep = table(
    [
      'engine settings (c) at 64',
      'req/s',
      'p50 ms',
      'p99 ms',
      'CPU server / loadgen',
      'non-2xx',
      'peak RSS MB',
    ],
    r.sweep.map((s) => [
      settingsLabel(s.settings),
      f0(s.c64!.rps),
      f2(s.c64!.p50),
      f2(s.c64!.p99),
      cores(s.c64!),
      String(s.c64!.non2xx + s.c64!.errors),
      f0(s.peakRssMb),
    ]),
  );
  const rawTable = table(
    [
      'raw batched',
      'intra-op',
      'session.run ms/batch (p50)',
      'items/s model only',
      'items/s featurize + run',
    ],
    r.rawBatched.map((b) => [
      `batch ${b.batch}`,
      String(b.intraOp),
      f2(b.runMsP50),
      f0(b.runItemsPerSec),
      f0(b.totalItemsPerSec),
    ]),
  );

  const ok = (b: boolean) => (b ? 'met' : '**missed**');
  // Contention-robust view: requests per second per core the server actually got (raw runs use one core: intra-op 1).
  const perCore = (l: LoadResult) => l.rps / Math.max(0.01, l.serverCores);
  const rawPerCore = rawLimit.runItemsPerSec / rawLimit.intraOp;
  const c1Over = c1.p50 - r.rawB1.run.p50;
  const targets = table(
    ['target', 'reached', 'ratio', 'ratio per server core', 'status'],
    [
      [
        '(c) c=1 p50 ≤ raw p50 + 2 ms',
        `${f2(c1.p50)} ms vs raw ${f2(r.rawB1.run.p50)} ms (+${f2(c1Over)} ms)`,
        `${f2(c1Over / 2)} × the 2 ms budget`,
        '–',
        ok(c1Over <= 2),
      ],
      [
        '(c) c=64 ≥ 0.8 × raw batched (model only)',
        `${f0(c64.rps)} vs ${f0(rawLimit.runItemsPerSec)} /s`,
        `${f2(c64.rps / rawLimit.runItemsPerSec)} ×`,
        `${f2(perCore(c64) / rawPerCore)} ×`,
        ok(c64.rps >= 0.8 * rawLimit.runItemsPerSec),
      ],
      [
        '  (same, vs raw featurize + run, one thread)',
        `${f0(c64.rps)} vs ${f0(rawLimitTotal.totalItemsPerSec)} /s`,
        `${f2(c64.rps / rawLimitTotal.totalItemsPerSec)} ×`,
        `${f2(perCore(c64) / (rawLimitTotal.totalItemsPerSec / rawLimitTotal.intraOp))} ×`,
        ok(c64.rps >= 0.8 * rawLimitTotal.totalItemsPerSec),
      ],
      [
        '(c) c=64 ≥ 3 × (b) c=64',
        `${f0(c64.rps)} vs ${f0(r.naive.c64.rps)} /s`,
        `${f2(c64.rps / r.naive.c64.rps)} ×`,
        `${f2(perCore(c64) / perCore(r.naive.c64))} ×`,
        ok(c64.rps >= 3 * r.naive.c64.rps),
      ],
      [
        'peak RSS, role all (text-spam) ≤ 600 MB',
        `${f0(best.peakRssMb)} MB`,
        `${f2(best.peakRssMb / 600)} ×`,
        '–',
        ok(best.peakRssMb <= 600),
      ],
      [
        "peak RSS, role all, MODELS='', text + OCR + speech load ≤ 600 MB",
        `${f0(r.allModels.peakRssMb)} MB`,
        `${f2(r.allModels.peakRssMb / 600)} ×`,
        '–',
        loadedRssStatus(r.allModels.peakRssMb, 600, {
          ocr: r.allModels.ocr?.ok ?? 0,
          speech: r.allModels.speech?.ok ?? 0,
        }),
      ],
      ...startRows(starts, START_TARGET_MS),
    ],
  );

  // Per-request CPU: what the server spends per classify vs what featurize + run costs raw.
  const serverCpuMsPerReq = (c64.serverCores * 1000) / c64.rps;
  const rawCpuMsPerItem = 1000 / rawLimitTotal.totalItemsPerSec;
  const naiveCpuMsPerReq = (r.naive.c64.serverCores * 1000) / r.naive.c64.rps;
  const cpuLines = [
    `- CPU per request at concurrency 64: clawstack ${f2(serverCpuMsPerReq)} ms (all threads of the server), naive ${f2(naiveCpuMsPerReq)} ms; ` +
      `raw featurize + run ${f2(rawCpuMsPerItem)} ms per item (batch ${rawLimitTotal.batch}), raw featurize alone ${f2(r.rawB1.featurize.mean)} ms (mean), session.run alone ${f2(r.rawB1.run.mean)} ms (mean, batch 1).`,
    `- The load generator (autocannon, in the bench process) used ${f2(c64.loadgenCores)} cores at concurrency 64 on this ${r.machine.cpus}-CPU machine; the server got ${f2(c64.serverCores)}.`,
  ];

  const profileMd: string[] = [];
  if (r.profile) {
    profileMd.push(
      `Load profile: ${settingsLabel(r.profile.settings)}, concurrency 64, ${f0(r.profile.load.rps)} req/s under the profiler (\`node --cpu-prof --cpu-prof-interval=500\`; not a measured run); only samples taken during the ${r.windows.c64} s load window count.`,
      '',
      ...profileTables(r.profile.summaries, 3),
      `Same server at concurrency 1 (${f0(r.profile.c1Load.rps)} req/s, p50 ${f2(r.profile.c1Load.p50)} ms under the profiler):`,
      '',
      ...profileTables(r.profile.c1Summaries, 2, true),
    );
  }
  const startupMd = [
    `Start-up timeline (one extra start with LOG_LEVEL=info; ms after spawn, from the app's log timestamps): ${r.startup.events.map((e) => `${e.msg} ${f0(e.ms)}`).join(' → ')}.`,
    ...(r.startup.phases?.length
      ? [
          '',
          "The app's start-up phases in that start (app/src/telemetry/startup.ts; ms after spawn, wall time, so a phase includes time its thread waited for a core):",
          '',
          '```',
          ...formatTimeline(r.startup.phases),
          '```',
        ]
      : []),
    '',
    `Start-up profile (one extra start under \`node --cpu-prof\`, spawn → first 200 = ${f0(r.startup.profileStartMs)} ms with the profiler on):`,
    '',
    ...profileTables(r.startup.summaries, 2),
  ];

  const analysisMd = analysis(r, {
    serverCpuMsPerReq,
    naiveCpuMsPerReq,
    rawCpuMsPerItem,
    rawLimit,
    rawLimitTotal,
  });

  const issue13 = table(
    ['target (issue 13)', 'reached', 'ratio', 'status'],
    issue13Rows({
      c64Rps: c64.rps,
      naiveC64Rps: r.naive.c64.rps,
      c64RpsMin: c64.rpsMin,
      naiveC64RpsMax: r.naive.c64.rpsMax,
      cpuMsPerReq: serverCpuMsPerReq,
      naiveCpuMsPerReq,
      c1P50: c1.p50,
      naiveC1P50: r.naive.c1.p50,
      batchItemsPerSec: r.batchPath?.itemsPerSec,
      rawTotalItemsPerSec: rawLimitTotal.totalItemsPerSec,
      jobsPerSec: r.jobs.jobsPerSec,
      rawQueueJobsPerSec: r.rawQueue?.jobsPerSec,
      echoJobsPerSec: r.echoJobs?.jobsPerSec,
      bulkJobsPerSec: r.bulkJobs?.jobsPerSec,
      bulkPerRequest: r.bulkJobs?.perRequest,
    }),
  );
  const queueMd =
    r.echoJobs && r.rawQueue
      ? [
          '### The queue (d)',
          '',
          queueReport(
            { text: r.jobs, echo: r.echoJobs, bulk: r.bulkJobs, raw: r.rawQueue, profile: r.queueProfile },
            Number(r.machine.cpus),
          ),
          '',
          `Server CPU: the clawstack process (all threads) from the first submit until the last job finished; raw BullMQ's: the bench process, which runs its adds and processor. Postgres write transactions: transaction ids handed out during the run (reads take none). Redis: \`INFO\` counters before and after; commands include those run inside BullMQ's Lua scripts. Echo inputs are small objects (\`{"probe": "bench:serve", "n": …}\`), as raw BullMQ's \`{ i }\`; ${r.echoJobs.submitted} echo jobs after ${r.echoJobs.warmup} warm-up jobs, and as many raw BullMQ jobs.` +
            (r.bulkJobs
              ? ` The bulk row: as many echo jobs (and warm-up jobs), ${r.bulkJobs.perRequest} per \`POST /v1/jobs/batch\` request from ${r.bulkJobs.submit.connections} connections, on the same server (same worker concurrency).`
              : ''),
          '',
        ]
      : [];
  const prepareMd =
    prepareSentence(
      r.sweep.map((w) => ({
        threads: w.settings.INFERENCE_THREADS ?? 1,
        inThreads: w.settings.PREPARE_IN_THREADS !== false,
        rps: w.c64!.rps,
      })),
    ) ?? '';
  const settingsMd = settingsLine(r.serverConfig as unknown as Record<string, unknown>, [
    ...new Set(SWEEP.flatMap((w) => Object.keys(w))),
  ]);
  const m = r.machine;
  const machineMd = `commit ${m.commit}; ${m.cpus} CPUs (\`nproc\`), ${m.model}, ${m.memGb} GB RAM, CPU features ${m.features ?? 'not recorded'}, Node ${m.node}, onnxruntime-node ${m.ort}; load average at start ${m.loadStart.map(f2).join(' ')}, at end ${m.loadEnd.map(f2).join(' ')} (other engineers' tests share this machine). ${m.date}.`;
  const inputsMd = `Model: text-spam \`models/${r.modelFile}\` (${r.modelPrecision}) in every setup. Inputs: the ${r.messages} held-out messages of \`test/fixtures/text-heldout.json\` (raw e-mails, mean ${f0(r.meanChars)} characters), rotated per request; featurized with the app's \`hashTextFeatures\`. Load generator: autocannon ${autocannonVersion()}, in the bench process, latency percentiles from its per-response timings (float ms). ${windowsSentence(r.windows, !!r.rawQueue)}${r.extendedWindows?.length ? ` Quick mode: windows in which no response completed were measured again for longer (${r.extendedWindows.join(', ')}).` : ''}`;

  const point = (c: number, l?: LoadResult) => ({ c, rps: l?.rps ?? NaN, p50: l?.p50 ?? NaN });
  const svg = servingPlot(
    [
      {
        name: '(b) naive Express',
        color: '#888',
        points: [point(1, r.naive.c1), point(PLOT_MIDDLE, r.naive.c8), point(CONNECTIONS_HIGH, r.naive.c64)],
      },
      {
        name: `(c) clawstack ${settingsLabel(best.settings)}`,
        color: '#c0392b',
        points: [point(1, c1), point(PLOT_MIDDLE, best.c8), point(CONNECTIONS_HIGH, c64)],
      },
    ],
    `bench:serve ${m.date.slice(0, 16).replace('T', ' ')} UTC, commit ${m.commit}, load average ${m.loadStart.map(f2).join(' ')}`,
  );
  const markdown = [
    '## Serving (bench:serve)',
    '',
    '`npm run bench:serve` (`scripts/bench-serve.ts`, helpers in `scripts/bench/`) measures, in one run on the same model (`text-spam`) and inputs: ' +
      '(a) raw onnxruntime-node in-process, (b) a naive Express server calling `session.run` per request (`scripts/bench/naive-server.ts`), ' +
      "(c) clawstack's production bundle (`npm run build` → `dist/main.js`, role `all`) serving `POST /v1/text/classify`, and (d) async jobs end to end. " +
      'It starts its own Redis and Postgres on loopback and removes them, and every child process, at the end.',
    '',
    `Machine: ${machineMd}`,
    '',
    inputsMd,
    '',
    settingsMd,
    '',
    `### Results (latest run, best engine settings: ${settingsLabel(best.settings)})`,
    '',
    main,
    '',
    'CPU columns: average cores used during the run by the server process (all threads) / by the bench process that runs autocannon.',
    `MODELS='': peak RSS read after text load at c=64 with OCR (test/fixtures/image/ocr-sans.png) and speech (test/fixtures/speech/speech-16k-mono-s16.wav) requests, ${OTHER_MODALITY_CONNECTIONS} connections each, running at the same time (CPU columns of that row: the whole server during all three loads). ` +
      allModelsSentence(allModelsFacts(r)),
    `(d): ${r.jobs.submitted} jobs submitted at ${f0(r.jobs.submit.rps)} submits/s (submit p50 ${f2(r.jobs.submit.p50)} ms, p99 ${f2(r.jobs.submit.p99)} ms); jobs/s = finished jobs / (last finished_at − first created_at); latency = finished_at − created_at from the job records; WORKER_CONCURRENCY=${r.jobs.workerConcurrency}; measured after ${r.jobs.warmup} warm-up jobs that were submitted, run and discarded. ` +
      jobsSentence(r.jobs.submit.rps, r.jobs.jobsPerSec),
    '',
    `![Throughput and p50 latency against concurrency, naive Express and clawstack](${PLOT_FILE.replace('docs/', '')})`,
    '',
    '### Engine settings at concurrency 64',
    '',
    sweep,
    '',
    '### Raw onnxruntime-node, batched',
    '',
    rawTable,
    '',
    rawBatchSentence(r.rawBatched),
    '',
    prepareMd,
    '',
    ...queueMd,
    '### Targets vs reached',
    '',
    issue13,
    '',
    'Earlier targets (before issue 13), kept for comparison:',
    '',
    targets,
    '',
    '### What bounds it, and what would move it',
    '',
    ...analysisMd,
    '',
    '### Profiles',
    '',
    ...cpuLines,
    '',
    ...profileMd,
    '#### Start-up',
    '',
    ...startupMd,
  ].join('\n');

  const historyRow = `| ${m.date.slice(0, 16).replace('T', ' ')} | ${m.loadStart.map(f1).join('/')} | ${f2(r.rawB1.run.p50)} | ${f0(rawLimit.runItemsPerSec)} | ${f0(r.naive.c64.rps)} | ${f2(c1.p50)} | ${f0(c64.rps)} | ${f2(c64.p99)} | ${f0(best.peakRssMb)} / ${f0(r.allModels.peakRssMb)} | ${f0(r.startColdMs)} / ${f0(Math.min(...r.startMs))}–${f0(Math.max(...r.startMs))} | ${f0(r.jobs.jobsPerSec)} | ${settingsLabel(best.settings)} | ${m.commit} | ${m.model}; ${m.features ?? 'features not recorded'} |`;

  const consoleOut = [
    `Machine: ${machineMd}`,
    inputsMd,
    settingsMd,
    '',
    main,
    '',
    sweep,
    '',
    rawTable,
    '',
    prepareMd,
    '',
    ...queueMd,
    issue13,
    '',
    targets,
    '',
    ...cpuLines,
    '',
    ...profileMd,
    ...startupMd,
    '',
    ...analysisMd,
  ].join('\n');
  return { console: consoleOut, markdown, historyRow, svg };
}

function analysis(
  r: Results,
  x: {
    serverCpuMsPerReq: number;
    naiveCpuMsPerReq: number;
    rawCpuMsPerItem: number;
    rawLimit: RawBatched;
    rawLimitTotal: RawBatched;
  },
): string[] {
  const cpus = Number(r.machine.cpus) || 1;
  const isMain = (s: ProfileSummary) => s.thread.endsWith('thread 001');
  const busy = (s: ProfileSummary) => s.busyMs / Math.max(1e-9, s.wallMs);
  const mainT = r.profile?.summaries.find(isMain);
  const inferBusy = (r.profile?.summaries ?? []).filter((s) => !isMain(s)).map(busy);
  const mainShares = mainT ? shares(mainT) : undefined;
  const list = mainShares ? changes(mainShares, busy(mainT!), inferBusy, r.probes.redis.p50) : [];
  const c1Main = r.profile?.c1Summaries.find(isMain);

  const out: string[] = ['**Concurrency 1 (latency target).**'];
  out.push(
    ...c1Bullets(
      {
        rawTotalP50: r.rawB1.total.p50,
        naiveP50: r.naive.c1.p50,
        c1P50: r.best.c1!.p50,
        redisP50: r.probes.redis.p50,
        threadP50: r.probes.thread.p50,
        medianFeatures: r.probes.medianFeatures,
        cpus,
        stages: r.stages,
        main: c1Main && {
          busy: busy(c1Main),
          msPerReq: c1Main.busyMs / Math.max(1, r.profile!.c1Load.ok),
          shares: shares(c1Main),
        },
      },
      list,
    ),
    '',
    '**Concurrency 64 (throughput targets).**',
    ...c64Bullets({
      cpus,
      c64Rps: r.best.c64!.rps,
      naiveRps: r.naive.c64.rps,
      serverCpuMsPerReq: x.serverCpuMsPerReq,
      naiveCpuMsPerReq: x.naiveCpuMsPerReq,
      rawCpuMsPerItem: x.rawCpuMsPerItem,
      rawRunMean: r.rawB1.run.mean,
      rawFeaturizeMean: r.rawB1.featurize.mean,
      rawLimitItemsPerSec: x.rawLimit.runItemsPerSec,
      profile: mainShares && { mainBusy: busy(mainT!), inferBusy, shares: mainShares },
    }),
    ceilingBullet({
      cpus,
      naiveRps: r.naive.c64.rps,
      naiveCpuMsPerReq: x.naiveCpuMsPerReq,
      serverCpuMsPerReq: x.serverCpuMsPerReq,
      loadgenCores: r.best.c64!.loadgenCores,
      loadgenRps: r.best.c64!.rps,
      factor: 2,
    }),
    sweepSentence(
      r.sweep.map((w) => ({
        label: settingsLabel(w.settings),
        threads: w.settings.INFERENCE_THREADS ?? 1,
        rps: w.c64!.rps,
      })),
      { label: settingsLabel(r.best.settings), rps: r.best.c64!.rps },
      cpus,
    ),
    '',
    '**Applied earlier** (history, not measured by this run: commit 4768ad3 "Start-up and hot-path fixes from the serving profile", from the profiles of the 2026-11-23 bench:serve runs before it): ' +
      'ids written as 32-bit words instead of a BigInt() per feature; no pino-http child logger per request when request logs (info) are off.',
  );
  if (list.length)
    out.push('', "**What would move it further** (from this run's c=64 profile):", ...numbered(list));
  out.push('', '**Start → first 200.**', ...startupBullets(r));
  return out;
}

function startupBullets(r: Results): string[] {
  const isMain = (s: ProfileSummary) => s.thread.endsWith('thread 001');
  const startMain = r.startup.summaries.find(isMain);
  const startWorker = r.startup.summaries.find((s) => !isMain(s));
  const ev = (re: RegExp) => r.startup.events.find((e) => re.test(e.msg))?.ms ?? NaN;
  const loadShare = categoryShare(startMain, (c) => /module loading|module init/.test(c));
  const loadMs = startMain ? loadShare * startMain.busyMs : NaN;
  const workerAt = startWorker ? (startWorker.startUs - r.startup.spawnedAtUs) / 1000 : NaN;
  const engineMs = startWorker ? (startWorker.endUs - startWorker.startUs) / 1000 : NaN;
  const top = r.startup.bundle.packages
    .slice(0, 6)
    .map((p) => `${p.name} ${f0(p.kb)} KB`)
    .join(', ');
  const aws = r.startup.bundle.packages
    .filter((p) => /^@(aws-sdk|smithy|aws-crypto)\//.test(p.name))
    .reduce((a, p) => a + p.kb, 0);
  const starts = {
    coldMs: r.startColdMs,
    warmMs: r.startMs,
    loadAvg: r.startLoad,
    cpuModel: r.machine.model,
  };
  return [
    startSentence(starts, START_TARGET_MS),
    `- Timeline without profiler (one extra warm start): models loaded at ${f0(ev(/models loaded/))} ms, ready (listening) at ${f0(ev(/is ready/))} ms, first 200 at ${f0(ev(/first 200/))} ms. ` +
      `Under the profiler: module loading and bundle initialization took ${f0(loadMs)} ms of main-thread CPU (${pct(loadShare)} of its on-CPU time before the first 200); ` +
      `the inference thread was spawned ${f0(workerAt)} ms after the process, and its start (thread bootstrap, loading onnxruntime-node, creating the session) then took up to ${f0(engineMs)} ms (thread lifetime in that run, profiler on).`,
    `- dist/server.cjs is ${f1(r.startup.bundle.bytes / 1024 / 1024)} MB of source that Node reads at every start (largest inputs by source size: ${top}; ${aws > 0 ? `AWS SDK for the S3 model source ${f0(aws)} KB` : 'the AWS SDK is not in it, only in dist/s3-source.cjs'}).`,
    '',
    '**Start-up changes applied earlier** (history, same commit as above): inference threads spawn while the manifest is verified and migrations run; `sharp` loads on the first image; the AWS SDK is a separate file (dist/s3-source.js, now .cjs) loaded only for an s3:// MODEL_SOURCE; the bundle is minified.',
    '',
    `**Start-up changes since** (issue 13): dist/main.js is a launcher (app/src/launch.ts) that starts the first inference thread before the server compiles; that thread also creates the sessions the last start loaded (a hint beside the compile cache), which the engine takes only when file sha256 and options match (app/src/inference/preload.ts). Redis, the queue, the bootstrap key and the queue's recovery no longer wait for the models. ${compileCacheAdvice(r.machine.node)} ` +
      "That thread reads and hashes the files it preloads first and hands each sha256 to the main thread's manifest check, which no longer hashes them again; the AWS SDK, which esbuild had bundled into server.cjs as well (both arms of the s3-source import()), is only in dist/s3-source.cjs; a current database schema is recognised by one query, without the migration lock. " +
      'BullMQ (≈ 1.2 MB minified) is dist/bullmq.cjs, loaded after the first response or 1 s after listen (app/src/service.ts): the queue, the worker and the recovery open then.',
    '',
    '**What would move start-up further:**',
    `1. ${bundleAdvice(r.startup.bundle.packages)}`,
    "2. A V8 startup snapshot (`node --build-snapshot`) is blocked on Node 20.20: ioredis aborts the snapshot build (V8 'Unknown external reference', from its tls/tty bindings), pg and prom-client fail in node:http (`methods.toSorted is not a function` in the builder), express's depd needs the stack-trace API the builder lacks; zod, pino, helmet, rate-limiter-flexible and zod-openapi do snapshot.",
  ];
}

function profileTables(summaries: ProfileSummary[], threads: number, categoriesOnly = false): string[] {
  const out: string[] = [];
  for (const s of summaries.slice(0, threads)) {
    const name = s.thread.endsWith('thread 001')
      ? 'main thread'
      : `worker thread (${s.thread.replace(/^pid \d+ /, '')})`;
    out.push(
      `**${name}** — busy ${f0(s.busyMs)} of ${f0(s.wallMs)} ms (${f0((100 * s.busyMs) / Math.max(1e-9, s.wallMs))} %; busy = not idle in V8's sampler, which includes time the thread was runnable but waiting for a core)`,
      '',
      table(
        ['category (self time)', 'ms', '% of busy'],
        s.categories.slice(0, 12).map((c) => [c.category, f0(c.selfMs), f1(100 * c.share)]),
      ),
      '',
    );
    if (!categoriesOnly) {
      out.push(
        table(
          ['top functions (self time)', 'where', '% of busy'],
          s.top.slice(0, 12).map((t) => [t.name, t.where || '–', f1(100 * t.share)]),
        ),
        '',
      );
    }
  }
  return out;
}

function autocannonVersion(): string {
  return (JSON.parse(readFileSync('node_modules/autocannon/package.json', 'utf8')) as { version: string })
    .version;
}

const HISTORY_START = '<!-- bench:serve history start -->';
const HISTORY_END = '<!-- bench:serve history end -->';
const HISTORY_HEADER = [
  '| run (UTC) | load avg | raw p50 ms | raw batched /s | (b) c=64 /s | (c) c=1 p50 ms | (c) c=64 /s | (c) c=64 p99 ms | RSS MB text-spam / all | start ms (rows before commit was recorded: median of warm restarts; since: first / warm min–max) | jobs/s | best settings | commit | CPU model; features |',
  '| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |',
];

/** Replaces the "Serving (bench:serve)" section of docs/benchmarks.md, keeping other sections and the run history. */
function writeDocs(section: string, historyRow: string) {
  const file = 'docs/benchmarks.md';
  const doc = existsSync(file) ? readFileSync(file, 'utf8') : '# Benchmarks\n';
  const heading = '## Serving (bench:serve)';
  const start = doc.indexOf(heading);
  let before = doc;
  let after = '';
  let old = '';
  if (start >= 0) {
    const next = doc.indexOf('\n## ', start + heading.length);
    before = doc.slice(0, start);
    old = next < 0 ? doc.slice(start) : doc.slice(start, next + 1);
    after = next < 0 ? '' : doc.slice(next + 1);
  }
  const h0 = old.indexOf(HISTORY_START);
  const h1 = old.indexOf(HISTORY_END);
  const previous =
    h0 >= 0 && h1 > h0
      ? old
          .slice(h0 + HISTORY_START.length, h1)
          .split('\n')
          .filter((l) => l.startsWith('| ') && !l.startsWith('| run') && !l.startsWith('| ---'))
          // rows from before the commit or CPU columns: say so instead of leaving the cells empty
          .map((l) => {
            const missing = HISTORY_HEADER[1]!.split('|').length - l.split('|').length;
            return missing > 0 ? `${l}${' not recorded |'.repeat(missing)}` : l;
          })
      : [];
  const rows = [...previous, historyRow].slice(-10);
  const history = [
    '### Run history',
    '',
    'One line per full run (newest last, up to 10), to show run-to-run noise on this shared machine.',
    '',
    HISTORY_START,
    ...HISTORY_HEADER,
    ...rows,
    HISTORY_END,
    '',
  ].join('\n');
  const body = `${section.trimEnd()}\n\n${history}`;
  const out = `${before.trimEnd()}\n\n${body}${after ? `\n${after}` : ''}`;
  writeFileSync(file, out.endsWith('\n') ? out : `${out}\n`);
}

main()
  .catch(async (err: Error) => {
    process.stderr.write(`bench:serve failed: ${err.stack ?? err.message}\n`);
    process.exitCode = 1;
  })
  .finally(async () => {
    await cleanup();
    // Anything left (pg pools, autocannon timers) must not keep the process alive.
    setTimeout(() => process.exit(), 200).unref();
  });
