/**
 * InferenceEngine: a pool of inference threads with one session per model per thread, and dynamic
 * batching in front of it.
 *
 * Batching rule: a model's queued requests are sent to a free thread at once when none of that model's
 * batches is running (an idle service answers without waiting) or when the queue holds a full batch;
 * otherwise they wait up to `maxBatchDelayMs` for others to join. Under load the threads stay busy and
 * requests that arrive meanwhile form the next batch.
 *
 * Across models, a free thread goes to the ready queue whose batches used the least thread time
 * (schedule.ts), so a flood of one model does not starve another; a stateful model's chain of calls
 * runs in the thread as one engine call (`inferSequence`, sequence.ts).
 */
import type { ExecutionProvider } from '../config.ts';
import type { TensorMap } from '../modalities/types.ts';
import type { LoadedModel, ModelRegistry } from '../models/registry.ts';
import type { Logger } from '../telemetry/logger.ts';
import type { Metrics } from '../telemetry/metrics.ts';
import type { FromThread, SessionSpec, ThreadStamps, ToThread } from './protocol.ts';
import { hasPrepare, prepareFor, type Prepare } from './prepare.ts';
import { hasSequence } from './sequence.ts';
import { joinedUsage, nextBatch, type QueueView } from './schedule.ts';
import { collate, split } from './tensors.ts';
import { spawnThread, stopThread, takePrespawned, type SpawnedThread } from './spawn.ts';
import { epochMs, recordPhase } from '../telemetry/startup.ts';
import { writeHint } from './preload-hint.ts';
import { currentStamps, tracing, type StageStamps } from '../telemetry/stages.ts';

export interface EngineOptions {
  threads: number;
  intraOpThreads: number;
  provider: ExecutionProvider;
  maxBatchSize: number;
  maxBatchDelayMs: number;
  /**
   * Run models' prepare steps (featurizing) in the inference threads (default) rather than on the
   * event loop before the hand-off; `false` is kept to measure the difference (bench:serve).
   */
  prepareInThreads?: boolean;
  /**
   * Run a prepared batch of a model that ignores padding as sub-batches of similar length (pack.ts)
   * (default); `false` is kept to measure the difference.
   */
  packByLength?: boolean;
  log: Logger;
  metrics?: Metrics;
}

interface Pending {
  /** Feeds (batch dimension 1), or a raw input the thread prepares (`prepared: false`). */
  feeds?: TensorMap;
  input?: unknown;
  /** `input` is for the model's sequence step (sequence.ts): it runs alone, as one call. */
  sequence?: boolean;
  /** Run without batch-mates: set after a batch failed, so one bad input cannot fail the others. */
  alone?: boolean;
  enqueuedAt: number;
  /** The request's stage stamps (STAGE_TRACE_FILE only). */
  stamps?: StageStamps;
  resolve(outputs: TensorMap): void;
  reject(err: Error): void;
}

interface ModelQueue {
  model: LoadedModel;
  key: string;
  maxBatch: number;
  queue: Pending[];
  running: number;
  /** The model's prepare step, run on this thread when the engine does not prepare in its threads. */
  prepareHere?: Prepare;
  /** Whether the model has a prepare step at all. */
  prepares: boolean;
  /** Whether the model has a sequence step (sequence.ts). */
  sequences: boolean;
  /** Thread time its batches used, ms, for fair scheduling across models (schedule.ts). */
  usedMs: number;
}

interface InferenceThread extends SpawnedThread {
  busy: boolean;
  exited?: boolean;
  calls: Map<number, { resolve(msg: FromThread): void }>;
}

export class InferenceError extends Error {}

function threadEntry(): URL {
  // From TypeScript sources the thread loads through tsx; in the esbuild bundle it is
  // dist/inference-thread.cjs.
  return import.meta.url.endsWith('.ts')
    ? new URL('./thread-dev.mjs', import.meta.url)
    : new URL('./inference-thread.cjs', import.meta.url);
}

export class InferenceEngine {
  private readonly queues = new Map<string, ModelQueue>();
  private timer: NodeJS.Timeout | undefined;
  private nextId = 1;
  /** The model whose batch was given the last free thread (round robin: schedule.ts). */
  private lastServed: string | undefined;
  private closed = false;
  /** The execution provider the sessions actually run on (after any fallback). */
  provider: ExecutionProvider = 'cpu';

  private constructor(
    private readonly threads: InferenceThread[],
    private readonly options: EngineOptions,
  ) {}

  /**
   * Spawns the threads at once (each loads onnxruntime-node), then loads the sessions when the registry
   * is ready, so that thread start-up overlaps with the registry's checksum work.
   */
  static async start(
    registryReady: ModelRegistry | Promise<ModelRegistry>,
    options: EngineOptions,
  ): Promise<InferenceEngine> {
    // The launcher may have started the first thread already (launch.ts): it is further along.
    const threads = Array.from({ length: options.threads }, (_, i) =>
      adoptThread((i === 0 && takePrespawned()) || spawnThread(threadEntry()), options.log),
    );
    const engine = new InferenceEngine(threads, options);
    let registry: ModelRegistry;
    try {
      registry = await registryReady;
    } catch (err) {
      await engine.close();
      throw err;
    }
    const specs: SessionSpec[] = registry.all().map((m) => ({
      key: m.entry.name,
      path: m.path,
      dynamicShapes: m.entry.inputs.some((i) => i.shape.slice(1).includes(-1)),
      entry: m.entry,
    }));
    const inThreads = options.prepareInThreads ?? true;
    for (const m of registry.all()) {
      engine.queues.set(m.entry.name, {
        model: m,
        key: m.entry.name,
        maxBatch: m.entry.batching === 'none' ? 1 : options.maxBatchSize,
        queue: [],
        running: 0,
        prepares: hasPrepare(m.entry),
        sequences: hasSequence(m.entry),
        usedMs: 0,
        prepareHere: inThreads ? undefined : prepareFor(m.entry),
      });
    }
    try {
      const replies = await Promise.all(
        threads.map((t) =>
          call(t, {
            type: 'load',
            sessions: specs,
            provider: options.provider,
            intraOpThreads: options.intraOpThreads,
            packByLength: options.packByLength ?? true,
          }),
        ),
      );
      for (const [i, reply] of replies.entries()) {
        if (reply.type === 'load-failed') throw new InferenceError(`loading models failed: ${reply.message}`);
        if (reply.type !== 'loaded') continue;
        for (const s of reply.sessions)
          recordPhase(`session ${s.key}`, s.startedAt, s.endedAt, `inference-${threads[i]!.worker.threadId}`);
      }
      const first = replies[0];
      const { hintFile } = threads[0] ?? {};
      if (hintFile)
        writeHint(hintFile, {
          sessions: specs,
          provider: options.provider,
          intraOpThreads: options.intraOpThreads,
        });
      if (first?.type === 'loaded') {
        engine.provider = first.provider;
        for (const w of first.warnings) options.log.warn(w);
      }
    } catch (err) {
      await engine.close();
      throw err;
    }
    return engine;
  }

  /** Runs one request (batch dimension 1) of model `name`. */
  infer(name: string, feeds: TensorMap): Promise<TensorMap> {
    const q = this.queues.get(name);
    if (!q) return Promise.reject(new InferenceError(`model ${name} is not loaded`));
    return this.enqueue(q, { feeds });
  }

  /**
   * Runs one raw input (e.g. a text) of model `name` through the model's prepare step and the model:
   * the prepare step runs in the inference thread with the rest of its batch (or here, when the engine
   * was started with `prepareInThreads: false`). Fails for a model without a prepare step.
   */
  inferInput(name: string, input: unknown): Promise<TensorMap> {
    const q = this.queues.get(name);
    if (!q) return Promise.reject(new InferenceError(`model ${name} is not loaded`));
    if (!q.prepares) return Promise.reject(new InferenceError(`model ${name} has no prepare step`));
    if (q.prepareHere) {
      let feeds: TensorMap;
      try {
        feeds = q.prepareHere(input);
      } catch (err) {
        return Promise.reject(new InferenceError((err as Error).message));
      }
      return this.infer(name, feeds);
    }
    return this.enqueue(q, { input });
  }

  /**
   * Runs one input of model `name` through the model's sequence step (sequence.ts) in an inference
   * thread: many dependent model calls as one engine call, which waits for one turn of the threads.
   */
  inferSequence(name: string, input: unknown): Promise<TensorMap> {
    const q = this.queues.get(name);
    if (!q) return Promise.reject(new InferenceError(`model ${name} is not loaded`));
    if (!q.sequences) return Promise.reject(new InferenceError(`model ${name} has no sequence step`));
    return this.enqueue(q, { input, sequence: true });
  }

  /** Whether model `name` runs inputs through `inferSequence`. */
  hasSequence(name: string): boolean {
    return this.queues.get(name)?.sequences ?? false;
  }

  /** Whether model `name` takes raw inputs through `inferInput`. */
  hasPrepare(name: string): boolean {
    return this.queues.get(name)?.prepares ?? false;
  }

  private enqueue(q: ModelQueue, request: Pick<Pending, 'feeds' | 'input' | 'sequence'>): Promise<TensorMap> {
    if (this.closed) return Promise.reject(new InferenceError('inference engine is closed'));
    if (q.queue.length === 0 && q.running === 0) q.usedMs = joinedUsage(q.usedMs, this.views());
    return new Promise((resolve, reject) => {
      const stamps = tracing ? currentStamps() : undefined;
      if (stamps) stamps.submitted = epochMs();
      q.queue.push({ ...request, enqueuedAt: performance.now(), stamps, resolve, reject });
      this.schedule();
    });
  }

  private views(now = performance.now()): QueueView[] {
    return [...this.queues.values()].map((q) => ({
      key: q.key,
      queued: q.queue.length,
      running: q.running,
      maxBatch: q.maxBatch,
      oldestWaitMs: q.queue[0] ? now - q.queue[0].enqueuedAt : 0,
      usedMs: q.usedMs,
    }));
  }

  private schedule() {
    if (this.timer) {
      clearTimeout(this.timer);
      this.timer = undefined;
    }
    for (;;) {
      const thread = this.threads.find((t) => !t.busy);
      if (!thread || !this.anyQueued()) return; // nothing to decide: no views to build
      const next = nextBatch(this.views(), this.lastServed, this.options.maxBatchDelayMs);
      if ('run' in next) {
        this.lastServed = next.run;
        this.dispatch(this.queues.get(next.run)!, thread);
        continue;
      }
      if (next.wakeInMs !== Infinity) this.timer = setTimeout(() => this.schedule(), next.wakeInMs);
      return;
    }
  }

  private dispatch(q: ModelQueue, thread: InferenceThread) {
    const batch = takeBatch(q.queue, q.maxBatch);
    const start = performance.now();
    const { entry } = q.model;
    for (const p of batch)
      this.options.metrics?.inferenceQueueWait.observe({ model: entry.name }, (start - p.enqueuedAt) / 1000);
    const id = this.nextId++;
    let msg: ToThread;
    let transfer: ArrayBuffer[] = [];
    if (batch[0]!.sequence) {
      msg = { type: 'run', id, key: q.key, sequence: batch[0]!.input };
    } else if (batch[0]!.feeds === undefined) {
      msg = { type: 'run', id, key: q.key, inputs: batch.map((p) => p.input) };
    } else {
      try {
        const feeds = collate(batch.map((p) => p.feeds!));
        msg = { type: 'run', id, key: q.key, feeds };
        if (batch.length > 1) transfer = Object.values(feeds).map((t) => t.data.buffer as ArrayBuffer);
      } catch (err) {
        for (const p of batch) p.reject(err as Error);
        return;
      }
    }
    thread.busy = true;
    q.running++;
    if (tracing) traceDispatch(batch, msg);
    call(thread, msg, transfer, id)
      .then((reply) => {
        if (reply.type !== 'result')
          throw new InferenceError(reply.type === 'run-failed' ? reply.message : 'unexpected reply');
        if (reply.stamps) traceReply(batch, reply.stamps);
        const labels = { model: entry.name, version: entry.version };
        this.options.metrics?.inferenceDuration.observe(labels, reply.ms / 1000);
        this.options.metrics?.batchSize.observe(labels, batch.length);
        const parts = split(reply.outputs, batch.length);
        batch.forEach((p, i) => p.resolve(parts[i]!));
      })
      .catch((err: Error) => {
        if (batch.length > 1) {
          // Retry each request alone: the failure belongs to one input, not to all of them.
          for (const p of batch) p.alone = true;
          q.queue.unshift(...batch);
          return;
        }
        for (const p of batch)
          p.reject(err instanceof InferenceError ? err : new InferenceError(err.message));
      })
      .finally(() => {
        thread.busy = false;
        q.running--;
        q.usedMs += performance.now() - start;
        this.schedule();
      });
  }

  private anyQueued(): boolean {
    for (const q of this.queues.values()) if (q.queue.length > 0) return true;
    return false;
  }

  /** Requests queued or running, across models. */
  get inFlight(): number {
    let n = 0;
    for (const q of this.queues.values()) n += q.queue.length + q.running;
    return n;
  }

  async close(): Promise<void> {
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
    for (const q of this.queues.values()) {
      for (const p of q.queue.splice(0)) p.reject(new InferenceError('inference engine is closed'));
    }
    await Promise.all(
      this.threads.map(async (t) => {
        // stopThread waits for a thread still loading onnxruntime-node, asks it to close, then ends it.
        if (await stopThread(t))
          this.options.log.warn(
            'an inference thread was still loading onnxruntime-node after the wait; terminated',
          );
      }),
    );
  }
}

/**
 * The next batch of a queue: its first request alone when that one failed in a batch before or is for
 * the sequence step, otherwise up to `max` requests of the same kind as the first (feeds, or raw inputs
 * the thread prepares).
 */
export function takeBatch<P extends { feeds?: unknown; alone?: boolean; sequence?: boolean }>(
  queue: P[],
  max: number,
): P[] {
  const first = queue[0];
  if (!first || first.alone || first.sequence) return queue.splice(0, 1);
  const raw = first.feeds === undefined;
  const joins = (p: P) => (p.feeds === undefined) === raw && !p.alone && !p.sequence;
  let n = 1;
  while (n < max && n < queue.length && joins(queue[n]!)) n++;
  return queue.splice(0, n);
}

/** Stage tracing: the batch's traced requests are dispatched now; the thread is asked to stamp its part. */
function traceDispatch(batch: Pending[], msg: ToThread & { type: 'run' }) {
  const at = epochMs();
  for (const p of batch) if (p.stamps) p.stamps.dispatched = at;
  if (batch.some((p) => p.stamps)) msg.trace = true;
}

/** Stage tracing: the thread's stamps, and the main thread's receipt, on the batch's traced requests. */
function traceReply(batch: Pending[], stamps: ThreadStamps) {
  const at = epochMs();
  for (const p of batch) if (p.stamps) Object.assign(p.stamps, stamps, { mainReceived: at });
}

function adoptThread(spawned: SpawnedThread, log: Logger): InferenceThread {
  const thread: InferenceThread = Object.assign(spawned, { busy: false, calls: new Map() });
  const { worker } = thread;
  if (spawned.error) log.error({ err: spawned.error }, 'inference thread failed');
  worker.on('message', (msg: FromThread) => {
    if (msg.type === 'ready' || msg.type === 'hashed') return; // spawn.ts tracks them
    const key = msg.type === 'result' || msg.type === 'run-failed' ? msg.id : 0;
    const pending = thread.calls.get(key);
    thread.calls.delete(key);
    if (thread.calls.size === 0) worker.unref();
    pending?.resolve(msg);
  });
  worker.on('error', (err) => {
    log.error({ err }, 'inference thread failed');
    for (const pending of thread.calls.values())
      pending.resolve({ type: 'load-failed', message: err.message });
    thread.calls.clear();
  });
  // A thread that ended (crashed or failed to start) answers nothing: its pending calls fail.
  worker.once('exit', (code) => {
    thread.exited = true;
    for (const pending of thread.calls.values())
      pending.resolve({ type: 'load-failed', message: `inference thread exited (code ${code})` });
    thread.calls.clear();
  });
  return thread;
}

function call(
  thread: InferenceThread,
  msg: ToThread,
  transfer: ArrayBuffer[] = [],
  id = 0,
): Promise<FromThread> {
  return new Promise((resolve) => {
    if (thread.exited) return resolve({ type: 'load-failed', message: 'inference thread has exited' });
    thread.calls.set(id, { resolve });
    // An idle thread must not keep the process alive; one with work pending must.
    thread.worker.ref();
    thread.worker.postMessage(msg, transfer);
  });
}
