-- Ids, hashes and type names are ASCII keys, compared by bytes. With the database's default
-- collation (often a libc locale, even C.UTF-8) every comparison goes through strcoll: that
-- doubled the time to build their indexes (issue 6's rebuild builds them all) for an order
-- that is the same. Name and mode already compare by bytes (0004), as SQLite does.
ALTER TABLE media_files
    ALTER COLUMN aggregate_id TYPE text COLLATE "C",
    ALTER COLUMN media_type TYPE text COLLATE "C",
    ALTER COLUMN blob_hash TYPE text COLLATE "C";
ALTER TABLE media_thumbnails ALTER COLUMN blob_hash TYPE text COLLATE "C";
