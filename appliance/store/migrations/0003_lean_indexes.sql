-- Leaner ingest: the (etype, ts) and chunk indexes cost a third of the insert time.
-- A chunk now records the id range of its rows (one chunk holds one batch of one kind
-- from one source, so the range is tight): its rows are found through the primary key,
-- and the retention and host lookups that went through the chunk index use that range.
ALTER TABLE chunks ADD COLUMN min_id INTEGER;
ALTER TABLE chunks ADD COLUMN max_id INTEGER;
UPDATE chunks SET
    min_id = (SELECT min(id) FROM events WHERE chunk = chunks.id),
    max_id = (SELECT max(id) FROM events WHERE chunk = chunks.id);
DROP INDEX events_type_ts;
DROP INDEX events_chunk;
