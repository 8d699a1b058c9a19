/**
 * (d) The bulk path of two builds side by side (`bench:serve --only-queue --queue-baseline=DIR`): for
 * each round, another build's bundle (DIR, e.g. main's dist/) and this one, in alternating order, each
 * on its own database of the same Postgres (a build's migrations do not reach the other's), then raw
 * BullMQ on the same Redis. Printed only; docs untouched.
 */
import { loadConfig } from '../../app/src/config.ts';
import { startServer, type BenchEnv, type ServerSettings } from './clawstack.ts';
import { runJobs, type JobsResult } from './jobs.ts';
import { BULK_JOBS, ECHO_INPUTS } from './queue-part.ts';
import { rawBullmq } from './raw-bullmq.ts';
import type { StageStats } from './queue-stages.ts';

export interface BuildRun {
  build: string;
  jobsPerSec: number;
  /** the worker stage table's means (ms) */
  stages?: StageStats;
  redisCommands: number;
  pgWriteTransactions: number;
  serverCpuMsPerJob: number;
}

export interface CompareRound {
  runs: BuildRun[];
  rawJobsPerSec: number;
  /** 1-minute load average after the round */
  load: number;
}

/** Connections submitting batches of BULK_JOBS, as in the bulk row of (d). */
const CONNECTIONS = 4;

/** This bundle (or `dir`'s) started, and a measured bulk run of `count` no-op jobs on it. */
async function bulkRun(env: BenchEnv, settings: ServerSettings, probe: string, dir?: string) {
  const server = await startServer(env, settings, probe, { bundleDir: dir });
  const run = (count: number) =>
    runJobs({
      url: server.url,
      databaseUrl: env.databaseUrl,
      redisUrl: env.redisUrl,
      apiKey: env.apiKey,
      task: 'debug.echo',
      inputs: ECHO_INPUTS,
      count,
      connections: CONNECTIONS,
      serverPid: server.child.pid,
      perRequest: BULK_JOBS,
    });
  return { server, run };
}

const summary = (build: string, r: JobsResult): BuildRun => ({
  build,
  jobsPerSec: r.jobsPerSec,
  stages: r.stages,
  redisCommands: r.costs.redisCommands,
  pgWriteTransactions: r.costs.pgWriteTransactions,
  serverCpuMsPerJob: r.serverCpuMsPerJob,
});

export async function compareBulk(opts: {
  /** an environment per build (its own database) */
  envFor: (build: string) => Promise<BenchEnv>;
  settings: ServerSettings;
  probe: string;
  baselineDir: string;
  rounds: number;
  jobs: number;
  warmup: number;
  log: (msg: string) => void;
  loadavg: () => number;
}): Promise<CompareRound[]> {
  const { log } = opts;
  const settings = { ...opts.settings, ECHO_TASK: true };
  const builds: [string, string | undefined][] = [
    ['baseline', opts.baselineDir],
    ['this build', undefined],
  ];
  const out: CompareRound[] = [];
  for (let round = 0; round < opts.rounds; round++) {
    const runs: BuildRun[] = [];
    for (const [build, dir] of round % 2 ? [...builds].reverse() : builds) {
      const env = await opts.envFor(build);
      const { server, run } = await bulkRun(env, settings, opts.probe, dir);
      try {
        await run(opts.warmup);
        const r = await run(opts.jobs);
        log(`round ${round + 1}, ${build}: ${Math.round(r.jobsPerSec)} jobs/s`);
        runs.push(summary(build, r));
      } finally {
        await server.child.stop();
      }
    }
    const env = await opts.envFor('raw');
    const raw = await rawBullmq({
      redisUrl: env.redisUrl,
      databaseUrl: env.databaseUrl,
      jobs: opts.jobs,
      concurrency: loadConfig({}).WORKER_CONCURRENCY,
      connections: 32,
    });
    log(`round ${round + 1}, raw BullMQ: ${Math.round(raw.jobsPerSec)} jobs/s`);
    out.push({ runs, rawJobsPerSec: raw.jobsPerSec, load: opts.loadavg() });
  }
  return out;
}

/** The rounds as a console report: jobs/s and × raw per build, then each build's mean stage table. */
export function compareReport(rounds: CompareRound[]): string {
  const f0 = (n: number) => Math.round(n).toLocaleString('en-US');
  const f2 = (n: number) => n.toFixed(2);
  const lines = rounds.map((r, i) => {
    const cells = r.runs.map(
      (b) =>
        `${b.build} ${f0(b.jobsPerSec)} jobs/s (${f2(b.jobsPerSec / r.rawJobsPerSec)} × raw; ${f2(b.serverCpuMsPerJob)} ms CPU, ${f2(b.pgWriteTransactions)} pg writes, ${f2(b.redisCommands)} Redis cmds per job)`,
    );
    return `round ${i + 1} (load ${f2(r.load)}): raw BullMQ ${f0(r.rawJobsPerSec)} jobs/s; ${cells.join('; ')}`;
  });
  for (const build of rounds[0]?.runs.map((b) => b.build) ?? []) {
    lines.push(`\n${build}, worker stages (ms per job, p50 / mean, each round):`);
    const stages = Object.keys(rounds[0]!.runs.find((b) => b.build === build)?.stages ?? {});
    for (const stage of stages) {
      const cells = rounds.map((r) => {
        const s = r.runs.find((b) => b.build === build)?.stages?.[stage as keyof StageStats];
        return s ? `${f2(s.p50)} / ${f2(s.mean)}` : '–';
      });
      lines.push(`  ${stage}: ${cells.join(' | ')}`);
    }
  }
  return lines.join('\n');
}
