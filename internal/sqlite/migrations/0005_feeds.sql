-- 0005: advisory feed sources, and the fingerprint of each host's open
-- findings.

-- findings_fingerprint is the SHA-256 of the host's open findings as the
-- last reconcile wrote them ('' before the first): a re-evaluation that
-- finds the same set writes nothing.
ALTER TABLE hosts ADD COLUMN findings_fingerprint TEXT NOT NULL DEFAULT '';

-- A feed source is a URL the server downloads on a schedule with a
-- conditional GET (etag / last_modified are the validators of the last
-- download), and imports by kind.
CREATE TABLE feed_sources (
	id            INTEGER PRIMARY KEY,
	url           TEXT    NOT NULL UNIQUE,
	kind          TEXT    NOT NULL CHECK (kind IN ('osv', 'debian-tracker', 'kev')),
	created_at    INTEGER NOT NULL,
	etag          TEXT    NOT NULL DEFAULT '',
	last_modified TEXT    NOT NULL DEFAULT '',
	last_sync     INTEGER NOT NULL DEFAULT 0,   -- unix nanoseconds of the last attempt, 0: never
	last_status   TEXT    NOT NULL DEFAULT '',  -- '', 'imported', 'not-modified', 'error'
	last_error    TEXT    NOT NULL DEFAULT '',
	last_success  INTEGER NOT NULL DEFAULT 0,   -- last attempt that reached the feed (200 or 304)
	-- counts of the last download imported
	entries       INTEGER NOT NULL DEFAULT 0,   -- advisories or KEV entries read
	added         INTEGER NOT NULL DEFAULT 0,
	updated       INTEGER NOT NULL DEFAULT 0,
	unchanged     INTEGER NOT NULL DEFAULT 0
) STRICT;
