package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/patchbay/patchbay"
)

func scanBudget(row interface{ Scan(...any) error }) (patchbay.DisruptionBudget, error) {
	var (
		b       patchbay.DisruptionBudget
		created int64
	)
	err := row.Scan(&b.ID, &b.Label, &b.Value, &b.Max, &created, &b.CreatedBy)
	b.CreatedAt = fromNanos(created)
	return b, err
}

// CreateDisruptionBudget stores a budget; one for the same label (and
// value) already is ECONFLICT.
func (db *DB) CreateDisruptionBudget(ctx context.Context, b patchbay.DisruptionBudget) (patchbay.DisruptionBudget, error) {
	if err := b.Validate(); err != nil {
		return b, err
	}
	err := db.writeTx(ctx, func(tx *sql.Tx) error {
		return tx.QueryRowContext(ctx, `INSERT INTO disruption_budgets (label, value, max, created_at, created_by) VALUES (?, ?, ?, ?, ?) RETURNING id`,
			b.Label, b.Value, b.Max, nanos(b.CreatedAt), b.CreatedBy).Scan(&b.ID)
	})
	if isUnique(err) {
		return b, patchbay.Errorf(patchbay.ECONFLICT, "a disruption budget for %s exists already: remove it first", b.Selector())
	}
	if err != nil {
		return b, fmt.Errorf("create disruption budget %s: %w", b.Selector(), err)
	}
	return b, nil
}

// ListDisruptionBudgets lists every budget by label and value.
func (db *DB) ListDisruptionBudgets(ctx context.Context) ([]patchbay.DisruptionBudget, error) {
	list, err := queryAll(ctx, db.read, scanBudget, `SELECT id, label, value, max, created_at, created_by FROM disruption_budgets ORDER BY label, value`)
	if err != nil {
		return nil, fmt.Errorf("list disruption budgets: %w", err)
	}
	return list, nil
}

// DeleteDisruptionBudget removes a budget.
func (db *DB) DeleteDisruptionBudget(ctx context.Context, id int64) error {
	return db.writeTx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `DELETE FROM disruption_budgets WHERE id = ?`, id)
		if err != nil {
			return fmt.Errorf("delete disruption budget %d: %w", id, err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return patchbay.Errorf(patchbay.ENOTFOUND, "disruption budget %d not found", id)
		}
		return nil
	})
}

const leaseColumns = `l.host_id, h.hostname, l.job_id, l.rollout_id, l.acquired_at, l.renewed_at, l.expires_at, l.note`

func scanLease(row interface{ Scan(...any) error }) (patchbay.DisruptionLease, error) {
	var (
		l                          patchbay.DisruptionLease
		acquired, renewed, expires int64
	)
	err := row.Scan(&l.HostID, &l.Hostname, &l.JobID, &l.RolloutID, &acquired, &renewed, &expires, &l.Note)
	l.AcquiredAt, l.RenewedAt, l.ExpiresAt = fromNanos(acquired), fromNanos(renewed), fromNanos(expires)
	return l, err
}

// AcquireLease grants host a lease when every budget covering it has room.
func (db *DB) AcquireLease(ctx context.Context, hostID int64, jobID string, rolloutID int64, now time.Time, ttl time.Duration) (patchbay.LeaseGrant, error) {
	var g patchbay.LeaseGrant
	err := db.writeTx(ctx, func(tx *sql.Tx) error {
		g = patchbay.LeaseGrant{}
		if _, err := tx.ExecContext(ctx, `DELETE FROM disruption_leases WHERE expires_at != 0 AND expires_at <= ?`, nanos(now)); err != nil {
			return err
		}
		budgets, err := txQueryAll(ctx, tx, scanBudget, `SELECT id, label, value, max, created_at, created_by FROM disruption_budgets ORDER BY label, value`)
		if err != nil {
			return err
		}
		labels := map[string]string{}
		rows, err := tx.QueryContext(ctx, `SELECT key, value FROM host_labels WHERE host_id = ?`, hostID)
		if err != nil {
			return err
		}
		for rows.Next() {
			var k, v string
			if err := rows.Scan(&k, &v); err != nil {
				rows.Close()
				return err
			}
			labels[k] = v
		}
		rows.Close()
		for _, b := range budgets {
			v, ok := b.Applies(labels)
			if !ok {
				continue
			}
			holders, err := txQueryAll(ctx, tx, func(r interface{ Scan(...any) error }) (string, error) {
				var s string
				return s, r.Scan(&s)
			}, `SELECT h.hostname FROM disruption_leases l JOIN hosts h ON h.id = l.host_id
				JOIN host_labels hl ON hl.host_id = l.host_id AND hl.key = ? AND hl.value = ?
				WHERE l.host_id != ? ORDER BY h.hostname`, b.Label, v, hostID)
			if err != nil {
				return err
			}
			if len(holders) >= b.Max {
				g.Budget = fmt.Sprintf("%s=%s (at most %d at once)", b.Label, v, b.Max)
				g.HeldBy = holders
				return nil
			}
		}
		expires := now.Add(ttl)
		_, err = tx.ExecContext(ctx, `INSERT INTO disruption_leases (host_id, job_id, rollout_id, acquired_at, renewed_at, expires_at) VALUES (?, ?, ?, ?, ?, ?)
			ON CONFLICT (host_id) DO UPDATE SET job_id = excluded.job_id, rollout_id = excluded.rollout_id, renewed_at = excluded.renewed_at,
			expires_at = excluded.expires_at, note = ''`, hostID, jobID, rolloutID, nanos(now), nanos(now), nanos(expires))
		if err != nil {
			return err
		}
		g.Granted = true
		g.Lease, err = scanLease(tx.QueryRowContext(ctx, `SELECT `+leaseColumns+` FROM disruption_leases l JOIN hosts h ON h.id = l.host_id WHERE l.host_id = ?`, hostID))
		return err
	})
	if err != nil {
		return g, fmt.Errorf("lease for host %d: %w", hostID, err)
	}
	return g, nil
}

// RenewLease moves a live lease's expiry.
func (db *DB) RenewLease(ctx context.Context, hostID int64, jobID string, now, expires time.Time, note string) (bool, error) {
	var n int64
	err := db.writeTx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE disruption_leases SET renewed_at = ?, expires_at = ?, note = ?
			WHERE host_id = ? AND (? = '' OR job_id = ?) AND (expires_at = 0 OR expires_at > ?)`,
			nanos(now), nanos(expires), note, hostID, jobID, jobID, nanos(now))
		if err != nil {
			return err
		}
		n, err = res.RowsAffected()
		return err
	})
	if err != nil {
		return false, fmt.Errorf("renew lease of host %d: %w", hostID, err)
	}
	return n > 0, nil
}

// ReleaseLease ends a host's lease.
func (db *DB) ReleaseLease(ctx context.Context, hostID int64, jobID string) (bool, error) {
	var n int64
	err := db.writeTx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `DELETE FROM disruption_leases WHERE host_id = ? AND (? = '' OR job_id = ?)`, hostID, jobID, jobID)
		if err != nil {
			return err
		}
		n, err = res.RowsAffected()
		return err
	})
	if err != nil {
		return false, fmt.Errorf("release lease of host %d: %w", hostID, err)
	}
	return n > 0, nil
}

// ListLeases lists the live leases at now, by hostname.
func (db *DB) ListLeases(ctx context.Context, now time.Time) ([]patchbay.DisruptionLease, error) {
	list, err := queryAll(ctx, db.read, scanLease, `SELECT `+leaseColumns+` FROM disruption_leases l JOIN hosts h ON h.id = l.host_id
		WHERE l.expires_at = 0 OR l.expires_at > ? ORDER BY h.hostname`, nanos(now))
	if err != nil {
		return nil, fmt.Errorf("list leases: %w", err)
	}
	return list, nil
}

func txQueryAll[T any](ctx context.Context, tx *sql.Tx, scan func(row interface{ Scan(...any) error }) (T, error), query string, args ...any) ([]T, error) {
	rows, err := tx.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []T{}
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, rows.Err()
}
