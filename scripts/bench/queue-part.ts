/**
 * (d) The queue, side by side in one run on the same Redis and Postgres: clawstack jobs with text
 * inference (text.classify), clawstack jobs with the no-op task (debug.echo, ECHO_TASK=true), and raw
 * BullMQ (add + a no-op processor at the worker's concurrency) as the queue's limit.
 */
import { loadConfig } from '../../app/src/config.ts';
import { classifyOnce, startServer, type BenchEnv, type ServerSettings } from './clawstack.ts';
import { runJobs, type JobsResult } from './jobs.ts';
import { peakRssMb } from './procs.ts';
import { rawBullmq, type RawQueueResult } from './raw-bullmq.ts';

export interface JobsRun extends JobsResult {
  peakRssMb: number;
  settings: ServerSettings;
  workerConcurrency: number;
  warmup: number;
}

export interface QueuePart {
  text: JobsRun;
  echo: JobsRun;
  raw: RawQueueResult;
}

export interface QueueCounts {
  /** text.classify jobs measured, and warm-up jobs before them (discarded) */
  text: number;
  textWarmup: number;
  /** debug.echo jobs measured (raw BullMQ moves as many), and warm-up jobs before them */
  echo: number;
  echoWarmup: number;
}

/** The echo jobs' inputs: small objects, like raw BullMQ's `{ i }`. */
const echoInputs = Array.from({ length: 100 }, (_, n) => ({ probe: 'bench:serve', n }));

export async function runQueuePart(opts: {
  env: BenchEnv;
  settings: ServerSettings;
  texts: string[];
  counts: QueueCounts;
  connections: number;
  log: (msg: string) => void;
}): Promise<QueuePart> {
  const { env, counts, connections, log } = opts;
  const settings = { ...opts.settings, ECHO_TASK: true };
  const server = await startServer(env, settings, opts.texts[0]!);
  try {
    const workerConcurrency = loadConfig(server.env).WORKER_CONCURRENCY;
    const jobs = (task: string, inputs: unknown[], count: number) =>
      runJobs({
        url: server.url,
        databaseUrl: env.databaseUrl,
        redisUrl: env.redisUrl,
        apiKey: env.apiKey,
        task,
        inputs,
        count,
        connections,
        serverPid: server.child.pid,
      });
    const run = async (task: string, inputs: unknown[], count: number, warmup: number) => {
      log(`(d) ${task} jobs: ${warmup} warm-up, then ${count} submitted with ${connections} connections`);
      await jobs(task, inputs, warmup);
      const r = await jobs(task, inputs, count);
      log(`    ${Math.round(r.jobsPerSec)} jobs/s, ${r.serverCpuMsPerJob.toFixed(2)} ms server CPU per job`);
      return { ...r, peakRssMb: peakRssMb(server.child.pid), settings, workerConcurrency, warmup };
    };
    const textInputs = opts.texts.map((text) => ({ text }));
    const text = await run('text.classify', textInputs, counts.text, counts.textWarmup);
    const echo = await run('debug.echo', echoInputs, counts.echo, counts.echoWarmup);
    log(`(d) raw BullMQ on the same Redis: ${counts.echo} no-op jobs, concurrency ${workerConcurrency}`);
    const raw = await rawBullmq({
      redisUrl: env.redisUrl,
      databaseUrl: env.databaseUrl,
      jobs: counts.echo,
      concurrency: workerConcurrency,
      connections,
    });
    log(`    ${Math.round(raw.jobsPerSec)} jobs/s`);
    if ((await classifyOnce(server.url, env.apiKey, opts.texts[0]!)) !== 200)
      throw new Error('server stopped answering after the jobs');
    return { text, echo, raw };
  } finally {
    await server.child.stop();
  }
}
