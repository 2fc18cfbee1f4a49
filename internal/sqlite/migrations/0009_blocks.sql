-- 0009: versions blocked fleet-wide. (0007 and 0008 are other changes'.)
-- A block is never deleted: removing it sets removed_at. At most one block
-- in force per version.
CREATE TABLE blocks (
	id         INTEGER PRIMARY KEY,
	package    TEXT    NOT NULL,
	version    TEXT    NOT NULL,
	reason     TEXT    NOT NULL,
	created_at INTEGER NOT NULL,
	created_by TEXT    NOT NULL,
	removed_at INTEGER NOT NULL DEFAULT 0,
	removed_by TEXT    NOT NULL DEFAULT ''
) STRICT;

CREATE UNIQUE INDEX blocks_active ON blocks (package, version) WHERE removed_at = 0;
