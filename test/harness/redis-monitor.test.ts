/**
 * nextCommand() watches a busy Redis without an uncaught error: opening MONITOR while another client
 * sends commands non-stop makes ioredis's monitor() emit "Command queue state error" on a connection
 * with no listener (see redis-monitor.ts) — in about half of the opens on this machine.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { Redis } from 'ioredis';
import { startRedis } from '../../app/src/local/services.ts';
import { nextCommand } from './redis-monitor.ts';

test('nextCommand opens MONITOR 40 times on a Redis busy with PINGs: each sees a PING, none throws', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'clawstack-monitor-'));
  const redis = await startRedis(join(dir, 'redis'));
  const busy = new Redis(redis.url);
  let stop = false;
  const flood = (async () => {
    while (!stop) await Promise.all(Array.from({ length: 20 }, () => busy.ping()));
  })();
  try {
    for (let i = 0; i < 40; i++) {
      const before = Date.now();
      const seen = await nextCommand(redis.url, 'ping');
      assert.ok(seen >= before);
    }
  } finally {
    stop = true;
    await flood;
    busy.disconnect();
    await redis.stop();
    rmSync(dir, { recursive: true, force: true });
  }
});
