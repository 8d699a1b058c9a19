/**
 * The app's start-up timeline (app/src/telemetry/startup.ts), read from a server's JSON log (started
 * with LOG_LEVEL=debug: the whole timeline is a debug line), with times shifted to ms after the bench
 * spawned the process.
 */

/** Pure: the info-or-above messages of a JSON log (request logs left out), in ms after `spawnedAtEpochMs`. */
export function logEvents(output: string, spawnedAtEpochMs: number): { msg: string; ms: number }[] {
  const events: { msg: string; ms: number }[] = [];
  for (const line of output.split('\n')) {
    try {
      const j = JSON.parse(line) as { msg?: string; time?: number; level?: number };
      if (j.msg && j.time && (j.level ?? 30) >= 30 && j.msg !== 'request completed')
        events.push({ msg: j.msg, ms: j.time - spawnedAtEpochMs });
    } catch {
      /* not a log line */
    }
  }
  return events;
}
import { relativeTo, STARTUP_TIMELINE_MSG, type StartupPhase } from '../../app/src/telemetry/startup.ts';

/** Pure: the timeline phases in `output` (JSON log lines), in ms after `spawnedAtEpochMs`; [] if none. */
export function timelineFromLogs(output: string, spawnedAtEpochMs: number): StartupPhase[] {
  for (const line of output.split('\n')) {
    let j: { msg?: string; processStartEpochMs?: number; phases?: StartupPhase[] };
    try {
      j = JSON.parse(line) as typeof j;
    } catch {
      continue;
    }
    if (j.msg !== STARTUP_TIMELINE_MSG || !j.phases || j.processStartEpochMs === undefined) continue;
    const origin = j.processStartEpochMs;
    const phases = j.phases.map((p) => ({ ...p, startMs: p.startMs + origin, endMs: p.endMs + origin }));
    // Before Node's own clock starts: exec, loading the node binary (seen from the bench's side).
    phases.push({
      name: 'process spawned → Node running',
      thread: 'main',
      startMs: spawnedAtEpochMs,
      endMs: origin,
    });
    return relativeTo(phases, spawnedAtEpochMs);
  }
  return [];
}
