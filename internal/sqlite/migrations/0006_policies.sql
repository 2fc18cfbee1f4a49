-- 0006: patch policies, exceptions (holds), when the fleet first saw each
-- update, and the updates a rollout's plan left out for each host.

-- A stored patch policy (the built-in "all" and "security" are not
-- stored). Its rules are JSON of patchbay.Policy beside the name.
CREATE TABLE policies (
	id         INTEGER PRIMARY KEY,
	name       TEXT    NOT NULL UNIQUE,
	definition TEXT    NOT NULL,
	created_at INTEGER NOT NULL,
	created_by TEXT    NOT NULL,
	updated_at INTEGER NOT NULL,
	updated_by TEXT    NOT NULL
) STRICT;

-- An exception holds a package (name or pattern) or the fix of an
-- advisory/CVE off a host, the hosts of a selector, or all hosts, until
-- expires_at. Rows are never deleted: revoking sets revoked_at.
CREATE TABLE exceptions (
	id            INTEGER PRIMARY KEY,
	scope         TEXT    NOT NULL CHECK (scope IN ('host', 'selector', 'all')),
	host_id       INTEGER NOT NULL DEFAULT 0,
	selector      TEXT    NOT NULL DEFAULT '{}', -- JSON object
	package       TEXT    NOT NULL DEFAULT '',
	advisory      TEXT    NOT NULL DEFAULT '',
	reason        TEXT    NOT NULL,
	owner         TEXT    NOT NULL,
	expires_at    INTEGER NOT NULL,
	created_at    INTEGER NOT NULL,
	created_by    TEXT    NOT NULL,
	revoked_at    INTEGER NOT NULL DEFAULT 0,
	revoked_by    TEXT    NOT NULL DEFAULT '',
	revoke_reason TEXT    NOT NULL DEFAULT '',
	CHECK ((package = '') <> (advisory = ''))
) STRICT;

CREATE INDEX exceptions_expires ON exceptions (revoked_at, expires_at);

-- When the fleet first reported each (package, arch, candidate version)
-- as a pending update: the age a policy's minimum age is measured from.
CREATE TABLE update_first_seen (
	name       TEXT    NOT NULL,
	arch       TEXT    NOT NULL,
	version    TEXT    NOT NULL,
	first_seen INTEGER NOT NULL,
	PRIMARY KEY (name, arch, version)
) STRICT, WITHOUT ROWID;

-- Updates pending before this migration count from the host's last
-- inventory.
INSERT INTO update_first_seen (name, arch, version, first_seen)
	SELECT u.name, u.arch, u.candidate_version, MIN(h.last_inventory)
	FROM host_updates u JOIN hosts h ON h.id = u.host_id
	GROUP BY u.name, u.arch, u.candidate_version;

-- The pending updates the plan did not take for the host, each with why
-- (policy rule or exception): JSON of []patchbay.ExcludedUpdate.
ALTER TABLE rollout_hosts ADD COLUMN excluded TEXT NOT NULL DEFAULT '[]';
