-- Idempotency keys: a client-chosen key per job submission, unique per owner, so a retried submission
-- (single or batch) returns the job the first one created instead of making a second one.
ALTER TABLE jobs ADD COLUMN IF NOT EXISTS idempotency_key text;
CREATE UNIQUE INDEX IF NOT EXISTS jobs_owner_idempotency_key ON jobs (owner, idempotency_key)
  WHERE idempotency_key IS NOT NULL;
