-- Events commit in the order of their global_seq. A transaction that inserts events first
-- takes one transaction-scoped advisory lock, before its rows draw their sequence numbers,
-- and holds it until it commits: so a reader that has seen global_seq N has seen every event
-- below N, and "everything after the checkpoint" never skips a late commit. Waiting for the
-- oldest running transaction instead would stall every projection behind any long
-- transaction on the server (a backup, a report), so event writers take turns instead.
CREATE FUNCTION events_take_commit_turn() RETURNS trigger
    LANGUAGE plpgsql AS
$$
BEGIN
    -- 0x6d65646961 = 'media': one lock for the one event store in this database.
    PERFORM pg_advisory_xact_lock(469853987169);
    RETURN NULL;
END
$$;

CREATE TRIGGER events_commit_in_order
    BEFORE INSERT ON events
    FOR EACH STATEMENT EXECUTE FUNCTION events_take_commit_turn();
