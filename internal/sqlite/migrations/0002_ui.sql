-- 0002: users and web sessions of the UI.
--
-- A session row holds only the SHA-256 of the cookie's secret, so reading
-- the database does not let anyone sign in. Deleting a user ends its
-- sessions.

CREATE TABLE users (
	id            INTEGER PRIMARY KEY,
	username      TEXT    NOT NULL UNIQUE,
	password_hash TEXT    NOT NULL,
	role          TEXT    NOT NULL,
	created_at    INTEGER NOT NULL
) STRICT;

CREATE TABLE sessions (
	id_hash    TEXT    PRIMARY KEY,
	user_id    INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
	csrf_token TEXT    NOT NULL,
	created_at INTEGER NOT NULL,
	expires_at INTEGER NOT NULL
) STRICT, WITHOUT ROWID;

CREATE INDEX sessions_user ON sessions (user_id);
CREATE INDEX sessions_expires ON sessions (expires_at);

-- The UI's host list sorts by these counts; hostname ties keep pages stable.
CREATE INDEX hosts_security_updates ON hosts (security_updates_count, hostname, id);
