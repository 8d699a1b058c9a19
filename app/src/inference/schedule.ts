/**
 * Which model's batch runs next on a free inference thread: the engine keeps one queue per model
 * (Triton and TorchServe do the same) and hands free threads to the models in turn.
 *
 * Readiness (dynamic batching, per model): a model's queue is ready when none of its batches is running
 * (an idle model answers without waiting), when it holds a full batch, or when its oldest request has
 * waited `maxBatchDelayMs`; otherwise it waits for batch-mates, and the engine wakes up when the first
 * queue would turn ready.
 *
 * Fairness (across models): every model's queue counts the thread time its batches used, and a free
 * thread goes to the ready queue that used the least (ties: round robin after the model served last),
 * as start-time fair queuing and Linux's CFS do. A queue that was empty joins at the least count of the
 * busy queues, so idle time earns no credit. Cheap text batches thus run many times for each long OCR
 * batch or speech span, and a request of a model that was idle waits at most for the batches already
 * running plus one batch of each other model at the same count.
 *
 * Before this, the ready queue with the oldest request won: under a flood of text the text queue always
 * held an older request than the one a speech request had just queued, so each of a speech request's
 * 192 model calls waited for the text backlog ahead of it (docs/architecture.md, "Scheduling across
 * models"). With one model loaded, or only one busy, the order is the same as before.
 */

/** What the decision needs to know of one model's queue. */
export interface QueueView {
  key: string;
  /** Requests waiting. */
  queued: number;
  /** Batches of this model running now. */
  running: number;
  maxBatch: number;
  /** How long the oldest waiting request has waited, ms. */
  oldestWaitMs: number;
  /** Thread time this model's batches used (from its joining value: `joinedUsage`), ms. */
  usedMs: number;
}

export type Decision =
  /** Send a batch of this model to the free thread. */
  | { run: string }
  /** Nothing ready: look again in `wakeInMs` (Infinity: nothing is waiting). */
  | { wakeInMs: number };

export function isReady(q: QueueView, maxBatchDelayMs: number): boolean {
  return q.queued > 0 && (q.running === 0 || q.queued >= q.maxBatch || q.oldestWaitMs >= maxBatchDelayMs);
}

/**
 * The next model to run on a free thread: the ready queue that used the least thread time; among
 * equals, the first after `last` (the model given the previous thread) in the order of `queues`.
 */
export function nextBatch(
  queues: readonly QueueView[],
  last: string | undefined,
  maxBatchDelayMs: number,
): Decision {
  const n = queues.length;
  const after = queues.findIndex((q) => q.key === last);
  let best: QueueView | undefined;
  let wakeInMs = Infinity;
  for (let i = 1; i <= n; i++) {
    const q = queues[(after + i + n) % n]!;
    if (isReady(q, maxBatchDelayMs)) {
      if (!best || q.usedMs < best.usedMs) best = q;
    } else if (q.queued > 0) wakeInMs = Math.min(wakeInMs, Math.max(0, maxBatchDelayMs - q.oldestWaitMs));
  }
  return best ? { run: best.key } : { wakeInMs };
}

/**
 * The usage count of a queue that gets a request while it has none queued or running: its own count,
 * raised to the least count of the busy queues, so that time spent idle is no credit against them.
 */
export function joinedUsage(own: number, queues: readonly QueueView[]): number {
  let floor = Infinity;
  for (const q of queues) if (q.queued > 0 || q.running > 0) floor = Math.min(floor, q.usedMs);
  return floor === Infinity ? own : Math.max(own, floor);
}
