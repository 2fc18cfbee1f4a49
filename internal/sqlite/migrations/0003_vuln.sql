-- 0003: advisories, the KEV catalog and findings.
--
-- An advisory is stored whole as JSON (the domain Advisory) beside the
-- columns lists filter on; advisory_packages indexes it by the
-- (ecosystem, package) pairs it affects, the key evaluation fetches by.

CREATE TABLE advisories (
	id           TEXT    PRIMARY KEY,
	source       TEXT    NOT NULL,
	severity     TEXT    NOT NULL DEFAULT 'unknown',
	severity_rank INTEGER NOT NULL DEFAULT 0,   -- patchbay.SeverityRank, for "high or worse"
	cvss_score   REAL    NOT NULL DEFAULT 0,
	withdrawn    INTEGER NOT NULL DEFAULT 0,    -- unix nanoseconds, 0: not withdrawn
	published    INTEGER NOT NULL DEFAULT 0,
	modified     INTEGER NOT NULL DEFAULT 0,
	content_hash TEXT    NOT NULL,              -- SHA-256 of data: an unchanged re-import writes nothing
	data         TEXT    NOT NULL,              -- JSON of patchbay.Advisory
	imported_at  INTEGER NOT NULL
) STRICT;

CREATE TABLE advisory_packages (
	ecosystem   TEXT NOT NULL,
	package     TEXT NOT NULL,
	advisory_id TEXT NOT NULL REFERENCES advisories (id) ON DELETE CASCADE,
	PRIMARY KEY (ecosystem, package, advisory_id)
) STRICT, WITHOUT ROWID;

CREATE INDEX advisory_packages_advisory ON advisory_packages (advisory_id);

CREATE TABLE advisory_cves (
	cve         TEXT NOT NULL,
	advisory_id TEXT NOT NULL REFERENCES advisories (id) ON DELETE CASCADE,
	PRIMARY KEY (cve, advisory_id)
) STRICT, WITHOUT ROWID;

CREATE INDEX advisory_cves_advisory ON advisory_cves (advisory_id, cve);

CREATE TABLE kev (
	cve         TEXT PRIMARY KEY,
	date_added  INTEGER NOT NULL DEFAULT 0,
	due_date    INTEGER NOT NULL DEFAULT 0,
	vendor      TEXT    NOT NULL DEFAULT '',
	product     TEXT    NOT NULL DEFAULT '',
	name        TEXT    NOT NULL DEFAULT '',
	ransomware  INTEGER NOT NULL DEFAULT 0
) STRICT, WITHOUT ROWID;

-- Findings: one row per (host, package, arch, advisory) while open; a
-- resolved finding keeps its row with resolved_at set, and the same match
-- appearing again later opens a new row. Severity, score, CVEs and the KEV
-- flag are read from the advisory and the KEV table when listed, so they
-- follow feed updates without re-evaluation.
CREATE TABLE findings (
	id                INTEGER PRIMARY KEY,
	host_id           INTEGER NOT NULL REFERENCES hosts (id) ON DELETE CASCADE,
	package           TEXT    NOT NULL,
	arch              TEXT    NOT NULL,
	source_name       TEXT    NOT NULL DEFAULT '',
	installed_version TEXT    NOT NULL,
	advisory_id       TEXT    NOT NULL REFERENCES advisories (id),
	fixed_version     TEXT    NOT NULL DEFAULT '',
	evidence          TEXT    NOT NULL DEFAULT '',
	first_seen        INTEGER NOT NULL,
	resolved_at       INTEGER NOT NULL DEFAULT 0
) STRICT;

CREATE UNIQUE INDEX findings_open ON findings (host_id, package, arch, advisory_id) WHERE resolved_at = 0;
CREATE INDEX findings_advisory ON findings (advisory_id, resolved_at);
CREATE INDEX findings_host ON findings (host_id, resolved_at);
