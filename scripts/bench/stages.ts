/**
 * `bench:serve --only=stages`: where a lone request's time goes. The naive server and clawstack each run
 * at c=1 with STAGE_TRACE_FILE (app/src/telemetry/stages.ts); each request's stamps are read back and
 * the p50 of every stage printed beside the client's p50, so the gap between the two servers is
 * accounted for stage by stage. Stamping costs a little itself (clawstack: an AsyncLocalStorage context
 * and a few extra middleware calls), so the totals are compared with --only=serve's untraced runs.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from '../../app/src/local/services.ts';
import {
  parseStageLines,
  summarizeStages,
  type Stage,
  type StageSummary,
} from '../../app/src/telemetry/stages.ts';
import { startServer, type BenchEnv } from './clawstack.ts';
import { runLoad, type LoadResult } from './load.ts';
import { startNaiveServer, threadCpuSeconds, type Child } from './procs.ts';

/** Stages grouped by what they are, for the side-by-side table; both servers' stages map to these. */
export const STAGE_GROUPS: { name: string; stages: Stage[] }[] = [
  { name: 'middleware (request id, helmet, metrics, readiness)', stages: ['middleware'] },
  { name: 'auth', stages: ['auth'] },
  { name: 'rate limit', stages: ['rateLimit'] },
  { name: 'routing, body read, JSON parse', stages: ['routed', 'bodyRead', 'parsed'] },
  { name: 'engine hand-off to the thread', stages: ['submitted', 'dispatched', 'threadReceived'] },
  { name: 'featurize', stages: ['featurized'] },
  { name: 'session.run', stages: ['run'] },
  { name: 'result back to the main thread', stages: ['posted', 'mainReceived'] },
  { name: 'result, serialisation, response written', stages: ['resultReady', 'written'] },
];

export interface StageRun {
  label: string;
  /** the client's (autocannon's) latencies of the traced run */
  load: Pick<LoadResult, 'p50' | 'p99' | 'ok' | 'rps'>;
  summary: StageSummary;
  /** CPU ms per response during the measured window: the main thread, then the other threads by CPU use */
  cpu?: { thread: string; userMs: number; sysMs: number }[];
}

/**
 * CPU per response of each thread between two `threadCpuSeconds` readings: the main thread (id = pid)
 * first, then the others that used any CPU, busiest first. At 10 ms clock ticks a window of a few
 * thousand responses resolves a few µs per response.
 */
export function cpuPerResponse(
  pid: number,
  before: ReturnType<typeof threadCpuSeconds>,
  after: ReturnType<typeof threadCpuSeconds>,
  responses: number,
): { thread: string; userMs: number; sysMs: number }[] {
  const rows = [...after].map(([tid, a]) => {
    const b = before.get(tid) ?? { user: 0, sys: 0 };
    const per = (x: number) => (x * 1000) / Math.max(1, responses);
    return { tid, userMs: per(a.user - b.user), sysMs: per(a.sys - b.sys) };
  });
  const main = rows.filter((r) => r.tid === pid);
  const others = rows.filter((r) => r.tid !== pid && r.userMs + r.sysMs > 0);
  others.sort((x, y) => y.userMs + y.sysMs - (x.userMs + x.sysMs));
  const row = (r: (typeof rows)[number], thread: string) => ({ thread, userMs: r.userMs, sysMs: r.sysMs });
  return [...main.map((r) => row(r, 'main')), ...others.map((r, i) => row(r, `thread ${i + 1}`))];
}

/** p50 (ms) of a group: the sum of its stages' p50s (0 for stages the server does not have). */
export function groupP50(summary: StageSummary, stages: Stage[]): number {
  let sum = 0;
  for (const s of summary.stages) if (stages.includes(s.stage)) sum += s.p50;
  return sum;
}

/**
 * The side-by-side table: per group, each server's p50 and clawstack − naive; first the part outside the
 * server (client p50 − server span p50: client, loopback, HTTP parser, waking the process).
 */
export function stageTable(naive: StageRun, claw: StageRun): string[] {
  const f = (x: number) => x.toFixed(3);
  const outside = (r: StageRun) => r.load.p50 - r.summary.spanP50;
  const row = (name: string, a: number, b: number) =>
    `  ${name.padEnd(54)} ${f(a).padStart(7)} ${f(b).padStart(7)} ${(b >= a ? '+' : '') + f(b - a)}`;
  const out = [
    `  ${'p50, ms'.padEnd(54)} ${'naive'.padStart(7)} ${'claw'.padStart(7)} diff`,
    row('client p50 (autocannon)', naive.load.p50, claw.load.p50),
    row('outside the server (client p50 − server span p50)', outside(naive), outside(claw)),
    row('server span (Express sees it → response written)', naive.summary.spanP50, claw.summary.spanP50),
  ];
  for (const g of STAGE_GROUPS)
    out.push(row(`  ${g.name}`, groupP50(naive.summary, g.stages), groupP50(claw.summary, g.stages)));
  return out;
}

async function traced(
  label: string,
  start: (file: string) => Promise<{ child: Child; url: string; key: string }>,
  bodies: string[],
  o: { warmupSeconds: number; seconds: number },
): Promise<StageRun> {
  const dir = mkdtempSync(join(tmpdir(), 'clawstack-stages-'));
  const file = join(dir, 'stages.jsonl');
  try {
    const { child, url, key } = await start(file);
    const spec = {
      url,
      path: '/v1/text/classify',
      headers: key ? { authorization: `Bearer ${key}` } : undefined,
      bodies,
      serverPid: child.pid,
      connections: 1,
    };
    await runLoad({ ...spec, seconds: o.warmupSeconds });
    const from = Date.now();
    const cpu0 = threadCpuSeconds(child.pid);
    const { p50, p99, ok, rps } = await runLoad({ ...spec, seconds: o.seconds });
    const cpu = cpuPerResponse(child.pid, cpu0, threadCpuSeconds(child.pid), ok);
    const to = Date.now();
    await child.stop(20_000); // the trace file is written at exit
    const summary = summarizeStages(parseStageLines(readFileSync(file, 'utf8')), from, to);
    return { label, load: { p50, p99, ok, rps }, summary, cpu };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** The naive server and clawstack (default settings), one after the other, each traced at c=1. */
export async function measureStages(
  env: BenchEnv,
  bodies: string[],
  probe: string,
  o: { warmupSeconds: number; seconds: number },
): Promise<{ naive: StageRun; clawstack: StageRun }> {
  const naive = await traced(
    'naive',
    async (file) => {
      const port = await freePort();
      const child = await startNaiveServer(port, { STAGE_TRACE_FILE: file });
      return { child, url: `http://127.0.0.1:${port}`, key: '' };
    },
    bodies,
    o,
  );
  const claw = await traced(
    'clawstack',
    async (file) => {
      const s = await startServer(env, { STAGE_TRACE_FILE: file }, probe);
      return { child: s.child, url: s.url, key: env.apiKey };
    },
    bodies,
    o,
  );
  return { naive, clawstack: claw };
}

export async function stagesPart(
  env: BenchEnv,
  bodies: string[],
  probe: string,
  o: { warmupSeconds: number; seconds: number },
): Promise<string[]> {
  const { naive, clawstack: claw } = await measureStages(env, bodies, probe, o);
  const detail = (r: StageRun) =>
    `  ${r.label} (${r.summary.requests} requests): ` +
    r.summary.stages.map((s) => `${s.stage} ${s.p50.toFixed(3)}`).join(', ');
  const cpu = (r: StageRun) =>
    `  ${r.label} CPU per response (ms, user + system): ` +
    (r.cpu ?? [])
      .slice(0, 4)
      .map((c) => `${c.thread} ${c.userMs.toFixed(3)} + ${c.sysMs.toFixed(3)}`)
      .join(', ');
  return [
    `(stages) c=1 with STAGE_TRACE_FILE, ${o.seconds} s each; p50 of each stage (sums of p50s, not the p50 of a sum):`,
    ...stageTable(naive, claw),
    detail(naive),
    detail(claw),
    cpu(naive),
    cpu(claw),
  ];
}
