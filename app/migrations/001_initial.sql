-- API keys: only a SHA-256 of each key is stored; keys are 192-bit random, so a slow hash buys nothing.
CREATE TABLE IF NOT EXISTS api_keys (
  id           uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  name         text NOT NULL,
  prefix       text NOT NULL,
  hash         text NOT NULL UNIQUE,
  rate_limit   integer CHECK (rate_limit IS NULL OR rate_limit > 0),
  created_at   timestamptz NOT NULL DEFAULT now(),
  expires_at   timestamptz,
  revoked_at   timestamptz,
  replaced_by  uuid REFERENCES api_keys (id),
  last_used_at timestamptz
);
CREATE INDEX IF NOT EXISTS api_keys_name ON api_keys (name);

-- Async jobs. `owner` is the key's name, so a rotated key keeps seeing the jobs of the key it replaced.
CREATE TABLE IF NOT EXISTS jobs (
  id          uuid PRIMARY KEY,
  task        text NOT NULL,
  priority    text NOT NULL CHECK (priority IN ('high', 'normal', 'low')),
  status      text NOT NULL CHECK (status IN ('queued', 'running', 'succeeded', 'failed', 'cancelled')),
  input       jsonb NOT NULL,
  result      jsonb,
  error       text,
  owner       text NOT NULL,
  api_key_id  uuid REFERENCES api_keys (id),
  attempts    integer NOT NULL DEFAULT 0,
  created_at  timestamptz NOT NULL DEFAULT clock_timestamp(),
  started_at  timestamptz,
  finished_at timestamptz
);
-- GET /v1/jobs filters by owner (+ status) and pages by creation time; recovery scans by status.
CREATE INDEX IF NOT EXISTS jobs_owner_created ON jobs (owner, created_at DESC);
CREATE INDEX IF NOT EXISTS jobs_owner_status_created ON jobs (owner, status, created_at DESC);
CREATE INDEX IF NOT EXISTS jobs_status_created ON jobs (status, created_at);

-- Every status transition of a job, with its time.
CREATE TABLE IF NOT EXISTS job_events (
  id      bigserial PRIMARY KEY,
  job_id  uuid NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
  status  text NOT NULL,
  at      timestamptz NOT NULL DEFAULT clock_timestamp(),
  detail  text
);
CREATE INDEX IF NOT EXISTS job_events_job ON job_events (job_id, at);

CREATE TABLE IF NOT EXISTS audit_log (
  id         bigserial PRIMARY KEY,
  at         timestamptz NOT NULL DEFAULT now(),
  actor      text NOT NULL,
  action     text NOT NULL,
  subject    text,
  detail     jsonb
);
CREATE INDEX IF NOT EXISTS audit_log_at ON audit_log (at);
