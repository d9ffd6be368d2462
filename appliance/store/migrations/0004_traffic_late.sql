-- Late minutes. A flow or stats record older than the fold watermarks (an old capture, an
-- old EVE file, a flow logged long after it started) is added to its minute row as
-- before, and also appended here, in the same transaction as its event. The next
-- maintenance pass adds these rows to the hours and days in one GROUP BY and empties the
-- table; until then, queries of hours and days read them too, so every total stays exact.
-- Same columns as the rollup table of the same name, without `res`; no key: appending is
-- what makes a late batch cheap.
CREATE TABLE traffic_iface_late (
    bucket INTEGER NOT NULL, sensor INTEGER NOT NULL, iface TEXT NOT NULL,
    bytes INTEGER NOT NULL, pkts INTEGER NOT NULL, flows INTEGER NOT NULL
);
CREATE TABLE traffic_app_late (
    bucket INTEGER NOT NULL, app TEXT NOT NULL,
    bytes INTEGER NOT NULL, pkts INTEGER NOT NULL, flows INTEGER NOT NULL
);
CREATE TABLE traffic_service_late (
    bucket INTEGER NOT NULL, proto INTEGER NOT NULL, port INTEGER NOT NULL,
    bytes INTEGER NOT NULL, pkts INTEGER NOT NULL, flows INTEGER NOT NULL
);
CREATE TABLE traffic_host_late (
    bucket INTEGER NOT NULL, ip BLOB NOT NULL,
    bytes_out INTEGER NOT NULL, bytes_in INTEGER NOT NULL,
    pkts_out INTEGER NOT NULL, pkts_in INTEGER NOT NULL,
    flows_out INTEGER NOT NULL, flows_in INTEGER NOT NULL
);
CREATE TABLE traffic_conv_late (
    bucket INTEGER NOT NULL, src BLOB NOT NULL, dest BLOB NOT NULL,
    bytes INTEGER NOT NULL, pkts INTEGER NOT NULL, flows INTEGER NOT NULL
);
CREATE TABLE traffic_country_late (
    bucket INTEGER NOT NULL, cc TEXT NOT NULL,
    bytes INTEGER NOT NULL, pkts INTEGER NOT NULL, flows INTEGER NOT NULL
);
CREATE TABLE traffic_asn_late (
    bucket INTEGER NOT NULL, asn TEXT NOT NULL,
    bytes INTEGER NOT NULL, pkts INTEGER NOT NULL, flows INTEGER NOT NULL
);
CREATE TABLE traffic_capture_late (
    bucket INTEGER NOT NULL, sensor INTEGER NOT NULL, iface TEXT NOT NULL,
    packets INTEGER NOT NULL, drops INTEGER NOT NULL
);
