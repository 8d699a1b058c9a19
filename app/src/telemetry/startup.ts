/**
 * The start-up timeline: when each phase of start-up began and ended, in ms since the process started,
 * on every thread. Logged once the service is ready: a one-line summary at level info (`summarizeTimeline`)
 * and every phase at level debug (`start-up timeline`), which bench:serve prints (docs/benchmarks.md).
 *
 * Times are epoch ms (`performance.timeOrigin + performance.now()`), because `performance.now()` counts
 * from each thread's own start. The launcher (dist/main.js) and the server (dist/server.cjs) are
 * separate bundles with their own copy of this module: the phases live in one global registry.
 */
export interface StartupPhase {
  name: string;
  /** where it ran: `main`, or `inference-<n>` */
  thread: string;
  startMs: number;
  endMs: number;
}

const PHASES = Symbol.for('clawstack.startup.phases');
type Holder = { [PHASES]?: StartupPhase[] };

/** Now, in epoch ms with sub-ms precision, comparable between threads. */
export const epochMs = (): number => performance.timeOrigin + performance.now();

function registry(): StartupPhase[] {
  return ((globalThis as Holder)[PHASES] ??= []);
}

/** Records a phase from epoch-ms times (another thread's times included). */
export function recordPhase(name: string, startEpochMs: number, endEpochMs: number, thread = 'main'): void {
  registry().push({ name, thread, startMs: startEpochMs, endMs: endEpochMs });
}

/** Runs `fn`, recording it as phase `name` (also when it throws). */
export function timed<T>(name: string, fn: () => T): T {
  const start = epochMs();
  let result: T;
  try {
    result = fn();
  } catch (err) {
    recordPhase(name, start, epochMs());
    throw err;
  }
  if (result instanceof Promise) {
    const done = () => recordPhase(name, start, epochMs());
    result.then(done, done);
  } else recordPhase(name, start, epochMs());
  return result;
}

/** Records phase `name` from the end of the latest phase called `since` to now (none without one). */
export function phaseSince(since: string, name: string): void {
  const from = [...registry()].reverse().find((p) => p.name === since)?.endMs;
  if (from !== undefined) recordPhase(name, from, epochMs());
}

/** The log message (level debug) that carries the whole timeline once the service is ready. */
export const STARTUP_TIMELINE_MSG = 'start-up timeline';

/** The phase compile-cache.ts records; main.ts measures module evaluation from its end. */
export const BUNDLE_COMPILE_PHASE = 'server bundle: read + compile';

/**
 * The phases recorded so far, relative to `originEpochMs` (default: this process's start), in order of
 * their start.
 */
export function startupTimeline(originEpochMs = performance.timeOrigin): StartupPhase[] {
  return relativeTo(registry(), originEpochMs);
}

/** Pure: phases with times relative to `originEpochMs`, rounded to 0.1 ms, ordered by start then end. */
export function relativeTo(phases: StartupPhase[], originEpochMs: number): StartupPhase[] {
  const r = (x: number) => Math.round((x - originEpochMs) * 10) / 10;
  return phases
    .map((p) => ({ ...p, startMs: r(p.startMs), endMs: r(p.endMs) }))
    .sort((a, b) => a.startMs - b.startMs || a.endMs - b.endMs);
}

/** Pure: one line per phase, `start–end (duration) thread name`, in ms. */
export function formatTimeline(phases: StartupPhase[]): string[] {
  const f = (x: number) => x.toFixed(0).padStart(5);
  return phases.map(
    (p) =>
      `${f(p.startMs)}–${f(p.endMs)} ms (${f(p.endMs - p.startMs)} ms)  ${p.thread.padEnd(11)} ${p.name}`,
  );
}

/** Pure: a phase's group, named by what precedes its first colon (`postgres: …`), or `sessions`. */
const groupOf = (name: string): string =>
  name.includes(':') ? name.slice(0, name.indexOf(':')) : name.startsWith('session ') ? 'sessions' : name;

/**
 * Pure: the start-up summary logged at info — when the last phase ended (`readyMs`) and each group of
 * phases' span, first start – last end in ms since the process started, in order of their start
 * (`phases`: `server bundle 357–1412, models 1412–1883, …`).
 */
export function summarizeTimeline(phases: StartupPhase[]): { readyMs: number; phases: string } {
  const spans = new Map<string, { start: number; end: number }>();
  for (const p of phases) {
    const key = groupOf(p.name);
    const s = spans.get(key);
    if (s) Object.assign(s, { start: Math.min(s.start, p.startMs), end: Math.max(s.end, p.endMs) });
    else spans.set(key, { start: p.startMs, end: p.endMs });
  }
  return {
    readyMs: Math.round(Math.max(0, ...phases.map((p) => p.endMs))),
    phases: [...spans]
      .sort((a, b) => a[1].start - b[1].start)
      .map(([k, s]) => `${k} ${Math.round(s.start)}–${Math.round(s.end)}`)
      .join(', '),
  };
}

/** The info message of the summary. */
export const startupSummaryMsg = (readyMs: number): string => `start-up: ready after ${readyMs} ms`;
