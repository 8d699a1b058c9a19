/**
 * `npm run bench:serve -- --only=start,serve`: a short run of a part of bench:serve, to measure
 * one change side by side without the full ~8 min run. Prints numbers (never writes docs):
 *
 *   start   process start → first 200 from classify: a first start (fresh database), warm restarts,
 *           and the app's own start-up timeline (LOG_LEVEL=info timestamps);
 *   serve   the naive Express server and clawstack, one after the other at c=1 and c=64, with CPU per
 *           request (server CPU seconds / responses);
 *   stages  naive and clawstack at c=1 with per-request stage stamps (STAGE_TRACE_FILE): the p50 of
 *           each stage side by side, and what lies outside the server (scripts/bench/stages.ts);
 *   mixed   the all-models server (MODELS=''): OCR and speech alone, then text at c=64 with OCR and
 *           speech (2 connections each) at the same time: responses completed and p50 per task.
 *   profile clawstack under `node --cpu-prof` at c=1 and c=64: each thread's busy time during the load
 *           window by category and top functions (not a measured run: the profiler costs CPU); with
 *           batch, under the batch path's load instead.
 *   batch   the batch path (32 texts per request) beside raw featurize + padded session.run at batch 32,
 *           in --rounds=N interleaved rounds (scripts/bench/batch-part.ts), with --baseline too.
 */
import { chmodSync, mkdtempSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { ensureDatabase, freePort, startLocalServices } from '../../app/src/local/services.ts';
import { buildBundle, startServer, type BenchEnv, type ServerSettings } from './clawstack.ts';
import { loadMessages } from './inputs.ts';
import { measure, runLoad, type LoadResult } from './load.ts';
import { allModelsLoad } from './all-models.ts';
import { onCleanup, startNaiveServer } from './procs.ts';
import { profilesIn, summarizeProfile } from './profile.ts';
import { logEvents, timelineFromLogs } from './startup-timeline.ts';
import { stagesPart } from './stages.ts';
import { BATCH_CONNECTIONS, batchBodies, batchPart } from './batch-part.ts';
import { formatTimeline } from '../../app/src/telemetry/startup.ts';

export const PARTS = ['start', 'serve', 'stages', 'mixed', 'profile', 'batch'] as const;
export type Part = (typeof PARTS)[number];

/**
 * Which short run the command line asks for: `--only=start,serve,stages,mixed,profile` and `--baseline=DIR` (or
 * `--baseline DIR`). Only the short runs measure a baseline, so `--baseline` alone means `--only=serve`
 * (the full run used to ignore it and print no baseline rows). Undefined: the full run.
 */
export function partialRequest(argv: string[]): { parts: Part[]; baselineDir?: string } | undefined {
  const value = (name: string) => {
    const i = argv.findIndex((a) => a === name || a.startsWith(`${name}=`));
    if (i < 0) return undefined;
    const v = argv[i] === name ? argv[i + 1] : argv[i]!.slice(name.length + 1);
    if (!v || v.startsWith('--')) throw new Error(`${name} needs a value, e.g. ${name}=DIR`);
    return v;
  };
  const only = value('--only');
  const baselineDir = value('--baseline');
  if (only === undefined && baselineDir === undefined) return undefined;
  const parts = (only ?? 'serve').split(',') as Part[];
  const unknown = parts.filter((p) => !PARTS.includes(p));
  if (unknown.length)
    throw new Error(`--only: unknown part(s) ${unknown.join(', ')}; parts: ${PARTS.join(', ')}`);
  if (baselineDir !== undefined && !parts.some((p) => p !== 'stages' && p !== 'profile'))
    throw new Error(
      `--baseline is measured by the start, serve, mixed and batch parts only; got --only=${only}`,
    );
  return { parts, ...(baselineDir === undefined ? {} : { baselineDir }) };
}

export interface PartialOptions {
  parts: Part[];
  warmupSeconds: number;
  seconds: number;
  starts: number;
  /** --rounds=N: interleaved rounds of the batch part */
  rounds?: number;
  /** --baseline=DIR: a build of another commit, measured next to this one */
  baselineDir?: string;
  log: (msg: string) => void;
}

/** One line per load run: throughput, latency, CPU per response (server threads together). */
export function loadLine(label: string, r: LoadResult): string {
  const cpuMsPerReq = r.ok > 0 ? (r.serverCores * r.seconds * 1000) / r.ok : NaN;
  return `${label} c=${r.connections}: ${Math.round(r.rps)} req/s, p50 ${r.p50.toFixed(2)} ms, p99 ${r.p99.toFixed(2)} ms, server ${r.serverCores.toFixed(2)} cores = ${cpuMsPerReq.toFixed(3)} ms CPU/response, non-2xx ${r.non2xx}${r.non2xx ? ` ${JSON.stringify(r.status)}` : ''}`;
}

async function naive(bodies: string[], o: PartialOptions): Promise<string[]> {
  const port = await freePort();
  const child = await startNaiveServer(port);
  const url = `http://127.0.0.1:${port}`;
  const out = [];
  for (const c of [1, 64]) out.push(loadLine('(b) naive', await measure(url, child.pid, bodies, '', c, o)));
  await child.stop();
  return out;
}

async function clawstack(
  env: BenchEnv,
  label: string,
  settings: ServerSettings,
  bodies: string[],
  probe: string,
  o: PartialOptions,
  bundleDir?: string,
) {
  const s = await startServer(env, settings, probe, { bundleDir });
  const out = [];
  for (const c of [1, 64])
    out.push(loadLine(label, await measure(s.url, s.child.pid, bodies, env.apiKey, c, o)));
  await s.child.stop();
  return out;
}

async function mixed(
  env: BenchEnv,
  label: string,
  bodies: string[],
  probe: string,
  o: PartialOptions,
  bundleDir?: string,
): Promise<string[]> {
  const s = await startServer(env, { MODELS: '' }, probe, { bundleDir });
  try {
    const r = await allModelsLoad(s, bodies, env.apiKey, {
      warmupSeconds: o.warmupSeconds,
      seconds: o.seconds,
      textConnections: 64,
      otherConnections: 2,
    });
    const line = (x: LoadResult) =>
      `${x.ok} completed, ${Math.round(x.rps)} req/s, p50 ${x.p50.toFixed(0)} ms`;
    return [
      `(mixed) ${label}, MODELS='', ${o.seconds} s windows:`,
      `  alone: OCR ${line(r.ocrAlone)}; speech ${line(r.speechAlone)}`,
      `  together: text c=64 ${line(r.c64)}; OCR ${line(r.ocr)}; speech ${line(r.speech)}`,
    ];
  } finally {
    await s.child.stop();
  }
}

async function starts(env: BenchEnv, probe: string, o: PartialOptions): Promise<string[]> {
  const out: string[] = [];
  const first = await startServer(env, {}, probe);
  await first.child.stop();
  out.push(
    `start → first 200, first start (fresh database): ${first.startMs.toFixed(0)} ms (${(first.startCpuS * 1000).toFixed(0)} ms CPU)`,
  );
  const builds: [string, string | undefined][] = [['this build', undefined]];
  if (o.baselineDir) builds.push([`baseline ${o.baselineDir}`, o.baselineDir]);
  const warm = builds.map(() => [] as string[]);
  for (let i = 0; i < o.starts; i++) {
    // Alternately, so that load from other work hits both builds alike.
    for (const [k, [, bundleDir]] of builds.entries()) {
      const s = await startServer(env, {}, probe, { bundleDir });
      warm[k]!.push(`${s.startMs.toFixed(0)} ms (${(s.startCpuS * 1000).toFixed(0)} ms CPU)`);
      await s.child.stop();
    }
  }
  for (const [k, [label]] of builds.entries())
    out.push(`start → first 200, warm restarts, ${label}: ${warm[k]!.join(', ')}`);
  const s = await startServer(env, { LOG_LEVEL: 'debug' }, probe);
  await sleep(50);
  const events = logEvents(s.child.output(), s.spawnedAtEpochMs).map((e) => `${e.msg} ${e.ms}`);
  const phases = timelineFromLogs(s.child.output(), s.spawnedAtEpochMs);
  await s.child.stop();
  out.push(`timeline (ms after spawn): ${events.join(' → ')} → first 200 ${s.startMs.toFixed(0)}`);
  out.push(`start-up phases (ms after spawn; first 200 at ${s.startMs.toFixed(0)} ms):`);
  out.push(...formatTimeline(phases).map((l) => `  ${l}`));
  return [...out, ...(await startProfile(env, probe))];
}

/** One start under `node --cpu-prof`: each thread's busy time to the first 200, by category and function. */
async function startProfile(env: BenchEnv, probe: string): Promise<string[]> {
  const dir = mkdtempSync(join(tmpdir(), 'clawstack-start-prof-'));
  try {
    const p = await startServer(env, {}, probe, {
      nodeArgs: ['--cpu-prof', `--cpu-prof-dir=${dir}`, '--cpu-prof-interval=200'],
    });
    await p.child.stop(20_000);
    const out = [`start under the profiler: first 200 after ${p.startMs.toFixed(0)} ms`];
    for (const f of profilesIn(dir)) {
      const sum = summarizeProfile(f, 10, { fromUs: p.spawnedAtUs, toUs: p.readyAtUs });
      if (sum.wallMs <= 0) continue;
      const rows = (xs: { selfMs: number }[], name: (x: never) => string) =>
        xs.map((x) => `${name(x as never)} ${x.selfMs.toFixed(0)}`).join(', ');
      out.push(
        `  ${sum.thread}: busy ${sum.busyMs.toFixed(0)} of ${sum.wallMs.toFixed(0)} ms; ` +
          rows(sum.categories.slice(0, 8), (c: { category: string }) => c.category),
        `    top: ${rows(sum.top, (r: { name: string; where: string }) => `${r.name} (${r.where})`)}`,
      );
    }
    return out;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** clawstack under the CPU profiler at c=1 and c=64 (or `connections`): per thread, what its busy time went to. */
async function loadProfile(
  env: BenchEnv,
  bodies: string[],
  probe: string,
  o: PartialOptions,
  connections = [1, 64],
) {
  const dir = mkdtempSync(join(tmpdir(), 'clawstack-load-prof-'));
  try {
    const s = await startServer(env, {}, probe, {
      nodeArgs: ['--cpu-prof', `--cpu-prof-dir=${dir}`, '--cpu-prof-interval=500'],
    });
    const windows: [number, LoadResult, number][] = [];
    for (const c of connections) {
      const spec = {
        url: s.url,
        path: '/v1/text/classify',
        headers: { authorization: `Bearer ${env.apiKey}` },
        bodies,
        serverPid: s.child.pid,
        connections: c,
      };
      await runLoad({ ...spec, seconds: o.warmupSeconds });
      const from = Number(process.hrtime.bigint() / 1000n);
      const r = await runLoad({ ...spec, seconds: o.seconds });
      windows.push([from, r, Number(process.hrtime.bigint() / 1000n)]);
    }
    await s.child.stop(20_000); // SIGTERM → drain → exit writes the profiles
    const out: string[] = [];
    for (const [fromUs, r, toUs] of windows) {
      out.push(loadLine('(c) under the profiler', r));
      for (const f of profilesIn(dir)) {
        const sum = summarizeProfile(f, 12, { fromUs, toUs });
        if (sum.wallMs <= 0) continue;
        const perReq = (ms: number) => `${((ms / Math.max(1, r.ok)) * 1000).toFixed(1)} µs`;
        out.push(
          `  ${sum.thread}: busy (not idle: on a core or waiting for one) ${sum.busyMs.toFixed(0)} of ${sum.wallMs.toFixed(0)} ms = ${perReq(sum.busyMs)}/response; ` +
            sum.categories
              .slice(0, 12)
              .map((c) => `${c.category} ${perReq(c.selfMs)}`)
              .join(', '),
          `    top: ${sum.top.map((t) => `${t.name} (${t.where}) ${perReq(t.selfMs)}`).join(', ')}`,
        );
      }
    }
    return out;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

export async function partialRun(o: PartialOptions): Promise<void> {
  const texts = loadMessages();
  const bodies = texts.map((text) => JSON.stringify({ text }));
  const dir = mkdtempSync(join(tmpdir(), 'clawstack-bench-'));
  chmodSync(dir, 0o755);
  onCleanup(async () => rmSync(dir, { recursive: true, force: true }));
  const local = await startLocalServices({ redis: join(dir, 'redis'), postgres: join(dir, 'pg') });
  onCleanup(() => local.stop());
  const env: BenchEnv = {
    redisUrl: local.redis!.url,
    databaseUrl: await ensureDatabase(local.postgres!.url, 'clawstack_bench'),
    apiKey: `bench-${randomBytes(24).toString('base64url')}`,
    dataDir: join(dir, 'data'),
  };
  buildBundle();
  const lines: string[] = [`load average at start ${loadavg().map((x) => x.toFixed(2))}`];
  const say = (l: string[]) => {
    for (const x of l) o.log(x);
    lines.push(...l);
  };
  if (o.parts.includes('start')) say(await starts(env, texts[0]!, o));
  if (o.parts.includes('serve')) {
    say(await naive(bodies, o));
    say(await clawstack(env, '(c) clawstack', {}, bodies, texts[0]!, o));
    if (o.baselineDir)
      say(await clawstack(env, `(c) baseline ${o.baselineDir}`, {}, bodies, texts[0]!, o, o.baselineDir));
  }
  if (o.parts.includes('stages')) say(await stagesPart(env, bodies, texts[0]!, o));
  if (o.parts.includes('mixed')) {
    say(await mixed(env, 'this build', bodies, texts[0]!, o));
    if (o.baselineDir)
      say(await mixed(env, `baseline ${o.baselineDir}`, bodies, texts[0]!, o, o.baselineDir));
  }
  if (o.parts.includes('batch')) {
    const rounds = o.rounds ?? 3;
    say(await batchPart(env, texts, { ...o, rounds }));
    if (o.parts.includes('profile'))
      say(await loadProfile(env, batchBodies(texts), texts[0]!, o, [BATCH_CONNECTIONS]));
  } else if (o.parts.includes('profile')) say(await loadProfile(env, bodies, texts[0]!, o));
  lines.push(`load average at end ${loadavg().map((x) => x.toFixed(2))}`);
  process.stdout.write(`\n${lines.join('\n')}\n`);
}
