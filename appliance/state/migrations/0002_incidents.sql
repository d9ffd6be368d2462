-- Incidents: alerts and findings grouped into stories (appliance/incidents).
-- stages is a JSON object {stage: first seen}; attackers, victims and sensors are JSON
-- arrays (the first 50 hosts; incident_hosts holds every one). rev grows on every change, so the correlator reloads only what
-- changed since it last looked. A merged incident points at the one it joined.
CREATE TABLE incidents (
    id INTEGER PRIMARY KEY,
    title TEXT NOT NULL,
    title_vi TEXT NOT NULL,
    severity TEXT NOT NULL,
    auto_severity TEXT NOT NULL,
    status TEXT NOT NULL DEFAULT 'new',
    stages TEXT NOT NULL DEFAULT '{}',
    attackers TEXT NOT NULL DEFAULT '[]',
    victims TEXT NOT NULL DEFAULT '[]',
    attacker_count INTEGER NOT NULL DEFAULT 0,
    victim_count INTEGER NOT NULL DEFAULT 0,
    sensors TEXT NOT NULL DEFAULT '[]',
    first_seen INTEGER NOT NULL,
    last_seen INTEGER NOT NULL,
    alert_count INTEGER NOT NULL DEFAULT 0,
    finding_count INTEGER NOT NULL DEFAULT 0,
    evidence_severity INTEGER NOT NULL DEFAULT 3,
    assignee TEXT,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    closed_at INTEGER,
    reopened INTEGER NOT NULL DEFAULT 0,
    merged_into INTEGER,
    rev INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX incidents_status ON incidents(status, last_seen);
CREATE INDEX incidents_last_seen ON incidents(last_seen);
CREATE INDEX incidents_rev ON incidents(rev);

-- role: attacker, victim; deep = 1 when the victim was reached past reconnaissance (so
-- what it does next continues the same story).
CREATE TABLE incident_hosts (
    ip TEXT NOT NULL,
    incident_id INTEGER NOT NULL REFERENCES incidents(id) ON DELETE CASCADE,
    role TEXT NOT NULL,
    deep INTEGER NOT NULL DEFAULT 0,
    first_seen INTEGER NOT NULL,
    PRIMARY KEY (ip, incident_id, role)
) WITHOUT ROWID;
CREATE INDEX incident_hosts_incident ON incident_hosts(incident_id);

-- Repeated alerts of one signature (or findings of one type) between two hosts, counted.
-- src_ip/dest_ip are '' when the record named none.
CREATE TABLE incident_evidence (
    incident_id INTEGER NOT NULL REFERENCES incidents(id) ON DELETE CASCADE,
    kind TEXT NOT NULL,
    key TEXT NOT NULL,
    src_ip TEXT NOT NULL,
    dest_ip TEXT NOT NULL,
    label TEXT NOT NULL,
    stage TEXT NOT NULL,
    severity INTEGER NOT NULL,
    count INTEGER NOT NULL,
    first_seen INTEGER NOT NULL,
    last_seen INTEGER NOT NULL,
    event_ids TEXT NOT NULL DEFAULT '[]',
    PRIMARY KEY (incident_id, kind, key, src_ip, dest_ip)
) WITHOUT ROWID;

-- Which event-store sources (EVE files, analysed captures) fed an incident.
CREATE TABLE incident_sources (
    source_id INTEGER NOT NULL,
    incident_id INTEGER NOT NULL REFERENCES incidents(id) ON DELETE CASCADE,
    PRIMARY KEY (source_id, incident_id)
) WITHOUT ROWID;

CREATE TABLE incident_history (
    id INTEGER PRIMARY KEY,
    incident_id INTEGER NOT NULL REFERENCES incidents(id) ON DELETE CASCADE,
    ts INTEGER NOT NULL,
    actor TEXT NOT NULL,
    action TEXT NOT NULL,
    detail TEXT NOT NULL DEFAULT ''
);
CREATE INDEX incident_history_incident ON incident_history(incident_id, ts);

CREATE TABLE incident_comments (
    id INTEGER PRIMARY KEY,
    incident_id INTEGER NOT NULL REFERENCES incidents(id) ON DELETE CASCADE,
    ts INTEGER NOT NULL,
    author TEXT NOT NULL,
    text TEXT NOT NULL
);
CREATE INDEX incident_comments_incident ON incident_comments(incident_id, ts);

-- Suppressions (and false-positive marks, which carry the incident): matching evidence
-- opens and feeds no incident while active. removed_at ends one early.
CREATE TABLE incident_suppressions (
    id INTEGER PRIMARY KEY,
    sid INTEGER,
    finding_type TEXT,
    src TEXT,
    dest TEXT,
    reason TEXT NOT NULL,
    expires_at INTEGER,
    created_by TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    incident_id INTEGER,
    hits INTEGER NOT NULL DEFAULT 0,
    removed_at INTEGER,
    removed_by TEXT
);
