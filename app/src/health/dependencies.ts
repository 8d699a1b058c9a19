/**
 * Redis and Postgres health: what counts as "a dependency is down" (as opposed to a bug), and a monitor
 * that probes both every second so readiness and the API's 503s follow the dependencies.
 */
import { monitorEventLoopDelay } from 'node:perf_hooks';
import type { Logger } from '../telemetry/logger.ts';

/** Probe timeouts in a row before a dependency counts as down (DEPENDENCY_FAILURE_THRESHOLD's default). */
export const DEFAULT_FAILURE_THRESHOLD = 3;

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

/** A probe that got no answer in time. `lateMs`: how late the timer itself fired (the event loop lagged). */
export class DependencyTimeoutError extends Error {
  constructor(
    readonly ms: number,
    readonly lateMs: number,
  ) {
    super(`timed out after ${ms} ms waiting for a dependency`);
    this.name = 'DependencyTimeoutError';
  }
}

/**
 * Rejects after `ms` unless `p` settles first. When the timer fires it first lets pending I/O through
 * (setImmediate runs after the poll phase): after the event loop was blocked (a huge body parsed, a
 * starved CPU) the timer fires before the answer that arrived meanwhile is read, and a slow loop must
 * not make a healthy dependency look down (the fuzz run saw 503s "postgres unreachable" from that).
 */
export function withTimeout<T>(p: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const started = performance.now();
  const timeout = new Promise<never>((_, rej) => {
    const fail = () => rej(new DependencyTimeoutError(ms, Math.max(0, performance.now() - started - ms)));
    timer = setTimeout(() => setImmediate(fail), ms);
  });
  return Promise.race([p, timeout]).finally(() => clearTimeout(timer));
}

/** ioredis states of a connection that closed or was refused (it is waiting to reconnect, or gave up). */
const REDIS_CLOSED = new Set(['close', 'reconnecting', 'end']);

/**
 * The Redis probe: a PING, except that a client whose connection is closed (refused, reset, waiting to
 * reconnect) fails at once, a certain failure, instead of queueing the PING until a timeout.
 */
export function redisProbe(redis: { status: string; ping(): Promise<unknown> }): () => Promise<unknown> {
  return () =>
    REDIS_CLOSED.has(redis.status)
      ? Promise.reject(new Error(`Connection is closed (redis client ${redis.status})`))
      : redis.ping();
}

/**
 * What one probe said: an answer; a certain failure (refused, closed, reset, an error reply); or no
 * answer in time, which is uncertain: the dependency may be slow, or this process was (`lagMs`: the
 * longest the event loop stalled while the probe waited).
 */
export type ProbeOutcome =
  { kind: 'ok' } | { kind: 'failed'; why: string } | { kind: 'timeout'; why: string; lagMs: number };

/** Codes and messages of a client giving up on a slow answer, as opposed to a refused or broken one. */
const SLOW_CODES = new Set(['ETIMEDOUT']);
const SLOW_MESSAGES = [/timeout exceeded when trying to connect/, /timed out after \d+ ms waiting/];

/** Sorts a probe's error into a certain failure or a timeout (pure). */
export function probeOutcome(err: unknown, loopLagMs = 0): ProbeOutcome {
  const e = (err ?? {}) as { code?: unknown; message?: unknown };
  const why = typeof e.message === 'string' && e.message ? e.message : String(err);
  const slow =
    err instanceof DependencyTimeoutError ||
    (typeof e.code === 'string' && SLOW_CODES.has(e.code)) ||
    SLOW_MESSAGES.some((re) => re.test(why));
  if (!slow) return { kind: 'failed', why };
  const late = err instanceof DependencyTimeoutError ? err.lateMs : 0;
  return { kind: 'timeout', why, lagMs: Math.max(late, loopLagMs) };
}

/** One dependency as the monitor sees it: down or not, and the timeouts in a row that count. */
export interface ProbeState {
  down: boolean;
  timeouts: number;
  why: string;
}

export interface ProbePolicy {
  /** Timeouts in a row before a dependency is marked down (Kubernetes' failureThreshold). */
  failureThreshold: number;
  /** A timeout during which the event loop stalled this long or longer is no evidence either way. */
  lagToleranceMs: number;
}

export const UP: ProbeState = { down: false, timeouts: 0, why: '' };

/**
 * The state after one probe (pure): an answer means up; a certain failure means down at once; a
 * timeout counts towards `failureThreshold` unless the event loop itself lagged, in which case the
 * probe says nothing about the dependency and the state stays as it was.
 */
export function nextProbeState(prev: ProbeState, outcome: ProbeOutcome, policy: ProbePolicy): ProbeState {
  if (outcome.kind === 'ok') return UP;
  if (outcome.kind === 'failed') return { down: true, timeouts: prev.timeouts, why: outcome.why };
  if (outcome.lagMs >= policy.lagToleranceMs) return prev;
  const timeouts = prev.timeouts + 1;
  if (prev.down) return { ...prev, timeouts };
  return timeouts >= policy.failureThreshold
    ? { down: true, timeouts, why: outcome.why }
    : { ...prev, timeouts };
}

/**
 * Probes every dependency each `intervalMs` (each probe bounded by `timeoutMs`) and remembers which are
 * down (see {@link nextProbeState}). `onChange` hears about every transition (readiness, pausing the
 * worker). The event loop's delay is measured (perf_hooks) so a stalled process does not blame Redis
 * or Postgres for its own stall.
 */
export class DependencyMonitor {
  private readonly states = new Map<string, ProbeState>();
  private readonly loopDelay = monitorEventLoopDelay({ resolution: 10 });
  private readonly policy: ProbePolicy;
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;

  constructor(
    private readonly checks: DependencyCheck[],
    private readonly opts: {
      intervalMs: number;
      timeoutMs: number;
      /** Default 3. */
      failureThreshold?: number;
      /** Default: half of `timeoutMs`. */
      lagToleranceMs?: number;
      log: Logger;
      onChange?: (healthy: boolean, reason: string) => void;
    },
  ) {
    this.policy = {
      failureThreshold: opts.failureThreshold ?? DEFAULT_FAILURE_THRESHOLD,
      lagToleranceMs: opts.lagToleranceMs ?? opts.timeoutMs / 2,
    };
    this.loopDelay.enable();
  }

  private get downNames(): string[] {
    return [...this.states].filter(([, s]) => s.down).map(([name]) => name);
  }

  get healthy(): boolean {
    return this.downNames.length === 0;
  }

  /** "postgres unreachable", "redis, postgres unreachable", or '' when all are up (details go to the log). */
  get reason(): string {
    const down = this.downNames;
    return down.length ? `${down.join(', ')} unreachable` : '';
  }

  /** Probes all dependencies once (concurrent calls share one round). */
  check(): Promise<void> {
    return (this.running ??= this.round().finally(() => (this.running = undefined)));
  }

  private async round() {
    const before = this.healthy;
    // The histogram's first sample after a reset is dropped; the 10 ms between rounds take it.
    this.loopDelay.reset();
    await Promise.all(this.checks.map((check) => this.probeOne(check)));
    if (before !== this.healthy) this.opts.onChange?.(this.healthy, this.reason);
  }

  private async probeOne({ name, probe }: DependencyCheck) {
    const prev = this.states.get(name) ?? UP;
    let outcome: ProbeOutcome;
    try {
      await withTimeout(probe(), this.opts.timeoutMs);
      outcome = { kind: 'ok' };
    } catch (err) {
      outcome = probeOutcome(err, this.loopDelay.max / 1e6);
    }
    const next = nextProbeState(prev, outcome, this.policy);
    this.states.set(name, next);
    if (prev.down && !next.down) this.opts.log.warn({ dependency: name }, 'dependency is back');
    if (!prev.down && next.down)
      this.opts.log.error({ dependency: name, why: next.why }, 'dependency is down');
    if (next === prev && outcome.kind === 'timeout')
      this.opts.log.warn(
        { dependency: name, lagMs: Math.round(outcome.lagMs) },
        'probe timed out while the event loop lagged: not counted',
      );
  }

  start() {
    this.timer = setInterval(() => void this.check(), this.opts.intervalMs);
    this.timer.unref();
  }

  stop() {
    clearInterval(this.timer);
    this.loopDelay.disable();
  }
}
