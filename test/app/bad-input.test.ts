/** Bad input gets a 4xx JSON error and loses nothing; the process keeps serving. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { useTestApp } from '../harness/app.ts';

const app = useTestApp({ BODY_LIMIT_BYTES: '65536' });

async function expectError(res: Response, status: number, message: RegExp) {
  assert.equal(res.status, status);
  assert.match(res.headers.get('content-type') ?? '', /application\/json/);
  const body = (await res.json()) as { error: string };
  assert.equal(typeof body.error, 'string');
  assert.match(body.error, message);
}

const post = (path: string, body: string | Buffer, type = 'application/json') =>
  app.call(path, { method: 'POST', body, headers: { 'content-type': type } });

test('malformed JSON → 400 on every JSON endpoint', async () => {
  for (const path of ['/v1/text/classify', '/v1/jobs', '/v2/models/text-spam/infer']) {
    await expectError(await post(path, '{"text": '), 400, /malformed JSON/);
  }
});

test('wrong types → 400 naming the field', async () => {
  await expectError(await post('/v1/text/classify', JSON.stringify({ text: 42 })), 400, /^text: /);
  await expectError(
    await post('/v1/text/classify', JSON.stringify({ text: '' })),
    400,
    /^text: must not be empty/,
  );
  await expectError(await post('/v1/text/classify', JSON.stringify({ text: 'x', extra: 1 })), 400, /extra/);
  await expectError(await post('/v1/text/classify', JSON.stringify([1, 2])), 400, /body/);
  await expectError(
    await post('/v1/jobs', JSON.stringify({ task: 'text.classify', input: { text: 1 } })),
    400,
    /^input\.text/,
  );
  await expectError(
    await post(
      '/v1/jobs',
      JSON.stringify({ task: 'text.classify', input: { text: 'a' }, priority: 'urgent' }),
    ),
    400,
    /^priority/,
  );
  await expectError(await post('/v1/jobs', JSON.stringify({ task: 'text.classify' })), 400, /^input/);
  await expectError(
    await post('/v1/jobs', JSON.stringify({ task: 'video.dance', input: {} })),
    400,
    /^task: unknown task/,
  );
});

test('huge bodies → 413 naming the limit', async () => {
  const big = JSON.stringify({ text: 'a'.repeat(70_000) });
  for (const path of ['/v1/text/classify', '/v1/jobs', '/v2/models/text-spam/infer']) {
    await expectError(await post(path, big), 413, /exceeds the limit of 65536 bytes/);
  }
});

test('wrong content type → 415 listing what is accepted', async () => {
  await expectError(
    await post('/v1/text/classify', 'text=hi', 'application/x-www-form-urlencoded'),
    415,
    /accepts application\/json/,
  );
  await expectError(await post('/v1/jobs', 'task=x', 'text/plain'), 415, /application\/json/);
  await expectError(
    await post('/v2/models/text-spam/infer', '<x/>', 'application/xml'),
    415,
    /application\/json/,
  );
});

test('unknown task, model, job and route → 404 JSON', async () => {
  await expectError(await post('/v1/video/dance', '{}'), 404, /unknown task "video.dance"/);
  await expectError(await post('/v2/models/gpt-9/infer', '{}'), 404, /unknown model "gpt-9"/);
  await expectError(await app.call('/v1/jobs/not-a-uuid'), 404, /no job/);
  await expectError(await app.call('/v1/jobs/7b0d5a6e-8f44-4c61-9a55-3f3d0d7b8f00'), 404, /no job/);
  await expectError(await app.call('/nope'), 404, /no route for GET \/nope/);
});

test('bad query parameters → 400', async () => {
  await expectError(await app.call('/v1/jobs?limit=0'), 400, /^limit/);
  await expectError(await app.call('/v1/jobs?status=exploded'), 400, /^status/);
});

test('after all of that the process still serves', async () => {
  const res = await app.call('/v1/text/classify', { method: 'POST', json: { text: 'still alive?' } });
  assert.equal(res.status, 200);
  assert.equal((await app.call('/v2/health/ready', { key: null })).status, 200);
});
