-- Area A2: the passive asset inventory (built from traffic by appliance.assets.inventory,
-- edited by admins) and the risk scores with their daily history.
-- Times are UTC microseconds. Hosts inside HOME_NET get an `assets` row, outside hosts
-- only get names (asset_names), so an analyst can read who an address is.
-- first_seen/last_seen are empty for an asset an admin registered (CSV) before it was
-- seen. ip_key sorts addresses numerically (16 bytes, IPv4 mapped).
CREATE TABLE assets (
    ip TEXT PRIMARY KEY,
    ip_key BLOB NOT NULL,
    first_seen INTEGER,
    last_seen INTEGER,
    vendor TEXT,
    os_guess TEXT,
    os_basis TEXT,
    owner TEXT,
    agency TEXT,
    criticality TEXT NOT NULL DEFAULT 'normal',
    tags TEXT NOT NULL DEFAULT '[]',
    risk INTEGER,
    risk_factors TEXT,
    edited_at INTEGER,
    edited_by TEXT
);
CREATE INDEX assets_risk ON assets (risk);
CREATE INDEX assets_ip_key ON assets (ip_key);
CREATE INDEX assets_first_seen ON assets (first_seen);
CREATE TABLE asset_macs (
    ip TEXT NOT NULL,
    mac TEXT NOT NULL,
    source TEXT NOT NULL,
    first_seen INTEGER NOT NULL,
    last_seen INTEGER NOT NULL,
    PRIMARY KEY (ip, mac, source)
) WITHOUT ROWID;
CREATE INDEX asset_macs_mac ON asset_macs (mac);
CREATE TABLE asset_names (
    ip TEXT NOT NULL,
    name TEXT NOT NULL,
    source TEXT NOT NULL,
    first_seen INTEGER NOT NULL,
    last_seen INTEGER NOT NULL,
    PRIMARY KEY (ip, name, source)
) WITHOUT ROWID;
CREATE INDEX asset_names_name ON asset_names (name);
CREATE INDEX asset_names_last_seen ON asset_names (last_seen);
CREATE TABLE asset_services (
    ip TEXT NOT NULL,
    port INTEGER NOT NULL,
    proto TEXT NOT NULL,
    app_proto TEXT,
    banner TEXT,
    tls_version TEXT,
    flows INTEGER NOT NULL DEFAULT 0,
    external_flows INTEGER NOT NULL DEFAULT 0,
    first_seen INTEGER NOT NULL,
    last_seen INTEGER NOT NULL,
    PRIMARY KEY (ip, port, proto)
) WITHOUT ROWID;
CREATE TABLE asset_sensors (
    ip TEXT NOT NULL,
    sensor TEXT NOT NULL,
    first_seen INTEGER NOT NULL,
    last_seen INTEGER NOT NULL,
    PRIMARY KEY (ip, sensor)
) WITHOUT ROWID;
-- Clues to the operating system: source (dhcp-vendor-class, http-user-agent, ...), the
-- value seen, the OS it points to and how much it weighs.
CREATE TABLE asset_os_hints (
    ip TEXT NOT NULL,
    source TEXT NOT NULL,
    value TEXT NOT NULL,
    os TEXT NOT NULL,
    weight REAL NOT NULL,
    last_seen INTEGER NOT NULL,
    PRIMARY KEY (ip, source, value)
) WITHOUT ROWID;
-- Alerts and findings per host, deduplicated by (role, kind, key): what risk scores read
CREATE TABLE risk_evidence (
    ip TEXT NOT NULL,
    role TEXT NOT NULL,
    kind TEXT NOT NULL,
    key TEXT NOT NULL,
    label TEXT NOT NULL,
    category TEXT,
    severity INTEGER NOT NULL,
    confidence REAL NOT NULL,
    count INTEGER NOT NULL,
    first_seen INTEGER NOT NULL,
    last_seen INTEGER NOT NULL,
    PRIMARY KEY (ip, role, kind, key)
) WITHOUT ROWID;
CREATE INDEX risk_evidence_last_seen ON risk_evidence (last_seen);
-- One score per host (ip) and day, and the network score (ip empty): the latest of the day wins.
CREATE TABLE risk_history (
    day INTEGER NOT NULL,
    ip TEXT NOT NULL,
    score INTEGER NOT NULL,
    PRIMARY KEY (day, ip)
) WITHOUT ROWID;
CREATE INDEX risk_history_ip ON risk_history (ip, day);
