-- The read side: relational tables the projector writes from events and the API reads.
-- Every filter and ordering field of seed 000 is an indexed column; times are microseconds
-- since the Unix epoch; deleted files stay as tombstones (deleted_at) so that history and
-- idempotent replays can find them, and every live-file index skips them.
CREATE TABLE media_files
(
    id                integer PRIMARY KEY,
    aggregate_id      text   NOT NULL UNIQUE,
    -- The last aggregate sequence applied to this row: replays skip what it has seen.
    version           integer NOT NULL,
    user_id           integer NOT NULL,
    media_type        text   NOT NULL,
    mime              text   NOT NULL,
    blob_hash         text   NOT NULL,
    original_filename text   NOT NULL,
    -- Text compares by code point on both backends.
    name              text NOT NULL,
    -- The name lower-cased by the application (Unicode), for case-insensitive search.
    name_folded       text NOT NULL,
    description       text   NOT NULL,
    size              integer NOT NULL,
    width             integer,
    height            integer,
    mode              text,
    created_at        integer NOT NULL,
    updated_at        integer NOT NULL,
    deleted_at        integer
) STRICT;

CREATE INDEX media_files_created ON media_files (created_at, id) WHERE deleted_at IS NULL;
CREATE INDEX media_files_updated ON media_files (updated_at, id) WHERE deleted_at IS NULL;
CREATE INDEX media_files_type_created ON media_files (media_type, created_at, id) WHERE deleted_at IS NULL;
CREATE INDEX media_files_user_created ON media_files (user_id, created_at, id) WHERE deleted_at IS NULL;
CREATE INDEX media_files_size ON media_files (size, id) WHERE deleted_at IS NULL;
CREATE INDEX media_files_width ON media_files (width, id) WHERE deleted_at IS NULL;
CREATE INDEX media_files_height ON media_files (height, id) WHERE deleted_at IS NULL;
CREATE INDEX media_files_name ON media_files (name, id) WHERE deleted_at IS NULL;
CREATE INDEX media_files_blob ON media_files (blob_hash) WHERE deleted_at IS NULL;

CREATE TABLE media_thumbnails
(
    id        integer PRIMARY KEY,
    file_id   integer NOT NULL REFERENCES media_files (id),
    box_size  integer NOT NULL,
    blob_hash text   NOT NULL,
    width     integer NOT NULL,
    height    integer NOT NULL,
    bytes     integer NOT NULL
) STRICT;

CREATE INDEX media_thumbnails_file ON media_thumbnails (file_id);
CREATE INDEX media_thumbnails_blob ON media_thumbnails (blob_hash);

-- How far each projection has read the event store, written in the same transaction as the
-- rows it produced: the global_seq of the last event applied.
CREATE TABLE projection_checkpoints
(
    name text PRIMARY KEY,
    seq  integer NOT NULL
) STRICT;
