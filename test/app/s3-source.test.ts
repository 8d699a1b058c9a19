/**
 * MODEL_SOURCE=s3://bucket/prefix against a local S3-compatible server (s3rver): download into the cache with
 * sha256 checks, cache reuse on restart (no GET of any model file), re-download of a corrupted cached file,
 * and refusal to start on an object whose bytes do not match the manifest.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { ModelIntegrityError } from '../../app/src/models/registry.ts';
import { manifestSchema, type ModelEntry } from '../../app/src/models/manifest.ts';
import { parseS3Url, S3Source } from '../../app/src/models/s3-source.ts';
import { spawnApp, startTestApp, type TestApp } from '../harness/app.ts';
import { S3RVER_CREDENTIALS, startTestS3, type TestS3 } from '../harness/s3.ts';
import { startTestServices, type TestServices } from '../harness/services.ts';

const MODELS_DIR = join(import.meta.dirname, '../../models');
const BUCKET = 'clawstack-models';
const sha256 = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

// The SDK's standard credential chain and region, as in a deployment (here: s3rver's fixed key pair).
process.env.AWS_ACCESS_KEY_ID = S3RVER_CREDENTIALS.accessKeyId;
process.env.AWS_SECRET_ACCESS_KEY = S3RVER_CREDENTIALS.secretAccessKey;
process.env.AWS_REGION = 'us-east-1';
delete process.env.AWS_PROFILE;
delete process.env.AWS_ENDPOINT_URL;
delete process.env.AWS_ENDPOINT_URL_S3;

/** The shipped manifest's text-spam entries (every precision), as a manifest of their own. */
const manifest = manifestSchema.parse(JSON.parse(readFileSync(join(MODELS_DIR, 'manifest.json'), 'utf8')));
const textEntries = manifest.models.filter((m) => m.name === 'text-spam');
const textManifest = JSON.stringify({ schemaVersion: 1, models: textEntries }, null, 2);

let services: TestServices;
let s3: TestS3;
const scratch = mkdtempSync(join(tmpdir(), 'clawstack-s3-cache-'));

async function upload(prefix: string, mutate?: (file: string, bytes: Buffer) => Buffer) {
  await s3.put(BUCKET, `${prefix}/manifest.json`, textManifest);
  for (const entry of textEntries) {
    const bytes = readFileSync(join(MODELS_DIR, entry.file));
    await s3.put(BUCKET, `${prefix}/${entry.file}`, mutate ? mutate(entry.file, bytes) : bytes);
  }
}

const modelGets = (since: number, prefix: string) =>
  s3.requests
    .slice(since)
    .filter(
      (r) =>
        r.method === 'GET' &&
        r.path.startsWith(`/${BUCKET}/${prefix}/`) &&
        !r.path.endsWith('/manifest.json'),
    );

function s3Env(prefix: string, cacheDir: string, extra: Record<string, string> = {}) {
  return {
    MODELS: 'text-spam',
    MODEL_SOURCE: `s3://${BUCKET}/${prefix}`,
    MODEL_SOURCE_ENDPOINT: s3.endpoint,
    MODEL_CACHE_DIR: cacheDir,
    ...extra,
  };
}

async function classify(app: TestApp, text: string) {
  const res = await app.call('/v1/text/classify', { method: 'POST', json: { text } });
  assert.equal(res.status, 200, await res.clone().text());
  return (await res.json()) as { label: string; model: { name: string; precision: string } };
}

const SPAM =
  'Congratulations!!! You have WON a FREE cruise. Click here now to claim your $1000 prize, limited offer, act now';

before(async () => {
  services = await startTestServices(); // first: a missing prerequisite fails before S3 starts
  s3 = await startTestS3();
  await s3.createBucket(BUCKET);
  await upload('good/v1');
});
after(async () => {
  await s3?.remove();
  await services?.stop();
  rmSync(scratch, { recursive: true, force: true });
});

describe('parseS3Url', () => {
  test('bucket and prefix, with or without slashes', () => {
    assert.deepEqual(parseS3Url('s3://my-bucket/a/b/'), { bucket: 'my-bucket', prefix: 'a/b' });
    assert.deepEqual(parseS3Url('s3://my-bucket'), { bucket: 'my-bucket', prefix: '' });
    assert.throws(() => parseS3Url('https://my-bucket/a'), /s3:\/\/bucket/);
    assert.throws(() => parseS3Url('s3://Bad_Bucket/a'), /bucket name/);
  });

  test('a manifest path that leaves the cache directory is refused before any request', async () => {
    const source = new S3Source(`s3://${BUCKET}/good/v1`, {
      cacheDir: join(scratch, 'traversal'),
      endpoint: s3.endpoint,
    });
    const before = s3.requests.length;
    await assert.rejects(source.localFile('../../etc/passwd', 'a'.repeat(64)), ModelIntegrityError);
    await assert.rejects(source.localFile('/etc/passwd', 'a'.repeat(64)), ModelIntegrityError);
    assert.equal(s3.requests.length, before);
    source.destroy();
  });
});

describe('MODEL_SOURCE=s3://', () => {
  const cacheDir = join(scratch, 'cache');
  let served: ModelEntry;
  let cachedPath: string;

  test('first start downloads into the cache, verifies sha256, becomes ready and classifies', async () => {
    const since = s3.requests.length;
    const app = await startTestApp(services, s3Env('good/v1', cacheDir));
    try {
      const ready = await fetch(`${app.url}/v2/health/ready`);
      assert.equal(ready.status, 200);
      const loaded = app.service.registry.get('text-spam')!;
      served = loaded.entry;
      cachedPath = loaded.path;
      assert.ok(cachedPath.startsWith(join(cacheDir, BUCKET, 'good', 'v1')), cachedPath);
      assert.equal(sha256(readFileSync(cachedPath)), served.sha256);
      assert.equal(app.service.registry.source, `s3://${BUCKET}/good/v1`);
      assert.deepEqual(
        modelGets(since, 'good/v1').map((r) => r.path),
        [`/${BUCKET}/good/v1/${served.file}`],
      );
      assert.ok(
        app.logs.some((l) => l.msg === 'model file: downloaded and verified' && l.file === served.file),
      );
      const body = await classify(app, SPAM);
      assert.equal(body.label, 'spam');
      assert.equal(body.model.precision, served.precision);
      assert.deepEqual(
        readdirSync(join(cacheDir, BUCKET, 'good', 'v1', ...served.file.split('/').slice(0, -1))).filter(
          (f) => f.endsWith('.part'),
        ),
        [],
      );
    } finally {
      await app.close();
    }
  });

  test('restart reuses the verified cache: the manifest is read, no model file is fetched', async () => {
    const since = s3.requests.length;
    const app = await startTestApp(services, s3Env('good/v1', cacheDir));
    try {
      assert.equal((await fetch(`${app.url}/v2/health/ready`)).status, 200);
      assert.deepEqual(modelGets(since, 'good/v1'), []);
      assert.ok(
        s3.requests
          .slice(since)
          .some((r) => r.method === 'GET' && r.path === `/${BUCKET}/good/v1/manifest.json`),
      );
      assert.ok(
        app.logs.some(
          (l) =>
            l.msg === 'model file: using the cached copy (sha256 matches the manifest)' &&
            l.file === served.file,
        ),
      );
      assert.equal((await classify(app, SPAM)).label, 'spam');
    } finally {
      await app.close();
    }
  });

  test('a corrupted cached file is detected and downloaded again', async () => {
    const good = readFileSync(cachedPath);
    const bad = Buffer.from(good);
    const mid = bad.length >> 1;
    bad[mid] = bad[mid]! ^ 0xff;
    writeFileSync(cachedPath, bad);
    const since = s3.requests.length;
    const app = await startTestApp(services, s3Env('good/v1', cacheDir));
    try {
      assert.equal(modelGets(since, 'good/v1').length, 1);
      assert.ok(
        app.logs.some((l) => l.msg === 'model file: cached copy has the wrong sha256, downloading it again'),
      );
      assert.equal(sha256(readFileSync(cachedPath)), served.sha256);
      assert.equal((await classify(app, SPAM)).label, 'spam');
    } finally {
      await app.close();
    }
  });

  test('an object whose bytes do not match the manifest: start-up fails with an integrity error, nothing is cached', async () => {
    await upload('corrupt/v1', (_file, bytes) => {
      const copy = Buffer.from(bytes);
      copy[100] = copy[100]! ^ 0x01;
      return copy;
    });
    const emptyCache = join(scratch, 'corrupt-cache');
    await assert.rejects(startTestApp(services, s3Env('corrupt/v1', emptyCache)), (err: Error) => {
      assert.ok(err instanceof ModelIntegrityError, String(err));
      assert.match(
        err.message,
        new RegExp(
          `s3://${BUCKET}/corrupt/v1/text-spam/.+ has sha256 [0-9a-f]{64} .*manifest says [0-9a-f]{64}: refusing it`,
        ),
      );
      return true;
    });
    const dir = join(emptyCache, BUCKET, 'corrupt', 'v1', 'text-spam', '1');
    assert.deepEqual(
      existsSync(dir) ? readdirSync(dir) : [],
      [],
      'no file (final or .part) is left in the cache',
    );
  });

  test('the app process (app/src/main.ts) exits non-zero on the integrity error and never reports ready', async () => {
    const env = {
      ...s3Env('corrupt/v1', join(scratch, 'corrupt-cache-2')),
      REDIS_URL: services.redisUrl,
      DATABASE_URL: await services.database(),
    };
    await assert.rejects(spawnApp(env), (err: Error) => {
      assert.match(err.message, /app exited with 1/);
      assert.match(err.message, /start-up failed/);
      assert.match(err.message, /has sha256 [0-9a-f]{64} .*manifest says/);
      assert.doesNotMatch(err.message, /clawstack is ready/);
      return true;
    });
  });

  test("the SDK's own AWS_ENDPOINT_URL_S3 works without MODEL_SOURCE_ENDPOINT", async () => {
    process.env.AWS_ENDPOINT_URL_S3 = s3.endpoint;
    const source = new S3Source(`s3://${BUCKET}/good/v1`, { cacheDir: join(scratch, 'env-endpoint') });
    try {
      const since = s3.requests.length;
      const text = await source.manifest();
      assert.equal(text, textManifest);
      const path = await source.localFile(served.file, served.sha256);
      assert.equal(sha256(readFileSync(path)), served.sha256);
      assert.equal(modelGets(since, 'good/v1').length, 1);
    } finally {
      delete process.env.AWS_ENDPOINT_URL_S3;
      source.destroy();
    }
  });
});
