/**
 * Write coalescing ("group commit"): single-row writes that arrive while a write of their kind is on its
 * way to Postgres wait and go together, in one multi-row statement, when it returns. Each caller's
 * promise settles only when the statement holding its row has committed, so a caller that was told
 * "done" has a durable row, exactly as with one statement per row.
 *
 * Under light load nothing is in flight and a row goes at once (on the next turn of the event loop, so
 * rows arriving in the same turn share it); under heavy load the batches grow with the round trip, which
 * is what keeps the statements per job small.
 */
import { isDependencyError } from '../health/dependencies.ts';

export interface FlushPolicy {
  /** Most rows in one statement. */
  maxRows: number;
  /** Statements of this kind on their way at once (each holds one pool connection). */
  maxInFlight: number;
  /** With a statement in flight, rows wait at most this long for it before a second one goes. */
  maxDelayMs: number;
}

export const DEFAULT_FLUSH_POLICY: FlushPolicy = { maxRows: 500, maxInFlight: 2, maxDelayMs: 5 };

/**
 * Group commit without a delay window: one statement at a time, and the rows that arrived while it was
 * on its way go in the next one as soon as it returns. The worker's claims and results: a job slot waits
 * at most for the statement in flight and its own, and the statements per job shrink as load grows.
 */
export const GROUP_COMMIT_POLICY: FlushPolicy = { maxRows: 500, maxInFlight: 1, maxDelayMs: 0 };

export type FlushDecision =
  | { kind: 'flush'; rows: number }
  | { kind: 'wait'; ms: number }
  /** Nothing to do until a row arrives or a statement returns. */
  | { kind: 'idle' };

/**
 * What to do with `pending` rows now: flush when nothing is in flight, when a batch is full, or when the
 * oldest row has waited `maxDelayMs`; never more than `maxInFlight` statements at once.
 */
export function decideFlush(
  state: { pending: number; inFlight: number; oldestWaitMs: number },
  policy: FlushPolicy,
): FlushDecision {
  if (state.pending === 0 || state.inFlight >= policy.maxInFlight) return { kind: 'idle' };
  const rows = Math.min(state.pending, policy.maxRows);
  if (state.inFlight === 0 || state.pending >= policy.maxRows || state.oldestWaitMs >= policy.maxDelayMs)
    return { kind: 'flush', rows };
  return { kind: 'wait', ms: policy.maxDelayMs - state.oldestWaitMs };
}

/**
 * When a multi-row statement failed, whether to run its rows one by one: yes for an error in the data
 * (one bad row, a deadlock) so that only that row's caller fails; no when Postgres is unreachable, which
 * every single row would meet again.
 */
export function retrySingly(err: unknown, rows: number): boolean {
  return rows > 1 && !isDependencyError(err);
}

interface Waiting<I, O> {
  item: I;
  since: number;
  resolve: (out: O) => void;
  reject: (err: unknown) => void;
}

/** A pushed item, and a way to replace it while no statement has taken it yet. */
export interface PendingWrite<I, O> {
  done: Promise<O>;
  amend(next: I): boolean;
}

/**
 * Coalesces `push(item)` calls into `write(items)` calls. `write` returns one output per item, in order
 * (e.g. the row a conditional UPDATE changed, or undefined when it changed none).
 */
export class WriteCoalescer<I, O> {
  private readonly pending: Waiting<I, O>[] = [];
  private inFlight = 0;
  private timer: NodeJS.Timeout | undefined;
  private scheduled = false;

  constructor(
    private readonly write: (items: I[]) => Promise<O[]>,
    private readonly policy: FlushPolicy = DEFAULT_FLUSH_POLICY,
    /** Called after each statement with its row count (metrics, tests). */
    private readonly onFlush?: (rows: number) => void,
  ) {}

  push(item: I): Promise<O> {
    return this.pushAmendable(item).done;
  }

  /**
   * Like push, and the item can still be replaced while it waits: `amend` swaps it for another (one
   * output, to the same caller) until a statement takes it, and says whether it did.
   */
  pushAmendable(item: I): PendingWrite<I, O> {
    let waiting!: Waiting<I, O>;
    const done = new Promise<O>((resolve, reject) => {
      waiting = { item, since: performance.now(), resolve, reject };
      this.pending.push(waiting);
      this.schedule();
    });
    const amend = (next: I) => {
      if (!this.pending.includes(waiting)) return false;
      waiting.item = next;
      return true;
    };
    return { done, amend };
  }

  /** Rows waiting for a statement, and statements on their way. */
  get backlog() {
    return { pending: this.pending.length, inFlight: this.inFlight };
  }

  private schedule() {
    if (this.scheduled) return;
    this.scheduled = true;
    // After the current turn: rows pushed by the same I/O callbacks join one statement.
    setImmediate(() => {
      this.scheduled = false;
      this.decide();
    });
  }

  private decide() {
    for (;;) {
      const oldest = this.pending[0];
      const decision = decideFlush(
        {
          pending: this.pending.length,
          inFlight: this.inFlight,
          oldestWaitMs: oldest ? performance.now() - oldest.since : 0,
        },
        this.policy,
      );
      if (decision.kind === 'idle') return;
      if (decision.kind === 'wait') {
        this.timer ??= setTimeout(() => {
          this.timer = undefined;
          this.decide();
        }, decision.ms);
        return;
      }
      clearTimeout(this.timer);
      this.timer = undefined;
      void this.flush(this.pending.splice(0, decision.rows));
    }
  }

  private async flush(batch: Waiting<I, O>[]) {
    this.inFlight++;
    try {
      await this.settle(batch);
    } finally {
      this.inFlight--;
      this.onFlush?.(batch.length);
      this.schedule();
    }
  }

  private async settle(batch: Waiting<I, O>[]) {
    let outs: O[];
    try {
      outs = await this.write(batch.map((w) => w.item));
    } catch (err) {
      if (!retrySingly(err, batch.length)) {
        for (const w of batch) w.reject(err);
        return;
      }
      // One statement per row: nothing of the failed statement was written (it is atomic).
      await Promise.all(batch.map((w) => this.settle([w])));
      return;
    }
    batch.forEach((w, i) => w.resolve(outs[i]!));
  }
}
