-- daemon_v1.sql: a database as a quantd at schema version 1 (schema/001_jobs.sql) left it,
-- for check_daemon_crash.c's migration test: one finished job with its result and history,
-- one job still queued. Applied after schema/001_jobs.sql.
INSERT INTO jobs (id, team, kind, name, spec, state, attempts, created_at, started_at,
                  finished_at, updated_at, result)
VALUES ('00000000000000a1', '', 'train', 'from v1',
        '{"dataset":"synthetic","model":"mlp","epochs":1,"subset":{"train":256,"test":128}}',
        'succeeded', 1, 1700000000000, 1700000001000, 1700000002000, 1700000002000,
        '{"kind":"train","test_accuracy":0.5,"memory":{"weight_bytes":10,"activation_bytes":5,"total_bytes":15},"bitops":1.0,"history":[]}');
INSERT INTO job_transitions (job_seq, at, state, reason)
SELECT seq, 1700000000000, 'queued', 'submitted' FROM jobs WHERE id = '00000000000000a1';
INSERT INTO jobs (id, team, kind, name, spec, created_at, updated_at)
VALUES ('00000000000000a2', '', 'train', 'queued in v1',
        '{"dataset":"synthetic","model":"mlp","epochs":1,"subset":{"train":256,"test":128}}',
        1700000003000, 1700000003000);
PRAGMA user_version = 1;
