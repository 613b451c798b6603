-- The event store: the columns postgres-es 0.5 reads and writes, plus the commit order that
-- projectors follow. The composite primary key is what postgres-es turns into an optimistic-lock
-- conflict (23505), so it stays.
CREATE TABLE events
(
    aggregate_type text                         NOT NULL,
    aggregate_id   text                         NOT NULL,
    sequence       bigint CHECK (sequence >= 0) NOT NULL,
    event_type     text                         NOT NULL,
    event_version  text                         NOT NULL,
    payload        json                         NOT NULL,
    metadata       json                         NOT NULL,
    -- Commit order (migration 0006 makes the numbering follow it).
    global_seq     bigint GENERATED ALWAYS AS IDENTITY,
    recorded_at    timestamptz                  NOT NULL DEFAULT now(),
    PRIMARY KEY (aggregate_type, aggregate_id, sequence)
);

CREATE UNIQUE INDEX events_commit_order ON events (global_seq);
