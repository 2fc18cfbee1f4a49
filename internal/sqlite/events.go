package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"time"

	"github.com/patchbay/patchbay"
)

// defaultEventLimit is how many events Events returns when the filter sets
// no limit.
const defaultEventLimit = 1000

const qInsertEvent = `INSERT INTO events
	(host_id, time, kind, package, arch, old_version, new_version, cause, detail)
	VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`

// insertEvents appends events to the host's timeline. An event without a
// time gets now, the time of the transaction.
func (db *DB) insertEvents(ctx context.Context, tx *sql.Tx, hostID int64, events []patchbay.Event, now time.Time) error {
	if len(events) == 0 {
		return nil
	}
	stmt := db.stmt(ctx, tx, qInsertEvent)
	for _, e := range events {
		if e.Kind == "" {
			return patchbay.Errorf(patchbay.EINVALID, "event without a kind")
		}
		t := e.Time
		if t.IsZero() {
			t = now
		}
		if _, err := stmt.ExecContext(ctx, hostID, nanos(t), string(e.Kind), e.Package, e.Arch,
			e.OldVersion, e.NewVersion, e.Cause, e.Detail); err != nil {
			return fmt.Errorf("insert %s event: %w", e.Kind, err)
		}
	}
	return nil
}

// Events returns events of one host, newest first.
func (db *DB) Events(ctx context.Context, f patchbay.EventFilter) ([]patchbay.Event, error) {
	if f.HostID == 0 {
		return nil, patchbay.Errorf(patchbay.EINVALID, "events: a host id is required")
	}
	if f.Limit < 0 {
		return nil, patchbay.Errorf(patchbay.EINVALID, "events: limit must not be negative")
	}
	where := []string{"host_id = ?"}
	args := []any{f.HostID}
	if !f.Since.IsZero() {
		where = append(where, "time >= ?")
		args = append(args, nanos(f.Since))
	}
	if f.Package != "" {
		where = append(where, "package = ?")
		args = append(args, f.Package)
	}
	if len(f.Kinds) > 0 {
		marks := make([]string, len(f.Kinds))
		for i, k := range f.Kinds {
			marks[i] = "?"
			args = append(args, string(k))
		}
		where = append(where, "kind IN ("+strings.Join(marks, ", ")+")")
	}
	limit := f.Limit
	if limit == 0 {
		limit = defaultEventLimit
	}
	args = append(args, limit)

	var events []patchbay.Event
	err := db.readTx(ctx, func(tx *sql.Tx) error {
		if err := hostExists(ctx, tx, f.HostID); err != nil {
			return err
		}
		rows, err := tx.QueryContext(ctx, `SELECT id, host_id, time, kind, package, arch, old_version, new_version, cause, detail
			FROM events WHERE `+strings.Join(where, " AND ")+`
			ORDER BY time DESC, id DESC LIMIT ?`, args...)
		if err != nil {
			return err
		}
		defer rows.Close()
		events = []patchbay.Event{}
		for rows.Next() {
			var (
				e    patchbay.Event
				t    int64
				kind string
			)
			if err := rows.Scan(&e.ID, &e.HostID, &t, &kind, &e.Package, &e.Arch, &e.OldVersion, &e.NewVersion, &e.Cause, &e.Detail); err != nil {
				return err
			}
			e.Time = fromNanos(t)
			e.Kind = patchbay.EventKind(kind)
			events = append(events, e)
		}
		return rows.Err()
	})
	if err != nil {
		return nil, fmt.Errorf("events of host %d: %w", f.HostID, err)
	}
	return events, nil
}
