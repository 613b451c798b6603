-- The event store: the columns sqlite-es 0.5 reads and writes, plus the commit order that
-- projectors follow. The composite primary key is what sqlite-es turns into an optimistic-lock
-- conflict (1555), so it stays.
CREATE TABLE events
(
    aggregate_type text                          NOT NULL,
    aggregate_id   text                          NOT NULL,
    sequence       integer CHECK (sequence >= 0) NOT NULL,
    event_type     text                          NOT NULL,
    event_version  text                          NOT NULL,
    payload        text                          NOT NULL,
    metadata       text                          NOT NULL,
    -- SQLite has one writer at a time, so numbering rows as they are inserted is commit order.
    -- The implicit rowid is not used: VACUUM may renumber it.
    global_seq     integer,
    recorded_at    text                          NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    PRIMARY KEY (aggregate_type, aggregate_id, sequence)
) STRICT;

CREATE UNIQUE INDEX events_commit_order ON events (global_seq);

CREATE TRIGGER events_number_in_commit_order AFTER INSERT ON events
BEGIN
    UPDATE events
       SET global_seq = (SELECT coalesce(max(global_seq), 0) + 1 FROM events)
     WHERE rowid = NEW.rowid;
END;
