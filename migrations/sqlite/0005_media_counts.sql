-- Live files per (uploader, type), kept by the projector in the same transaction as the rows:
-- the exact `count` of an unfiltered, type- or user-filtered list without scanning the table.
CREATE TABLE media_counts
(
    user_id    integer NOT NULL,
    media_type text    NOT NULL,
    live       integer NOT NULL,
    PRIMARY KEY (user_id, media_type)
) STRICT;
