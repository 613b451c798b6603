-- PostgreSQL's 0011 gives ids, hashes and type names byte-order collation. SQLite compares
-- text by bytes already (BINARY); this file keeps the two folders numbered alike.
SELECT 1;
