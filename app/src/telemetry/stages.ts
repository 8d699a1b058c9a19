/**
 * Per-request stage timestamps, a bench/debug mode (STAGE_TRACE_FILE): where one request's time goes,
 * from the moment Express sees it to the moment its answer is written, across the inference thread hop.
 *
 * Off (the default), every call site is one check of `tracing` and nothing else runs: no
 * AsyncLocalStorage, no timestamps, no extra fields in the thread messages. On, each request carries a
 * list of stamps (epoch ms with sub-ms resolution: performance.timeOrigin + performance.now(), which is
 * the same clock in every thread of the process); finished requests are kept in memory and written as
 * JSON lines to the file when the process exits. `summarizeStages` turns them into per-stage p50s.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import { writeFileSync } from 'node:fs';
import { epochMs } from './startup.ts';

/** The stages in request order; each stamp marks the end of the stage of that name. */
export const STAGES = [
  'received', // Express's first middleware runs (after the socket read and the HTTP parser)
  'middleware', // request id, helmet, metrics, readiness: auth starts
  'auth', // the API key is verified (cache hit or Postgres)
  'rateLimit', // a token is taken (lease in process, or Redis)
  'routed', // the task router matched and checked the media type
  'bodyRead', // the raw body is read
  'parsed', // JSON.parse + input check
  'submitted', // the engine has the request queued
  'dispatched', // the batch is posted to an inference thread
  'threadReceived', // the inference thread has the message
  'featurized', // the prepare step (featurizer) ran
  'run', // session.run finished
  'posted', // the result is posted back
  'mainReceived', // the main thread has the result
  'resultReady', // the task module's result is built
  'written', // res.end() returned: the answer is handed to the socket (else res 'finish', e.g. errors)
] as const;
export type Stage = (typeof STAGES)[number];

/** Stamps of one request, by stage (epoch ms). */
export type StageStamps = Partial<Record<Stage, number>>;

let file: string | undefined;
let records: StageStamps[] = [];
const current = new AsyncLocalStorage<StageStamps>();

/** Whether stage tracing is on in this process (STAGE_TRACE_FILE). */
export let tracing = false;

/** Turns tracing on; the records go to `path` when the process exits. */
export function enableStageTrace(path: string): void {
  if (tracing) return;
  tracing = true;
  file = path;
  process.once('exit', flushStages);
}

/** Writes the finished requests' stamps (JSON lines) and forgets them. */
export function flushStages(): void {
  if (!file) return;
  writeFileSync(file, records.map((r) => JSON.stringify(r)).join('\n') + (records.length ? '\n' : ''));
  records = [];
}

/** Something that carries a request's stamps: Express's `res.locals`. */
export interface StampHolder {
  locals: Record<string, unknown>;
}

const stampsOf = (h: StampHolder): StageStamps | undefined => h.locals.stages as StageStamps | undefined;

/**
 * Starts a request's trace on `res` (res.locals.stages); it is kept when `onFinish` fires (the
 * response's 'finish'). Only call when `tracing`.
 */
export function traceRequest(res: StampHolder, onFinish: (done: () => void) => void): void {
  const stamps: StageStamps = { received: epochMs() };
  res.locals.stages = stamps;
  onFinish(() => {
    // 'finish' comes after the socket write's callback, later than the client may have the answer.
    stamps.written ??= epochMs();
    records.push(stamps);
  });
}

/** Stamps `stage` on the request's trace (nothing when the request is not traced). Only call when `tracing`. */
export function stampOn(res: StampHolder, stage: Stage, at = epochMs()): void {
  const s = stampsOf(res);
  if (s) s[stage] = at;
}

/**
 * Runs `fn` with the request's trace as the async context, so that code without the request at hand
 * (the engine's queue) finds it through `currentStamps`. Only call when `tracing`.
 */
export function withStampsOf<T>(res: StampHolder, fn: () => T): T {
  const s = stampsOf(res);
  return s ? current.run(s, fn) : fn();
}

/** The trace of the request being served in this async context, if any. */
export function currentStamps(): StageStamps | undefined {
  return current.getStore();
}

export interface StageSummary {
  requests: number;
  /** p50 of each stage's duration (from the previous stamp present), ms, in STAGES order */
  stages: { stage: Stage; p50: number; mean: number }[];
  /** p50 of received → written, ms */
  spanP50: number;
}

const median = (xs: number[]): number => {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};

/**
 * Per-stage p50 and mean over the records whose `received` lies in [fromMs, toMs] (epoch ms). A stage's
 * duration runs from the previous stamp the record has, so a stage a path skips adds to the next one.
 */
export function summarizeStages(rows: StageStamps[], fromMs = -Infinity, toMs = Infinity): StageSummary {
  const kept = rows.filter((r) => r.received !== undefined && r.received >= fromMs && r.received <= toMs);
  const durations = new Map<Stage, number[]>();
  const spans: number[] = [];
  for (const r of kept) {
    let prev = r.received!;
    for (const stage of STAGES.slice(1)) {
      const t = r[stage];
      if (t === undefined) continue;
      const list = durations.get(stage) ?? [];
      list.push(t - prev);
      durations.set(stage, list);
      prev = t;
    }
    if (r.written !== undefined) spans.push(r.written - r.received!);
  }
  const stages = STAGES.slice(1)
    .filter((s) => durations.has(s))
    .map((stage) => {
      const xs = durations.get(stage)!;
      return { stage, p50: median(xs), mean: xs.reduce((a, b) => a + b, 0) / xs.length };
    });
  return { requests: kept.length, stages, spanP50: median(spans) };
}

/** Parses a trace file's JSON lines. */
export function parseStageLines(text: string): StageStamps[] {
  return text
    .split('\n')
    .filter((l) => l.trim())
    .map((l) => JSON.parse(l) as StageStamps);
}
