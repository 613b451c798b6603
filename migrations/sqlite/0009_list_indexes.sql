-- Indexes for the list of seed 000 at scale (the PostgreSQL twin of this file also adds
-- trigram indexes for search, which SQLite has no equivalent of: search scans here).

-- Both dimension filters at once (images larger than a screen).
CREATE INDEX media_files_width_height ON media_files (width, height) WHERE deleted_at IS NULL;

-- Orderings by fields with few distinct values are only served by an index that also holds
-- the `-id` tie-break, in both directions.
CREATE INDEX media_files_type_id ON media_files (media_type, id) WHERE deleted_at IS NULL;
CREATE INDEX media_files_type_id_desc ON media_files (media_type, id DESC) WHERE deleted_at IS NULL;
CREATE INDEX media_files_user_id ON media_files (user_id, id) WHERE deleted_at IS NULL;
CREATE INDEX media_files_user_id_desc ON media_files (user_id, id DESC) WHERE deleted_at IS NULL;
CREATE INDEX media_files_width_id_desc ON media_files (width, id DESC) WHERE deleted_at IS NULL;
CREATE INDEX media_files_height_id_desc ON media_files (height, id DESC) WHERE deleted_at IS NULL;
CREATE INDEX media_files_mode_id ON media_files (mode, id) WHERE deleted_at IS NULL;
CREATE INDEX media_files_mode_id_desc ON media_files (mode, id DESC) WHERE deleted_at IS NULL;
