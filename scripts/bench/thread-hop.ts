/**
 * `npx tsx scripts/bench/thread-hop.ts [rounds]`: the cost of waking an idle worker thread and getting an
 * answer back, the engine's hand-off at c=1, by two channels (issue 13, c=1 latency):
 *
 *   postMessage   what the engine uses: MessagePort both ways (the thread idles in its event loop);
 *   atomics       a SharedArrayBuffer flag: the thread blocks in Atomics.wait, the main thread is woken
 *                 by Atomics.waitAsync (its event loop stays free meanwhile).
 *
 * One round trip at a time with a pause between (as requests at c=1 arrive, so the thread is idle each
 * time); prints p50/p99 of each. Numbers are round trips with no payload work.
 */
import { Worker } from 'node:worker_threads';
import { setTimeout as sleep } from 'node:timers/promises';
import { summarize } from './stats.ts';

const ROUNDS = Number(process.argv[2] ?? 2000);
const PAUSE_MS = 1;

const THREAD = `
const { parentPort, workerData } = require('node:worker_threads');
if (workerData.mode === 'postMessage') {
  parentPort.on('message', (m) => parentPort.postMessage(m));
} else {
  const flag = new Int32Array(workerData.sab);
  for (;;) {
    Atomics.wait(flag, 0, 0);
    if (Atomics.load(flag, 0) === 2) break;
    Atomics.store(flag, 0, 0);
    Atomics.store(flag, 1, 1);
    Atomics.notify(flag, 1);
  }
}
`;

async function postMessageHop(): Promise<number[]> {
  const w = new Worker(THREAD, { eval: true, workerData: { mode: 'postMessage' } });
  const out: number[] = [];
  const once = () => new Promise((r) => w.once('message', r));
  for (let i = 0; i < ROUNDS; i++) {
    const t0 = performance.now();
    const got = once();
    w.postMessage(i);
    await got;
    out.push(performance.now() - t0);
    await sleep(PAUSE_MS);
  }
  await w.terminate();
  return out;
}

/** Atomics.waitAsync (V8 has it in Node 20; TypeScript's lib for this target does not declare it). */
const waitAsync = (
  Atomics as unknown as {
    waitAsync(a: Int32Array, i: number, v: number): { async: boolean; value: Promise<string> | string };
  }
).waitAsync;

async function atomicsHop(): Promise<number[]> {
  const sab = new SharedArrayBuffer(8);
  const flag = new Int32Array(sab);
  const w = new Worker(THREAD, { eval: true, workerData: { mode: 'atomics', sab } });
  await sleep(50);
  const out: number[] = [];
  for (let i = 0; i < ROUNDS; i++) {
    const t0 = performance.now();
    Atomics.store(flag, 1, 0);
    const reply = waitAsync(flag, 1, 0);
    Atomics.store(flag, 0, 1);
    Atomics.notify(flag, 0);
    if (reply.async) await reply.value;
    out.push(performance.now() - t0);
    await sleep(PAUSE_MS);
  }
  Atomics.store(flag, 0, 2);
  Atomics.notify(flag, 0);
  await w.terminate();
  return out;
}

const f = (xs: number[]) => {
  const s = summarize(xs.slice(100));
  return `p50 ${(s.p50 * 1000).toFixed(1)} µs, p99 ${(s.p99 * 1000).toFixed(1)} µs (${s.n} round trips)`;
};
const { loadavg } = await import('node:os');
process.stdout.write(`load average ${loadavg().map((x) => x.toFixed(2))}\n`);
for (let rep = 0; rep < 2; rep++) {
  process.stdout.write(`postMessage: ${f(await postMessageHop())}\n`);
  process.stdout.write(`atomics:     ${f(await atomicsHop())}\n`);
}
