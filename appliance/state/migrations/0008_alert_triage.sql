-- Alerts and findings as analysts triage them (appliance/service/alert_index.py).
-- The event store keeps every record; this index holds one small row per alert,
-- finding or anomaly (a few percent of the events), filled incrementally from the
-- store's chunk cursor, with the columns the alert list filters and groups on and
-- the analyst's triage status. Hourly rollups beside it serve the dashboard without
-- scanning events: at 10 million events a raw aggregation costs seconds in SQLite.

CREATE TABLE alert_index (
    event_id INTEGER PRIMARY KEY,
    ts INTEGER NOT NULL,
    sensor TEXT NOT NULL,
    etype TEXT NOT NULL,
    src_ip TEXT,
    dest_ip TEXT,
    src_port INTEGER,
    dest_port INTEGER,
    proto TEXT,
    app_proto TEXT,
    flow_id INTEGER,
    gkey TEXT NOT NULL,
    label TEXT NOT NULL,
    category TEXT,
    severity INTEGER NOT NULL,
    status TEXT NOT NULL DEFAULT 'new',
    incident_id INTEGER,
    updated_at INTEGER
);
CREATE INDEX alert_index_ts ON alert_index(ts);
CREATE INDEX alert_index_gkey_ts ON alert_index(gkey, ts);
CREATE INDEX alert_index_src_ts ON alert_index(src_ip, ts);
CREATE INDEX alert_index_dest_ts ON alert_index(dest_ip, ts);
-- The inbox by time; it also covers grouping (key, severity, addresses), so grouping a
-- day of alerts reads this index alone.
CREATE INDEX alert_index_status_ts ON alert_index(status, ts, gkey, severity, src_ip, dest_ip);
CREATE INDEX alert_index_flow ON alert_index(flow_id);

-- Hourly counts per dimension: dim is 'type' (key: event type), 'sig' (key: group key,
-- sid:N or finding:TYPE or anomaly:NAME), 'host' (key: an address at either end;
-- severity 0, as hosts are many), 'category', 'sensor'.
CREATE TABLE alert_rollup (
    hour INTEGER NOT NULL,
    dim TEXT NOT NULL,
    key TEXT NOT NULL,
    severity INTEGER NOT NULL,
    n INTEGER NOT NULL,
    PRIMARY KEY (dim, hour, key, severity)
) WITHOUT ROWID;

-- Display names of group keys (the latest label, category and severity seen).
CREATE TABLE alert_keys (
    gkey TEXT PRIMARY KEY,
    etype TEXT NOT NULL,
    label TEXT NOT NULL,
    category TEXT,
    severity INTEGER NOT NULL
);

-- What analysts did to alerts: who, when, what, to which events (JSON list) and why.
CREATE TABLE alert_actions (
    id INTEGER PRIMARY KEY,
    ts INTEGER NOT NULL,
    actor TEXT NOT NULL,
    action TEXT NOT NULL,
    event_ids TEXT NOT NULL,
    detail TEXT
);
CREATE INDEX alert_actions_ts ON alert_actions(ts);
