/**
 * (b) The naive server a user would write: Express, express.json(), one InferenceSession, and an
 * `await session.run` per request on the event loop — no batching, no threads, no auth, no rate limit,
 * no logging. Same model, same featurizer and same session options as the app.
 * STAGE_TRACE_FILE: stamps its stages as clawstack does (app/src/telemetry/stages.ts), for --only=stages.
 *
 *   PORT=0 npx tsx scripts/bench/naive-server.ts   → prints "listening <port>"
 */
import express from 'express';
import type { AddressInfo } from 'node:net';
import ort from 'onnxruntime-node';
import { hashTextFeatures, loadModel } from './inputs.ts';
import { createSession } from './raw.ts';
import { enableStageTrace, stampOn, traceRequest, tracing } from '../../app/src/telemetry/stages.ts';

const model = loadModel();
const session = await createSession(model, Number(process.env.ORT_INTRA_OP_THREADS ?? 1));

if (process.env.STAGE_TRACE_FILE) enableStageTrace(process.env.STAGE_TRACE_FILE);

const app = express();
if (tracing)
  app.use((_req, res, next) => {
    traceRequest(res, (done) => res.once('finish', done));
    next();
  });
app.use(express.json({ limit: '10mb' }));
app.post('/v1/text/classify', async (req, res) => {
  if (tracing) stampOn(res, 'parsed');
  const text = (req.body as { text?: unknown }).text;
  if (typeof text !== 'string' || text.length === 0) {
    res.status(400).json({ error: 'text must be a non-empty string' });
    return;
  }
  const f = hashTextFeatures(text, model.spec);
  const n = Math.max(1, f.ids.length);
  if (tracing) stampOn(res, 'featurized');
  const out = await session.run({
    ids: new ort.Tensor('int64', f.ids.length ? f.ids : new BigInt64Array(1), [1, n]),
    weights: new ort.Tensor('float32', f.weights.length ? f.weights : new Float32Array(1), [1, n]),
  });
  if (tracing) stampOn(res, 'run');
  const probs = out[model.outputName]!.data as Float32Array;
  let best = 0;
  const scores: Record<string, number> = {};
  model.labels.forEach((label, i) => {
    scores[label] = probs[i]!;
    if (probs[i]! > probs[best]!) best = i;
  });
  if (tracing) stampOn(res, 'resultReady');
  res.json({ label: model.labels[best], scores });
  if (tracing) stampOn(res, 'written');
});

const server = app.listen(Number(process.env.PORT ?? 0), '127.0.0.1', () => {
  process.stdout.write(`listening ${(server.address() as AddressInfo).port}\n`);
});
const stop = () => server.close(() => process.exit(0));
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
