-- Area D: requests from the web UI to spanwatch-core, job schedules and runs, stored
-- reports, and the notification queue (digests) and log.
CREATE TABLE requests (
    id INTEGER PRIMARY KEY,
    kind TEXT NOT NULL,
    params TEXT NOT NULL DEFAULT '{}',
    status TEXT NOT NULL DEFAULT 'pending',
    actor TEXT NOT NULL,
    submitted_at INTEGER NOT NULL,
    started_at INTEGER,
    finished_at INTEGER,
    result TEXT,
    error TEXT
);
CREATE INDEX requests_status ON requests (status, id);
CREATE TABLE job_schedules (
    job TEXT PRIMARY KEY,
    schedule TEXT NOT NULL,
    enabled INTEGER NOT NULL DEFAULT 1,
    updated_at INTEGER NOT NULL,
    updated_by TEXT NOT NULL
);
CREATE TABLE job_runs (
    id INTEGER PRIMARY KEY,
    job TEXT NOT NULL,
    scheduled_for INTEGER,
    started_at INTEGER NOT NULL,
    finished_at INTEGER,
    status TEXT NOT NULL DEFAULT 'running',
    attempts INTEGER NOT NULL DEFAULT 1,
    message TEXT
);
CREATE INDEX job_runs_job ON job_runs (job, started_at);
CREATE TABLE reports (
    id INTEGER PRIMARY KEY,
    day TEXT NOT NULL,
    lang TEXT NOT NULL,
    format TEXT NOT NULL,
    path TEXT NOT NULL,
    size INTEGER NOT NULL,
    created_at INTEGER NOT NULL,
    summary TEXT NOT NULL DEFAULT '{}'
);
CREATE INDEX reports_day ON reports (day);
CREATE TABLE notify_queue (
    id INTEGER PRIMARY KEY,
    kind TEXT NOT NULL,
    payload TEXT NOT NULL,
    queued_at INTEGER NOT NULL
);
CREATE TABLE notify_log (
    id INTEGER PRIMARY KEY,
    channel TEXT NOT NULL,
    kind TEXT NOT NULL,
    items INTEGER NOT NULL,
    sent_at INTEGER NOT NULL,
    ok INTEGER NOT NULL,
    error TEXT
);
CREATE INDEX notify_log_channel ON notify_log (channel, sent_at);
