-- 0013: how long a host run's attempt waited for a disruption lease, in
-- nanoseconds; the host timeout does not count it.
ALTER TABLE rollout_hosts ADD COLUMN lease_wait INTEGER NOT NULL DEFAULT 0;
