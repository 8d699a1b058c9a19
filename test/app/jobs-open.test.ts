/**
 * The jobs open after the server listens (app/src/service.ts, JOBS_OPEN_DELAY_MS): BullMQ, the worker
 * and the queue's recovery are not on the path to the first response. A job request before that loads
 * the queue itself; the worker follows the first response; a drain in that window is clean.
 */
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { bullConnection, JobQueue } from '../../app/src/jobs/queue.ts';
import { firstResponseOr } from '../../app/src/service.ts';
import { createLogger } from '../../app/src/telemetry/logger.ts';
import { startTestApp } from '../harness/app.ts';
import { startTestServices, type TestServices } from '../harness/services.ts';
import { waitFor } from '../harness/wait.ts';

let services: TestServices;
before(async () => {
  services = await startTestServices();
});
after(async () => {
  await services?.stop();
});

const opened = (logs: Record<string, unknown>[]) => logs.some((l) => l.msg === 'job queue open');

interface JobView {
  id: string;
  status: string;
  result?: { label: string };
}

describe('the jobs open after listen', () => {
  test("the queue's errors reach the service's log (BullMQ would print them with console.error)", async () => {
    const lines: Record<string, unknown>[] = [];
    const log = createLogger('info', false, { write: (l: string) => lines.push(JSON.parse(l)) });
    const conn = bullConnection(services.redisUrl, false);
    const queue = new JobQueue(conn, log);
    try {
      queue.queue.emit('error', new Error('queue trouble'));
      const line = lines.find((l) => l.msg === 'job queue error');
      assert.ok(line, 'logged');
      assert.equal((line.err as { message: string }).message, 'queue trouble');
    } finally {
      await queue.close();
      await conn.quit();
    }
  });

  test('a job submitted as the first request, before the queue opened, is queued (202) and runs once the worker opens after that response', async () => {
    const app = await startTestApp(services, {}, { jobsOpenDelayMs: 600_000 });
    try {
      assert.equal(opened(app.logs), false, 'the queue is not open when startService resolves');
      const res = await app.call('/v1/jobs', {
        method: 'POST',
        json: { task: 'text.classify', input: { text: 'FREE money!!! click' } },
      });
      assert.equal(res.status, 202);
      const { id } = (await res.json()) as JobView;
      const done = await waitFor(async () => {
        const j = (await (await app.call(`/v1/jobs/${id}`)).json()) as JobView;
        return j.status === 'succeeded' ? j : undefined;
      }, 'the job to succeed');
      assert.equal(done.result?.label, 'spam');
      assert.ok(opened(app.logs), 'the worker opened after the first response, not after the delay');
    } finally {
      await app.close();
    }
  });

  test('with no request, the queue and worker open by themselves after the delay, and jobs run', async () => {
    const app = await startTestApp(services, {}, { jobsOpenDelayMs: 200 });
    try {
      await waitFor(async () => opened(app.logs) || undefined, 'the job queue to open');
      const res = await app.call('/v1/jobs', {
        method: 'POST',
        json: { task: 'text.classify', input: { text: 'lunch at noon?' } },
      });
      assert.equal(res.status, 202);
      const { id } = (await res.json()) as JobView;
      await waitFor(async () => {
        const j = (await (await app.call(`/v1/jobs/${id}`)).json()) as JobView;
        return j.status === 'succeeded' || undefined;
      }, 'the job to succeed');
    } finally {
      await app.close();
    }
  });

  test('a drain before the queue opened is clean, returns at once and never opens it', async () => {
    const app = await startTestApp(services, {}, { jobsOpenDelayMs: 600_000 });
    const t0 = Date.now();
    const { clean } = await app.service.drain(5000);
    assert.equal(clean, true);
    assert.ok(Date.now() - t0 < 5000, 'the drain did not wait for the pending open');
    assert.equal(opened(app.logs), false);
  });
});

describe('firstResponseOr', () => {
  const listen = async () => {
    const server = createServer((_req, res) => res.end('ok'));
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    return { server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/` };
  };

  test('resolves true after the first response is sent, long before the timeout', async () => {
    const { server, url } = await listen();
    try {
      const { done } = firstResponseOr(server, 600_000);
      let settled = false;
      void done.then(() => (settled = true));
      await new Promise((r) => setTimeout(r, 50));
      assert.equal(settled, false, 'no response yet');
      await (await fetch(url)).text();
      assert.equal(await done, true);
      assert.equal(server.listenerCount('request'), 1, 'its request listener is removed');
    } finally {
      server.close();
    }
  });

  test('resolves true after the timeout without a request; false at once when cancelled', async () => {
    const { server } = await listen();
    try {
      assert.equal(await firstResponseOr(server, 20).done, true);
      const pending = firstResponseOr(server, 600_000);
      pending.cancel();
      assert.equal(await pending.done, false);
      assert.equal(server.listenerCount('request'), 1);
    } finally {
      server.close();
    }
  });
});
