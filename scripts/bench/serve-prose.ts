/**
 * The sentences `bench:serve` writes, each computed from the run's own numbers: every claim is a branch
 * on a measurement (or, for changes applied in earlier commits, marked as history). Pure functions,
 * tested in test/scripts/bench-prose.test.ts.
 */
import { groupP50, STAGE_GROUPS, type StageRun } from './stages.ts';
import { leaseSize } from '../../app/src/auth/budget.ts';

const f0 = (x: number) => (Number.isFinite(x) ? Math.round(x).toLocaleString('en-US') : '–');
const f2 = (x: number) => (Number.isFinite(x) ? x.toFixed(2) : '–');
export const pct = (v: number) =>
  Number.isFinite(v) ? `${Math.abs(v) < 0.1 ? (100 * v).toFixed(1) : Math.round(100 * v)} %` : '–';

/** Differences smaller than this fraction are called "within noise" (run history: ±10–30 % on this machine). */
export const NOISE = 0.1;

// ------------------------------------------------------------------------------------------------------
// Start-up

export interface StartTimes {
  /** first start against a fresh database (migrations, bootstrap key) */
  coldMs: number;
  /** restarts against the migrated database */
  warmMs: number[];
  /** load average (1, 5, 15 min) just before the starts */
  loadAvg: number[];
  cpuModel: string;
}

/**
 * A target is met only if every run is under it (the spread is part of the claim): "met (all 3 ≤ 800 ms)"
 * or "**missed** (2 of 3 over 800 ms)".
 */
export function allUnder(values: number[], limit: number, unit = 'ms'): string {
  const over = values.filter((v) => !(v <= limit)).length;
  if (values.length === 0) return 'not measured';
  if (over === 0) return `met (all ${values.length} ≤ ${f0(limit)} ${unit})`;
  return `**missed** (${over} of ${values.length} over ${f0(limit)} ${unit})`;
}

/** Rows for the targets table: the first (cold) start and the warm restarts, each against the target. */
export function startRows(s: StartTimes, targetMs: number): string[][] {
  const min = Math.min(...s.warmMs);
  const max = Math.max(...s.warmMs);
  return [
    [
      `start → first 200 ≤ ${f0(targetMs)} ms, first start (fresh database: migrations, bootstrap key)`,
      `${f0(s.coldMs)} ms`,
      `${f2(s.coldMs / targetMs)} ×`,
      '–',
      allUnder([s.coldMs], targetMs),
    ],
    [
      `start → first 200 ≤ ${f0(targetMs)} ms, ${s.warmMs.length} warm restarts`,
      `${f0(min)}–${f0(max)} ms (${s.warmMs.map(f0).join(', ')})`,
      `${f2(max / targetMs)} × (slowest)`,
      '–',
      allUnder(s.warmMs, targetMs),
    ],
  ];
}

const plain = (status: string) => status.replace(/\*\*/g, '');

export function startSentence(s: StartTimes, targetMs: number): string {
  return (
    `- Measured starts on ${s.cpuModel} (load average ${s.loadAvg.map((x) => x.toFixed(2)).join(' ')} just before them): ` +
    `first start against a fresh database ${f0(s.coldMs)} ms (${plain(allUnder([s.coldMs], targetMs))}); ` +
    `${s.warmMs.length} warm restarts ${f0(Math.min(...s.warmMs))}–${f0(Math.max(...s.warmMs))} ms (${plain(allUnder(s.warmMs, targetMs))}); ` +
    (s.coldMs >= Math.max(...s.warmMs)
      ? `the first start is ${f0(s.coldMs - Math.max(...s.warmMs))} ms slower than the slowest restart.`
      : `the first start is ${f0(Math.max(...s.warmMs) - s.coldMs)} ms faster than the slowest restart, so the migrations' cost is below the spread of the restarts here.`)
  );
}

// ------------------------------------------------------------------------------------------------------
// Profiles: main-thread shares by category

export interface ThreadProfile {
  busyMs: number;
  wallMs: number;
  categories: { category: string; share: number }[];
}

export const SHARE_GROUPS = {
  featurizer: /^featurizer|^RegExp/,
  http: /http\/net\/streams/,
  express: /^Express/,
  pino: /^pino/,
  redis: /^Redis/,
  zod: /^zod/,
  engine: /inference engine|postMessage/,
  gc: /^GC$/,
} as const;
export type ShareName = keyof typeof SHARE_GROUPS;
export type Shares = Record<ShareName | 'rest', number>;

export function shares(p: ThreadProfile): Shares {
  const out = {} as Shares;
  let sum = 0;
  for (const [name, re] of Object.entries(SHARE_GROUPS) as [ShareName, RegExp][]) {
    out[name] = p.categories.filter((c) => re.test(c.category)).reduce((a, c) => a + c.share, 0);
    sum += out[name];
  }
  out.rest = 1 - sum;
  return out;
}

const LABELS: Record<ShareName | 'rest', string> = {
  featurizer: 'featurizer',
  http: 'HTTP/net core (parser, socket writes)',
  express: 'Express + body parsing',
  pino: 'pino-http',
  redis: 'Redis client (rate limiter)',
  zod: 'zod',
  engine: 'engine hand-off (collate, postMessage)',
  gc: 'GC',
  rest: 'rest',
};

/** The named group with the largest share (never "rest"). */
export function largestShare(s: Shares): ShareName {
  return (Object.keys(SHARE_GROUPS) as ShareName[]).sort((a, b) => s[b] - s[a])[0]!;
}

export function sharesPhrase(s: Shares): string {
  return (Object.keys(LABELS) as (ShareName | 'rest')[]).map((k) => `${LABELS[k]} ${pct(s[k])}`).join(', ');
}

// ------------------------------------------------------------------------------------------------------
// Changes that would move the numbers, numbered as they are printed

export interface Change {
  id: 'featurize-in-thread' | 'rate-limiter' | 'more-processes';
  text: string;
}

/**
 * The change list, each item included only when this run's profile supports it. `mainBusy` and
 * `inferBusy` are busy fractions of the main and inference threads at c=64.
 */
export function changes(s: Shares, mainBusy: number, inferBusy: number[], redisP50: number): Change[] {
  const out: Change[] = [];
  const mainBound = mainBusy >= 0.85;
  const inferHeadroom = inferBusy.length > 0 && inferBusy.every((b) => b < 0.5);
  if (s.featurizer >= 0.05) {
    out.push({
      id: 'featurize-in-thread',
      text:
        'Featurize in the inference thread instead of on the event loop (`app/src/modalities/text/classify.ts` + `app/src/inference/thread.ts`). ' +
        `Frees ${pct(s.featurizer)} of main-thread time` +
        (mainBound
          ? ` → up to ${f2(1 / Math.max(0.01, 1 - s.featurizer))} × c=64 throughput while the main thread is the bound`
          : ' (the main thread was not saturated in this run, so the throughput gain is smaller)') +
        (inferHeadroom
          ? `; the inference thread has headroom (busy ${inferBusy.map(pct).join(', ')}).`
          : `; but the inference thread is busy ${inferBusy.map(pct).join(', ')} already.`),
    });
  }
  if (s.redis >= 0.01) {
    out.push({
      id: 'rate-limiter',
      text:
        `Less Redis client work on the main thread: it is still ${pct(s.redis)} of main-thread time (a round trip p50 ${f2(redisP50)} ms), ` +
        'although the rate limit already leases its tokens in blocks (`app/src/auth/budget.ts`) and the failed-auth throttle reads an address once per AUTH_CACHE_MS (`app/src/auth/failed-auth.ts`). ' +
        "This profile does not say which calls remain (lease refills, the worker's BullMQ connection in role `all`, …); counting Redis commands per request would.",
    });
  }
  const top = largestShare(s);
  out.push({
    id: 'more-processes',
    text:
      top === 'http'
        ? 'Beyond that the ceiling is HTTP itself (parser + socket writes are the largest main-thread share here): more throughput per machine needs more API processes (role `api` replicas or node:cluster) on more cores, not engine tuning.'
        : `The largest main-thread share here is ${LABELS[top]} (${pct(s[top])}); more API processes (role \`api\` replicas or node:cluster) on more cores scale every share alike.`,
  });
  return out;
}

/** "change 2" for an id in the printed (1-based) list, or undefined when the run did not list it. */
export function changeRef(list: Change[], id: Change['id']): string | undefined {
  const i = list.findIndex((c) => c.id === id);
  return i < 0 ? undefined : `change ${i + 1}`;
}

export function numbered(list: Change[]): string[] {
  return list.map((c, i) => `${i + 1}. ${c.text}`);
}

// ------------------------------------------------------------------------------------------------------
// Concurrency 1

export interface C1Input {
  rawTotalP50: number;
  naiveP50: number;
  c1P50: number;
  redisP50: number;
  threadP50: number;
  medianFeatures: number;
  cpus: number;
  /** the c=1 profile's main thread, when profiled: busy fraction, ms per request, shares */
  main?: { busy: number; msPerReq: number; shares: Shares };
  /** traced c=1 runs of both servers (STAGE_TRACE_FILE; absent in runs from before it existed) */
  stages?: { naive: StageRun; clawstack: StageRun };
}

/**
 * The c=1 gap stage by stage, from one traced run of each server: what lies outside the server, the
 * server span, and the stage groups where clawstack spends more (largest first) and less than naive.
 */
/** Per stage group: each server's p50 and clawstack − naive, ms (STAGE_GROUPS order). */
export function stageDiffs(s: { naive: StageRun; clawstack: StageRun }) {
  return STAGE_GROUPS.map((g) => ({
    name: g.name,
    naive: groupP50(s.naive.summary, g.stages),
    claw: groupP50(s.clawstack.summary, g.stages),
  })).map((d) => ({ ...d, diff: d.claw - d.naive }));
}

export function stagesBullet(s: { naive: StageRun; clawstack: StageRun }): string {
  const { naive, clawstack: claw } = s;
  const outside = (r: StageRun) => r.load.p50 - r.summary.spanP50;
  const diffs = stageDiffs(s);
  const more = diffs.filter((d) => d.diff >= 0.005).sort((a, b) => b.diff - a.diff);
  const less = diffs.filter((d) => d.diff <= -0.005).sort((a, b) => a.diff - b.diff);
  const f3 = (x: number) => x.toFixed(3);
  const list = (xs: typeof diffs) => xs.map((d) => `${d.name} ${f3(Math.abs(d.diff))}`).join(', ');
  const feat = diffs.find((d) => d.name === 'featurize')!;
  return (
    `- Stage by stage (one traced c=1 run of each server, STAGE_TRACE_FILE: p50 of each stage, sums of p50s; tracing adds its own cost): ` +
    `client p50 naive ${f2(naive.load.p50)} ms, clawstack ${f2(claw.load.p50)} ms. ` +
    `Outside the server (client p50 − the server's span from Express's first middleware to the response written: client, loopback, HTTP parser, waking the process): naive ${f2(outside(naive))} ms, clawstack ${f2(outside(claw))} ms. ` +
    `Server span: naive ${f2(naive.summary.spanP50)} ms, clawstack ${f2(claw.summary.spanP50)} ms. ` +
    (more.length ? `clawstack spends more in: ${list(more)} ms` : 'clawstack spends no stage longer') +
    (less.length ? `; less in: ${list(less)} ms. ` : '. ') +
    `Both featurize with the same code (hashTextFeatures: naive ${f3(feat.naive)} ms, clawstack ${f3(feat.claw)} ms in its inference thread), so a faster featurizer lowers both p50s and the CPU per request, not the gap.`
  );
}

export function c1Bullets(x: C1Input, list: Change[]): string[] {
  const out = [
    `- p50 budget: raw featurize + session.run ${f2(x.rawTotalP50)} ms; the naive server answers in ${f2(x.naiveP50)} ms, so HTTP + JSON over loopback (client and server) adds ${f2(x.naiveP50 - x.rawTotalP50)} ms; ` +
      `clawstack answers in ${f2(x.c1P50)} ms, ${f2(Math.abs(x.c1P50 - x.naiveP50))} ms ${x.c1P50 >= x.naiveP50 ? 'more' : 'less'} than naive. ` +
      (x.c1P50 >= x.naiveP50
        ? 'Measured pieces of that difference: '
        : 'clawstack does more per request than naive, so a lower p50 is run-to-run noise or contention, not something the pieces below explain; measured: ') +
      `one Redis round trip (no longer on every request: rate-limit leases and failed-auth reads are per block / per AUTH_CACHE_MS) p50 ${f2(x.redisP50)} ms, ` +
      `one worker-thread round trip with ${x.medianFeatures} features (the engine hand-off) p50 ${f2(x.threadP50)} ms; the rest is middleware CPU (auth, pino-http, helmet, metrics, zod) and scheduling between the processes involved ` +
      `(autocannon, server main thread, inference thread, redis-server) on ${x.cpus} cores shared with other work.`,
  ];
  if (x.stages) out.push(stagesBullet(x.stages));
  if (x.main) {
    const s = x.main.shares;
    out.push(
      `- Profile at c=1: main thread busy ${pct(x.main.busy)} of the time, ≈ ${f2(x.main.msPerReq)} ms per request (profiler on) — ` +
        (x.main.busy >= 0.5
          ? 'a lone request is mostly main-thread work, not waiting on the hops above. '
          : 'the main thread is idle more than half the time, so a lone request mostly waits (on the hops above, the client, a core). ') +
        `Of that time: HTTP/net core ${pct(s.http)}, featurizer ${pct(s.featurizer)}, Express ${pct(s.express)}, pino-http ${pct(s.pino)}, Redis client ${pct(s.redis)}, GC ${pct(s.gc)}.`,
    );
  }
  const rl = changeRef(list, 'rate-limiter');
  const ft = changeRef(list, 'featurize-in-thread');
  const largest = x.stages && stageDiffs(x.stages).sort((a, b) => b.diff - a.diff)[0];
  const moves = [
    largest &&
      largest.diff > 0 &&
      `the largest stage difference measured above, ${largest.name} (+${largest.diff.toFixed(3)} ms)`,
    rl && `less Redis client work (${rl})`,
    ft &&
      `featurizing in the thread (${ft}) moves work off the event loop but does not shorten a lone request`,
  ].filter(Boolean);
  if (moves.length)
    out.push(
      `- What would move it: less main-thread work per request — ${moves.join('; ')}. The run history shows how much the same code moves with the machine load.`,
    );
  return out;
}

// ------------------------------------------------------------------------------------------------------
// Engine settings sweep and raw batching

export interface SweepRow {
  label: string;
  threads: number;
  rps: number;
}

export function sweepSentence(rows: SweepRow[], best: { label: string; rps: number }, cpus: number): string {
  const bestOf = (t: (n: number) => boolean) =>
    Math.max(...rows.filter((r) => t(r.threads)).map((r) => r.rps));
  const one = bestOf((n) => n === 1);
  const two = bestOf((n) => n >= 2);
  let threads = '';
  if (Number.isFinite(one) && Number.isFinite(two)) {
    const rel = two / one - 1;
    threads =
      ` With 2 inference threads: ${f0(two)} req/s at best vs ${f0(one)} with 1 — ` +
      (Math.abs(rel) < NOISE
        ? `a difference of ${pct(Math.abs(rel))}, within run-to-run noise.`
        : rel < 0
          ? `${pct(-rel)} fewer on ${cpus} cores (not tested by this run: a second inference thread competing with the main thread for them would explain it).`
          : `${pct(rel)} more, consistent with inference being part of the bound.`);
  }
  const spread = Math.max(...rows.map((r) => r.rps)) / Math.min(...rows.map((r) => r.rps)) - 1;
  return (
    `- Engine settings: the best c=64 result was ${best.label} (${f0(best.rps)} req/s in the re-run); sweep: ` +
    rows.map((r) => `${r.label} ${f0(r.rps)}`).join(', ') +
    ` req/s (fastest to slowest ${pct(spread)}${spread < NOISE ? ', within run-to-run noise' : ''}).` +
    threads
  );
}

export interface RawBatchRow {
  batch: number;
  intraOp: number;
  runItemsPerSec: number;
}

/** Which raw batch size gave the most items/s, and whether larger batches gave fewer (padding to the longest message). */
export function rawBatchSentence(rows: RawBatchRow[]): string {
  const one = rows.filter((r) => r.intraOp === 1).sort((a, b) => a.batch - b.batch);
  if (one.length === 0) return '';
  const best = [...one].sort((a, b) => b.runItemsPerSec - a.runItemsPerSec)[0]!;
  const larger = one.filter((r) => r.batch > best.batch);
  return (
    `Raw session.run with one intra-op thread gave the most items/s at batch ${best.batch} (${f0(best.runItemsPerSec)}/s)` +
    (larger.length
      ? `; larger batches gave fewer (${larger.map((r) => `batch ${r.batch} ${f0(r.runItemsPerSec)}/s`).join(', ')}): batches are zero-padded to their longest message, as the engine's \`collate\` does, so a larger batch pays for more padding.`
      : '.')
  );
}

// ------------------------------------------------------------------------------------------------------
// Start-up advice

/**
 * How the server bundle's compiled code is cached across starts on this Node (app/src/compile-cache.ts):
 * Node's own `module.enableCompileCache()` from 22.1, V8's code cache through vm.Script before that.
 */
export function compileCacheAdvice(nodeVersion: string): string {
  const [major, minor] = nodeVersion.replace(/^v/, '').split('.').map(Number) as [number, number];
  const how =
    major > 22 || (major === 22 && minor >= 1)
      ? `this Node's (${nodeVersion}) \`module.enableCompileCache()\``
      : `V8's code cache through \`vm.Script\`, as this Node (${nodeVersion}) has no \`module.enableCompileCache()\``;
  return `The server bundle's compiled code is cached across starts (${how}; directory NODE_COMPILE_CACHE): restarts skip most of its compiling, the first start after a build compiles it in full.`;
}

export function bundleAdvice(packages: { name: string; kb: number }[]): string {
  const top = packages.slice(0, 3);
  return `Fewer bytes to compile: the largest inputs of the bundle are ${top.map((p) => `${p.name} (${f0(p.kb)} KB)`).join(', ')}.`;
}

// ------------------------------------------------------------------------------------------------------
// Concurrency 64

export interface C64Input {
  cpus: number;
  c64Rps: number;
  naiveRps: number;
  serverCpuMsPerReq: number;
  naiveCpuMsPerReq: number;
  rawCpuMsPerItem: number;
  rawRunMean: number;
  rawFeaturizeMean: number;
  rawLimitItemsPerSec: number;
  /** c=64 profile: busy fractions of the main thread and each inference thread, main-thread shares */
  profile?: { mainBusy: number; inferBusy: number[]; shares: Shares };
}

export function boundPhrase(mainBusy: number, inferBusy: number[]): string {
  const mainSat = mainBusy >= 0.85;
  const inferSat = inferBusy.some((b) => b >= 0.85);
  if (mainSat && !inferSat) return 'the server is bound by its main thread, not by inference.';
  if (inferSat && !mainSat) return 'the server is bound by inference, not by its main thread.';
  if (mainSat && inferSat) return 'both the main thread and inference are saturated.';
  return 'neither thread is saturated in this profile, so CPU contention on the machine (other processes, the load generator) is part of the bound.';
}

export function c64Bullets(x: C64Input): string[] {
  const out: string[] = [];
  if (x.profile) {
    const p = x.profile;
    out.push(
      `- Under load the main (event-loop) thread was busy ${pct(p.mainBusy)} of the time and the inference thread(s) ${p.inferBusy.map(pct).join(', ') || '–'}: ` +
        `${boundPhrase(p.mainBusy, p.inferBusy)} Main-thread busy time split: ${sharesPhrase(p.shares)}.`,
    );
  }
  const extra = x.serverCpuMsPerReq - x.naiveCpuMsPerReq;
  out.push(
    `- clawstack reaches ${f2(x.c64Rps / x.naiveRps)} × the naive server's throughput at c=64; it spends ${f2(Math.abs(extra))} ms ${extra >= 0 ? 'more' : 'less'} CPU per request than the naive server ` +
      `(clawstack adds a request id, helmet's headers, metrics, auth, rate limit, express.raw + JSON.parse, the engine hand-off; zod only for bodies other than one text, request logs (pino-http) only at LOG_LEVEL=info).`,
  );
  const budget3x = (x.cpus * 1000) / (3 * x.naiveRps);
  const budgetRaw = (x.cpus * 1000) / (0.8 * x.rawLimitItemsPerSec);
  const runShare = x.rawRunMean / x.serverCpuMsPerReq;
  out.push(
    `- CPU per request (all server threads): clawstack ${f2(x.serverCpuMsPerReq)} ms, naive ${f2(x.naiveCpuMsPerReq)} ms, raw featurize + run ${f2(x.rawCpuMsPerItem)} ms. ` +
      `With ${x.cpus} cores and nothing else running, clawstack at that cost tops out near ${f0((x.cpus * 1000) / x.serverCpuMsPerReq)} req/s. ` +
      `0.8 × raw batched (${f0(0.8 * x.rawLimitItemsPerSec)} req/s) would need ≤ ${f2(budgetRaw)} ms of CPU per request, and 3 × (b) (${f0(3 * x.naiveRps)} req/s) ≤ ${f2(budget3x)} ms; ` +
      `featurizing one message alone costs ${f2(x.rawFeaturizeMean)} ms (mean), and session.run (${f2(x.rawRunMean)} ms mean at batch 1), the only part batching amortizes, is ${pct(runShare)} of clawstack's CPU per request. ` +
      (x.naiveCpuMsPerReq > budget3x
        ? `The naive server, which does less per request than clawstack, already spends more than the 3 × (b) budget, so that target is out of reach on this machine with one HTTP/1.1 JSON request per message.`
        : `The naive server spends less than the 3 × (b) budget per request, so the gap to that target is clawstack-specific per-request work.`),
  );
  return out;
}

export interface CeilingInput {
  cpus: number;
  naiveRps: number;
  naiveCpuMsPerReq: number;
  serverCpuMsPerReq: number;
  /** the load generator's cores and responses/s in the clawstack c=64 window (it runs on the same cores) */
  loadgenCores: number;
  loadgenRps: number;
  /** the throughput target as a multiple of the naive server's c=64 throughput */
  factor: number;
}

/**
 * The physical ceiling of "c=64 ≥ factor × naive" on this machine: the CPU per request that target
 * leaves the server once the load generator, which shares the cores, has taken its own share.
 */
export function ceilingBullet(x: CeilingInput): string {
  const target = x.factor * x.naiveRps;
  const loadgenMs = (x.loadgenCores * 1000) / x.loadgenRps;
  const budget = (x.cpus * 1000) / target - loadgenMs;
  const verdict =
    x.naiveCpuMsPerReq > budget
      ? `even the naive server (${f2(x.naiveCpuMsPerReq)} ms, ${f2(x.naiveCpuMsPerReq / budget)} × the budget) could not reach it here, whatever serves it: more processes or threads add parallelism, not cores`
      : x.serverCpuMsPerReq > budget
        ? `the naive server (${f2(x.naiveCpuMsPerReq)} ms) fits it and clawstack (${f2(x.serverCpuMsPerReq)} ms) does not: clawstack must cut ${f2(x.serverCpuMsPerReq - budget)} ms per request before more processes or threads can help`
        : `clawstack (${f2(x.serverCpuMsPerReq)} ms) fits it: what is left is using both cores (more processes or threads)`;
  // Every core busy, nothing else running: responses/s = cores / (server + load generator CPU per response).
  const reach = (serverMs: number) => (x.cpus * 1000) / (serverMs + loadgenMs) / x.naiveRps;
  return (
    `- Ceiling of ${x.factor} × (b) (${f0(target)} req/s) on ${x.cpus} cores: the load generator takes ${f2(loadgenMs)} ms of CPU per response ` +
    `(${f2(x.loadgenCores)} cores at ${f0(x.loadgenRps)} req/s), which leaves ≤ ${f2(Math.max(0, budget))} ms of server CPU per request with nothing else running; ${verdict}. ` +
    `With every core busy serving, a server at the naive server's CPU per request would reach at most ${f2(reach(x.naiveCpuMsPerReq))} × (b), clawstack at its own ${f2(reach(x.serverCpuMsPerReq))} ×.`
  );
}

// ------------------------------------------------------------------------------------------------------
// Settings

const SETTING_KEYS = [
  'CLAWSTACK_ROLE',
  'MODELS',
  'MODEL_PRECISION',
  'EXECUTION_PROVIDER',
  'INFERENCE_THREADS',
  'ORT_INTRA_OP_THREADS',
  'MAX_BATCH_SIZE',
  'MAX_BATCH_DELAY_MS',
  'WORKER_CONCURRENCY',
  'LOG_LEVEL',
  'RESULT_CACHE_TTL_SECONDS',
  'RATE_LIMIT_REQUESTS',
  'RATE_LIMIT_WINDOW_SECONDS',
  'AUTH_CACHE_MS',
] as const;

/** The settings line, from the app's config as it loaded the first measured server's environment. */
export function settingsLine(config: Record<string, unknown>, varied: string[]): string {
  const show = (v: unknown) => (Array.isArray(v) ? v.join(',') || "''" : String(v));
  const why: string[] = [];
  if (config.RESULT_CACHE_TTL_SECONDS === 0) why.push('result cache off, so every request runs inference');
  if (Number(config.RATE_LIMIT_REQUESTS) >= 1_000_000)
    why.push(
      `rate limit out of reach; the limiter leases its tokens from Redis in blocks (one round trip per ${leaseSize(Number(config.RATE_LIMIT_REQUESTS))} requests at this limit)`,
    );
  return (
    `Server settings of the first measured clawstack run, as app/src/config.ts loaded them (defaults included): ` +
    SETTING_KEYS.filter((k) => k in config)
      .map((k) => `${k}=${show(config[k])}`)
      .join(', ') +
    (why.length ? ` (${why.join('; ')})` : '') +
    `. The sweep varies ${varied.join(', ')}; the all-models run sets MODELS='' (every model in the manifest).`
  );
}

// ------------------------------------------------------------------------------------------------------
// Issue 13 targets

export interface Issue13Input {
  c64Rps: number;
  naiveC64Rps: number;
  /** per-second spread of the two c=64 windows: clawstack's slowest second, naive's fastest */
  c64RpsMin?: number;
  naiveC64RpsMax?: number;
  /** server CPU ms per request at c=64 (all threads) */
  cpuMsPerReq: number;
  naiveCpuMsPerReq: number;
  c1P50: number;
  naiveC1P50: number;
  /** texts/s through the batch path, and raw featurize + session.run items/s (best batch, one thread) */
  batchItemsPerSec?: number;
  rawTotalItemsPerSec: number;
  jobsPerSec: number;
  rawQueueJobsPerSec?: number;
  /** jobs/s with the no-op task (debug.echo); absent in runs from before it existed */
  echoJobsPerSec?: number;
  /** debug.echo jobs/s submitted `bulkPerRequest` per request (POST /v1/jobs/batch); absent in older runs */
  bulkJobsPerSec?: number;
  bulkPerRequest?: number;
}

const status = (met: boolean) => (met ? 'met' : '**missed**');

/**
 * A "≥ bound" ratio target with its spread: met when even the worst pairing of per-second samples
 * reaches the bound; "met on the means only" when the means do and the worst pairing does not.
 * Without per-second samples (a saved run from before they were recorded), says it is one window.
 */
export function spreadStatus(meanRatio: number, worstRatio: number | undefined, bound: number): string {
  if (!(meanRatio >= bound)) return status(false);
  if (worstRatio === undefined) return 'met (one window, spread not recorded)';
  return worstRatio >= bound
    ? 'met (every second)'
    : `met on the means only (worst seconds ${f2(worstRatio)} ×)`;
}

/** Rows [target, reached, ratio, status] for issue 13's serving and queue targets, from the run's numbers. */
export function issue13Rows(x: Issue13Input): string[][] {
  const rows: string[][] = [
    [
      '(c) c=64 ≥ 2.0 × (b) naive c=64',
      `${f0(x.c64Rps)} vs ${f0(x.naiveC64Rps)} req/s` +
        (x.c64RpsMin !== undefined && x.naiveC64RpsMax !== undefined
          ? ` (slowest second ${f0(x.c64RpsMin)}, naive's fastest ${f0(x.naiveC64RpsMax)})`
          : ''),
      `${f2(x.c64Rps / x.naiveC64Rps)} ×`,
      spreadStatus(
        x.c64Rps / x.naiveC64Rps,
        x.c64RpsMin !== undefined && x.naiveC64RpsMax !== undefined
          ? x.c64RpsMin / x.naiveC64RpsMax
          : undefined,
        2,
      ),
    ],
    [
      '(c) server CPU per request ≤ (b) naive',
      `${f2(x.cpuMsPerReq)} vs ${f2(x.naiveCpuMsPerReq)} ms`,
      `${f2(x.cpuMsPerReq / x.naiveCpuMsPerReq)} ×`,
      status(x.cpuMsPerReq <= x.naiveCpuMsPerReq),
    ],
    [
      '(c) c=1 p50 ≤ (b) naive p50 + 0.3 ms',
      `${f2(x.c1P50)} vs ${f2(x.naiveC1P50)} ms (${x.c1P50 >= x.naiveC1P50 ? '+' : '−'}${f2(Math.abs(x.c1P50 - x.naiveC1P50))} ms)`,
      '–',
      status(x.c1P50 <= x.naiveC1P50 + 0.3),
    ],
  ];
  if (x.batchItemsPerSec !== undefined)
    rows.push([
      '(c) batch path ≥ 0.8 × raw featurize + run items/s',
      `${f0(x.batchItemsPerSec)} vs ${f0(x.rawTotalItemsPerSec)} texts/s`,
      `${f2(x.batchItemsPerSec / x.rawTotalItemsPerSec)} ×`,
      status(x.batchItemsPerSec >= 0.8 * x.rawTotalItemsPerSec),
    ]);
  if (x.rawQueueJobsPerSec !== undefined) {
    const raw = x.rawQueueJobsPerSec;
    const row = (label: string, jobs: number, judged = true) => [
      label,
      `${f0(jobs)} vs ${f0(raw)} jobs/s`,
      `${f2(jobs / raw)} ×`,
      judged
        ? status(jobs >= 0.5 * raw)
        : `– (${jobs >= 0.5 * raw ? 'also ≥' : 'below'} 0.5 ×; not the bulk path)`,
    ];
    const bulk = x.bulkJobsPerSec !== undefined;
    if (bulk)
      rows.push(
        row(
          `(d) clawstack jobs/s ≥ 0.5 × raw BullMQ (no-op task debug.echo, ${x.bulkPerRequest} per request: POST /v1/jobs/batch)`,
          x.bulkJobsPerSec!,
        ),
      );
    if (x.echoJobsPerSec !== undefined)
      rows.push(
        row(
          bulk
            ? '(d) the same, one job per request (POST /v1/jobs), kept beside'
            : '(d) clawstack jobs/s ≥ 0.5 × raw BullMQ (no-op task debug.echo)',
          x.echoJobsPerSec,
          !bulk,
        ),
      );
    else
      rows.push(
        row(
          '(d) clawstack jobs/s ≥ 0.5 × raw BullMQ (text.classify jobs; no no-op task measured)',
          x.jobsPerSec,
        ),
      );
  }
  return rows;
}

export interface PrepareRow {
  threads: number;
  inThreads: boolean;
  rps: number;
}

/**
 * What featurizing in the inference threads gave: for each thread count measured both ways, the c=64
 * throughput in the threads against on the event loop, with differences under NOISE called noise.
 */
export function prepareSentence(rows: PrepareRow[]): string | undefined {
  const parts: string[] = [];
  for (const threads of [...new Set(rows.map((r) => r.threads))].sort()) {
    const inT = rows.find((r) => r.threads === threads && r.inThreads);
    const onMain = rows.find((r) => r.threads === threads && !r.inThreads);
    if (!inT || !onMain) continue;
    const ratio = inT.rps / onMain.rps;
    const verdict = Math.abs(ratio - 1) < NOISE ? 'within noise' : ratio > 1 ? 'faster' : 'slower';
    parts.push(
      `with ${threads} inference thread${threads > 1 ? 's' : ''}, ${f0(inT.rps)} req/s featurizing in the threads against ${f0(onMain.rps)} on the event loop (${f2(ratio)} ×, ${verdict})`,
    );
  }
  if (parts.length === 0) return undefined;
  return `Featurizing where the model runs (PREPARE_IN_THREADS) at c=64: ${parts.join('; ')}.`;
}

// ------------------------------------------------------------------------------------------------------
// How each measurement was warmed up and how long it ran

export interface RunWindows {
  /** seconds of load at the same concurrency before each (b)/(c) load window, discarded */
  warmup: number;
  c1: number;
  c64: number;
  sweep: number;
  /** jobs submitted, run and finished before the measured (d) jobs, discarded */
  jobsWarmup: number;
  /** (a) session.run calls before the batch-1 timing, and batches before each batched run (undefined: not recorded) */
  rawWarmupCalls?: number;
  rawWarmupBatches?: number;
}

/** What was warmed up and how, and how long each window lasted, as this run did it (raw BullMQ: not warmed up). */
export function windowsSentence(w: RunWindows, rawQueue: boolean): string {
  const n = (x: number | undefined, what: string) =>
    x === undefined ? `(not recorded) ${what}` : `${x} ${what}`;
  return (
    `Warm-up, discarded: (a) ${n(w.rawWarmupCalls, 'session.run calls')} before the batch-1 timing and ${n(w.rawWarmupBatches, 'batches')} before each batched run; ` +
    `(b) and (c) ${w.warmup} s of load at the same concurrency before each load window; (d) ${w.jobsWarmup} jobs submitted, run and finished before the measured ones` +
    (rawQueue ? '; the raw BullMQ row is not warmed up (a fresh queue and worker).' : '.') +
    ` Windows: c=1 ${w.c1} s and c=64 ${w.c64} s for (b) and (c); the other sweep rows, the c=8 points, the batch path and the MODELS='' run ${w.sweep} s each.`
  );
}

/** (d): whether submit→finish latency is queueing or per-job cost, from the submit and finish rates. */
export function jobsSentence(submitRps: number, jobsPerSec: number): string {
  return submitRps > jobsPerSec * 1.2
    ? `Jobs were submitted faster than they ran (${f0(submitRps)} submits/s against ${f0(jobsPerSec)} jobs/s), so submit→finish latency includes time spent queued behind earlier jobs; jobs/s is the number to compare.`
    : `Jobs ran about as fast as they were submitted (${f0(submitRps)} submits/s, ${f0(jobsPerSec)} jobs/s), so little of the submit→finish latency is queueing.`;
}

/**
 * Status of the peak-RSS target under text + OCR + speech load: a claim about RSS "under load" holds only
 * if OCR and speech responses completed in the window; otherwise the row says what was not loaded.
 */
export function loadedRssStatus(
  rssMb: number,
  limitMb: number,
  completed: { ocr: number; speech: number },
): string {
  const idle = (['ocr', 'speech'] as const).filter((k) => !(completed[k] > 0));
  if (idle.length)
    return `not shown: no ${idle.map((k) => (k === 'ocr' ? 'OCR' : k)).join(' or ')} response completed in the window`;
  return status(rssMb <= limitMb);
}
/** The all-models run: text at c=64 with OCR and speech requests at the same time, and each alone. */
export interface AllModelsFacts {
  windowSeconds: number;
  /** connections of OCR and of speech */
  connections: number;
  text: { rps: number; aloneRps?: number };
  ocr: { ok: number; p50: number; aloneP50?: number };
  speech: { ok: number; p50: number; aloneP50?: number };
}

function modalityPhrase(name: string, m: AllModelsFacts['ocr']): string {
  if (!(m.ok > 0)) return `no ${name} response completed in the window: ${name} starved behind the text load`;
  const alone =
    m.aloneP50 === undefined ? '' : ` against ${f0(m.aloneP50)} ms alone (${f2(m.p50 / m.aloneP50)} ×)`;
  return `${name} p50 ${f0(m.p50)} ms${alone}`;
}

/** What the all-models row shows: whether OCR and speech were served under the text load, and at what cost. */
export function allModelsSentence(f: AllModelsFacts): string {
  const counts = `${f0(f.ocr.ok)} OCR and ${f0(f.speech.ok)} speech responses completed in the ${f.windowSeconds} s window (${f.connections} connections each)`;
  const text =
    f.text.aloneRps === undefined
      ? ''
      : `; text ${f0(f.text.rps)} req/s against ${f0(f.text.aloneRps)} req/s on the text-only server (${f2(f.text.rps / f.text.aloneRps)} ×)`;
  const served = f.ocr.ok > 0 && f.speech.ok > 0;
  const how = served
    ? ' The engine shares its threads between models by the thread time each used (docs/architecture.md, "Scheduling across models").'
    : '';
  return `${counts}: ${modalityPhrase('speech', f.speech)}; ${modalityPhrase('OCR', f.ocr)}${text}.${how}`;
}
// The queue (d)

/** What one job cost, per setup of (d). */
export interface QueueCost {
  jobsPerSec: number;
  /** CPU ms per job of the process that runs the queue (clawstack's server; raw: the bench process) */
  cpuMsPerJob: number;
  pgWriteTransactions: number;
  redisCommands: number;
  redisScripts: number;
  redisCpuMs: number;
}

export interface QueueFacts {
  concurrency: number;
  text: QueueCost;
  echo: QueueCost;
  /** debug.echo submitted `perRequest` per request (POST /v1/jobs/batch); absent in older runs */
  bulk?: QueueCost & { perRequest: number };
  raw: QueueCost;
  cpus: number;
  /** share of the server main thread's busy time in HTTP (Node http/net/streams + Express) while it ran echo jobs, from the profile */
  httpShare?: number;
}

/** Rows [setup, jobs/s, CPU ms/job, Postgres write transactions/job, Redis commands/job (scripts), Redis CPU ms/job]. */
export function queueCostRows(q: QueueFacts): string[][] {
  const row = (label: string, c: QueueCost) => [
    label,
    f0(c.jobsPerSec),
    f2(c.cpuMsPerJob),
    f2(c.pgWriteTransactions),
    `${f2(c.redisCommands)} (${f2(c.redisScripts)})`,
    f2(c.redisCpuMs),
  ];
  return [
    row('clawstack, text.classify', q.text),
    row('clawstack, debug.echo (no-op)', q.echo),
    ...(q.bulk ? [row(`clawstack, debug.echo, ${q.bulk.perRequest} per request (batch)`, q.bulk)] : []),
    row('raw BullMQ, add + no-op processor', q.raw),
  ];
}

/** The bulk path's result in words: the target judged on it, and what it saved per job against one request per job. */
export function bulkSentence(q: QueueFacts & { bulk: NonNullable<QueueFacts['bulk']> }): string {
  const ratio = q.bulk.jobsPerSec / q.raw.jobsPerSec;
  const speedup = q.bulk.jobsPerSec / q.echo.jobsPerSec;
  const cpuSaved = q.echo.cpuMsPerJob - q.bulk.cpuMsPerJob;
  return (
    `Submitted ${q.bulk.perRequest} per request (\`POST /v1/jobs/batch\`), the same no-op jobs moved ${f0(q.bulk.jobsPerSec)} jobs/s, ` +
    `${f2(ratio)} × raw BullMQ (target ≥ 0.5 ×, judged on this path: ${ratio >= 0.5 ? 'met' : 'missed'}) and ${f2(speedup)} × one request per job; ` +
    `server CPU per job ${f2(q.bulk.cpuMsPerJob)} ms against ${f2(q.echo.cpuMsPerJob)} ms (${cpuSaved > 0 ? `${f2(cpuSaved)} ms less: the HTTP request, auth and rate limit are paid once per ${q.bulk.perRequest} jobs` : 'no less: the per-request cost was not what bounded it'}), ` +
    `${f2(q.bulk.pgWriteTransactions)} Postgres write transactions and ${f2(q.bulk.redisCommands)} Redis commands per job.`
  );
}

/** The queue's result in words: the ratio against the target, where each job's cost goes, what bounds it. */
export function queueSentence(q: QueueFacts): string {
  const ratio = q.echo.jobsPerSec / q.raw.jobsPerSec;
  const cores = (c: QueueCost) => (c.cpuMsPerJob * c.jobsPerSec) / 1000;
  const [ours, theirs] = [cores(q.echo), cores(q.raw)];
  const textShare = q.text.jobsPerSec / q.echo.jobsPerSec;
  const pg = q.echo.pgWriteTransactions;
  const bound =
    ours >= 0.8 * q.cpus
      ? `the server used ${f2(ours)} of the ${q.cpus} cores, so its CPU per job is the bound`
      : Math.abs(ours / theirs - 1) < 0.25
        ? `both processes got about the same CPU (${f2(ours)} and ${f2(theirs)} cores of ${q.cpus}, the machine being shared), so the ratio follows CPU per job (raw's is ${f2(q.raw.cpuMsPerJob / q.echo.cpuMsPerJob)} × clawstack's)`
        : ours < theirs
          ? `the server got ${f2(ours)} cores against raw BullMQ's ${f2(theirs)}: it waited more than it computed (round trips to Redis and Postgres, ${q.concurrency} jobs at a time)`
          : `the server used ${f2(ours)} cores against raw BullMQ's ${f2(theirs)}: more CPU per job, not waiting, sets the ratio`;
  return (
    `The no-op task (debug.echo) moved ${f0(q.echo.jobsPerSec)} jobs/s, ${f2(ratio)} × raw BullMQ's ${f0(q.raw.jobsPerSec)} on the same Redis at concurrency ${q.concurrency} ` +
    (q.bulk
      ? '(one request per job; the target is judged on the bulk path). Per job,'
      : `(target ≥ 0.5 ×: ${ratio >= 0.5 ? 'met' : 'missed'}). Per job,`) +
    ` clawstack spent ${f2(q.echo.cpuMsPerJob)} ms of server CPU (HTTP, auth, validation, both stores' clients) against ${f2(q.raw.cpuMsPerJob)} ms for raw BullMQ's add and processor, ` +
    `made ${f2(pg)} Postgres write transactions (${pg < 1 ? "fewer than one: statements carry several jobs' rows" : 'one or more per job'}) and ran ${f2(q.echo.redisCommands)} Redis commands (${f2(q.echo.redisScripts)} script calls) against raw BullMQ's ${f2(q.raw.redisCommands)} (${f2(q.raw.redisScripts)}); ${bound}. ` +
    (q.httpShare === undefined
      ? ''
      : `HTTP alone (Node's http/net/streams and Express) was ${pct(q.httpShare)} of the server's busy time in the profiled run, about ${f2(q.httpShare * q.echo.cpuMsPerJob)} ms per job: ${q.httpShare * q.echo.cpuMsPerJob > 2 * q.raw.cpuMsPerJob ? "more than twice raw BullMQ's whole job, so with one HTTP request per job 0.5 × is out of reach on CPU alone" : "within twice raw BullMQ's whole job"}. `) +
    `With text inference, ${f0(q.text.jobsPerSec)} jobs/s, ${f2(textShare)} × the no-op rate: ${textShare < 1 - NOISE ? 'inference, not the queue, bounds those jobs' : 'the queue bounds them as much as inference does'}.`
  );
}

/** Why clawstack's queue runs a Redis command more often than raw BullMQ, for the commands that differ. */
const EXTRA_REDIS_CAUSE: Record<string, string> = {
  zadd: 'priorities (the prioritized set)',
  incr: 'priorities (the priority counter)',
  zpopmin: 'priorities (taking from the prioritized set)',
  exists: 'own job ids (the Postgres id, checked on add so a late add makes no second entry)',
};

/** Redis calls per job that clawstack makes beyond raw BullMQ's (≥ 0.5 a job), most first, with their cause. */
export function extraRedisCommands(
  ours: Record<string, number>,
  raw: Record<string, number>,
): { command: string; extra: number; cause: string }[] {
  return Object.keys({ ...ours, ...raw })
    .map((command) => ({
      command,
      extra: (ours[command] ?? 0) - (raw[command] ?? 0),
      cause: EXTRA_REDIS_CAUSE[command] ?? 'not attributed',
    }))
    .filter((c) => Math.abs(c.extra) >= 0.5)
    .sort((a, b) => b.extra - a.extra);
}

/** A job's worker-side stages (ms, median and mean), as the bench reads them from the stores' timestamps. */
export type QueueStages = Record<string, { p50: number; mean: number }>;

/** Rows [stage, p50 ms, mean ms]. */
export function stageRows(stages: QueueStages): string[][] {
  return Object.entries(stages).map(([stage, s]) => [stage, f2(s.p50), f2(s.mean)]);
}

/**
 * Where the bulk path's jobs spent their time on the worker side, against raw BullMQ's time per job in
 * a slot (its concurrency over its rate: it keeps no timestamps), and the Redis calls beyond raw's.
 */
export function stageSentence(opts: {
  slotMs: number;
  stages: QueueStages;
  concurrency: number;
  raw: QueueCost;
  extra: { command: string; extra: number; cause: string }[];
}): string {
  const rawSlotMs = (opts.concurrency * 1000) / opts.raw.jobsPerSec;
  const [busiest] = Object.entries(opts.stages)
    .filter(([stage]) => !stage.startsWith('slot') && !stage.startsWith('waiting'))
    .sort((a, b) => b[1].mean - a[1].mean);
  const extra = opts.extra.filter((c) => c.extra > 0);
  return (
    `On the bulk path a worker slot held each job ${f2(opts.slotMs)} ms (mean) against raw BullMQ's ${f2(rawSlotMs)} ms (${opts.concurrency} slots at ${f0(opts.raw.jobsPerSec)} jobs/s)` +
    (busiest ? `; the longest stage: ${busiest[0]}, ${f2(busiest[1].mean)} ms` : '') +
    '. ' +
    (extra.length
      ? `Redis calls per job beyond raw BullMQ's: ${extra.map((c) => `${c.command} +${f2(c.extra)} (${c.cause})`).join(', ')}.`
      : "Redis calls per job: none beyond raw BullMQ's.")
  );
}
