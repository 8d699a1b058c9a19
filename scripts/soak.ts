/**
 * Soak: `npm run soak -- --minutes N` (default 10). Measures the maximum classify throughput of one
 * local server, then holds ~80 % of it for N minutes with a stream of jobs of every priority beside it,
 * sampling RSS, event-loop lag and queue depth every 5 s. Prints the summary, writes the figure
 * (docs/soak.svg) and the summary into docs/reliability.md (`--no-docs` leaves the docs alone).
 */
import { randomBytes } from 'node:crypto';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import pg from 'pg';
import { ensureDatabase, startLocalServices } from '../app/src/local/services.ts';
import { PRIORITIES } from '../app/src/store/jobs.ts';
import { buildBundle, startServer, type BenchEnv } from './bench/clawstack.ts';
import { loadMessages } from './bench/inputs.ts';
import { runLoad } from './bench/load.ts';
import { cleanup, installSignalCleanup, onCleanup, rssMb } from './bench/procs.ts';
import { writeSection } from './lib/doc-section.ts';
import { runInfo, runLine, type RunInfo } from './bench/machine.ts';
import { lineChart } from './soak/svg.ts';
import { metricValue, record, rssGrowth, windowStats, type Bucket } from './soak/stats.ts';

const BUCKET_S = 5;
const CONNECTIONS = 16;

interface Sample {
  t: number;
  rssMb: number;
  lagP99Ms: number;
  queueDepth: number;
}

async function stack(): Promise<BenchEnv> {
  const dir = mkdtempSync(join(tmpdir(), 'clawstack-soak-'));
  chmodSync(dir, 0o755);
  const local = await startLocalServices({ redis: join(dir, 'redis'), postgres: join(dir, 'pg') });
  onCleanup(async () => {
    await local.stop();
    rmSync(dir, { recursive: true, force: true });
  });
  const databaseUrl = await ensureDatabase(local.postgres!.url, 'clawstack');
  return {
    redisUrl: local.redis!.url,
    databaseUrl,
    apiKey: `cs_${randomBytes(24).toString('base64url')}`,
    dataDir: dir,
  };
}

/** Every 5 s: server RSS, event-loop lag p99 since the last scrape, queue depth. */
function sampler(url: string, pid: number, t0: number) {
  const samples: Sample[] = [];
  const timer = setInterval(() => {
    void fetch(`${url}/metrics`)
      .then((r) => r.text())
      .then((text) => {
        const depth = ['high', 'normal', 'low'].reduce((a, p) => {
          const m = new RegExp(`^clawstack_job_queue_depth\\{priority="${p}"\\} (\\d+)`, 'm').exec(text);
          return a + (m ? Number(m[1]) : 0);
        }, 0);
        samples.push({
          t: (Date.now() - t0) / 1000,
          rssMb: rssMb(pid),
          lagP99Ms: metricValue(text, 'nodejs_eventloop_lag_p99_seconds') * 1000,
          queueDepth: depth,
        });
      })
      .catch(() => {});
  }, BUCKET_S * 1000);
  return { samples, stop: () => clearInterval(timer) };
}

/** Submits jobs of every priority at `perSecond` until stopped; counts the ones not accepted. */
function jobStream(url: string, key: string, perSecond: number) {
  let running = true;
  const tally = { accepted: 0, refused: 0 };
  const loop = (async () => {
    for (let i = 0; running; i++) {
      const res = await fetch(`${url}/v1/jobs`, {
        method: 'POST',
        headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
        body: JSON.stringify({
          task: 'text.classify',
          input: { text: `soak job ${i} ${Math.random()}` },
          priority: PRIORITIES[i % 3],
        }),
        signal: AbortSignal.timeout(10_000),
      }).catch(() => undefined);
      if (res?.status === 202) tally.accepted++;
      else tally.refused++;
      await res?.arrayBuffer();
      await sleep(1000 / perSecond);
    }
  })();
  return {
    tally,
    stop: async () => {
      running = false;
      await loop;
    },
  };
}

/** Queue latency (created → started) per priority and job outcomes, from Postgres. */
async function jobFigures(databaseUrl: string) {
  const db = new pg.Client({ connectionString: databaseUrl });
  await db.connect();
  for (let i = 0; i < 120; i++) {
    const r = await db.query(`SELECT count(*)::int AS n FROM jobs WHERE status IN ('queued', 'running')`);
    if (r.rows[0].n === 0) break;
    await sleep(500);
  }
  const r = await db.query<{ priority: string; n: number; failed: number; p50: number; p99: number }>(
    `SELECT priority, count(*)::int AS n, count(*) FILTER (WHERE status <> 'succeeded')::int AS failed,
            percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM started_at - created_at)) * 1000 AS p50,
            percentile_cont(0.99) WITHIN GROUP (ORDER BY extract(epoch FROM started_at - created_at)) * 1000 AS p99
       FROM jobs GROUP BY priority ORDER BY priority`,
  );
  await db.end();
  return r.rows;
}

async function main() {
  const { values } = parseArgs({
    options: { minutes: { type: 'string', default: '10' }, 'no-docs': { type: 'boolean', default: false } },
  });
  const minutes = Number(values.minutes);
  if (!(minutes > 0)) throw new Error('--minutes must be a positive number');
  installSignalCleanup();
  const run = runInfo(); // commit, CPU, load at the start: written with the result
  buildBundle();
  const env = await stack();
  const texts = loadMessages();
  const server = await startServer(env, { MODELS: 'text-spam' }, texts[0]!);
  const headers = { authorization: `Bearer ${env.apiKey}` };
  const bodies = texts.map((text) => JSON.stringify({ text }));
  const path = '/v1/text/classify';
  const max = await runLoad({
    url: server.url,
    path,
    headers,
    bodies,
    connections: CONNECTIONS,
    seconds: 10,
  });
  const rate = Math.max(1, Math.round(max.rps * 0.8));
  console.log(
    `max ${max.rps.toFixed(0)} req/s (p99 ${max.p99.toFixed(1)} ms); soaking at ${rate} req/s for ${minutes} min`,
  );

  const t0 = Date.now();
  const buckets: Bucket[] = [];
  const window = { startS: Infinity, endS: 0 };
  const samples = sampler(server.url, server.child.pid, t0);
  const jobs = jobStream(server.url, env.apiKey, 5);
  const soak = await runLoad({
    url: server.url,
    path,
    headers,
    bodies,
    connections: CONNECTIONS,
    seconds: minutes * 60,
    overallRate: rate,
    onResponse: (status, ms) => {
      const now = Date.now();
      window.startS = Math.min(window.startS, (now - t0) / 1000);
      window.endS = (now - t0) / 1000;
      record(buckets, t0, BUCKET_S, status >= 200 && status < 300, ms, now);
    },
  });
  await jobs.stop();
  samples.stop();
  const queue = await jobFigures(env.databaseUrl);
  report({
    minutes,
    maxRps: max.rps,
    rate,
    soak,
    stats: windowStats(buckets, BUCKET_S, window),
    // Samples taken while the load ran (after it, the job stream drains and the server idles).
    samples: samples.samples.filter((x) => x.t <= window.endS),
    jobs: jobs.tally,
    queue,
    write: !values['no-docs'],
    run,
  });
  await server.child.stop();
  await cleanup();
}

function report(r: {
  minutes: number;
  maxRps: number;
  rate: number;
  soak: Awaited<ReturnType<typeof runLoad>>;
  stats: ReturnType<typeof windowStats>;
  samples: Sample[];
  jobs: { accepted: number; refused: number };
  queue: Awaited<ReturnType<typeof jobFigures>>;
  write: boolean;
  run: RunInfo;
}) {
  const warmupS = Math.min(60, (r.minutes * 60) / 5);
  const { stats } = r;
  const growth = rssGrowth(r.samples, warmupS);
  const lags = r.samples.map((s) => s.lagP99Ms).filter(Number.isFinite);
  const errors = r.soak.non2xx + r.soak.errors + r.jobs.refused + r.queue.reduce((a, q) => a + q.failed, 0);
  const lines = [
    `| measured max (16 connections, 10 s) | ${r.maxRps.toFixed(0)} req/s |`,
    `| soak rate (80 %), duration | ${r.rate} req/s for ${r.minutes} min, + ${(r.jobs.accepted / (r.minutes * 60)).toFixed(1)} jobs/s (high/normal/low) |`,
    `| held | ${r.soak.rps.toFixed(0)} req/s, p50 ${r.soak.p50.toFixed(1)} ms, p99 ${r.soak.p99.toFixed(1)} ms |`,
    `| errors (non-2xx, socket errors, refused or failed jobs) | ${errors} |`,
    `| RSS growth after ${warmupS} s warm-up (mean of the first quarter → of the last quarter) | ${growth.percent.toFixed(1)} % (${growth.startMb.toFixed(0)} → ${growth.endMb.toFixed(0)} MB; ${r.samples.at(0)?.rssMb.toFixed(0)} MB at the start of the load) |`,
    `| event-loop lag p99 (worst 5 s window / median) | ${Math.max(...lags).toFixed(1)} ms / ${lags.sort((a, b) => a - b)[Math.floor(lags.length / 2)]?.toFixed(1)} ms |`,
    ...r.queue.map(
      (q) =>
        `| queue latency, ${q.priority} (${q.n} jobs) | p50 ${q.p50.toFixed(0)} ms, p99 ${q.p99.toFixed(0)} ms |`,
    ),
  ];
  const table = ['| soak | |', '|---|---|', ...lines].join('\n');
  const machine = runLine(r.run, loadavg());
  console.log(`\n${table}\n\n${machine}\n`);
  if (!r.write) return;
  const svg = lineChart([
    {
      title: 'throughput',
      unit: 'req/s',
      series: [{ label: 'classify 2xx', color: '#1f77b4', points: stats.map((s) => [s.t, s.rps]) }],
    },
    {
      title: 'latency',
      unit: 'ms',
      series: [
        { label: 'p50', color: '#2ca02c', points: stats.map((s) => [s.t, s.p50]) },
        { label: 'p99', color: '#d62728', points: stats.map((s) => [s.t, s.p99]) },
      ],
    },
    {
      title: 'server RSS',
      unit: 'MB',
      series: [{ label: 'RSS', color: '#9467bd', points: r.samples.map((s) => [s.t, s.rssMb]) }],
    },
    {
      title: 'event-loop lag p99',
      unit: 'ms',
      series: [{ label: 'lag', color: '#ff7f0e', points: r.samples.map((s) => [s.t, s.lagP99Ms]) }],
    },
  ]);
  writeFileSync('docs/soak.svg', svg);
  writeSection('docs/reliability.md', 'soak', `${table}\n\n${machine}`);
}

main().catch(async (err: unknown) => {
  console.error(err);
  await cleanup();
  process.exit(1);
});
