-- Users and API tokens. Managed by the CLI, not event-sourced; the read model joins `users`.
-- Times are microseconds since the Unix epoch, the same on both backends.
CREATE TABLE users
(
    id         integer PRIMARY KEY,
    uuid       text    NOT NULL UNIQUE,
    username   text    NOT NULL UNIQUE,
    first_name text    NOT NULL DEFAULT '',
    last_name  text    NOT NULL DEFAULT '',
    is_active  integer NOT NULL DEFAULT 1,
    is_staff   integer NOT NULL DEFAULT 0,
    is_admin   integer NOT NULL DEFAULT 0,
    last_login integer,
    created_at integer NOT NULL
) STRICT;

CREATE TABLE user_permissions
(
    user_id integer NOT NULL REFERENCES users (id),
    code    integer NOT NULL,
    PRIMARY KEY (user_id, code)
) STRICT;

-- Only a hash of each token is kept; `scopes` is a space-separated list, NULL for "all".
CREATE TABLE api_tokens
(
    id         integer PRIMARY KEY,
    user_id    integer NOT NULL REFERENCES users (id),
    token_hash text    NOT NULL UNIQUE,
    scopes     text,
    created_at integer NOT NULL,
    revoked_at integer
) STRICT;
