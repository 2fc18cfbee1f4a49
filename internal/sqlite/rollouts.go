package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"time"

	"github.com/patchbay/patchbay"
)

// CreateRollout stores a rollout with its host runs and events.
func (db *DB) CreateRollout(ctx context.Context, r patchbay.Rollout, hosts []patchbay.HostRun, events []patchbay.RolloutEvent) (patchbay.Rollout, error) {
	if err := r.Validate(); err != nil {
		return patchbay.Rollout{}, err
	}
	createdBy := ""
	if len(events) > 0 {
		createdBy = events[0].Actor
	}
	err := db.writeTx(ctx, func(tx *sql.Tx) error {
		def, err := json.Marshal(r)
		if err != nil {
			return err
		}
		res, err := tx.ExecContext(ctx, `INSERT INTO rollouts (name, state, definition, created_by, created_at, approved_at, started_at, finished_at, rollback_of)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`, r.Name, string(r.State), string(def), createdBy,
			nanos(r.CreatedAt), nanos(r.ApprovedAt), nanos(r.StartedAt), nanos(r.FinishedAt), r.RollbackOf)
		if err != nil {
			return err
		}
		if r.ID, err = res.LastInsertId(); err != nil {
			return err
		}
		for _, h := range hosts {
			h.RolloutID = r.ID
			if err := insertHostRun(ctx, tx, h); err != nil {
				return err
			}
		}
		return insertRolloutEvents(ctx, tx, r.ID, events)
	})
	if err != nil {
		return patchbay.Rollout{}, fmt.Errorf("create rollout %q: %w", r.Name, err)
	}
	return db.Rollout(ctx, r.ID)
}

func insertHostRun(ctx context.Context, tx *sql.Tx, h patchbay.HostRun) error {
	if !h.State.Valid() {
		return patchbay.Errorf(patchbay.EINVALID, "host %d: unknown state %q", h.HostID, h.State)
	}
	patches, err := json.Marshal(nonNil(h.Patches))
	if err != nil {
		return err
	}
	excluded, err := json.Marshal(nonNil(h.Excluded))
	if err != nil {
		return err
	}
	_, err = tx.ExecContext(ctx, `INSERT INTO rollout_hosts (rollout_id, host_id, hostname, ring, state, attempts, failures,
		started_at, finished_at, reason, failed_gate, job_id, patches, excluded) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		h.RolloutID, h.HostID, h.Hostname, h.Ring, string(h.State), h.Attempts, h.Failures,
		nanos(h.StartedAt), nanos(h.FinishedAt), h.Reason, h.FailedGate, h.JobID, string(patches), string(excluded))
	if isForeignKey(err) {
		return patchbay.Errorf(patchbay.ENOTFOUND, "host %d not found", h.HostID)
	}
	return err
}

func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

func insertRolloutEvents(ctx context.Context, tx *sql.Tx, id int64, events []patchbay.RolloutEvent) error {
	for _, e := range events {
		_, err := tx.ExecContext(ctx, `INSERT INTO rollout_events (rollout_id, time, actor, kind, host_id, detail)
			VALUES (?, ?, ?, ?, ?, ?)`, id, nanos(e.Time), e.Actor, e.Kind, e.HostID, e.Detail)
		if err != nil {
			return err
		}
	}
	return nil
}

const rolloutColumns = `id, state, definition, created_at, approved_at, started_at, finished_at, rollback_of`

func scanRollout(s interface{ Scan(...any) error }) (patchbay.Rollout, error) {
	var (
		r                  patchbay.Rollout
		id                 int64
		state, def         string
		c, a, st, finished int64
		rollbackOf         int64
	)
	if err := s.Scan(&id, &state, &def, &c, &a, &st, &finished, &rollbackOf); err != nil {
		return r, err
	}
	if err := json.Unmarshal([]byte(def), &r); err != nil {
		return r, fmt.Errorf("rollout %d: definition: %w", id, err)
	}
	r.ID, r.State, r.RollbackOf = id, patchbay.RolloutState(state), rollbackOf
	r.CreatedAt, r.ApprovedAt, r.StartedAt, r.FinishedAt = fromNanos(c), fromNanos(a), fromNanos(st), fromNanos(finished)
	return r, nil
}

func rolloutByID(ctx context.Context, tx *sql.Tx, id int64) (patchbay.Rollout, error) {
	r, err := scanRollout(tx.QueryRowContext(ctx, `SELECT `+rolloutColumns+` FROM rollouts WHERE id = ?`, id))
	if err == sql.ErrNoRows {
		return r, patchbay.Errorf(patchbay.ENOTFOUND, "rollout %d not found", id)
	}
	return r, err
}

// Rollout returns one rollout.
func (db *DB) Rollout(ctx context.Context, id int64) (patchbay.Rollout, error) {
	var r patchbay.Rollout
	err := db.readTx(ctx, func(tx *sql.Tx) (err error) {
		r, err = rolloutByID(ctx, tx, id)
		return err
	})
	if err != nil {
		return r, fmt.Errorf("rollout %d: %w", id, err)
	}
	return r, nil
}

// ListRollouts lists every rollout, newest first.
func (db *DB) ListRollouts(ctx context.Context) ([]patchbay.Rollout, error) {
	list := []patchbay.Rollout{}
	err := db.readTx(ctx, func(tx *sql.Tx) error {
		rows, err := tx.QueryContext(ctx, `SELECT `+rolloutColumns+` FROM rollouts ORDER BY id DESC`)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			r, err := scanRollout(rows)
			if err != nil {
				return err
			}
			list = append(list, r)
		}
		return rows.Err()
	})
	if err != nil {
		return nil, fmt.Errorf("list rollouts: %w", err)
	}
	return list, nil
}

// ActiveRollouts lists the ids of running and paused rollouts, and of
// the others with hosts running that can time out (a catch-up, hosts in
// flight when a rollout halted): the scheduler times their hosts out.
func (db *DB) ActiveRollouts(ctx context.Context) ([]int64, error) {
	ids := []int64{}
	err := db.readTx(ctx, func(tx *sql.Tx) error {
		// A final rollout's running host can only change by a timeout:
		// tick it only when one can come (a host timeout, a reboot to
		// come back from, a lease wait the host may stop checking in from).
		rows, err := tx.QueryContext(ctx, `SELECT id FROM rollouts WHERE state IN ('running', 'paused')
			UNION SELECT r.id FROM rollouts r WHERE r.state NOT IN ('running', 'paused') AND EXISTS (
				SELECT 1 FROM rollout_hosts rh WHERE rh.rollout_id = r.id AND rh.state = 'running'
				AND (rh.phase IN ('rebooting', 'waiting-lease') OR coalesce(r.definition ->> '$.host_timeout', 0) > 0))
			ORDER BY 1`)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var id int64
			if err := rows.Scan(&id); err != nil {
				return err
			}
			ids = append(ids, id)
		}
		return rows.Err()
	})
	if err != nil {
		return nil, fmt.Errorf("active rollouts: %w", err)
	}
	return ids, nil
}

// MissedRollouts lists the rollouts in which host is missed.
func (db *DB) MissedRollouts(ctx context.Context, hostID int64) ([]int64, error) {
	ids, err := queryAll(ctx, db.read, func(row interface{ Scan(...any) error }) (int64, error) {
		var id int64
		return id, row.Scan(&id)
	}, `SELECT rollout_id FROM rollout_hosts WHERE host_id = ? AND state = 'missed' ORDER BY rollout_id`, hostID)
	if err != nil {
		return nil, fmt.Errorf("missed rollouts of host %d: %w", hostID, err)
	}
	return ids, nil
}

// hostRuns reads a rollout's host runs, with their frozen patch sets only
// when withPatches is set.
func hostRuns(ctx context.Context, tx *sql.Tx, id int64, withPatches bool) ([]patchbay.HostRun, error) {
	patchesCol := `'', ''`
	if withPatches {
		patchesCol = `rh.patches, rh.excluded`
	}
	rows, err := tx.QueryContext(ctx, `SELECT rh.host_id, rh.hostname, rh.ring, rh.state, rh.attempts, rh.failures, rh.started_at, rh.finished_at,
		rh.reason, rh.failed_gate, rh.job_id, rh.phase, rh.phase_since, rh.lease_wait, rh.rebooted, rh.catch_up,
		h.last_seen, h.interval_seconds, NOT `+notImageSQL+`, `+patchesCol+`
		FROM rollout_hosts rh JOIN hosts h ON h.id = rh.host_id
		WHERE rh.rollout_id = ? ORDER BY rh.ring, rh.hostname, rh.host_id`, id)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	list := []patchbay.HostRun{}
	for rows.Next() {
		h := patchbay.HostRun{RolloutID: id}
		var (
			state, patches, excluded      string
			started, finished, phaseSince int64
			lastSeen, leaseWait           int64
		)
		if err := rows.Scan(&h.HostID, &h.Hostname, &h.Ring, &state, &h.Attempts, &h.Failures, &started, &finished,
			&h.Reason, &h.FailedGate, &h.JobID, &h.Phase, &phaseSince, &leaseWait, &h.Rebooted, &h.CatchUp,
			&lastSeen, &h.HostInterval, &h.HostImage, &patches, &excluded); err != nil {
			return nil, err
		}
		h.State = patchbay.HostRunState(state)
		h.StartedAt, h.FinishedAt, h.PhaseSince = fromNanos(started), fromNanos(finished), fromNanos(phaseSince)
		h.HostLastSeen, h.LeaseWait = fromNanos(lastSeen), time.Duration(leaseWait)
		if withPatches {
			if err := json.Unmarshal([]byte(patches), &h.Patches); err != nil {
				return nil, fmt.Errorf("host %d: patches: %w", h.HostID, err)
			}
			if err := json.Unmarshal([]byte(excluded), &h.Excluded); err != nil {
				return nil, fmt.Errorf("host %d: excluded: %w", h.HostID, err)
			}
		}
		list = append(list, h)
	}
	return list, rows.Err()
}

// HostRuns lists a rollout's hosts by ring, hostname and id.
func (db *DB) HostRuns(ctx context.Context, id int64) ([]patchbay.HostRun, error) {
	var list []patchbay.HostRun
	err := db.readTx(ctx, func(tx *sql.Tx) error {
		if _, err := rolloutByID(ctx, tx, id); err != nil {
			return err
		}
		var err error
		list, err = hostRuns(ctx, tx, id, true)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("hosts of rollout %d: %w", id, err)
	}
	return list, nil
}

// RolloutEvents lists the last limit entries of a rollout's log (all when
// limit is 0), oldest first.
func (db *DB) RolloutEvents(ctx context.Context, id int64, limit int) ([]patchbay.RolloutEvent, error) {
	if limit < 0 {
		return nil, patchbay.Errorf(patchbay.EINVALID, "events of rollout %d: negative limit", id)
	}
	if limit == 0 {
		limit = -1
	}
	list := []patchbay.RolloutEvent{}
	err := db.readTx(ctx, func(tx *sql.Tx) error {
		if _, err := rolloutByID(ctx, tx, id); err != nil {
			return err
		}
		rows, err := tx.QueryContext(ctx, `SELECT * FROM (SELECT id, time, actor, kind, host_id, detail FROM rollout_events
			WHERE rollout_id = ? ORDER BY id DESC LIMIT ?) ORDER BY id`, id, limit)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			e := patchbay.RolloutEvent{RolloutID: id}
			var t int64
			if err := rows.Scan(&e.ID, &t, &e.Actor, &e.Kind, &e.HostID, &e.Detail); err != nil {
				return err
			}
			e.Time = fromNanos(t)
			list = append(list, e)
		}
		return rows.Err()
	})
	if err != nil {
		return nil, fmt.Errorf("events of rollout %d: %w", id, err)
	}
	return list, nil
}

// UpdateRollout reads the rollout and its hosts, calls fn and writes its
// update, all in one write transaction.
func (db *DB) UpdateRollout(ctx context.Context, id int64, fn func(patchbay.Rollout, []patchbay.HostRun) (*patchbay.RolloutUpdate, error)) error {
	err := db.writeTx(ctx, func(tx *sql.Tx) error {
		r, err := rolloutByID(ctx, tx, id)
		if err != nil {
			return err
		}
		hosts, err := hostRuns(ctx, tx, id, false)
		if err != nil {
			return err
		}
		u, err := fn(r, hosts)
		if err != nil || u == nil {
			return err
		}
		u.Rollout.ID = id
		if err := u.Rollout.Validate(); err != nil {
			return err
		}
		def, err := json.Marshal(u.Rollout)
		if err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, `UPDATE rollouts SET name = ?, state = ?, definition = ?, approved_at = ?, started_at = ?, finished_at = ?
			WHERE id = ?`, u.Rollout.Name, string(u.Rollout.State), string(def),
			nanos(u.Rollout.ApprovedAt), nanos(u.Rollout.StartedAt), nanos(u.Rollout.FinishedAt), id)
		if err != nil {
			return err
		}
		if u.ReplaceHosts != nil {
			if _, err := tx.ExecContext(ctx, `DELETE FROM rollout_hosts WHERE rollout_id = ?`, id); err != nil {
				return err
			}
			for _, h := range u.ReplaceHosts {
				h.RolloutID = id
				if err := insertHostRun(ctx, tx, h); err != nil {
					return err
				}
			}
		}
		for _, h := range u.Hosts {
			if !h.State.Valid() {
				return patchbay.Errorf(patchbay.EINVALID, "host %d: unknown state %q", h.HostID, h.State)
			}
			res, err := tx.ExecContext(ctx, `UPDATE rollout_hosts SET ring = ?, state = ?, attempts = ?, failures = ?, started_at = ?,
				finished_at = ?, reason = ?, failed_gate = ?, job_id = ?, phase = ?, phase_since = ?, lease_wait = ?, rebooted = ?, catch_up = ?
				WHERE rollout_id = ? AND host_id = ?`,
				h.Ring, string(h.State), h.Attempts, h.Failures, nanos(h.StartedAt), nanos(h.FinishedAt),
				h.Reason, h.FailedGate, h.JobID, h.Phase, nanos(h.PhaseSince), int64(h.LeaseWait), boolInt(h.Rebooted), boolInt(h.CatchUp), id, h.HostID)
			if err != nil {
				return err
			}
			if n, _ := res.RowsAffected(); n == 0 {
				return patchbay.Errorf(patchbay.ENOTFOUND, "host %d is not in rollout %d", h.HostID, id)
			}
		}
		for _, j := range u.Jobs {
			j.RolloutID = id
			if j.Job.Action == patchbay.JobInstall {
				var patches string
				err := tx.QueryRowContext(ctx, `SELECT patches FROM rollout_hosts WHERE rollout_id = ? AND host_id = ?`, id, j.HostID).Scan(&patches)
				if err == sql.ErrNoRows {
					return patchbay.Errorf(patchbay.ENOTFOUND, "host %d is not in rollout %d", j.HostID, id)
				}
				if err != nil {
					return err
				}
				j.Job.Packages = nil
				if err := json.Unmarshal([]byte(patches), &j.Job.Packages); err != nil {
					return fmt.Errorf("host %d: patches: %w", j.HostID, err)
				}
			}
			if err := insertJob(ctx, tx, j); err != nil {
				return err
			}
		}
		if u.Finish != nil {
			if err := finishJob(ctx, tx, *u.Finish, u.FinishAt); err != nil {
				return err
			}
		}
		for _, e := range u.HostEvents {
			if err := db.insertEvents(ctx, tx, e.HostID, []patchbay.Event{e}, e.Time); err != nil {
				return err
			}
		}
		return insertRolloutEvents(ctx, tx, id, u.Events)
	})
	if err != nil {
		return fmt.Errorf("update rollout %d: %w", id, err)
	}
	return nil
}
