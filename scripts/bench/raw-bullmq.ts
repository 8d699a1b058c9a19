/**
 * (d) The queue's limit: raw BullMQ on the same Redis as clawstack — `queue.add` from `connections`
 * concurrent submitters and a no-op processor with the same concurrency as clawstack's worker. No
 * Postgres record, no HTTP, no inference: what BullMQ itself moves on this machine.
 */
import { Queue, Worker } from 'bullmq';
import { perJob, readCounters, type PerJobCosts } from './queue-costs.ts';

export interface RawQueueResult {
  jobs: number;
  concurrency: number;
  /** completed jobs / (last completion − first add) */
  jobsPerSec: number;
  seconds: number;
  /** CPU of this (the bench) process, where both the adds and the processor run, per job */
  cpuMsPerJob: number;
  costs: PerJobCosts;
}

export async function rawBullmq(opts: {
  redisUrl: string;
  /** only to read its write-transaction counter (raw BullMQ makes none) */
  databaseUrl: string;
  jobs: number;
  concurrency: number;
  connections: number;
}): Promise<RawQueueResult> {
  const url = new URL(opts.redisUrl);
  const connection = { host: url.hostname, port: Number(url.port), maxRetriesPerRequest: null };
  const name = `bench-raw-${Date.now()}`;
  const queue = new Queue(name, { connection });
  let completed = 0;
  let finished!: () => void;
  const allDone = new Promise<void>((r) => (finished = r));
  const worker = new Worker(name, async () => undefined, { connection, concurrency: opts.concurrency });
  worker.on('completed', () => {
    if (++completed === opts.jobs) finished();
  });
  await worker.waitUntilReady();
  const before = await readCounters(opts.redisUrl, opts.databaseUrl);
  const cpu0 = process.cpuUsage();
  const start = performance.now();
  let next = 0;
  await Promise.all(
    Array.from({ length: opts.connections }, async () => {
      for (let i = next++; i < opts.jobs; i = next++)
        await queue.add('noop', { i }, { removeOnComplete: true, removeOnFail: true });
    }),
  );
  await allDone;
  const seconds = (performance.now() - start) / 1000;
  const cpu = process.cpuUsage(cpu0);
  const costs = perJob(before, await readCounters(opts.redisUrl, opts.databaseUrl), opts.jobs);
  await worker.close();
  await queue.obliterate({ force: true });
  await queue.close();
  return {
    jobs: opts.jobs,
    concurrency: opts.concurrency,
    jobsPerSec: opts.jobs / seconds,
    seconds,
    cpuMsPerJob: (cpu.user + cpu.system) / 1000 / opts.jobs,
    costs,
  };
}
