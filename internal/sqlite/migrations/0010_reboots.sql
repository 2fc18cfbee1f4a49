-- 0010: reboots. A running host's phase (what its job reports doing, for
-- the reboot timeout), disruption budgets per label and the leases that
-- enforce them across every rollout.

ALTER TABLE rollout_hosts ADD COLUMN phase       TEXT    NOT NULL DEFAULT '';
ALTER TABLE rollout_hosts ADD COLUMN phase_since INTEGER NOT NULL DEFAULT 0;
ALTER TABLE rollout_hosts ADD COLUMN rebooted    INTEGER NOT NULL DEFAULT 0;

CREATE TABLE disruption_budgets (
	id         INTEGER PRIMARY KEY,
	label      TEXT    NOT NULL,
	value      TEXT    NOT NULL DEFAULT '', -- '': per value of the label
	max        INTEGER NOT NULL CHECK (max >= 1),
	created_at INTEGER NOT NULL,
	created_by TEXT    NOT NULL DEFAULT '',
	UNIQUE (label, value)
) STRICT;

-- One lease per host: it may be disrupted (drained, rebooted) for job_id.
-- expires_at 0: held until released (a host that did not come back).
CREATE TABLE disruption_leases (
	host_id     INTEGER PRIMARY KEY REFERENCES hosts (id) ON DELETE CASCADE,
	job_id      TEXT    NOT NULL,
	rollout_id  INTEGER NOT NULL DEFAULT 0,
	acquired_at INTEGER NOT NULL,
	renewed_at  INTEGER NOT NULL,
	expires_at  INTEGER NOT NULL DEFAULT 0,
	note        TEXT    NOT NULL DEFAULT ''
) STRICT;
