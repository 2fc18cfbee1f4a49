package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/patchbay/patchbay"
)

const exceptionColumns = `e.id, e.scope, e.host_id, coalesce(h.hostname, ''), e.selector, e.package, e.advisory, e.reason, e.owner,
	e.expires_at, e.created_at, e.created_by, e.revoked_at, e.revoked_by, e.revoke_reason`

const exceptionFrom = ` FROM exceptions e LEFT JOIN hosts h ON h.id = e.host_id AND e.scope = 'host'`

func scanException(row interface{ Scan(...any) error }, now time.Time) (patchbay.Exception, error) {
	var (
		e                         patchbay.Exception
		sel                       string
		expires, created, revoked int64
	)
	err := row.Scan(&e.ID, &e.Scope, &e.HostID, &e.Hostname, &sel, &e.Package, &e.Advisory, &e.Reason, &e.Owner,
		&expires, &created, &e.CreatedBy, &revoked, &e.RevokedBy, &e.RevokeReason)
	if err != nil {
		return e, err
	}
	if err := json.Unmarshal([]byte(sel), &e.Selector); err != nil {
		return e, fmt.Errorf("exception %d: selector: %w", e.ID, err)
	}
	if len(e.Selector) == 0 {
		e.Selector = nil
	}
	e.ExpiresAt, e.CreatedAt, e.RevokedAt = fromNanos(expires), fromNanos(created), fromNanos(revoked)
	e.State = e.StateAt(now)
	return e, nil
}

// CreateException stores a new exception; e.CreatedAt is the time it is
// checked against.
func (db *DB) CreateException(ctx context.Context, e patchbay.Exception) (patchbay.Exception, error) {
	if err := e.Validate(e.CreatedAt); err != nil {
		return patchbay.Exception{}, err
	}
	sel, err := json.Marshal(e.Selector)
	if err != nil {
		return patchbay.Exception{}, err
	}
	if e.Selector == nil {
		sel = []byte("{}")
	}
	var id int64
	err = db.writeTx(ctx, func(tx *sql.Tx) error {
		if e.Scope == patchbay.ScopeHost {
			if err := hostExists(ctx, tx, e.HostID); err != nil {
				return err
			}
		}
		return tx.QueryRowContext(ctx, `INSERT INTO exceptions (scope, host_id, selector, package, advisory, reason, owner,
			expires_at, created_at, created_by) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id`,
			e.Scope, e.HostID, string(sel), e.Package, e.Advisory, e.Reason, e.Owner,
			nanos(e.ExpiresAt), nanos(e.CreatedAt), e.CreatedBy).Scan(&id)
	})
	if err != nil {
		return patchbay.Exception{}, fmt.Errorf("create exception: %w", err)
	}
	return db.Exception(ctx, id, e.CreatedAt)
}

// Exception returns one exception with its state at now.
func (db *DB) Exception(ctx context.Context, id int64, now time.Time) (patchbay.Exception, error) {
	e, err := scanException(db.read.QueryRowContext(ctx, `SELECT `+exceptionColumns+exceptionFrom+` WHERE e.id = ?`, id), now)
	if errors.Is(err, sql.ErrNoRows) {
		return e, patchbay.Errorf(patchbay.ENOTFOUND, "exception %d not found", id)
	}
	if err != nil {
		return e, fmt.Errorf("exception %d: %w", id, err)
	}
	return e, nil
}

// ListExceptions lists exceptions newest first: those active at now, or
// all of them.
func (db *DB) ListExceptions(ctx context.Context, now time.Time, all bool) ([]patchbay.Exception, error) {
	q := `SELECT ` + exceptionColumns + exceptionFrom
	var args []any
	if !all {
		q += ` WHERE e.revoked_at = 0 AND e.expires_at > ?`
		args = append(args, nanos(now))
	}
	list, err := queryAll(ctx, db.read, func(row interface{ Scan(...any) error }) (patchbay.Exception, error) {
		return scanException(row, now)
	}, q+` ORDER BY e.id DESC`, args...)
	if err != nil {
		return nil, fmt.Errorf("list exceptions: %w", err)
	}
	return list, nil
}

// RevokeException marks an exception revoked at now.
func (db *DB) RevokeException(ctx context.Context, id int64, who, reason string, now time.Time) (patchbay.Exception, error) {
	err := db.writeTx(ctx, func(tx *sql.Tx) error {
		var revoked int64
		err := tx.QueryRowContext(ctx, `SELECT revoked_at FROM exceptions WHERE id = ?`, id).Scan(&revoked)
		if errors.Is(err, sql.ErrNoRows) {
			return patchbay.Errorf(patchbay.ENOTFOUND, "exception %d not found", id)
		}
		if err != nil {
			return err
		}
		if revoked != 0 {
			return patchbay.Errorf(patchbay.ECONFLICT, "exception %d was revoked already, at %s", id, fromNanos(revoked).UTC().Format(time.RFC3339))
		}
		_, err = tx.ExecContext(ctx, `UPDATE exceptions SET revoked_at = ?, revoked_by = ?, revoke_reason = ? WHERE id = ?`,
			nanos(now), who, reason, id)
		return err
	})
	if err != nil {
		return patchbay.Exception{}, fmt.Errorf("revoke exception %d: %w", id, err)
	}
	return db.Exception(ctx, id, now)
}
