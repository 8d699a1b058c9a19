/** What a fault run found, from Postgres's records of the accepted jobs, and the table in docs/reliability.md. */
import type pg from 'pg';
export { replaceSection, writeSection } from '../../scripts/lib/doc-section.ts';

export const TERMINAL = ['succeeded', 'failed', 'cancelled'];

export interface JobOutcome {
  id: string;
  status: string;
  /** job_events rows with a terminal status: exactly one per finished job. */
  terminalEvents: number;
}

export interface FaultRow {
  fault: string;
  accepted: number;
  completed: number;
  failed: number;
  lost: number;
  duplicated: number;
  /** Seconds from the fault to: every job accepted before it finished, and requests succeeding again. */
  recoverSeconds: number;
  /** Of which: seconds the heal itself took (restarting the killed process or server and loading models). */
  healSeconds: number;
}

export async function outcomes(db: pg.Pool, ids: string[]): Promise<JobOutcome[]> {
  const res = await db.query<JobOutcome>(
    `SELECT j.id, j.status,
            count(e.id) FILTER (WHERE e.status = ANY($2))::int AS "terminalEvents"
       FROM jobs j LEFT JOIN job_events e ON e.job_id = j.id
      WHERE j.id = ANY($1) GROUP BY j.id, j.status`,
    [ids, TERMINAL],
  );
  return res.rows;
}

/** Counts per outcome: lost = accepted but not (or never) finished; duplicated = finished more than once. */
export function summarize(
  fault: string,
  accepted: string[],
  found: JobOutcome[],
  times: { recoverMs: number; healMs: number },
): FaultRow {
  const byId = new Map(found.map((o) => [o.id, o]));
  let completed = 0;
  let failed = 0;
  let lost = 0;
  let duplicated = 0;
  for (const id of new Set(accepted)) {
    const o = byId.get(id);
    if (!o || !TERMINAL.includes(o.status)) lost++;
    else if (o.status === 'succeeded') completed++;
    else failed++;
    if (o && o.terminalEvents > 1) duplicated++;
  }
  return {
    fault,
    accepted: new Set(accepted).size,
    completed,
    failed,
    lost,
    duplicated,
    recoverSeconds: seconds(times.recoverMs),
    healSeconds: seconds(times.healMs),
  };
}

const seconds = (ms: number) => Math.round(ms / 100) / 10;

export function renderTable(rows: FaultRow[]): string {
  const head =
    '| fault | accepted | completed | failed | lost | duplicated | time to recover (s) | of which restart (s) |';
  const line = '|---|---:|---:|---:|---:|---:|---:|---:|';
  const body = rows.map(
    (r) =>
      `| ${r.fault} | ${r.accepted} | ${r.completed} | ${r.failed} | ${r.lost} | ${r.duplicated} | ${r.recoverSeconds} | ${r.healSeconds} |`,
  );
  return [head, line, ...body].join('\n');
}
