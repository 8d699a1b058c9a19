/**
 * Slow clients (slowloris): headers or a body sent a byte at a time, and idle keep-alive connections,
 * are cut off by the server's explicit timeouts, while other clients are served meanwhile.
 */
import assert from 'node:assert/strict';
import { connect, type Socket } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, test } from 'node:test';
import { serverTimeouts } from '../../app/src/api/timeouts.ts';
import { useTestApp } from '../harness/app.ts';

describe('serverTimeouts', () => {
  test('headers never get longer than the whole request; Node checks often enough to honour both', () => {
    const t = serverTimeouts({
      HTTP_REQUEST_TIMEOUT_MS: 5000,
      HTTP_HEADERS_TIMEOUT_MS: 60_000,
      HTTP_KEEPALIVE_TIMEOUT_MS: 65_000,
    });
    assert.deepEqual(t, {
      requestTimeout: 5000,
      headersTimeout: 5000,
      keepAliveTimeout: 65_000,
      connectionsCheckingInterval: 500,
    });
    const fast = serverTimeouts({
      HTTP_REQUEST_TIMEOUT_MS: 300,
      HTTP_HEADERS_TIMEOUT_MS: 200,
      HTTP_KEEPALIVE_TIMEOUT_MS: 100,
    });
    assert.equal(fast.connectionsCheckingInterval, 100);
    assert.equal(fast.headersTimeout, 200);
  });
});

const app = useTestApp({
  HTTP_HEADERS_TIMEOUT_MS: '1000',
  HTTP_REQUEST_TIMEOUT_MS: '2000',
  HTTP_KEEPALIVE_TIMEOUT_MS: '1000',
});

/** Opens a raw connection; resolves with what the server sent once it closes the connection. */
function rawClient() {
  const { port } = new URL(app.url);
  const socket: Socket = connect(Number(port), '127.0.0.1');
  let received = '';
  socket.on('data', (d: Buffer) => (received += d.toString()));
  socket.on('error', () => {});
  const closed = new Promise<{ received: string; at: number }>((res) =>
    socket.once('close', () => res({ received, at: Date.now() })),
  );
  return { socket, closed };
}

/** Writes `text` one byte every `everyMs` until the server closes the connection. */
async function trickle(socket: Socket, text: string, everyMs: number) {
  for (const ch of text) {
    if (socket.destroyed || socket.writableEnded) return;
    socket.write(ch);
    await sleep(everyMs);
  }
}

const GUARD_MS = 15_000; // far beyond the timeouts: only a server that never cuts the client reaches it

test('headers sent a byte at a time: 408 and the connection closes after the headers timeout', async () => {
  const { socket, closed } = rawClient();
  const start = Date.now();
  void trickle(socket, `POST /v1/text/classify HTTP/1.1\r\nHost: x\r\n${'X-Slow: y\r\n'.repeat(500)}`, 50);
  const guard = sleep(GUARD_MS).then(() => undefined);
  const result = await Promise.race([closed, guard]);
  socket.destroy();
  assert.ok(result, 'the server never closed the slow connection');
  assert.match(result.received, /^HTTP\/1\.1 408/);
  console.log(`slow headers cut off after ${result.at - start} ms (headers timeout 1000 ms)`);
});

test('a body sent a byte at a time: cut off after the request timeout; others are served meanwhile', async () => {
  const { socket, closed } = rawClient();
  const start = Date.now();
  const body = JSON.stringify({ text: 'x'.repeat(500) });
  socket.write(
    `POST /v1/text/classify HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${app.key}\r\n` +
      `Content-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n`,
  );
  void trickle(socket, body, 50);
  const other = await app.call('/v1/text/classify', { method: 'POST', json: { text: 'meanwhile' } });
  assert.equal(other.status, 200);
  const result = await Promise.race([closed, sleep(GUARD_MS).then(() => undefined)]);
  socket.destroy();
  assert.ok(result, 'the server never closed the slow connection');
  assert.ok(result.at - start < 500 * 50, 'closed before the body could have finished');
  console.log(`slow body cut off after ${result.at - start} ms (request timeout 2000 ms)`);
});

test('an idle keep-alive connection is closed after the keep-alive timeout', async () => {
  const { socket, closed } = rawClient();
  socket.write('GET /v2/health/live HTTP/1.1\r\nHost: x\r\nConnection: keep-alive\r\n\r\n');
  const start = Date.now();
  const result = await Promise.race([closed, sleep(GUARD_MS).then(() => undefined)]);
  socket.destroy();
  assert.ok(result, 'the idle connection stayed open');
  assert.match(result.received, /^HTTP\/1\.1 200/);
  console.log(`idle keep-alive closed after ${result.at - start} ms (keep-alive timeout 1000 ms)`);
});
