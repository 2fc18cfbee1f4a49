-- 0007: the changelogs of pending updates (Debian family), one per
-- (source package, candidate version) for the whole fleet; whether a host
-- is attached to Ubuntu Pro. (0006 is
-- another branch's; the runner applies every number it has not recorded,
-- in order, so the gap and a later 0006 are both fine.)

-- A changelog is fetched by a job on one host that has the update
-- pending; state says where that is. A failed fetch is retried from
-- next_attempt on (backoff), a job never answered after a while on
-- another host.
CREATE TABLE changelogs (
	id             INTEGER PRIMARY KEY,
	source         TEXT    NOT NULL,
	version        TEXT    NOT NULL,  -- the candidate version of the update
	state          TEXT    NOT NULL CHECK (state IN ('fetching', 'fetched', 'failed')),
	source_version TEXT    NOT NULL DEFAULT '',  -- as the downloaded package names its source
	package        TEXT    NOT NULL DEFAULT '',  -- the binary package read
	job_id         TEXT    NOT NULL DEFAULT '',  -- the current job
	host_id        INTEGER NOT NULL DEFAULT 0,   -- its host (no foreign key: a host removed leaves the data)
	attempts       INTEGER NOT NULL DEFAULT 0,
	requested_at   INTEGER NOT NULL DEFAULT 0,
	fetched_at     INTEGER NOT NULL DEFAULT 0,
	next_attempt   INTEGER NOT NULL DEFAULT 0,
	error          TEXT    NOT NULL DEFAULT '',
	entries_read   INTEGER NOT NULL DEFAULT 0,
	truncated      INTEGER NOT NULL DEFAULT 0,
	UNIQUE (source, version)
) STRICT;

CREATE INDEX changelogs_job ON changelogs (job_id);

-- The entries of a fetched changelog that mention CVEs; seq 0 is the newest.
CREATE TABLE changelog_entries (
	changelog_id INTEGER NOT NULL REFERENCES changelogs (id) ON DELETE CASCADE,
	seq          INTEGER NOT NULL,
	version      TEXT    NOT NULL,
	date         INTEGER NOT NULL,  -- unix nanoseconds, 0: unknown
	cves         TEXT    NOT NULL,  -- JSON array, sorted
	PRIMARY KEY (changelog_id, seq)
) STRICT, WITHOUT ROWID;

-- Whether an Ubuntu host is attached to Ubuntu Pro (its agent reads
-- /var/lib/ubuntu-advantage/status.json): advisories of the Ubuntu:Pro:
-- ecosystems apply only to attached hosts.
ALTER TABLE hosts ADD COLUMN ubuntu_pro INTEGER NOT NULL DEFAULT 0;
