-- 003_search.sql: what a search job has found so far. A search job reports, after each finished
-- candidate, its result so far ({"kind": "search", "done", "total", "candidates": [...],
-- "front": [...]}); the daemon keeps the latest here so that GET /api/v1/jobs/{id} and the
-- Pareto points show finished candidates while the search runs, and after a crash (the
-- candidates themselves are on disk in the job's directory, so the resumed search does not
-- redo them). NULL for every other job.

ALTER TABLE jobs ADD COLUMN partial TEXT;
