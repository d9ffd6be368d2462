-- The state database starts with a key/value table for small settings that are not
-- part of appliance.yaml (for example the time a job last ran, a UI preference).
-- Each area adds its own tables in its own numbered migration.
CREATE TABLE kv (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL,
    updated_at INTEGER NOT NULL
);
