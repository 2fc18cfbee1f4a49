-- 0001: hosts, labels, normalised inventories, events, tokens.
--
-- Times are INTEGER unix nanoseconds in UTC; 0 stands for the zero time.
-- Tables are STRICT so a wrong type is an error instead of a silent cast.

CREATE TABLE hosts (
	id                       INTEGER PRIMARY KEY,
	machine_id               TEXT    NOT NULL UNIQUE,
	hostname                 TEXT    NOT NULL DEFAULT '',
	os_id                    TEXT    NOT NULL DEFAULT '',
	os_id_like               TEXT    NOT NULL DEFAULT '',
	os_version_id            TEXT    NOT NULL DEFAULT '',
	os_codename              TEXT    NOT NULL DEFAULT '',
	os_name                  TEXT    NOT NULL DEFAULT '',
	os_pretty_name           TEXT    NOT NULL DEFAULT '',
	kernel                   TEXT    NOT NULL DEFAULT '',
	arch                     TEXT    NOT NULL DEFAULT '',
	boot_id                  TEXT    NOT NULL DEFAULT '',
	uptime_seconds           INTEGER NOT NULL DEFAULT 0,
	ip_addresses             TEXT    NOT NULL DEFAULT '[]', -- JSON array, or null as the agent sent it
	package_manager          TEXT    NOT NULL DEFAULT '',
	packages_count           INTEGER NOT NULL DEFAULT 0,
	updates_count            INTEGER NOT NULL DEFAULT 0,
	security_updates_count   INTEGER NOT NULL DEFAULT 0,
	reboot_required          INTEGER NOT NULL DEFAULT 0,
	reboot_reasons           TEXT    NOT NULL DEFAULT '[]', -- JSON array, or null
	inventory_hash           TEXT    NOT NULL DEFAULT '',
	inventory_schema_version INTEGER NOT NULL DEFAULT 0,
	inventory_collected_at   INTEGER NOT NULL DEFAULT 0,
	-- Bit 0: the last inventory's packages list was null, bit 1: its
	-- updates list was. Kept so the reconstructed inventory hashes the same.
	inventory_nil_lists      INTEGER NOT NULL DEFAULT 0,
	updates_error            TEXT    NOT NULL DEFAULT '',
	interval_seconds         INTEGER NOT NULL DEFAULT 0,
	enrolled_at              INTEGER NOT NULL,
	last_seen                INTEGER NOT NULL,
	last_inventory           INTEGER NOT NULL DEFAULT 0,
	credential_hash          TEXT    NOT NULL UNIQUE,
	owner                    TEXT    NOT NULL DEFAULT '',
	environment              TEXT    NOT NULL DEFAULT '',
	role                     TEXT    NOT NULL DEFAULT '',
	criticality              TEXT    NOT NULL DEFAULT '',
	location                 TEXT    NOT NULL DEFAULT ''
) STRICT;

CREATE INDEX hosts_hostname ON hosts (hostname, id);
CREATE INDEX hosts_last_seen ON hosts (last_seen);

CREATE TABLE host_labels (
	host_id INTEGER NOT NULL REFERENCES hosts (id) ON DELETE CASCADE,
	key     TEXT    NOT NULL,
	value   TEXT    NOT NULL,
	PRIMARY KEY (host_id, key)
) STRICT, WITHOUT ROWID;

CREATE INDEX host_labels_key_value ON host_labels (key, value);

-- Every distinct package version seen in the fleet, once. The unique index
-- also serves lookups by name ("which versions of openssl exist").
CREATE TABLE package_versions (
	id             INTEGER PRIMARY KEY,
	name           TEXT NOT NULL,
	arch           TEXT NOT NULL,
	version        TEXT NOT NULL,
	source_name    TEXT NOT NULL,
	source_version TEXT NOT NULL,
	UNIQUE (name, arch, version, source_name, source_version)
) STRICT;

-- Which host has which package version: the one big table (hosts x
-- packages rows). Deliberately without foreign keys and without an index on
-- (package_id, host_id):
--   - the store is its only writer (SaveInventory, which checks the host
--     and takes the ids from package_versions in the same transaction);
--     foreign-key checks cost two b-tree seeks per row and made ingest about
--     three times slower;
--   - an index by package_id makes each host's transaction touch one leaf
--     page per package (about 2,000 scattered pages per commit), which
--     measured at 24k rows/s against 800k rows/s without it. "Which hosts
--     have package version P" is answered instead by seeking (host_id, P) in
--     this primary key for each host: one seek per host.
CREATE TABLE host_packages (
	host_id    INTEGER NOT NULL,
	package_id INTEGER NOT NULL,
	PRIMARY KEY (host_id, package_id)
) STRICT, WITHOUT ROWID;

CREATE TABLE host_updates (
	host_id           INTEGER NOT NULL REFERENCES hosts (id) ON DELETE CASCADE,
	name              TEXT    NOT NULL,
	arch              TEXT    NOT NULL,
	installed_version TEXT    NOT NULL,
	candidate_version TEXT    NOT NULL,
	origin            TEXT    NOT NULL,
	security          INTEGER NOT NULL,
	PRIMARY KEY (host_id, name, arch)
) STRICT, WITHOUT ROWID;

CREATE TABLE events (
	id          INTEGER PRIMARY KEY AUTOINCREMENT,
	host_id     INTEGER NOT NULL REFERENCES hosts (id) ON DELETE CASCADE,
	time        INTEGER NOT NULL,
	kind        TEXT    NOT NULL,
	package     TEXT    NOT NULL DEFAULT '',
	arch        TEXT    NOT NULL DEFAULT '',
	old_version TEXT    NOT NULL DEFAULT '',
	new_version TEXT    NOT NULL DEFAULT '',
	cause       TEXT    NOT NULL DEFAULT '',
	detail      TEXT    NOT NULL DEFAULT ''
) STRICT;

CREATE INDEX events_host_time ON events (host_id, time, id);
CREATE INDEX events_host_package ON events (host_id, package, time, id);

CREATE TABLE enroll_tokens (
	id         TEXT    PRIMARY KEY,
	hash       TEXT    NOT NULL,
	labels     TEXT    NOT NULL DEFAULT '{}', -- JSON object
	max_uses   INTEGER NOT NULL DEFAULT 0,
	uses       INTEGER NOT NULL DEFAULT 0,
	expires_at INTEGER NOT NULL DEFAULT 0,
	created_at INTEGER NOT NULL,
	revoked    INTEGER NOT NULL DEFAULT 0
) STRICT;

CREATE TABLE api_tokens (
	id         TEXT    PRIMARY KEY,
	name       TEXT    NOT NULL,
	hash       TEXT    NOT NULL UNIQUE,
	role       TEXT    NOT NULL,
	created_at INTEGER NOT NULL
) STRICT;
