-- A rollback rollout names the rollout it rolls back (0: none).
ALTER TABLE rollouts ADD COLUMN rollback_of INTEGER NOT NULL DEFAULT 0;
