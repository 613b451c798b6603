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
    -- A global sequence alone can commit out of order. The writing transaction's id, read
    -- together with the oldest still-running transaction, tells which positions are final.
    global_seq     bigint GENERATED ALWAYS AS IDENTITY,
    tx_id          xid8                         NOT NULL DEFAULT pg_current_xact_id(),
    recorded_at    timestamptz                  NOT NULL DEFAULT now(),
    PRIMARY KEY (aggregate_type, aggregate_id, sequence)
);

CREATE INDEX events_commit_order ON events (tx_id, global_seq);
