/** The task route's body reader (api/body.ts): the direct path and express.raw give the same bytes. */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { test, type TestContext } from 'node:test';
import { gzipSync } from 'node:zlib';
import express, { type NextFunction, type Request, type Response } from 'express';
import { directLength, rawBody } from '../../app/src/api/body.ts';

test('directLength: only a plain body with a decimal Content-Length within the limit', () => {
  assert.equal(directLength({ 'content-length': '12' }, 100), 12);
  assert.equal(directLength({ 'content-length': '0' }, 100), 0);
  assert.equal(directLength({ 'content-length': '100', 'content-encoding': 'Identity' }, 100), 100);
  assert.equal(directLength({ 'content-length': '101' }, 100), undefined);
  assert.equal(directLength({ 'content-length': '12', 'content-encoding': 'gzip' }, 100), undefined);
  assert.equal(directLength({ 'content-length': '12', 'transfer-encoding': 'chunked' }, 100), undefined);
  assert.equal(directLength({ 'transfer-encoding': 'chunked' }, 100), undefined);
  assert.equal(directLength({ 'content-length': '1e2' }, 1000), undefined);
  assert.equal(directLength({}, 100), undefined);
});

const LIMIT = 1024;
const errors: unknown[] = [];

/** An app with the reader on POST /echo, answering the bytes it read (errors as JSON), on a free port. */
async function serve(t: TestContext) {
  const app = express();
  app.post('/echo', rawBody(LIMIT), (req: Request, res: Response) => {
    res.json({ isBuffer: Buffer.isBuffer(req.body), hex: (req.body as Buffer).toString('hex') });
  });
  app.use((err: { status?: number; message: string }, _req: Request, res: Response, _next: NextFunction) => {
    errors.push(err);
    res.status(err.status ?? 500).json({ error: err.message });
  });
  const server = app.listen(0, '127.0.0.1');
  await once(server, 'listening');
  t.after(() => server.closeAllConnections());
  t.after(() => server.close());
  return (server.address() as AddressInfo).port;
}

/** Sends `parts` one write at a time (with a pause between them) and returns the status and JSON answer. */
async function send(port: number, headers: http.OutgoingHttpHeaders, parts: Buffer[]) {
  const req = http.request({ host: '127.0.0.1', port, path: '/echo', method: 'POST', headers });
  // The answer can come before end(): the server has every byte once Content-Length of them arrived.
  const answered = once(req, 'response') as Promise<[http.IncomingMessage]>;
  for (const p of parts) {
    req.write(p);
    await new Promise((r) => setTimeout(r, 5));
  }
  req.end();
  const [res] = await answered;
  const chunks: Buffer[] = [];
  for await (const c of res) chunks.push(c as Buffer);
  return {
    status: res.statusCode,
    body: JSON.parse(Buffer.concat(chunks).toString()) as Record<string, unknown>,
  };
}

test('a body in several writes with Content-Length arrives whole, as one Buffer', async (t) => {
  const port = await serve(t);
  const parts = [
    Buffer.from('{"text": "hel'),
    Buffer.from([0xe2, 0x82]),
    Buffer.from([0xac]),
    Buffer.from('"}'),
  ];
  const all = Buffer.concat(parts);
  const r = await send(port, { 'content-length': all.length }, parts);
  assert.deepEqual(r, { status: 200, body: { isBuffer: true, hex: all.toString('hex') } });
});

test('an empty body is an empty Buffer', async (t) => {
  const port = await serve(t);
  const r = await send(port, { 'content-length': 0 }, []);
  assert.deepEqual(r, { status: 200, body: { isBuffer: true, hex: '' } });
});

test('chunked and gzip bodies take express.raw and give the same bytes', async (t) => {
  const port = await serve(t);
  const text = Buffer.from('{"text": "chunked"}');
  assert.deepEqual(
    await send(port, { 'transfer-encoding': 'chunked' }, [text.subarray(0, 5), text.subarray(5)]),
    {
      status: 200,
      body: { isBuffer: true, hex: text.toString('hex') },
    },
  );
  const zipped = gzipSync(text);
  assert.deepEqual(
    await send(port, { 'content-encoding': 'gzip', 'content-length': zipped.length }, [zipped]),
    {
      status: 200,
      body: { isBuffer: true, hex: text.toString('hex') },
    },
  );
});

test('a body over the limit is refused with 413 (as body-parser answers) and the server keeps serving', async (t) => {
  const port = await serve(t);
  const big = Buffer.alloc(LIMIT + 1, 0x61);
  const r = await send(port, { 'content-length': big.length }, [big]);
  assert.equal(r.status, 413);
  assert.equal((errors.at(-1) as { type?: string }).type, 'entity.too.large');
  assert.equal((await send(port, { 'content-length': 2 }, [Buffer.from('ok')])).status, 200);
});

test('a client that goes away mid-body leaves the server serving', async (t) => {
  const port = await serve(t);
  const before = errors.length;
  const req = http.request({
    host: '127.0.0.1',
    port,
    path: '/echo',
    method: 'POST',
    headers: { 'content-length': 100 },
  });
  req.on('error', () => {});
  req.write(Buffer.alloc(10));
  await new Promise((r) => setTimeout(r, 20));
  req.destroy();
  for (let i = 0; i < 50 && errors.length === before; i++) await new Promise((r) => setTimeout(r, 10));
  assert.equal((errors.at(-1) as { status?: number }).status, 400);
  assert.equal((await send(port, { 'content-length': 2 }, [Buffer.from('ok')])).status, 200);
});
