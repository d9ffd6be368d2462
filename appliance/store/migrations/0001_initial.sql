-- Events: one row per EVE record with the indexed columns; the raw JSON lives in
-- zstd-compressed chunks (one per batch and retention kind), which keeps a stored
-- event near 200 bytes instead of 800.
-- The event id is (source id << 40) | byte offset of the line in its source, so a line
-- read twice maps to the same id and writes are idempotent without an extra index.

CREATE TABLE sensors (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE
);

CREATE TABLE event_types (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE
);

-- A source is one EVE file (identified by a hash of its first line, so a renamed or
-- rotated copy is the same source) or the findings derived from one.
CREATE TABLE sources (
    id INTEGER PRIMARY KEY,
    fingerprint BLOB NOT NULL UNIQUE,
    path TEXT NOT NULL,
    first_seen INTEGER NOT NULL
);

-- Where the reader of a source stopped; written in the same transaction as the events.
CREATE TABLE bookmarks (
    source_id INTEGER PRIMARY KEY REFERENCES sources(id) ON DELETE CASCADE,
    path TEXT NOT NULL,
    inode INTEGER NOT NULL,
    offset INTEGER NOT NULL,
    size INTEGER NOT NULL,
    line INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);
CREATE INDEX bookmarks_path ON bookmarks(path, updated_at);

-- Retention ages chunks by when they were stored (ingested_at, UTC microseconds), so an
-- analysed capture from years ago is not deleted the moment it is imported.
CREATE TABLE chunks (
    id INTEGER PRIMARY KEY,
    kind TEXT NOT NULL,
    min_ts INTEGER NOT NULL,
    max_ts INTEGER NOT NULL,
    ingested_at INTEGER NOT NULL,
    n INTEGER NOT NULL,
    data BLOB NOT NULL
);
CREATE INDEX chunks_kind_ingested ON chunks(kind, ingested_at);

CREATE TABLE events (
    id INTEGER PRIMARY KEY,
    ts INTEGER NOT NULL,
    sensor INTEGER NOT NULL,
    etype INTEGER NOT NULL,
    src_ip BLOB,
    dest_ip BLOB,
    src_port INTEGER,
    dest_port INTEGER,
    proto INTEGER,
    flow_id INTEGER,
    cid INTEGER,
    sid INTEGER,
    severity INTEGER,
    bytes INTEGER,
    chunk INTEGER NOT NULL,
    pos INTEGER NOT NULL
);
-- Every row: time, type and chunk. Each grows at one end, so it stays cheap at 100k
-- inserts/s.
CREATE INDEX events_ts ON events(ts);
CREATE INDEX events_type_ts ON events(etype, ts);
CREATE INDEX events_chunk ON events(chunk);
-- Alerts and findings (rows with a severity): address, flow, signature and Community ID
-- indexes. These keys are random; over every metadata row they would cost a third of the
-- ingest rate. Metadata of a flow or a host is found through the host zone map below
-- (an alert's related records: its addresses' chunks, filtered by flow id).
CREATE INDEX events_sev_flow ON events(flow_id) WHERE severity IS NOT NULL;
CREATE INDEX events_sev_src ON events(src_ip) WHERE severity IS NOT NULL;
CREATE INDEX events_sev_dest ON events(dest_ip) WHERE severity IS NOT NULL;
CREATE INDEX events_sev_cid ON events(cid) WHERE severity IS NOT NULL;
CREATE INDEX events_sid ON events(sid) WHERE sid IS NOT NULL;

-- Host zone map: which chunks hold an address. A host lookup over metadata reads the
-- chunks listed here (each a few thousand rows, through events_chunk) instead of
-- maintaining per-row address indexes.
CREATE TABLE chunk_hosts (
    ip BLOB NOT NULL,
    chunk INTEGER NOT NULL,
    PRIMARY KEY (ip, chunk)
) WITHOUT ROWID;
CREATE INDEX chunk_hosts_chunk ON chunk_hosts(chunk);

-- Signature names and categories, as last seen in alerts.
CREATE TABLE signatures (
    sid INTEGER PRIMARY KEY,
    gid INTEGER,
    rev INTEGER,
    msg TEXT,
    category TEXT,
    severity INTEGER
);

-- Exact counters kept in the same transactions as the events (dead letters, drops).
CREATE TABLE counters (
    name TEXT PRIMARY KEY,
    value INTEGER NOT NULL
);

-- Offline analyses of capture files.
CREATE TABLE captures (
    id INTEGER PRIMARY KEY,
    path TEXT NOT NULL,
    sha256 TEXT,
    packets INTEGER,
    source_id INTEGER,
    status TEXT NOT NULL,
    started_at INTEGER NOT NULL,
    finished_at INTEGER,
    summary TEXT
);
