-- PostgreSQL's 0006 makes event writers take turns so that global_seq is commit order.
-- SQLite has one writer at a time, so its numbering trigger (0001) already gives that.
SELECT 1;
