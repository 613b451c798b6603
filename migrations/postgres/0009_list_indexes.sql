-- Indexes for the list of seed 000 at scale (issue 4's benchmark: 1,000,000 files).
--
-- Search is a substring match (`LIKE '%term%'`), which no b-tree serves: trigram indexes do,
-- on the folded name and on the id's digits. pg_trgm ships with PostgreSQL (contrib) and is
-- a trusted extension, so the database owner may create it.
CREATE EXTENSION IF NOT EXISTS pg_trgm;
CREATE INDEX media_files_name_trgm ON media_files USING gin (name_folded gin_trgm_ops)
    WHERE deleted_at IS NULL;
CREATE INDEX media_files_id_trgm ON media_files USING gin ((CAST(id AS TEXT)) gin_trgm_ops)
    WHERE deleted_at IS NULL;
-- Names are nearly unique: the default sample misjudges how many match a term, and with it
-- whether to scan in page order or collect the matches first.
ALTER TABLE media_files ALTER COLUMN name_folded SET STATISTICS 1000;

-- Both dimension filters at once (images larger than a screen).
CREATE INDEX media_files_width_height ON media_files (width, height) WHERE deleted_at IS NULL;

-- Orderings by fields with few distinct values are only served by an index that also holds
-- the `-id` tie-break, in both directions: `field ASC, id DESC` is this index read forward,
-- `field DESC, id DESC` the `(field, id)` one read backward.
CREATE INDEX media_files_type_id ON media_files (media_type, id) WHERE deleted_at IS NULL;
CREATE INDEX media_files_type_id_desc ON media_files (media_type, id DESC) WHERE deleted_at IS NULL;
CREATE INDEX media_files_user_id ON media_files (user_id, id) WHERE deleted_at IS NULL;
CREATE INDEX media_files_user_id_desc ON media_files (user_id, id DESC) WHERE deleted_at IS NULL;
CREATE INDEX media_files_width_id_desc ON media_files (width, id DESC) WHERE deleted_at IS NULL;
CREATE INDEX media_files_height_id_desc ON media_files (height, id DESC) WHERE deleted_at IS NULL;
CREATE INDEX media_files_mode_id ON media_files (mode, id) WHERE deleted_at IS NULL;
CREATE INDEX media_files_mode_id_desc ON media_files (mode, id DESC) WHERE deleted_at IS NULL;
