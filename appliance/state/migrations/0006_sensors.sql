-- Area E: remote sensors enrolled at this center (token hashes only), their last report,
-- and what the ingest API refused (per sensor; '' for requests with no known sensor).
CREATE TABLE sensors (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    token_hash TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    status TEXT NOT NULL DEFAULT 'pending',
    requested_at INTEGER NOT NULL,
    requested_from TEXT,
    decided_at INTEGER,
    decided_by TEXT,
    last_contact INTEGER,
    last_address TEXT,
    spanwatch_version TEXT,
    suricata_version TEXT,
    health TEXT NOT NULL DEFAULT '{}',
    batches INTEGER NOT NULL DEFAULT 0,
    records INTEGER NOT NULL DEFAULT 0,
    duplicates INTEGER NOT NULL DEFAULT 0
);
CREATE UNIQUE INDEX sensors_token ON sensors (token_hash);
CREATE TABLE ingest_rejections (
    sensor TEXT NOT NULL,
    reason TEXT NOT NULL,
    count INTEGER NOT NULL DEFAULT 0,
    last_at INTEGER NOT NULL,
    last_detail TEXT,
    PRIMARY KEY (sensor, reason)
);
-- Optional client certificates, pinned at enrolment (the sensor's self-signed one).
CREATE TABLE sensor_certs (
    name TEXT PRIMARY KEY,
    fingerprint TEXT NOT NULL,
    pem TEXT NOT NULL
);
