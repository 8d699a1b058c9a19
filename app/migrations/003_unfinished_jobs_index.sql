-- Recovery (at start-up and every minute) reads only unfinished jobs, oldest first. A partial index holds
-- just those: it stays small however many finished jobs are kept, and a job's last update (to succeeded,
-- failed or cancelled) adds no entry to it, where the full (status, created_at) index took one per
-- update. Nothing else filtered on status alone (GET /v1/jobs?status= has jobs_owner_status_created).
CREATE INDEX IF NOT EXISTS jobs_unfinished_created ON jobs (created_at) WHERE status IN ('queued', 'running');
DROP INDEX IF EXISTS jobs_status_created;
