/**
 * A model directory with one model's file missing or corrupted, with real files: the other models
 * still serve; the missing one is named (file and the command that publishes the models) in an
 * error log line, in readiness, and in a 503 for every way of reaching it. An empty directory or
 * S3 prefix is a start-up error that says how to publish the models.
 */
import assert from 'node:assert/strict';
import { cpSync, mkdtempSync, readFileSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { Manifest } from '../../app/src/models/manifest.ts';
import { DirectorySource, ModelRegistry } from '../../app/src/models/registry.ts';
import { S3Source } from '../../app/src/models/s3-source.ts';
import { startTestApp, type TestApp } from '../harness/app.ts';
import { startTestServices, type TestServices } from '../harness/services.ts';
import { assertDocumented } from './helpers/openapi-responses.ts';

const dirs: string[] = [];
after(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

const SPAM = 'text-spam/1/model.int8.onnx';
const VAD = 'silero-vad/v6-16k-op15/model.onnx';

/** A copy of the shipped text-spam (int8) and silero-vad models, then `damage` applied to it. */
function modelDir(damage: (dir: string) => void): string {
  const dir = mkdtempSync(join(tmpdir(), 'clawstack-models-'));
  dirs.push(dir);
  const manifest = JSON.parse(readFileSync('models/manifest.json', 'utf8')) as Manifest;
  manifest.models = manifest.models.filter((m) => m.file === SPAM || m.file === VAD);
  for (const f of manifest.models.flatMap((m) => [m.file, ...m.assets.map((a) => a.file)]))
    cpSync(resolve('models', f), join(dir, f));
  writeFileSync(join(dir, 'manifest.json'), JSON.stringify(manifest));
  damage(dir);
  return dir;
}

test('a missing file: the other model loads, the missing one is listed with its path', async () => {
  const dir = modelDir((d) => unlinkSync(join(d, VAD)));
  const reg = await ModelRegistry.load(new DirectorySource(dir), { precision: 'int8' });
  assert.ok(reg.get('text-spam'));
  assert.equal(reg.get('silero-vad'), undefined);
  assert.equal(reg.unavailable.length, 1);
  const [missing] = reg.unavailable;
  assert.deepEqual(
    { ...missing, reason: undefined },
    {
      name: 'silero-vad',
      version: 'v6-16k-op15',
      task: 'speech.detect',
      file: join(dir, VAD),
      reason: undefined,
    },
  );
  assert.match(missing!.reason, /cannot be read: ENOENT/);
});

test('a corrupted file is refused and listed; a directory without a manifest says how to publish', async () => {
  const dir = modelDir((d) => {
    const bytes = readFileSync(join(d, SPAM));
    bytes.fill(0x5a, 1000, 2000);
    writeFileSync(join(d, SPAM), bytes);
  });
  const reg = await ModelRegistry.load(new DirectorySource(dir), { precision: 'int8' });
  assert.deepEqual(
    reg.unavailable.map((u) => u.name),
    ['text-spam'],
  );
  assert.match(reg.unavailable[0]!.reason, /refusing it/);
  assert.ok(reg.get('silero-vad'));

  const empty = mkdtempSync(join(tmpdir(), 'clawstack-models-'));
  dirs.push(empty);
  await assert.rejects(
    ModelRegistry.load(new DirectorySource(empty), { precision: 'int8' }),
    new RegExp(
      `no model manifest at ${join(empty, 'manifest.json')} \\(ENOENT\\); copy the repository's models/`,
    ),
  );
});

test("an S3 source's publish command is the one the docs give, for its own bucket and prefix", () => {
  const source = new S3Source('s3://clawstack-prod-bucket/models', { cacheDir: join(tmpdir(), 'unused') });
  assert.equal(source.publishHint, 'aws s3 sync models/ s3://clawstack-prod-bucket/models/ --delete');
  assert.equal(source.where(VAD), `s3://clawstack-prod-bucket/models/${VAD}`);
  source.destroy();
});

describe('a serving app with one model missing', () => {
  let services: TestServices;
  let app: TestApp;
  let dir: string;

  before(async () => {
    services = await startTestServices();
    dir = modelDir((d) => unlinkSync(join(d, VAD)));
    app = await startTestApp(services, { MODEL_SOURCE: dir, MODELS: 'text-spam,silero-vad' });
  });
  after(async () => {
    await app?.close();
    await services?.stop();
  });

  test('the model that is present serves', async () => {
    const res = await app.call('/v1/text/classify', { method: 'POST', json: { text: 'WIN a FREE cruise' } });
    assert.equal(res.status, 200, await res.text());
  });

  test('readiness stays ready and names the missing model and its file (as /openapi.json says)', async () => {
    const res = await fetch(`${app.url}/v2/health/ready`);
    assert.equal(res.status, 200);
    assert.deepEqual(await assertDocumented('GET', '/v2/health/ready', res), {
      ready: true,
      unavailableModels: [{ name: 'silero-vad', version: 'v6-16k-op15', file: join(dir, VAD) }],
    });
  });

  test('the task endpoint, OIP v2 and a job for it answer 503 JSON naming the model', async () => {
    const wav = readFileSync('test/fixtures/speech/speech-16k-mono-s16.wav');
    const calls: [path: string, init: Parameters<TestApp['call']>[1]][] = [
      ['/v1/speech/detect', { method: 'POST', body: wav, headers: { 'content-type': 'audio/wav' } }],
      [
        '/v2/models/silero-vad/infer',
        {
          method: 'POST',
          json: {
            inputs: [{ name: 'input', datatype: 'FP32', shape: [1, 512], data: new Array(512).fill(0) }],
          },
        },
      ],
      ['/v2/models/silero-vad', { method: 'GET' }],
      ['/v2/models/silero-vad/ready', { method: 'GET' }],
      [
        '/v1/jobs',
        { method: 'POST', json: { task: 'speech.detect', input: { audio: wav.toString('base64') } } },
      ],
    ];
    for (const [path, init] of calls) {
      const res = await app.call(path, init);
      assert.equal(res.status, 503, `${path}: ${await res.clone().text()}`);
      const body = (await assertDocumented(init!.method!, path, res)) as { error: string };
      assert.match(body.error, /model "silero-vad" is unavailable/);
      assert.ok(body.error.includes(join(dir, VAD)), body.error);
    }
  });

  test('the repository index lists the missing model UNAVAILABLE, with the reason naming its file', async () => {
    const res = await app.call('/v2/repository/index', { method: 'POST' });
    const index = (await assertDocumented('POST', '/v2/repository/index', res)) as {
      name: string;
      state: string;
      reason: string;
    }[];
    assert.deepEqual(
      index.map((m) => [m.name, m.state]),
      [
        ['text-spam', 'READY'],
        ['silero-vad', 'UNAVAILABLE'],
      ],
    );
    assert.ok(index[1]!.reason.includes(join(dir, VAD)), index[1]!.reason);
  });

  test('the console lists the missing model as not ready, with the reason naming its file', async () => {
    const res = await app.call('/console/api/status');
    const body = (await assertDocumented('GET', '/console/api/status', res)) as {
      models: { name: string; ready: boolean; error?: string }[];
    };
    assert.deepEqual(
      body.models.map((m) => [m.name, m.ready]),
      [
        ['text-spam', true],
        ['silero-vad', false],
      ],
    );
    const vad = body.models.find((m) => m.name === 'silero-vad')!;
    assert.ok(vad.error?.includes(join(dir, VAD)), vad.error);
  });

  test('one error log line names the model, its file and how to publish the models', () => {
    const lines = app.logs.filter((l) => l.level === 50 && l.model === 'silero-vad');
    assert.equal(lines.length, 1);
    assert.equal(lines[0]!.file, join(dir, VAD));
    assert.match(String(lines[0]!.publish), /copy the repository's models\//);
  });
});
