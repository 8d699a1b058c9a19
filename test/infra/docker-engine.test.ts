/**
 * The Docker target on a real engine. The program runs under Pulumi's mocks; the image build, network,
 * volumes and containers it declares are created on the local Docker engine exactly as declared
 * (./docker-engine/declared.ts), then: readiness 200, a classification, a job through the worker, the
 * key CLI inside the image, every container healthy, SIGTERM → exit 0 with no job lost, and a restart
 * on the same volumes with jobs and keys still there. All traffic goes to 127.0.0.1 (the API is
 * published on loopback). Skips, saying why, where no Docker engine answers or the test-only base
 * images (scripts/docker/base-images.sh) cannot be built.
 */
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { ofType, runProgram } from '../../scripts/plan/harness.ts';
import type { ProgramRun, RecordedResource } from '../../scripts/plan/harness.ts';
import { dockerConfig } from './docker-helpers.ts';
import { buildArgs, createArgs, networkArgs, volumeArgs } from './docker-engine/declared.ts';

const ROOT = path.resolve(import.meta.dirname, '../..');
const SERVICES_IMAGE = 'clawstack-test/services:bookworm';
/** One stack per run (its pid in the name), so two runs on one engine never share a container name. */
const STACK = `enginetest${process.pid}`;
const CONTAINER = 'docker:index/container:Container';
const DRAIN_MS = 15_000;

function docker(args: string[], opts: { timeoutMs?: number } = {}): string {
  const r = spawnSync('docker', args, {
    encoding: 'utf8',
    timeout: opts.timeoutMs ?? 120_000,
    maxBuffer: 64 << 20,
  });
  if (r.status !== 0)
    throw new Error(`docker ${args.slice(0, 3).join(' ')} failed: ${r.stderr || r.error?.message}`);
  return r.stdout.trim();
}

/** Why the engine test cannot run here, or undefined when it can (base images built on first use). */
function skipReason(): string | undefined {
  if (process.env.CLAWSTACK_SKIP_ENGINE) return 'CLAWSTACK_SKIP_ENGINE is set';
  if (spawnSync('docker', ['info'], { timeout: 20_000 }).status !== 0)
    return 'no Docker engine answers `docker info` (start one with scripts/docker/engine.sh, as root)';
  const r = spawnSync(path.join(ROOT, 'scripts/docker/base-images.sh'), {
    encoding: 'utf8',
    timeout: 1_800_000,
  });
  if (r.status !== 0)
    return `the test base images could not be built: ${(r.stderr || r.stdout).trim().split('\n').pop()}`;
  return undefined;
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
    s.on('error', reject);
  });
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
async function until<T>(
  what: string,
  fn: () => Promise<T | undefined> | T | undefined,
  timeoutMs = 180_000,
): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    // Each attempt gets at most 10 s (a ref'd timer: a request stuck on a half-open published port
    // must neither hang the wait nor let the event loop run empty).
    let timer: NodeJS.Timeout | undefined;
    const v = await Promise.race([
      Promise.resolve(fn()).catch(() => undefined),
      new Promise<undefined>((r) => (timer = setTimeout(() => r(undefined), 10_000))),
    ]);
    clearTimeout(timer);
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(1000);
  }
}

const health = (name: string) =>
  docker(['inspect', '-f', '{{if .State.Health}}{{.State.Health.Status}}{{end}}', name]);
/** Waits for a container's health check to pass; on a timeout the error carries its last results. */
async function healthy(name: string, timeoutMs = 180_000) {
  try {
    await until(`${name} healthy`, () => (health(name) === 'healthy' ? true : undefined), timeoutMs);
  } catch (e) {
    const log = docker(['inspect', '-f', '{{json .State.Health.Log}}', name]).slice(-1500);
    throw new Error(`${(e as Error).message}; last health checks: ${log}`, { cause: e });
  }
}

/**
 * Removes what earlier runs left behind (a run killed before its `after`): containers, networks and
 * volumes labelled with an engine-test stack whose process is gone. Runs still alive keep theirs.
 */
function removeStaleRuns() {
  const alive = (pid: number) => {
    try {
      process.kill(pid, 0);
      return true;
    } catch (e) {
      return (e as NodeJS.ErrnoException).code === 'EPERM';
    }
  };
  const stale = (stack: string) => {
    const m = /^enginetest(\d*)$/.exec(stack);
    return !!m && (m[1] === '' || !alive(Number(m[1])));
  };
  // containers first: a network with a container attached cannot be removed
  const kinds: [string[], string, string[]][] = [
    [['ps', '-a'], '.Names', ['rm', '-f']],
    [['network', 'ls'], '.Name', ['network', 'rm']],
    [['volume', 'ls'], '.Name', ['volume', 'rm', '-f']],
  ];
  for (const [list, field, remove] of kinds) {
    const format = `{{${field}}}\t{{.Label "stack"}}`;
    const rows = spawnSync('docker', [...list, '--filter', 'label=project=clawstack', '--format', format], {
      encoding: 'utf8',
    }).stdout;
    for (const row of rows.split('\n').filter(Boolean)) {
      const [name, stack] = row.split('\t') as [string, string];
      if (stale(stack)) spawnSync('docker', [...remove, name]);
    }
  }
}

const reason = skipReason();

describe('docker target on a real engine', { skip: reason, timeout: 1_800_000 }, () => {
  let run: ProgramRun;
  let base: string;
  let envDir: string;
  let containers: RecordedResource[];
  let key: string;
  const jobIds: string[] = [];
  const timings: Record<string, number> = {};

  const api = async (p: string, init: RequestInit = {}) => {
    const res = await fetch(`${base}${p}`, {
      ...init,
      headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json', ...init.headers },
    });
    return { status: res.status, body: (await res.json()) as Record<string, unknown> };
  };

  function cleanup() {
    spawnSync('docker', ['rm', '-f', `clawstack-${STACK}-cudacheck`]);
    for (const c of ofType(run, CONTAINER)) spawnSync('docker', ['rm', '-f', String(c.inputs.name)]);
    for (const n of ofType(run, 'docker:index/network:Network'))
      spawnSync('docker', ['network', 'rm', String(n.inputs.name)]);
    for (const v of ofType(run, 'docker:index/volume:Volume'))
      spawnSync('docker', ['volume', 'rm', '-f', String(v.inputs.name)]);
  }

  /** Creates and starts the declared containers: data roles first, each healthy before the app starts. */
  async function startAll() {
    const t = Date.now();
    const order = [...containers].sort(
      (a, b) => Number(!!envOf(a).CLAWSTACK_ROLE) - Number(!!envOf(b).CLAWSTACK_ROLE),
    );
    for (const c of order) {
      const { args, envFile } = createArgs(c);
      const file = path.join(envDir, `${c.name}.env`);
      writeFileSync(file, envFile, { mode: 0o600 });
      docker(['create', '--env-file', file, ...args]);
      docker(['start', String(c.inputs.name)]);
      if (!envOf(c).CLAWSTACK_ROLE) await healthy(String(c.inputs.name));
    }
    await until('readiness 200 on 127.0.0.1', async () =>
      (await fetch(`${base}/v2/health/ready`)).status === 200 ? true : undefined,
    );
    timings.startSeconds = (Date.now() - t) / 1000;
  }

  before(async () => {
    removeStaleRuns();
    const port = await freePort();
    run = await runProgram(
      dockerConfig(
        { tier: 'lightweight', capacity: 'on-demand', dataServices: 'colocated' },
        {
          image: 'clawstack/clawstack:engine-test',
          drainTimeoutMs: DRAIN_MS,
          hostPort: port,
          buildNetwork: 'host',
          network: `clawstack-${STACK}`,
          dataImages: { redis: SERVICES_IMAGE, postgres: SERVICES_IMAGE },
        },
      ),
      { stack: STACK },
    );
    assert.equal(run.error, undefined, run.error?.message);
    base = String(run.outputs.url);
    assert.equal(base, `http://127.0.0.1:${port}`); // loopback only
    containers = ofType(run, CONTAINER);
    envDir = mkdtempSync(path.join(tmpdir(), 'clawstack-engine-'));
    cleanup();
    const build = buildArgs(run)!;
    const t = Date.now();
    execFileSync('docker', ['build', '-q', ...build.args], {
      env: { ...process.env, DOCKER_BUILDKIT: '0' },
      stdio: ['ignore', 'ignore', 'inherit'],
      timeout: 1_800_000,
    });
    timings.buildSeconds = (Date.now() - t) / 1000;
    docker(['network', 'create', ...networkArgs(ofType(run, 'docker:index/network:Network')[0]!)]);
    for (const v of ofType(run, 'docker:index/volume:Volume')) docker(['volume', 'create', ...volumeArgs(v)]);
    await startAll();
    key = envOf(containers.find((c) => c.inputs.name === `clawstack-${STACK}-api`)!).BOOTSTRAP_API_KEY!;
  });

  after(() => {
    if (run) cleanup();
    if (envDir) rmSync(envDir, { recursive: true, force: true });
    console.log(`docker engine timings (s): ${JSON.stringify(timings)}`);
  });

  test('readiness is 200 on the published loopback port, and every container is healthy', async () => {
    assert.equal((await fetch(`${base}/v2/health/ready`)).status, 200);
    for (const c of containers) await healthy(String(c.inputs.name));
  });

  test('the key CLI in the image creates a key that the API accepts for a classification', async () => {
    const out = docker([
      'exec',
      `clawstack-${STACK}-api`,
      'node',
      'keys.js',
      'create',
      '--name',
      'engine-test',
      '--json',
    ]);
    key = (JSON.parse(out.split('\n').pop()!) as { key: string }).key;
    const res = await api('/v1/text/classify', {
      method: 'POST',
      body: JSON.stringify({ text: 'FREE money!!! click now' }),
    });
    assert.equal(res.status, 200, JSON.stringify(res.body));
    assert.ok(JSON.stringify(res.body).includes('spam'), JSON.stringify(res.body));
  });

  test('a job runs through the worker', async () => {
    const submit = await api('/v1/jobs', {
      method: 'POST',
      body: JSON.stringify({ task: 'text.classify', input: { text: 'meeting at noon' } }),
    });
    assert.equal(submit.status, 202, JSON.stringify(submit.body));
    const id = String(submit.body.id);
    jobIds.push(id);
    const done = await until('the job to succeed', async () => {
      const r = await api(`/v1/jobs/${id}`);
      return r.body.status === 'succeeded' ? r.body : undefined;
    });
    assert.ok(done.result, JSON.stringify(done));
  });

  test('SIGTERM: api and worker exit 0 within their stop grace while jobs are queued', async () => {
    for (let i = 0; i < 12; i++) {
      const r = await api('/v1/jobs', {
        method: 'POST',
        body: JSON.stringify({ task: 'text.classify', input: { text: `message ${i}` } }),
      });
      assert.equal(r.status, 202);
      jobIds.push(String(r.body.id));
    }
    const t = Date.now();
    for (const role of ['worker', 'api']) {
      const name = `clawstack-${STACK}-${role}`;
      docker(['stop', name], { timeoutMs: 300_000 }); // SIGTERM, then SIGKILL after the declared stop timeout
      assert.equal(
        docker(['inspect', '-f', '{{.State.ExitCode}} {{.State.OOMKilled}}', name]),
        '0 false',
        `${role} exit`,
      );
    }
    timings.stopSeconds = (Date.now() - t) / 1000;
  });

  test('restart on the same volumes: every job succeeds (none lost) and the CLI key still works', async () => {
    for (const c of containers) {
      docker(['stop', String(c.inputs.name)], { timeoutMs: 300_000 });
      docker(['rm', String(c.inputs.name)]);
    }
    await startAll();
    for (const id of jobIds)
      await until(`job ${id} to succeed`, async () =>
        (await api(`/v1/jobs/${id}`)).body.status === 'succeeded' ? true : undefined,
      );
    const list = docker(['exec', `clawstack-${STACK}-api`, 'node', 'keys.js', 'list', '--json']);
    assert.ok(
      (JSON.parse(list.split('\n').pop()!) as { name: string }[]).some((k) => k.name === 'engine-test'),
    );
  });

  test('gpu tier settings without CUDA: the worker serves on CPU after exactly one fallback warning', async () => {
    // The gpu tier's declared worker environment, run in the CPU image on this engine without the
    // NVIDIA device request (no GPU or NVIDIA runtime here): what is left to check is the fallback.
    const gpu = await runProgram(
      dockerConfig({ tier: 'gpu', capacity: 'on-demand', dataServices: 'colocated' }),
      {
        stack: STACK,
      },
    );
    assert.equal(gpu.error, undefined, gpu.error?.message);
    const declaredWorker = ofType(gpu, CONTAINER).find((c) => envOf(c).CLAWSTACK_ROLE === 'worker')!;
    assert.equal(envOf(declaredWorker).EXECUTION_PROVIDER, 'cuda');
    const worker = containers.find((c) => envOf(c).CLAWSTACK_ROLE === 'worker')!;
    const { args, envFile } = createArgs(worker);
    const name = `clawstack-${STACK}-cudacheck`;
    const file = path.join(envDir, 'cudacheck.env');
    writeFileSync(file, envFile.replace(/^EXECUTION_PROVIDER=.*$/m, 'EXECUTION_PROVIDER=cuda'), {
      mode: 0o600,
    });
    const renamed = args
      .map((a, i) => (args[i - 1] === '--name' ? name : a))
      .filter((a, i) => args[i - 1] !== '--network-alias' && a !== '--network-alias');
    docker(['create', '--env-file', file, ...renamed]);
    try {
      docker(['start', name]);
      const logs = () => spawnSync('docker', ['logs', name], { encoding: 'utf8' });
      await healthy(name).catch((e: Error) => {
        throw new Error(`${e.message}\nlogs: ${logs().stdout.slice(-2000)}`);
      });
      const out = logs();
      const fallbacks = `${out.stdout}${out.stderr}`
        .split('\n')
        .filter((l) => l.includes('falling back to cpu'));
      assert.equal(fallbacks.length, 1, fallbacks.join('\n'));
    } finally {
      spawnSync('docker', ['rm', '-f', name]);
    }
  });

  test('app/Dockerfile.gpu builds (needs its CUDA base image in the engine)', async (t) => {
    const from = /^FROM (nvidia\/cuda\S+)/m.exec(
      readFileSync(path.join(ROOT, 'app/Dockerfile.gpu'), 'utf8'),
    )![1]!;
    if (spawnSync('docker', ['image', 'inspect', from]).status !== 0)
      return t.skip(`${from} is not in the engine and cannot be pulled here (Docker Hub is unreachable)`);
    execFileSync(
      'docker',
      [
        'build',
        '-q',
        '--network',
        'host',
        '-f',
        'app/Dockerfile.gpu',
        '-t',
        'clawstack/clawstack:engine-test-cuda',
        '.',
      ],
      {
        cwd: ROOT,
        env: { ...process.env, DOCKER_BUILDKIT: '0' },
        stdio: ['ignore', 'ignore', 'inherit'],
        timeout: 1_800_000,
      },
    );
  });
});

function envOf(r: RecordedResource): Record<string, string> {
  return Object.fromEntries(
    ((r.inputs.envs ?? []) as string[]).map((l) => l.split(/=(.*)/s).slice(0, 2) as [string, string]),
  );
}

if (reason) test(`docker engine test skipped: ${reason}`, { skip: reason }, () => {});
