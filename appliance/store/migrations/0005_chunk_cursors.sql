-- Readers that follow the store by chunk (the traffic rollups) keep their cursor here, in
-- the same database and transaction as what they write, so each chunk is counted once.
-- The row `chunks` is the highest chunk id ever given: new chunks are numbered after it,
-- so ids never go back when the newest chunks are deleted (a failed analysis) or every
-- chunk expires, and no cursor is ever left ahead of new chunks.
CREATE TABLE cursors (
    name TEXT PRIMARY KEY,
    chunk INTEGER NOT NULL
) WITHOUT ROWID;
INSERT INTO cursors SELECT 'chunks', coalesce(max(id), 0) FROM chunks;
-- Until now the rollups were made in the transaction that stored each chunk: every chunk
-- stored so far is counted.
INSERT INTO cursors SELECT 'traffic', coalesce(max(id), 0) FROM chunks;
