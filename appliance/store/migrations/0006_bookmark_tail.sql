-- A hash of the bytes just before a bookmark's offset (sensors/eve/bookmark.py): a file
-- that begins as a bookmarked one does but holds other bytes there is another file, not
-- a copy of it to read on from that offset. NULL for bookmarks written before it.
ALTER TABLE bookmarks ADD COLUMN tail INTEGER;
