-- Write-side allocation of the public integer ids. Not read-model state: a rebuild keeps them.
CREATE TABLE id_counters
(
    name       text PRIMARY KEY,
    last_value integer NOT NULL
) STRICT;

INSERT INTO id_counters (name, last_value) VALUES ('media_file', 0), ('thumbnail', 0);
