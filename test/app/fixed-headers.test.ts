/**
 * helmet's headers worked out once (api/fixed-headers.ts): byte for byte what helmet itself sends, on
 * the app's every kind of answer; and the public GET routers (docs, console assets) skipped by POSTs
 * without changing what any request gets.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { describe, test, type TestContext } from 'node:test';
import express, { type Request, type Response } from 'express';
import helmet from 'helmet';
import { fixedHeaders, recordHeaderEdits } from '../../app/src/api/fixed-headers.ts';
import { useTestApp } from '../harness/app.ts';

const HELMET_OPTIONS = { contentSecurityPolicy: false, crossOriginEmbedderPolicy: false } as const;

/** An app with `headers` in front of one route that answers `ok`, on a free port. */
async function serve(t: TestContext, headers: express.RequestHandler) {
  const app = express();
  app.use(headers);
  app.get('/x', (_req: Request, res: Response) => {
    res.send('ok');
  });
  const server = app.listen(0, '127.0.0.1');
  await once(server, 'listening');
  t.after(() => server.close());
  return (server.address() as AddressInfo).port;
}

/** The raw header lines of GET /x (names as sent, in order), without Date and ETag. */
async function rawHeaders(port: number): Promise<string[]> {
  const res = await new Promise<http.IncomingMessage>((resolve, reject) =>
    http.get({ host: '127.0.0.1', port, path: '/x' }, resolve).on('error', reject),
  );
  res.resume();
  const lines: string[] = [];
  for (let i = 0; i < res.rawHeaders.length; i += 2) {
    const name = res.rawHeaders[i]!;
    if (!/^(date|etag)$/i.test(name)) lines.push(`${name}: ${res.rawHeaders[i + 1]}`);
  }
  return lines;
}

describe('fixed headers', () => {
  test('the recorded helmet headers are sent byte for byte as helmet sends them, X-Powered-By removed', async (t) => {
    const viaHelmet = await rawHeaders(await serve(t, helmet(HELMET_OPTIONS)));
    const recorded = await rawHeaders(
      await serve(t, fixedHeaders(recordHeaderEdits(helmet(HELMET_OPTIONS)))),
    );
    assert.deepEqual(recorded, viaHelmet);
    assert.ok(recorded.includes('X-Frame-Options: SAMEORIGIN'), recorded.join('\n'));
    assert.ok(recorded.includes('Strict-Transport-Security: max-age=31536000; includeSubDomains'));
    assert.ok(!recorded.some((l) => /^x-powered-by:/i.test(l)), 'helmet removes X-Powered-By');
  });

  test('a middleware whose headers depend on the request, or that answers, is refused at start-up', () => {
    assert.throws(
      () =>
        recordHeaderEdits((req, res, next) => {
          res.setHeader('x-echo', String(req.headers['x-a']));
          next();
        }),
      /reads the request/,
    );
    assert.throws(() => recordHeaderEdits((_req, res) => res.end()), /uses res.end/);
    assert.throws(() => recordHeaderEdits(() => {}), /did not call next/);
    assert.throws(() => recordHeaderEdits((_req, _res, next) => next(new Error('no'))), /no/);
  });
});

describe('the app: helmet headers on every answer, public GET routers skipped by POSTs', () => {
  const app = useTestApp();
  const expected = recordHeaderEdits(helmet(HELMET_OPTIONS));

  const assertHelmet = (res: globalThis.Response, what: string) => {
    for (const e of expected) {
      if ('set' in e) assert.equal(res.headers.get(e.set), String(e.value), `${what}: ${e.set}`);
      else assert.equal(res.headers.get(e.remove), null, `${what}: ${e.remove} removed`);
    }
  };

  test('a task answer, a 401, a 404, the docs and the console page all carry them', async () => {
    const ok = await app.call('/v1/text/classify', { method: 'POST', json: { text: 'hello there' } });
    assert.equal(ok.status, 200);
    assertHelmet(ok, 'task 200');
    const unauthorized = await app.call('/v1/text/classify', {
      method: 'POST',
      json: { text: 'x' },
      key: null,
    });
    assert.equal(unauthorized.status, 401);
    assertHelmet(unauthorized, '401');
    const missing = await app.call('/v1/nothing', { method: 'GET' });
    assert.equal(missing.status, 404);
    assertHelmet(missing, '404');
    const spec = await app.call('/openapi.json', { method: 'GET', key: null });
    assert.equal(spec.status, 200);
    assertHelmet(spec, 'openapi.json');
    const page = await app.call('/console/', { method: 'GET', key: null });
    assert.equal(page.status, 200);
    assertHelmet(page, 'console');
    await Promise.all([ok, unauthorized, missing, spec, page].map((r) => r.arrayBuffer()));
  });

  test('POST to a docs or console path is a 4xx JSON error, OPTIONS still lists the GET route', async () => {
    for (const path of ['/openapi.json', '/docs', '/console/index.html']) {
      const res = await app.call(path, { method: 'POST', json: {} });
      assert.equal(res.status, 404, path);
      assert.ok(typeof ((await res.json()) as { error?: unknown }).error === 'string', path);
    }
    const options = await app.call('/openapi.json', { method: 'OPTIONS', key: null });
    assert.equal(options.status, 200);
    assert.match(options.headers.get('allow') ?? '', /GET/);
    await options.arrayBuffer();
  });
});
