-- Rules as administrators manage them (appliance/service/rules.py).
-- rule_index holds every rule of the active ruleset and of the configured sources (about
-- 15,000 with ET Open), rebuilt when a rule file changes; rule_fts is its full-text index
-- (external content, rebuilt with the index: migrations have no triggers).
-- rule_policy, rule_thresholds and rule_sources are the desired state that spanwatch-core
-- applies through suricata-update and suricata -T (appliance/suricata/rule_policy.py).

CREATE TABLE rule_index (
    sid INTEGER PRIMARY KEY,
    gid INTEGER NOT NULL DEFAULT 1,
    rev INTEGER NOT NULL DEFAULT 0,
    action TEXT NOT NULL,
    proto TEXT NOT NULL,
    msg TEXT NOT NULL,
    classtype TEXT NOT NULL DEFAULT '',
    category TEXT NOT NULL DEFAULT '',
    source TEXT NOT NULL DEFAULT '',
    enabled_default INTEGER NOT NULL,
    active INTEGER NOT NULL DEFAULT 0,
    active_rev INTEGER,
    content TEXT NOT NULL DEFAULT '',
    metadata TEXT NOT NULL DEFAULT '',
    raw TEXT NOT NULL
);
CREATE INDEX rule_index_category ON rule_index(category);
CREATE INDEX rule_index_classtype ON rule_index(classtype);

CREATE VIRTUAL TABLE rule_fts USING fts5(
    msg, sid, classtype, category, content, metadata,
    content='rule_index', content_rowid='sid', tokenize='unicode61'
);

CREATE TABLE rule_policy (
    kind TEXT NOT NULL,
    key TEXT NOT NULL,
    enabled INTEGER NOT NULL,
    reason TEXT NOT NULL DEFAULT '',
    actor TEXT NOT NULL,
    updated_at INTEGER NOT NULL,
    PRIMARY KEY (kind, key)
);

CREATE TABLE rule_thresholds (
    id INTEGER PRIMARY KEY,
    kind TEXT NOT NULL,
    gid INTEGER NOT NULL DEFAULT 1,
    sid INTEGER NOT NULL,
    type TEXT,
    track TEXT,
    count INTEGER,
    seconds INTEGER,
    ip TEXT,
    reason TEXT NOT NULL,
    expires_at INTEGER,
    created_by TEXT NOT NULL,
    created_at INTEGER NOT NULL
);
CREATE INDEX rule_thresholds_sid ON rule_thresholds(sid);

CREATE TABLE rule_sources (
    name TEXT PRIMARY KEY,
    url TEXT,
    path TEXT,
    enabled INTEGER NOT NULL,
    origin TEXT NOT NULL,
    detail TEXT NOT NULL DEFAULT '',
    actor TEXT NOT NULL,
    updated_at INTEGER NOT NULL
);

CREATE TABLE rule_meta (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL,
    updated_at INTEGER NOT NULL
);
