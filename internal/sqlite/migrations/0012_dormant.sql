-- 0012: retired hosts, and the catch-up of rollouts a host missed.
--
-- A retired host keeps its row, inventory and history; retired_at != 0
-- takes it out of lists, figures and plans. Stale and dormant are derived
-- from last_seen, never stored.
ALTER TABLE hosts ADD COLUMN retired_at INTEGER NOT NULL DEFAULT 0;
ALTER TABLE hosts ADD COLUMN retired_by TEXT NOT NULL DEFAULT '';
ALTER TABLE hosts ADD COLUMN retired_reason TEXT NOT NULL DEFAULT '';

-- A heartbeat looks up the rollouts its host missed.
CREATE INDEX rollout_hosts_host_state ON rollout_hosts (host_id, state);

-- Catch-up jobs are handed out before any other (priority 1).
ALTER TABLE jobs ADD COLUMN priority INTEGER NOT NULL DEFAULT 0;

-- The fleet's figures leave the (few) retired hosts out.
CREATE INDEX hosts_retired ON hosts (retired_at) WHERE retired_at != 0;

-- A host run started by a catch-up; and the rollouts with hosts in flight,
-- which the scheduler ticks even once they are completed (for timeouts).
ALTER TABLE rollout_hosts ADD COLUMN catch_up INTEGER NOT NULL DEFAULT 0;
CREATE INDEX rollout_hosts_running ON rollout_hosts (rollout_id) WHERE state = 'running';
