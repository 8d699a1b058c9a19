/**
 * Redis and Postgres health: what counts as "a dependency is down" (as opposed to a bug), and a monitor
 * that probes both every second so readiness and the API's 503s follow the dependencies.
 */
import type { Logger } from '../telemetry/logger.ts';

/** Error codes of a connection that failed, broke or was refused (Node sockets, Postgres SQLSTATE 57/08/28). */
const DOWN_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'EPIPE',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENOTFOUND',
  '57P01', // admin_shutdown
  '57P02', // crash_shutdown
  '57P03', // cannot_connect_now (starting up, recovering)
  '08000',
  '08003',
  '08006',
  // A refused login: the password rotated and this process has not got the new one yet. The pool
  // re-reads its credentials; until the host has written them, clients should come back shortly.
  '28P01',
  '28000',
]);

/** Messages of pg / ioredis / BullMQ errors that mean the server is unreachable, not that a query was wrong. */
const DOWN_MESSAGES = [
  /^Connection terminated/,
  /timeout exceeded when trying to connect/,
  /^Client has encountered a connection error/,
  /Connection is closed/,
  /Reached the max retries per request limit/,
  /Stream isn't writeable/,
  /^connect E[A-Z]+/,
  /the database system is (starting up|shutting down|in recovery mode)/,
  /terminating connection due to administrator command/,
  /timed out after \d+ ms waiting for a dependency/,
];

/** True when `err` says Redis or Postgres is unreachable (worth a 503 and a retry), false for anything else. */
export function isDependencyError(err: unknown): boolean {
  if (!err || typeof err !== 'object') return false;
  const e = err as { code?: unknown; message?: unknown; cause?: unknown; name?: unknown };
  if (typeof e.code === 'string' && DOWN_CODES.has(e.code)) return true;
  if (e.name === 'MaxRetriesPerRequestError') return true;
  if (typeof e.message === 'string' && DOWN_MESSAGES.some((re) => re.test(e.message as string))) return true;
  // AggregateError (a dual-stack connect) and wrapped errors
  const inner = (err as { errors?: unknown[] }).errors;
  if (Array.isArray(inner) && inner.some(isDependencyError)) return true;
  return e.cause !== undefined && e.cause !== err && isDependencyError(e.cause);
}

export interface DependencyCheck {
  name: string;
  probe(): Promise<unknown>;
}

/**
 * Rejects after `ms` unless `p` settles first. When the timer fires it first lets pending I/O through
 * (setImmediate runs after the poll phase): after the event loop was blocked (a huge body parsed, a
 * starved CPU) the timer fires before the answer that arrived meanwhile is read, and a slow loop must
 * not make a healthy dependency look down (the fuzz run saw 503s "postgres unreachable" from that).
 */
export function withTimeout<T>(p: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, rej) => {
    const fail = () => rej(new Error(`timed out after ${ms} ms waiting for a dependency`));
    timer = setTimeout(() => setImmediate(fail), ms);
  });
  return Promise.race([p, timeout]).finally(() => clearTimeout(timer));
}

/**
 * Probes every dependency each `intervalMs` (each probe bounded by `timeoutMs`) and remembers which are
 * down. `onChange` hears about every transition (readiness, pausing the worker).
 */
export class DependencyMonitor {
  private readonly down = new Map<string, string>();
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;

  constructor(
    private readonly checks: DependencyCheck[],
    private readonly opts: {
      intervalMs: number;
      timeoutMs: number;
      log: Logger;
      onChange?: (healthy: boolean, reason: string) => void;
    },
  ) {}

  get healthy(): boolean {
    return this.down.size === 0;
  }

  /** "postgres unreachable", "redis, postgres unreachable", or '' when all are up (details go to the log). */
  get reason(): string {
    return this.down.size ? `${[...this.down.keys()].join(', ')} unreachable` : '';
  }

  /** Probes all dependencies once (concurrent calls share one round). */
  check(): Promise<void> {
    return (this.running ??= this.round().finally(() => (this.running = undefined)));
  }

  private async round() {
    const before = this.healthy;
    await Promise.all(
      this.checks.map(async ({ name, probe }) => {
        try {
          await withTimeout(probe(), this.opts.timeoutMs);
          if (this.down.delete(name)) this.opts.log.warn({ dependency: name }, 'dependency is back');
        } catch (err) {
          const why = (err as Error).message || String(err);
          if (!this.down.has(name)) this.opts.log.error({ dependency: name, why }, 'dependency is down');
          this.down.set(name, why);
        }
      }),
    );
    if (before !== this.healthy) this.opts.onChange?.(this.healthy, this.reason);
  }

  start() {
    this.timer = setInterval(() => void this.check(), this.opts.intervalMs);
    this.timer.unref();
  }

  stop() {
    clearInterval(this.timer);
  }
}
