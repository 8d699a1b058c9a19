/**
 * `kill -9` of the whole `npm start` tree (npm, the app, the Redis and Postgres it started) with a
 * backlog of jobs, then `npm start` again on the same data directory: no server may outlive the kill,
 * every job must finish soon after the restart, and SIGTERM of the restarted stack must stop everything.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import pg from 'pg';
import { freePort } from '../../app/src/local/services.ts';
import { emptyTally, submitJob } from './load.ts';
import { outcomes, summarize, TERMINAL, type FaultRow } from './report.ts';

interface Started {
  child: ChildProcess;
  output: () => string;
  exited: Promise<unknown>;
  readyAt: number;
}

async function npmStart(dataDir: string, port: number): Promise<Started> {
  const child = spawn('npm', ['start', '--silent'], {
    detached: true, // its own process group, so the whole tree can be killed at once
    env: {
      ...process.env,
      CLAWSTACK_DATA_DIR: dataDir,
      MODELS: 'text-spam',
      PORT: String(port),
      WORKER_CONCURRENCY: '8',
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise((res) => child.once('exit', res));
  const deadline = Date.now() + 90_000;
  while (!out.includes('clawstack is running')) {
    if (child.exitCode !== null || Date.now() > deadline) throw new Error(`npm start did not start:\n${out}`);
    await sleep(100);
  }
  return { child, output: () => out, exited, readyAt: Date.now() };
}

/** Processes (other than ours) whose command line names the data dir or the Redis port. */
function leftovers(dataDir: string, redisPort: string): string[] {
  const found: string[] = [];
  for (const pid of readdirSync('/proc').filter((p) => /^\d+$/.test(p))) {
    let cmd: string;
    try {
      cmd = readFileSync(`/proc/${pid}/cmdline`, 'utf8').replace(/\0/g, ' ');
    } catch {
      continue; // it exited meanwhile
    }
    if (cmd.includes(dataDir) || cmd.includes(`127.0.0.1:${redisPort}`)) found.push(`${pid} ${cmd.trim()}`);
  }
  return found;
}

const local = (dataDir: string) =>
  JSON.parse(readFileSync(join(dataDir, 'local.json'), 'utf8')) as { redisUrl: string; databaseUrl: string };

export async function killWholeNpmStart(jobs = 300): Promise<{ row: FaultRow; problems: string[] }> {
  const problems: string[] = [];
  const dataDir = mkdtempSync(join(tmpdir(), 'clawstack-npmstart-'));
  chmodSync(dataDir, 0o755);
  const port = await freePort();
  try {
    const first = await npmStart(dataDir, port);
    const key = readFileSync(join(dataDir, 'local-api-key'), 'utf8').trim();
    const redisPort = new URL(local(dataDir).redisUrl).port;
    const url = `http://127.0.0.1:${port}`;
    const tally = emptyTally();
    for (let i = 0; i < jobs; i += 20)
      await Promise.all(Array.from({ length: 20 }, (_, j) => submitJob(url, key, tally, i + j)));
    process.kill(-first.child.pid!, 'SIGKILL');
    await first.exited;
    await sleep(3000);
    const orphans = leftovers(dataDir, redisPort);
    if (orphans.length) problems.push(`after kill -9 of npm start, still running:\n${orphans.join('\n')}`);

    const restartedAt = Date.now();
    const second = await npmStart(dataDir, port);
    const db = new pg.Pool({ connectionString: local(dataDir).databaseUrl, max: 2 });
    db.on('error', () => {});
    let found = await outcomes(db, tally.accepted);
    while (found.filter((o) => TERMINAL.includes(o.status)).length < tally.accepted.length) {
      if (Date.now() - restartedAt > 120_000) break;
      await sleep(200);
      found = await outcomes(db, tally.accepted);
    }
    const last = await db.query<{ t: Date }>('SELECT max(finished_at) AS t FROM jobs WHERE id = ANY($1)', [
      tally.accepted,
    ]);
    await db.end();
    const row = summarize(
      `kill -9 of the whole npm start (${jobs} jobs queued), npm start again`,
      tally.accepted,
      found,
      {
        recoverMs: (last.rows[0]?.t?.getTime() ?? Date.now()) - restartedAt,
        healMs: second.readyAt - restartedAt,
      },
    );
    const secondRedis = new URL(local(dataDir).redisUrl).port;
    second.child.kill('SIGTERM'); // npm passes it on to the app, which stops its Redis and Postgres
    await second.exited;
    await sleep(1000);
    const stale = leftovers(dataDir, secondRedis);
    if (stale.length)
      problems.push(`after SIGTERM of the restarted npm start, still running:\n${stale.join('\n')}`);
    if (row.lost || row.duplicated)
      problems.push(`npm start: ${row.lost} lost, ${row.duplicated} duplicated`);
    // The banner prints the local key on purpose; no log line may.
    const logLines = [first, second].flatMap((s) =>
      s
        .output()
        .split('\n')
        .filter((l) => l.startsWith('{')),
    );
    if (logLines.some((l) => l.includes(key))) problems.push('the local API key appears in a log line');
    return { row, problems };
  } finally {
    rmSync(dataDir, { recursive: true, force: true });
  }
}
