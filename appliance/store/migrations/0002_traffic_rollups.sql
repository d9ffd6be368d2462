-- Traffic rollups, written at ingest in the same transaction as the flow and stats
-- records they count, so they hold each record exactly once.
-- Every rollup table has the same shape: res (0 minute, 1 hour, 2 day), bucket (start of
-- the bucket, UTC microseconds; days start at local midnight), the dimension's key, and
-- the sums. Minutes fold into hours and hours into days (traffic_fold); each resolution
-- has its own retention.

-- Settings the ingesting process needs (HOME_NET, day offset, retention), written from
-- the configuration by whoever opens the store with it; JSON values.
CREATE TABLE traffic_settings (
    name TEXT PRIMARY KEY,
    value TEXT NOT NULL
);

-- Fold watermarks: every bucket of the finer resolution before `upto` has been added to
-- resolution `res` (1 hours, 2 days). Late data before it is written to both.
CREATE TABLE traffic_fold (
    res INTEGER PRIMARY KEY,
    upto INTEGER NOT NULL
);
INSERT INTO traffic_fold VALUES (1, 0);
INSERT INTO traffic_fold VALUES (2, 0);

-- Bytes, packets and flows (flows counted in the bucket where they start) per interface.
CREATE TABLE traffic_iface (
    res INTEGER NOT NULL, bucket INTEGER NOT NULL,
    sensor INTEGER NOT NULL, iface TEXT NOT NULL,
    bytes INTEGER NOT NULL, pkts INTEGER NOT NULL, flows INTEGER NOT NULL,
    PRIMARY KEY (res, bucket, sensor, iface)
) WITHOUT ROWID;

-- Per application protocol (Suricata's app_proto; "unknown" when none was detected).
CREATE TABLE traffic_app (
    res INTEGER NOT NULL, bucket INTEGER NOT NULL,
    app TEXT NOT NULL,
    bytes INTEGER NOT NULL, pkts INTEGER NOT NULL, flows INTEGER NOT NULL,
    PRIMARY KEY (res, bucket, app)
) WITHOUT ROWID;

-- Per service: IP protocol number and server port (-1 without ports, e.g. ICMP).
CREATE TABLE traffic_service (
    res INTEGER NOT NULL, bucket INTEGER NOT NULL,
    proto INTEGER NOT NULL, port INTEGER NOT NULL,
    bytes INTEGER NOT NULL, pkts INTEGER NOT NULL, flows INTEGER NOT NULL,
    PRIMARY KEY (res, bucket, proto, port)
) WITHOUT ROWID;

-- Per host inside HOME_NET (packed address), in and out as seen from the host; flows_out
-- are flows it started, flows_in flows it answered.
CREATE TABLE traffic_host (
    res INTEGER NOT NULL, bucket INTEGER NOT NULL,
    ip BLOB NOT NULL,
    bytes_out INTEGER NOT NULL, bytes_in INTEGER NOT NULL,
    pkts_out INTEGER NOT NULL, pkts_in INTEGER NOT NULL,
    flows_out INTEGER NOT NULL, flows_in INTEGER NOT NULL,
    PRIMARY KEY (res, bucket, ip)
) WITHOUT ROWID;
CREATE INDEX traffic_host_ip ON traffic_host(ip, res, bucket) WHERE res > 0;

-- Per conversation: client (src) and server (dest) as Suricata oriented the flow.
CREATE TABLE traffic_conv (
    res INTEGER NOT NULL, bucket INTEGER NOT NULL,
    src BLOB NOT NULL, dest BLOB NOT NULL,
    bytes INTEGER NOT NULL, pkts INTEGER NOT NULL, flows INTEGER NOT NULL,
    PRIMARY KEY (res, bucket, src, dest)
) WITHOUT ROWID;
CREATE INDEX traffic_conv_src ON traffic_conv(src, res, bucket) WHERE res > 0;
CREATE INDEX traffic_conv_dest ON traffic_conv(dest, res, bucket) WHERE res > 0;

-- Traffic between HOME_NET and the outside, by the remote end's country ("--" unknown)
-- and autonomous system (organisation name; "" unknown).
CREATE TABLE traffic_country (
    res INTEGER NOT NULL, bucket INTEGER NOT NULL,
    cc TEXT NOT NULL,
    bytes INTEGER NOT NULL, pkts INTEGER NOT NULL, flows INTEGER NOT NULL,
    PRIMARY KEY (res, bucket, cc)
) WITHOUT ROWID;
CREATE TABLE traffic_asn (
    res INTEGER NOT NULL, bucket INTEGER NOT NULL,
    asn TEXT NOT NULL,
    bytes INTEGER NOT NULL, pkts INTEGER NOT NULL, flows INTEGER NOT NULL,
    PRIMARY KEY (res, bucket, asn)
) WITHOUT ROWID;

-- Capture health from Suricata's stats records: packets seen and dropped by the kernel.
CREATE TABLE traffic_capture (
    res INTEGER NOT NULL, bucket INTEGER NOT NULL,
    sensor INTEGER NOT NULL, iface TEXT NOT NULL,
    packets INTEGER NOT NULL, drops INTEGER NOT NULL,
    PRIMARY KEY (res, bucket, sensor, iface)
) WITHOUT ROWID;
-- The last cumulative counters per sensor, to turn stats records into deltas.
CREATE TABLE traffic_capture_last (
    sensor INTEGER NOT NULL, iface TEXT NOT NULL,
    ts INTEGER NOT NULL, uptime INTEGER NOT NULL,
    packets INTEGER NOT NULL, drops INTEGER NOT NULL,
    PRIMARY KEY (sensor, iface)
) WITHOUT ROWID;

-- First contacts: an internal host first seen ('host', key ''), with a remote country
-- ('cc') or AS ('as'), serving a port ('port', key 'proto/port'). The id orders them, so
-- the novelty detector keeps a cursor on it.
CREATE TABLE traffic_seen (
    id INTEGER PRIMARY KEY,
    host BLOB NOT NULL,
    kind TEXT NOT NULL,
    key TEXT NOT NULL,
    first_seen INTEGER NOT NULL,
    UNIQUE (host, kind, key)
);
