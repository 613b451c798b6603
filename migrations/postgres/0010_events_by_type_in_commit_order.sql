-- Projections read the event store in commit order, a type at a time
-- (`WHERE aggregate_type = $1 AND global_seq > $2 ORDER BY global_seq LIMIT n`): this index
-- answers that with one range scan whatever the planner's statistics say (without it, a
-- stale estimate can pick a bitmap scan and a sort over every later event, per batch).
CREATE INDEX events_type_commit_order ON events (aggregate_type, global_seq);
