-- 001_jobs.sql: the job queue. Applied by daemon/store.c in one transaction at start-up;
-- PRAGMA user_version records the last migration applied. Times are Unix milliseconds (UTC).
--
-- A job moves queued -> running -> succeeded | failed | cancelled; a failed attempt with tries
-- left, an interrupted run (SIGTERM) and a run the daemon crashed in go back to queued. Every
-- change of state is a row of job_transitions; every failed attempt a row of job_errors.

CREATE TABLE jobs (
    seq              INTEGER PRIMARY KEY,             -- order of submission; list cursors
    id               TEXT    NOT NULL UNIQUE,         -- public id: 16 lowercase hex digits
    team             TEXT    NOT NULL DEFAULT '',     -- owner; '' when the daemon has no tokens
    kind             TEXT    NOT NULL,                -- train | search | export
    name             TEXT    NOT NULL DEFAULT '',     -- the spec's name
    spec             TEXT    NOT NULL,                -- the spec as submitted, compact JSON
    state            TEXT    NOT NULL DEFAULT 'queued'
        CHECK (state IN ('queued', 'running', 'succeeded', 'failed', 'cancelled')),
    priority         INTEGER NOT NULL DEFAULT 0,      -- higher runs first, then older first
    attempts         INTEGER NOT NULL DEFAULT 0,      -- runs started that ended or are running
    max_attempts     INTEGER NOT NULL DEFAULT 3,
    crashes          INTEGER NOT NULL DEFAULT 0,      -- daemon stopped unexpectedly while running
    cancel_requested INTEGER NOT NULL DEFAULT 0,
    not_before       INTEGER NOT NULL DEFAULT 0,      -- retry back-off: not started before this
    deadline         INTEGER,                         -- must have finished by this time
    idem_key         TEXT,                            -- Idempotency-Key, unique per team
    idem_hash        TEXT,                            -- SHA-256 of the request it was given with
    created_at       INTEGER NOT NULL,
    started_at       INTEGER,                         -- the latest attempt's start
    finished_at      INTEGER,
    updated_at       INTEGER NOT NULL,
    progress         TEXT,                            -- latest progress object, JSON
    result           TEXT                             -- the job's result, JSON, once succeeded
);

-- the queue: highest priority first, then oldest
CREATE INDEX jobs_queue ON jobs (priority DESC, seq) WHERE state = 'queued';
-- listings, newest first, by team and filter
CREATE INDEX jobs_team ON jobs (team, seq);
CREATE INDEX jobs_state ON jobs (state, seq);
CREATE INDEX jobs_team_state ON jobs (team, state, seq);
CREATE INDEX jobs_name ON jobs (name, seq);
CREATE UNIQUE INDEX jobs_idem ON jobs (team, idem_key) WHERE idem_key IS NOT NULL;

CREATE TABLE job_transitions (
    job_seq INTEGER NOT NULL REFERENCES jobs (seq) ON DELETE CASCADE,
    at      INTEGER NOT NULL,
    state   TEXT    NOT NULL,
    reason  TEXT    NOT NULL DEFAULT ''               -- submitted, claimed, retry, shutdown, ...
);
CREATE INDEX job_transitions_job ON job_transitions (job_seq);

CREATE TABLE job_errors (
    job_seq INTEGER NOT NULL REFERENCES jobs (seq) ON DELETE CASCADE,
    attempt INTEGER NOT NULL,
    at      INTEGER NOT NULL,
    code    TEXT    NOT NULL,                         -- a name from core/err.h
    message TEXT    NOT NULL,
    field   TEXT    NOT NULL DEFAULT ''
);
CREATE INDEX job_errors_job ON job_errors (job_seq);

-- one row per finished epoch: the result's history entry, kept while the job runs
CREATE TABLE job_epochs (
    job_seq INTEGER NOT NULL REFERENCES jobs (seq) ON DELETE CASCADE,
    epoch   INTEGER NOT NULL,
    data    TEXT    NOT NULL,
    PRIMARY KEY (job_seq, epoch)
) WITHOUT ROWID;

-- files a job wrote into STATE/jobs/<id>/
CREATE TABLE artifacts (
    job_seq    INTEGER NOT NULL REFERENCES jobs (seq) ON DELETE CASCADE,
    name       TEXT    NOT NULL,
    size       INTEGER NOT NULL,
    sha256     TEXT    NOT NULL,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (job_seq, name)
) WITHOUT ROWID;
