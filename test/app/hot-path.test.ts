/**
 * The request path's cheaper equivalents decide exactly as what they replace: the single-text check
 * without zod, JSON answers to POSTs without res.send's ETag.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { test } from 'node:test';
import express, { type RequestHandler } from 'express';
import { sendPostJson } from '../../app/src/api/json.ts';
import { BadRequestError } from '../../app/src/errors.ts';
import { plainSingle, textClassify } from '../../app/src/modalities/text/classify.ts';

/** The headers of one response from an Express app that runs `middleware`, then answers with `answer`. */
async function headersOf(middleware: RequestHandler, answer: RequestHandler) {
  const app = express();
  app.disable('x-powered-by');
  app.use(middleware);
  app.post('/', answer);
  const server = app.listen(0, '127.0.0.1');
  await once(server, 'listening');
  try {
    const res = await fetch(`http://127.0.0.1:${(server.address() as AddressInfo).port}/`, {
      method: 'POST',
    });
    const body = await res.text();
    const headers = Object.fromEntries([...res.headers].filter(([k]) => k !== 'date'));
    return { headers, body, status: res.status };
  } finally {
    server.close();
  }
}

test('sendPostJson answers what res.json answers, without the ETag', async () => {
  const value = { label: 'spam', scores: { ham: 0.25, spam: 0.75 }, note: 'é ✓ "quoted"' };
  const none: RequestHandler = (_req, _res, next) => next();
  const ours = await headersOf(none, (_req, res) => sendPostJson(res, value));
  const theirs = await headersOf(none, (_req, res) => void res.json(value));
  assert.equal(ours.body, theirs.body);
  assert.equal(ours.status, theirs.status);
  assert.ok(theirs.headers.etag);
  const { etag: _etag, ...rest } = theirs.headers;
  assert.deepEqual(ours.headers, rest);
});

/** What decodeRequest gives for a body: the value, or the 400's message. */
function decoded(body: string): unknown {
  try {
    return textClassify.decodeRequest({ contentType: 'application/json', body: Buffer.from(body) });
  } catch (err) {
    assert.ok(err instanceof BadRequestError, String(err));
    return `400 ${err.message}`;
  }
}

test('classify: the single-text check without zod accepts exactly what zod accepts; every error is zod’s', () => {
  const long = 'x'.repeat(1_000_000);
  const cases: [string, unknown][] = [
    ['{"text":"hello"}', { text: 'hello' }],
    [`{"text":"${long}"}`, { text: long }],
    [`{"text":"${long}x"}`, '400 text: Too big: expected string to have <=1000000 characters'],
    ['{"text":""}', '400 text: must not be empty'],
    ['{"text":42}', '400 text: Invalid input: expected string, received number'],
    ['{"text":"a","extra":1}', '400 body: Unrecognized key: "extra"'],
    ['{"text":"a","__proto__":{"x":1}}', '400 body: Unrecognized key: "__proto__"'],
    ['{}', '400 text: Invalid input: expected string, received undefined'],
    ['[{"text":"a"}]', '400 body: Invalid input: expected object, received array'],
    ['null', '400 body: Invalid input: expected object, received null'],
    ['"text"', '400 body: Invalid input: expected object, received string'],
    ['{"texts":["a","b"]}', { texts: ['a', 'b'] }],
    ['{"text":', /^400 malformed JSON: /],
  ];
  for (const [body, want] of cases) {
    const got = decoded(body);
    if (want instanceof RegExp) assert.match(String(got), want, body);
    else assert.deepEqual(got, want, body.slice(0, 60));
  }
  // The fast path takes the common case and nothing else.
  assert.deepEqual(plainSingle({ text: 'a' }), { text: 'a' });
  for (const v of [{ text: '' }, { text: 'a', b: 1 }, Object.create({ text: 'a' }), [], null, 'a'])
    assert.equal(plainSingle(v), undefined);
});
