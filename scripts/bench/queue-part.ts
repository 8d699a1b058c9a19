/**
 * (d) The queue, side by side in one run on the same Redis and Postgres: clawstack jobs with text
 * inference (text.classify), clawstack jobs with the no-op task (debug.echo, ECHO_TASK=true) submitted
 * one per request and BULK_JOBS per request (POST /v1/jobs/batch), and raw BullMQ (add + a no-op
 * processor at the worker's concurrency) as the queue's limit.
 */
import { loadConfig } from '../../app/src/config.ts';
import { classifyOnce, startServer, type BenchEnv, type ServerSettings } from './clawstack.ts';
import { runJobs, type JobsResult } from './jobs.ts';
import { existsSync } from 'node:fs';
import { peakRssMb } from './procs.ts';
import { profilesIn, summarizeProfile, type ProfileSummary } from './profile.ts';
import { rawBullmq, type RawQueueResult } from './raw-bullmq.ts';
import type { PerJobCosts } from './queue-costs.ts';
import type { StageStats } from './queue-stages.ts';

export interface JobsRun extends JobsResult {
  peakRssMb: number;
  settings: ServerSettings;
  workerConcurrency: number;
  warmup: number;
  /** jobs per request (POST /v1/jobs/batch); absent: one POST /v1/jobs per job */
  perRequest?: number;
}

export interface QueuePart {
  text: JobsRun;
  echo: JobsRun;
  /** debug.echo jobs submitted BULK_JOBS per request; absent in runs from before the batch route */
  bulk?: JobsRun;
  raw: RawQueueResult;
  /** The server under the CPU profiler during an extra run of echo jobs (not a measured run). */
  profile?: { jobsPerSec: number; summaries: ProfileSummary[] };
}

export interface QueueCounts {
  /** text.classify jobs measured, and warm-up jobs before them (discarded) */
  text: number;
  textWarmup: number;
  /** debug.echo jobs measured (raw BullMQ moves as many), and warm-up jobs before them */
  echo: number;
  echoWarmup: number;
}

/** Jobs per request in the bulk row (POST /v1/jobs/batch). */
export const BULK_JOBS = 100;
/** Connections submitting batches: each request carries BULK_JOBS jobs, so a few keep the queue full. */
const BULK_CONNECTIONS = 4;

/** Redis calls per job by command, and the worker-side stages (ms, median / mean), on the console. */
function logDetail(log: (msg: string) => void, costs: PerJobCosts, stages?: StageStats) {
  const f = (n: number) => n.toFixed(2);
  const cmds = Object.entries(costs.byCommand ?? {}).map(([c, n]) => `${c} ${f(n)}`);
  log(`    Redis calls/job: ${cmds.join(', ')}`);
  for (const [stage, s] of Object.entries(stages ?? {}))
    log(`    ${stage}: p50 ${f(s.p50)} ms, mean ${f(s.mean)} ms`);
}

/** The echo jobs' inputs: small objects, like raw BullMQ's `{ i }`. */
export const ECHO_INPUTS = Array.from({ length: 100 }, (_, n) => ({ probe: 'bench:serve', n }));

export async function runQueuePart(opts: {
  env: BenchEnv;
  settings: ServerSettings;
  texts: string[];
  counts: QueueCounts;
  connections: number;
  log: (msg: string) => void;
  /** Where to write the .cpuprofile files of the profiled echo run; absent: no profiled run. */
  profileDir?: string;
}): Promise<QueuePart> {
  const { env, counts, connections, log } = opts;
  const settings = { ...opts.settings, ECHO_TASK: true };
  const server = await startServer(env, settings, opts.texts[0]!);
  try {
    const workerConcurrency = loadConfig(server.env).WORKER_CONCURRENCY;
    const jobs = (task: string, inputs: unknown[], count: number, on = server, perRequest?: number) =>
      runJobs({
        perRequest,
        url: on.url,
        databaseUrl: env.databaseUrl,
        redisUrl: env.redisUrl,
        apiKey: env.apiKey,
        task,
        inputs,
        count,
        connections: perRequest ? BULK_CONNECTIONS : connections,
        serverPid: on.child.pid,
      });
    const run = async (
      task: string,
      inputs: unknown[],
      count: number,
      warmup: number,
      perRequest?: number,
    ) => {
      const how = perRequest
        ? `${perRequest} per request (POST /v1/jobs/batch), ${BULK_CONNECTIONS} connections`
        : `one per request, ${connections} connections`;
      log(`(d) ${task} jobs: ${warmup} warm-up, then ${count} submitted ${how}`);
      await jobs(task, inputs, warmup, server, perRequest);
      const r = await jobs(task, inputs, count, server, perRequest);
      log(`    ${Math.round(r.jobsPerSec)} jobs/s, ${r.serverCpuMsPerJob.toFixed(2)} ms server CPU per job`);
      logDetail(log, r.costs, r.stages);
      return {
        ...r,
        peakRssMb: peakRssMb(server.child.pid),
        settings,
        workerConcurrency,
        warmup,
        perRequest,
      };
    };
    const textInputs = opts.texts.map((text) => ({ text }));
    const text = await run('text.classify', textInputs, counts.text, counts.textWarmup);
    const echo = await run('debug.echo', ECHO_INPUTS, counts.echo, counts.echoWarmup);
    const bulk = await run('debug.echo', ECHO_INPUTS, counts.echo, counts.echoWarmup, BULK_JOBS);
    log(`(d) raw BullMQ on the same Redis: ${counts.echo} no-op jobs, concurrency ${workerConcurrency}`);
    const raw = await rawBullmq({
      redisUrl: env.redisUrl,
      databaseUrl: env.databaseUrl,
      jobs: counts.echo,
      concurrency: workerConcurrency,
      connections,
    });
    log(`    ${Math.round(raw.jobsPerSec)} jobs/s`);
    logDetail(log, raw.costs);
    if ((await classifyOnce(server.url, env.apiKey, opts.texts[0]!)) !== 200)
      throw new Error('server stopped answering after the jobs');
    await server.child.stop();
    if (!opts.profileDir) return { text, echo, bulk, raw };
    log('(d) debug.echo jobs again, server under the CPU profiler (not a measured run)');
    const profiled = await startServer(env, settings, opts.texts[0]!, {
      nodeArgs: ['--cpu-prof', `--cpu-prof-dir=${opts.profileDir}`, '--cpu-prof-interval=500'],
    });
    await jobs('debug.echo', ECHO_INPUTS, counts.echoWarmup, profiled);
    const fromUs = Number(process.hrtime.bigint() / 1000n);
    const p = await jobs('debug.echo', ECHO_INPUTS, counts.echo, profiled);
    const toUs = Number(process.hrtime.bigint() / 1000n);
    await profiled.child.stop(20_000); // SIGTERM → drain → exit writes the profiles
    const files = existsSync(opts.profileDir) ? profilesIn(opts.profileDir) : [];
    const summaries = files
      .map((f) => summarizeProfile(f, 15, { fromUs, toUs }))
      .filter((x) => x.wallMs > 0)
      .sort((a, b) => b.busyMs - a.busyMs);
    return { text, echo, bulk, raw, profile: { jobsPerSec: p.jobsPerSec, summaries } };
  } finally {
    await server.child.stop();
  }
}
