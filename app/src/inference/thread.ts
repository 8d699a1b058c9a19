/**
 * An inference thread: holds one ONNX Runtime session per model, loaded once, and runs batches sent by
 * the engine. `session.run` blocks the thread it runs on, which is why it runs here and not on the
 * event loop.
 */
import { parentPort, workerData } from 'node:worker_threads';
import ort from 'onnxruntime-node';
import type { ExecutionProvider } from '../config.ts';
import type { TensorData, TensorMap, TypedArray } from '../modalities/types.ts';
import type { TensorType } from '../models/manifest.ts';
import { packLength, prepareFor, type Prepare } from './prepare.ts';
import { gatherRows, planByLength } from './pack.ts';
import { Preloads, sessionOptions } from './preload.ts';
import type { PreloadHint } from './preload-hint.ts';
import type { FromThread, SessionSpec, ThreadStamps, ToThread } from './protocol.ts';
import { sequenceFor, type Sequence } from './sequence.ts';
import { collate } from './tensors.ts';
import { epochMs } from '../telemetry/startup.ts';

const port = parentPort;
if (!port) throw new Error('inference thread must run in a worker_thread');

const sessions = new Map<string, ort.InferenceSession>();
const prepares = new Map<string, Prepare>();
/** Models whose prepared batches run as sub-batches of similar length (pack.ts), unless the engine says not to. */
const packLengths = new Map<string, (feeds: TensorMap) => number>();

const sequences = new Map<string, Sequence>();
const send = (msg: FromThread, transfer: ArrayBuffer[] = []) => port.postMessage(msg, transfer);
// The imports above (onnxruntime-node's native binding among them) are loaded: safe to terminate now.
send({ type: 'ready', readyAt: epochMs() });
// The first thread gets the last start's sessions to create at once (preload-hint.ts).
// It also hashes their files for the main thread's manifest check (spawn.ts `prehashed`).
const preloads = new Preloads((workerData as { preload?: PreloadHint } | null)?.preload, (path, sha256) =>
  send({ type: 'hashed', path, sha256 }),
);

async function createSession(spec: SessionSpec, provider: ExecutionProvider, intraOpThreads: number) {
  return ort.InferenceSession.create(spec.path, sessionOptions(spec, provider, intraOpThreads));
}

async function load(
  specs: SessionSpec[],
  requested: ExecutionProvider,
  intraOpThreads: number,
  packing: boolean,
) {
  let provider = requested;
  const warnings: string[] = [];
  const timings: { key: string; startedAt: number; endedAt: number }[] = [];
  for (const spec of specs) {
    const prepare = prepareFor(spec.entry);
    if (prepare) prepares.set(spec.key, prepare);
    const length = packing ? packLength(spec.entry) : undefined;
    if (length) packLengths.set(spec.key, length);
    const sequence = sequenceFor(spec.entry);
    if (sequence) sequences.set(spec.key, sequence);
    const preloaded = await preloads.take(spec, provider, intraOpThreads);
    if (preloaded) {
      sessions.set(spec.key, preloaded.session);
      timings.push({
        key: `${spec.key} (preloaded)`,
        startedAt: preloaded.startedAt,
        endedAt: preloaded.endedAt,
      });
      continue;
    }
    const startedAt = epochMs();
    try {
      sessions.set(spec.key, await createSession(spec, provider, intraOpThreads));
    } catch (err) {
      if (provider === 'cpu') throw err;
      warnings.push(
        `execution provider "${provider}" is not available (${(err as Error).message.split('\n')[0]}); falling back to cpu`,
      );
      provider = 'cpu';
      sessions.set(spec.key, await createSession(spec, provider, intraOpThreads));
    }
    timings.push({ key: spec.key, startedAt, endedAt: epochMs() });
  }
  return { provider, warnings, sessions: timings };
}

function toTensorData(t: ort.Tensor): TensorData {
  return { type: t.type as TensorType, data: t.data as TypedArray, dims: [...t.dims] };
}

/** Time in session.run for the current message (a sequence step runs it many times), ms. */
let sessionMs = 0;
/** performance.now() at the first session.run's start and the last one's end of the current message. */
let firstRunAt = 0;
let lastRunEndAt = 0;

async function runSession(session: ort.InferenceSession, feeds: TensorMap): Promise<TensorMap> {
  const ortFeeds: Record<string, ort.Tensor> = {};
  for (const [name, t] of Object.entries(feeds)) ortFeeds[name] = new ort.Tensor(t.type, t.data, t.dims);
  const start = performance.now();
  if (sessionMs === 0) firstRunAt = start;
  const results = await session.run(ortFeeds);
  lastRunEndAt = performance.now();
  sessionMs += lastRunEndAt - start;
  const outputs: TensorMap = {};
  for (const [name, t] of Object.entries(results)) outputs[name] = toTensorData(t);
  return outputs;
}

type RunMessage = Extract<ToThread, { type: 'run' }>;

/** Stage tracing: this message's stamps (featurized = the first session.run's start), epoch ms. */
function threadStamps(receivedAt: number): ThreadStamps {
  const origin = performance.timeOrigin;
  return {
    threadReceived: receivedAt,
    featurized: origin + firstRunAt,
    run: origin + lastRunEndAt,
    posted: epochMs(),
  };
}

/** The run's outputs: its feeds through the model, or its input through the model's sequence step. */
function runMessage(session: ort.InferenceSession, msg: RunMessage): Promise<TensorMap> {
  if ('feeds' in msg) return runSession(session, msg.feeds);
  if ('inputs' in msg) return runPrepared(session, msg.key, msg.inputs);
  const sequence = sequences.get(msg.key);
  if (!sequence) throw new Error(`model ${msg.key} has no sequence step`);
  return sequence(msg.sequence, (feeds) => runSession(session, feeds));
}

/**
 * Raw inputs through the model's prepare step, then the model: one padded batch, or, for a model that
 * packs by length, sub-batches of similar length (pack.ts) whose outputs go back in request order.
 */
async function runPrepared(
  session: ort.InferenceSession,
  key: string,
  inputs: unknown[],
): Promise<TensorMap> {
  const prepare = prepares.get(key);
  if (!prepare) throw new Error(`model ${key} has no prepare step`);
  const feeds = inputs.map(prepare);
  const length = packLengths.get(key);
  const groups = length && feeds.length > 1 ? planByLength(feeds.map(length)) : [];
  if (groups.length <= 1) return runSession(session, collate(feeds));
  const parts: TensorMap[] = [];
  for (const g of groups) parts.push(await runSession(session, collate(g.map((i) => feeds[i]!))));
  return gatherRows(groups, parts, feeds.length);
}

port.on('message', async (msg: ToThread) => {
  if (msg.type === 'load') {
    try {
      send({
        type: 'loaded',
        ...(await load(msg.sessions, msg.provider, msg.intraOpThreads, msg.packByLength ?? true)),
      });
    } catch (err) {
      send({ type: 'load-failed', message: (err as Error).message });
    } finally {
      await preloads.releaseRest();
    }
    return;
  }
  if (msg.type === 'close') {
    // Release native sessions before the thread ends, so that nothing of ORT outlives its thread: the
    // preloads too, once those still being created are done (terminating a thread while ORT creates a
    // session aborts the process).
    await preloads.releaseRest();
    for (const s of sessions.values()) await s.release().catch(() => {});
    sessions.clear();
    send({ type: 'closed' });
    return;
  }
  const session = sessions.get(msg.key);
  if (!session) {
    send({ type: 'run-failed', id: msg.id, message: `model ${msg.key} is not loaded` });
    return;
  }
  try {
    const receivedAt = msg.trace ? epochMs() : 0;
    sessionMs = 0;
    const outputs = await runMessage(session, msg);
    const ms = sessionMs;
    const transfer = new Set(Object.values(outputs).map((t) => t.data.buffer as ArrayBuffer));
    const stamps = msg.trace ? threadStamps(receivedAt) : undefined;
    send({ type: 'result', id: msg.id, outputs, ms, ...(stamps && { stamps }) }, [...transfer]);
  } catch (err) {
    send({ type: 'run-failed', id: msg.id, message: (err as Error).message });
  }
});
