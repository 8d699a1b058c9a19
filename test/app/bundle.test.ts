/**
 * The production artefacts: the esbuild bundle runs with only its runtime packages beside it, and the
 * Dockerfiles are consistent with the repository and the env contract (no Docker engine here, so the
 * images are checked statically).
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { createRequire } from 'node:module';
import { loadConfig } from '../../app/src/config.ts';
import { call } from '../harness/app.ts';
import { waitFor } from '../harness/wait.ts';
import { startTestServices, type TestServices } from '../harness/services.ts';

const root = resolve('.');
const lock = JSON.parse(readFileSync('package-lock.json', 'utf8')) as {
  packages: Record<
    string,
    { dependencies?: Record<string, string>; optionalDependencies?: Record<string, string> }
  >;
};

/** A package and everything it depends on, as installed (optional ones only when present). */
function closure(names: string[], seen = new Set<string>()): Set<string> {
  for (const name of names) {
    const entry = lock.packages[`node_modules/${name}`];
    if (!entry || seen.has(name) || !existsSync(join(root, 'node_modules', name))) continue;
    seen.add(name);
    closure(
      [...Object.keys(entry.dependencies ?? {}), ...Object.keys(entry.optionalDependencies ?? {})],
      seen,
    );
  }
  return seen;
}

describe('bundle', () => {
  let services: TestServices;
  let dir: string;
  before(async () => {
    services = await startTestServices();
    dir = mkdtempSync(join(tmpdir(), 'clawstack-bundle-'));
  });
  after(async () => {
    await services?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  test("node dist/main.js serves (API and console page) with only dist/package.json's packages (and their deps) and the models beside it", async () => {
    const out = join(dir, 'dist');
    const build = spawnSync(process.execPath, ['scripts/build.mjs', '--outdir', out], { encoding: 'utf8' });
    assert.equal(build.status, 0, build.stderr);
    // The AWS SDK ships in s3-source.cjs alone: the server bundle, read at every start, stays without it.
    const serverInputs = (
      JSON.parse(readFileSync(join(out, 'server.cjs.map'), 'utf8')) as { sources: string[] }
    ).sources;
    assert.ok(serverInputs.some((s) => s.includes('node_modules/express/')));
    assert.deepEqual(
      serverInputs.filter((s) => /node_modules\/@(aws-sdk|smithy)\//.test(s)),
      [],
    );
    // BullMQ too is a file of its own (bullmq.cjs), loaded after the server listens.
    assert.deepEqual(
      serverInputs.filter((s) => s.includes('node_modules/bullmq/')),
      [],
    );
    const pkg = JSON.parse(readFileSync(join(out, 'package.json'), 'utf8')) as {
      type: string;
      dependencies: Record<string, string>;
    };
    assert.equal(pkg.type, 'module');
    assert.deepEqual(Object.keys(pkg.dependencies).sort(), ['onnxruntime-node', 'sharp']);
    const allowed = closure(Object.keys(pkg.dependencies));
    for (const name of allowed) {
      const target = join(out, 'node_modules', name);
      mkdirSync(dirname(target), { recursive: true });
      symlinkSync(join(root, 'node_modules', name), target);
    }
    assert.ok(allowed.size < 40, `runtime closure stays small (${allowed.size} packages)`);
    const databaseUrl = await services.database();
    const child = spawn(process.execPath, ['main.js'], {
      cwd: out,
      env: {
        PATH: process.env.PATH,
        REDIS_URL: services.redisUrl,
        DATABASE_URL: databaseUrl,
        PORT: '0',
        MODEL_SOURCE: join(root, 'models'),
        MODELS: 'text-spam',
        BOOTSTRAP_API_KEY: 'cs_bundle-test-key-0123456789abcdef',
        NODE_COMPILE_CACHE: join(dir, 'compile-cache'),
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let log = '';
    child.stdout.on('data', (d: Buffer) => (log += d.toString()));
    child.stderr.on('data', (d: Buffer) => (log += d.toString()));
    try {
      const url = await new Promise<string>((res, rej) => {
        const t = setTimeout(() => rej(new Error(`bundle did not start:\n${log}`)), 30_000);
        child.stdout.on('data', () => {
          const m = /"url":"(http:[^"]+)","role"/.exec(log);
          if (m) {
            clearTimeout(t);
            res(m[1]!);
          }
        });
        child.once('exit', (code) => rej(new Error(`bundle exited ${code}:\n${log}`)));
      });
      const res = await call(
        url,
        '/v1/text/classify',
        { method: 'POST', json: { text: 'free cash prize, reply now' } },
        'cs_bundle-test-key-0123456789abcdef',
      );
      assert.equal(res.status, 200, log);
      assert.ok(['ham', 'spam'].includes(((await res.json()) as { label: string }).label));
      // A job runs: the server loads dist/bullmq.cjs, with only the runtime packages beside it.
      const job = await call(
        url,
        '/v1/jobs',
        { method: 'POST', json: { task: 'text.classify', input: { text: 'lunch at noon?' } } },
        'cs_bundle-test-key-0123456789abcdef',
      );
      assert.equal(job.status, 202, log);
      const { id } = (await job.json()) as { id: string };
      await waitFor(async () => {
        const j = await call(url, `/v1/jobs/${id}`, {}, 'cs_bundle-test-key-0123456789abcdef');
        return ((await j.json()) as { status: string }).status === 'succeeded' || undefined;
      }, `the job to succeed through the bundle:\n${log}`);
      // the operator console's page ships in dist/console and is served by the bundle
      for (const asset of ['', 'console.js', 'draw.js', 'console.css'])
        assert.equal((await call(url, `/console/${asset}`, {})).status, 200, `/console/${asset}`);
      // /docs works from the bundle alone: the page, the Swagger UI assets it loads, the document.
      const page = await fetch(`${url}/docs`);
      assert.equal(page.status, 200);
      const html = await page.text();
      for (const src of html.matchAll(/(?:src|href)="(\/docs\/[^"]+)"/g)) {
        const asset = await fetch(`${url}${src[1]}`);
        assert.equal(asset.status, 200, src[1]);
        assert.ok((await asset.arrayBuffer()).byteLength > 0, src[1]);
      }
      assert.match(html, /swagger-ui-bundle\.js/);
      const doc = (await (await fetch(`${url}/openapi.json`)).json()) as { openapi: string; paths: object };
      assert.equal(doc.openapi, '3.1.0');
      assert.ok('/v2/models/{model}/infer' in doc.paths);
      // The server bundle turns import() into require(): the S3 model source loads that way.
      const s3 = createRequire(import.meta.url)(join(out, 's3-source.cjs')) as { S3Source?: unknown };
      assert.equal(typeof s3.S3Source, 'function');
      // Refused at once (bad role) while the first inference thread loads: exits 2, never aborts.
      const bad = spawnSync(process.execPath, ['main.js', '--role', 'nope'], {
        cwd: out,
        env: { PATH: process.env.PATH, NODE_COMPILE_CACHE: join(dir, 'compile-cache') },
        encoding: 'utf8',
      });
      assert.deepEqual([bad.status, bad.signal], [2, null], bad.stderr);
      assert.match(bad.stderr, /--role must be one of/);
    } finally {
      if (child.exitCode === null && child.signalCode === null) {
        const exited = new Promise((r) => child.once('exit', r));
        child.kill('SIGTERM');
        await exited;
      }
    }
  });
});

describe('Dockerfiles (static)', () => {
  const ignored = readFileSync('.dockerignore', 'utf8')
    .split('\n')
    .map((l) => l.trim())
    .filter(Boolean);
  for (const [file, expect] of [
    ['app/Dockerfile', { EXECUTION_PROVIDER: 'cpu', MODEL_PRECISION: 'int8' }],
    ['app/Dockerfile.gpu', { EXECUTION_PROVIDER: 'cuda', MODEL_PRECISION: 'fp32' }],
  ] as const) {
    const text = readFileSync(file, 'utf8').replace(/\\\n\s*/g, ' ');
    const lines = text
      .split('\n')
      .map((l) => l.trim())
      .filter((l) => l && !l.startsWith('#'));
    const stages = lines.filter((l) => /^FROM /i.test(l));
    const last = lines.slice(lines.lastIndexOf(stages.at(-1)!));

    test(`${file}: every COPY source from the build context exists and is not .dockerignored`, () => {
      for (const l of lines.filter((x) => /^COPY /i.test(x) && !/--from=/.test(x))) {
        const parts = l.split(/\s+/).slice(1);
        for (const src of parts.slice(0, -1)) {
          assert.ok(existsSync(src), `${file}: COPY ${src} does not exist`);
          assert.ok(!ignored.includes(src), `${file}: COPY ${src} is excluded by .dockerignore`);
        }
      }
    });

    test(`${file}: final stage runs dist's main.js as a non-root user with a health check and the tier's provider`, () => {
      assert.ok(
        last.some((l) => /^USER (?!root)\S+/.test(l)),
        'non-root USER',
      );
      assert.ok(last.some((l) => l === 'CMD ["node", "main.js"]'));
      assert.ok(last.some((l) => /^HEALTHCHECK .*\/v2\/health\/live/.test(l)));
      assert.ok(last.some((l) => l === 'EXPOSE 8080'));
      // main.js is the launcher (app/src/launch.ts); it runs the server bundle (app/src/main.ts) beside it
      assert.match(readFileSync('scripts/build.mjs', 'utf8'), /main: 'app\/src\/launch\.ts'/);
      assert.match(readFileSync('scripts/build.mjs', 'utf8'), /server: 'app\/src\/main\.ts'/);
      const env: Record<string, string> = {};
      for (const l of last.filter((x) => x.startsWith('ENV '))) {
        for (const m of l.slice(4).matchAll(/(\w+)=(\S+)/g)) env[m[1]!] = m[2]!;
      }
      const config = loadConfig(env); // the image's environment satisfies the app's contract
      assert.equal(config.EXECUTION_PROVIDER, expect.EXECUTION_PROVIDER);
      assert.equal(config.MODEL_PRECISION, expect.MODEL_PRECISION);
      assert.equal(config.HOST, '0.0.0.0');
    });
  }

  test('app/Dockerfile.gpu: CUDA 12 + cuDNN runtime base and the CUDA EP libraries checked at build time', () => {
    const text = readFileSync('app/Dockerfile.gpu', 'utf8');
    assert.match(text, /^FROM nvidia\/cuda:12\.[\d.]+-cudnn-runtime-/m);
    assert.match(
      text,
      /ONNXRUNTIME_NODE_INSTALL=cuda12 node node_modules\/onnxruntime-node\/script\/install/,
    );
    assert.match(
      text,
      /test -f node_modules\/onnxruntime-node\/bin\/napi-v6\/linux\/x64\/libonnxruntime_providers_cuda\.so/,
    );
  });
});
