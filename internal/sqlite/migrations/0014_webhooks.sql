-- 0014: webhooks, each with its place in the rollout logs (cursor: the id
-- of the last rollout_events row dealt with) and its delivery state.
CREATE TABLE webhooks (
	id           INTEGER PRIMARY KEY,
	name         TEXT    NOT NULL UNIQUE,
	url          TEXT    NOT NULL,
	secret       TEXT    NOT NULL,
	events       TEXT    NOT NULL, -- JSON array of rollout log kinds
	created_at   INTEGER NOT NULL,
	created_by   TEXT    NOT NULL,
	cursor       INTEGER NOT NULL,
	failures     INTEGER NOT NULL DEFAULT 0,
	next_attempt INTEGER NOT NULL DEFAULT 0,
	last_error   TEXT    NOT NULL DEFAULT '',
	delivered_at INTEGER NOT NULL DEFAULT 0,
	delivered    INTEGER NOT NULL DEFAULT 0
) STRICT;
