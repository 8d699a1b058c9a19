import type { Db } from './db.ts';

/** Appends to the audit log: who did what to which subject. */
export async function audit(db: Db, actor: string, action: string, subject?: string, detail?: unknown) {
  await db.query('INSERT INTO audit_log (actor, action, subject, detail) VALUES ($1, $2, $3, $4)', [
    actor,
    action,
    subject ?? null,
    detail === undefined ? null : JSON.stringify(detail),
  ]);
}
