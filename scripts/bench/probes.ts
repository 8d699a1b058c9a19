/**
 * Latency probes for the concurrency-1 budget: what one Redis round trip (the rate limiter makes one per
 * request) and one worker_threads round trip (the engine's hand-off to its inference thread, with a
 * typical feature payload) cost on this machine.
 */
import { Worker } from 'node:worker_threads';
import { Redis } from 'ioredis';
import { summarize } from './stats.ts';

export async function redisRoundTrip(url: string, n = 1000): Promise<{ p50: number; p99: number }> {
  const redis = new Redis(url, { maxRetriesPerRequest: 1 });
  try {
    for (let i = 0; i < 100; i++) await redis.ping();
    const ms: number[] = [];
    for (let i = 0; i < n; i++) {
      const t = performance.now();
      await redis.ping();
      ms.push(performance.now() - t);
    }
    const s = summarize(ms);
    return { p50: s.p50, p99: s.p99 };
  } finally {
    redis.disconnect();
  }
}

/** Round trip main → worker → main, posting `ids` (BigInt64Array) + `weights` (Float32Array) of `features` entries. */
export async function threadRoundTrip(features: number, n = 2000): Promise<{ p50: number; p99: number }> {
  const worker = new Worker(
    "const { parentPort } = require('node:worker_threads'); parentPort.on('message', (m) => parentPort.postMessage({ id: m.id, out: new Float32Array(2) }));",
    { eval: true },
  );
  try {
    const ids = new BigInt64Array(features);
    const weights = new Float32Array(features);
    const once = (id: number) =>
      new Promise<void>((res) => {
        const onMsg = (m: { id: number }) => {
          if (m.id !== id) return;
          worker.off('message', onMsg);
          res();
        };
        worker.on('message', onMsg);
        worker.postMessage({
          id,
          feeds: { ids: { data: ids, dims: [1, features] }, weights: { data: weights, dims: [1, features] } },
        });
      });
    for (let i = 0; i < 200; i++) await once(i);
    const ms: number[] = [];
    for (let i = 0; i < n; i++) {
      const t = performance.now();
      await once(1000 + i);
      ms.push(performance.now() - t);
    }
    const s = summarize(ms);
    return { p50: s.p50, p99: s.p99 };
  } finally {
    await worker.terminate();
  }
}
