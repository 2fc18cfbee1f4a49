-- 0004: rollouts, their hosts and event log, and the jobs handed to agents.
--
-- A rollout's definition (rings, budget, window, target) is stored whole
-- as JSON (the domain Rollout) beside the columns the scheduler reads.
-- Each host's frozen patch set is JSON on its rollout_hosts row: written
-- when the plan is made, never recomputed.

CREATE TABLE rollouts (
	id          INTEGER PRIMARY KEY,
	name        TEXT    NOT NULL,
	state       TEXT    NOT NULL,
	definition  TEXT    NOT NULL,            -- JSON of patchbay.Rollout
	created_by  TEXT    NOT NULL DEFAULT '',
	created_at  INTEGER NOT NULL,
	approved_at INTEGER NOT NULL DEFAULT 0,
	started_at  INTEGER NOT NULL DEFAULT 0,
	finished_at INTEGER NOT NULL DEFAULT 0
) STRICT;

CREATE INDEX rollouts_state ON rollouts (state);

CREATE TABLE rollout_hosts (
	rollout_id  INTEGER NOT NULL REFERENCES rollouts (id) ON DELETE CASCADE,
	host_id     INTEGER NOT NULL REFERENCES hosts (id) ON DELETE CASCADE,
	hostname    TEXT    NOT NULL,
	ring        INTEGER NOT NULL,
	state       TEXT    NOT NULL,
	attempts    INTEGER NOT NULL DEFAULT 0,
	failures    INTEGER NOT NULL DEFAULT 0,
	started_at  INTEGER NOT NULL DEFAULT 0,
	finished_at INTEGER NOT NULL DEFAULT 0,
	reason      TEXT    NOT NULL DEFAULT '',
	failed_gate TEXT    NOT NULL DEFAULT '',
	job_id      TEXT    NOT NULL DEFAULT '',
	patches     TEXT    NOT NULL,             -- JSON of []patchbay.PackageVersion
	PRIMARY KEY (rollout_id, host_id)
) STRICT;

CREATE TABLE rollout_events (
	id         INTEGER PRIMARY KEY,
	rollout_id INTEGER NOT NULL REFERENCES rollouts (id) ON DELETE CASCADE,
	time       INTEGER NOT NULL,
	actor      TEXT    NOT NULL,
	kind       TEXT    NOT NULL,
	host_id    INTEGER NOT NULL DEFAULT 0,
	detail     TEXT    NOT NULL DEFAULT ''
) STRICT;

CREATE INDEX rollout_events_rollout ON rollout_events (rollout_id, id);

CREATE TABLE jobs (
	id           TEXT    PRIMARY KEY,
	host_id      INTEGER NOT NULL REFERENCES hosts (id) ON DELETE CASCADE,
	rollout_id   INTEGER REFERENCES rollouts (id) ON DELETE CASCADE,
	payload      TEXT    NOT NULL,            -- JSON of patchbay.Job
	state        TEXT    NOT NULL,            -- queued | delivered | done
	result       TEXT    NOT NULL DEFAULT '', -- JSON of patchbay.JobResult once done
	queued_at    INTEGER NOT NULL,
	delivered_at INTEGER NOT NULL DEFAULT 0,
	finished_at  INTEGER NOT NULL DEFAULT 0
) STRICT;

CREATE INDEX jobs_host_pending ON jobs (host_id, state, queued_at);
