/**
 * `npm run bench:engine-mix`: the inference engine alone (no HTTP), every model loaded, a flood of text
 * requests (64 at a time) with speech and OCR requests running at the same time, as in bench:serve's
 * all-models row. Prints, per task, the requests completed in the window and their latency, and per model
 * the engine calls, the mean batch size and the mean queue wait, so that a light model starving behind a
 * heavy one shows where its time goes. Also speech and OCR alone, for reference.
 *
 * Options: --seconds=N (window, default 5), --threads=N (inference threads, default 1 like the app),
 * --precision=fp32|int8 (default int8 like the app).
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadavg } from 'node:os';
import { servedModules } from '../app/src/modalities/index.ts';
import type { TaskRunner, ServedTask } from '../app/src/modalities/runner.ts';
import { Metrics } from '../app/src/telemetry/metrics.ts';
import { loadMessages } from './bench/inputs.ts';
import { summarize } from './bench/stats.ts';
import { startEngineRunner } from './lib/engine-runner.ts';

const arg = (name: string, dflt: string) =>
  process.argv.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3) ?? dflt;
const SECONDS = Number(arg('seconds', '5'));
const THREADS = Number(arg('threads', '1'));
const PRECISION = arg('precision', 'int8') as 'int8' | 'fp32';
const TEXT_CONNECTIONS = 64;
const OTHER_CONNECTIONS = 2;

interface Flow {
  task: string;
  connections: number;
  input: (i: number) => Promise<unknown>;
}

/** Runs `connections` loops of requests until `until`; the latency of each completed request. */
async function flow(runner: TaskRunner, f: Flow, until: number): Promise<number[]> {
  const served: ServedTask = runner.get(f.task);
  const latencies: number[] = [];
  let n = 0;
  await Promise.all(
    Array.from({ length: f.connections }, async () => {
      while (performance.now() < until) {
        const input = await f.input(n++);
        const start = performance.now();
        await runner.run(served, input);
        // Only requests that completed inside the window count.
        if (performance.now() <= until) latencies.push(performance.now() - start);
      }
    }),
  );
  return latencies;
}

async function modelStats(metrics: Metrics) {
  const pick = async (
    h: { get(): Promise<{ values: { metricName?: string; labels: object; value: number }[] }> },
    suffix: string,
  ) => {
    const out = new Map<string, number>();
    for (const v of (await h.get()).values)
      if (v.metricName?.endsWith(suffix)) {
        const model = String((v.labels as Record<string, unknown>).model);
        out.set(model, (out.get(model) ?? 0) + v.value);
      }
    return out;
  };
  const calls = await pick(metrics.batchSize, '_count');
  const items = await pick(metrics.batchSize, '_sum');
  const waits = await pick(metrics.inferenceQueueWait, '_sum');
  const waitCount = await pick(metrics.inferenceQueueWait, '_count');
  const runSeconds = await pick(metrics.inferenceDuration, '_sum');
  return [...calls.keys()].sort().map((model) => ({
    model,
    calls: calls.get(model)!,
    meanBatch: items.get(model)! / calls.get(model)!,
    meanWaitMs: (1000 * waits.get(model)!) / waitCount.get(model)!,
    runMs: 1000 * runSeconds.get(model)!,
  }));
}

function report(label: string, results: Map<string, number[]>) {
  console.log(`${label}  (load average ${loadavg()[0]!.toFixed(1)} on this shared machine)`);
  for (const [task, lat] of results) {
    const s = summarize(lat);
    console.log(
      `  ${task.padEnd(14)} ${String(s.n).padStart(6)} completed in ${SECONDS} s, p50 ${s.p50.toFixed(1)} ms, p99 ${s.p99.toFixed(1)} ms`,
    );
  }
}

async function run(flows: Flow[], label: string) {
  const metrics = new Metrics('bench');
  const { engine, runner } = await startEngineRunner({ threads: THREADS, precision: PRECISION, metrics });
  // Warm-up: each task once.
  for (const f of flows) await runner.run(runner.get(f.task), await f.input(0));
  metrics.registry.resetMetrics();
  const until = performance.now() + SECONDS * 1000;
  const lat = await Promise.all(flows.map((f) => flow(runner, f, until)));
  report(label, new Map(flows.map((f, i) => [f.task, lat[i]!])));
  for (const m of await modelStats(metrics))
    console.log(
      `  engine ${m.model.padEnd(20)} ${String(m.calls).padStart(6)} calls, mean batch ${m.meanBatch.toFixed(1)}, mean queue wait ${m.meanWaitMs.toFixed(2)} ms, session.run ${(m.runMs / m.calls).toFixed(2)} ms per call (${Math.round(m.runMs)} ms in all)`,
    );
  await engine.close();
}

const fixtures = 'test/fixtures';
const texts = loadMessages();
const speechModule = servedModules({ echoTask: false }).find((m) => m.task === 'speech.detect')!;
const ocrModule = servedModules({ echoTask: false }).find((m) => m.task === 'image.ocr')!;
const wav = readFileSync(join(fixtures, 'speech/speech-16k-mono-s16.wav'));
const png = readFileSync(join(fixtures, 'image/ocr-sans.png'));
const speech: Flow = {
  task: 'speech.detect',
  connections: OTHER_CONNECTIONS,
  input: async () => speechModule.decodeRequest({ contentType: 'audio/wav', body: wav }),
};
const ocr: Flow = {
  task: 'image.ocr',
  connections: OTHER_CONNECTIONS,
  input: async () => ocrModule.decodeRequest({ contentType: 'image/png', body: png }),
};
const text: Flow = {
  task: 'text.classify',
  connections: TEXT_CONNECTIONS,
  input: async (i) => ({ text: texts[i % texts.length]! }),
};

console.log(`engine-mix: ${THREADS} inference thread(s), ${PRECISION}, window ${SECONDS} s`);
await run([speech], 'speech alone');
await run([ocr], 'OCR alone');
await run([text], 'text alone, 64 at a time');
await run([text, speech, ocr], 'text (64 at a time) + speech + OCR (2 each) together');
