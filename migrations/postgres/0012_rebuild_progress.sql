-- How far the last `projections rebuild` got, written by the CLI as it goes, so that the
-- server can show it in /metrics (issue 7: rebuild progress) while another process rebuilds.
CREATE TABLE projection_rebuilds
(
    name          text   NOT NULL PRIMARY KEY,
    events_done   bigint NOT NULL,
    events_total  bigint NOT NULL,
    -- Microseconds since the epoch, like the read model's times.
    started_at    bigint NOT NULL,
    updated_at    bigint NOT NULL,
    finished_at   bigint
);
