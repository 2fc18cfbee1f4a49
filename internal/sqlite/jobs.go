package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"time"

	"github.com/patchbay/patchbay"
)

func insertJob(ctx context.Context, tx *sql.Tx, j patchbay.JobRecord) error {
	if err := j.Job.Validate(); err != nil {
		return err
	}
	payload, err := json.Marshal(j.Job)
	if err != nil {
		return err
	}
	var rollout any
	if j.RolloutID != 0 {
		rollout = j.RolloutID
	}
	state := j.State
	if state == "" {
		state = patchbay.JobQueued
	}
	priority := 0
	if j.Job.CatchUp {
		priority = 1
	}
	_, err = tx.ExecContext(ctx, `INSERT INTO jobs (id, host_id, rollout_id, payload, state, queued_at, priority) VALUES (?, ?, ?, ?, ?, ?, ?)`,
		j.Job.ID, j.HostID, rollout, string(payload), string(state), nanos(j.QueuedAt), priority)
	switch {
	case isUnique(err):
		return patchbay.Errorf(patchbay.ECONFLICT, "job %s exists already", j.Job.ID)
	case isForeignKey(err):
		return patchbay.Errorf(patchbay.ENOTFOUND, "host %d not found", j.HostID)
	}
	return err
}

// finishJob stores res as the job's result unless the job is done already.
func finishJob(ctx context.Context, tx *sql.Tx, res patchbay.JobResult, now time.Time) error {
	if !res.Done() {
		return patchbay.Errorf(patchbay.EINVALID, "job %s: result status %q is not final", res.JobID, res.Status)
	}
	data, err := json.Marshal(res)
	if err != nil {
		return err
	}
	r, err := tx.ExecContext(ctx, `UPDATE jobs SET state = 'done', result = ?, finished_at = ? WHERE id = ? AND state <> 'done'`,
		string(data), nanos(now), res.JobID)
	if err != nil {
		return err
	}
	if n, _ := r.RowsAffected(); n == 0 {
		var x int
		if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM jobs WHERE id = ?`, res.JobID).Scan(&x); err != nil {
			return err
		}
		if x == 0 {
			return patchbay.Errorf(patchbay.ENOTFOUND, "job %s not found", res.JobID)
		}
	}
	return nil
}

// PendingJobs returns the host's jobs that are not done, catch-up jobs
// first, then oldest first, and
// marks the queued ones delivered. A job of an aborted rollout that was
// never delivered is never delivered.
func (db *DB) PendingJobs(ctx context.Context, hostID int64, now time.Time) ([]patchbay.Job, error) {
	jobs := []patchbay.Job{}
	// Most polls find nothing: ask a reader first, so that idle agents do
	// not queue on the writer.
	var pending int
	err := db.readTx(ctx, func(tx *sql.Tx) error {
		return tx.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM jobs WHERE host_id = ? AND state <> 'done')`, hostID).Scan(&pending)
	})
	if err != nil {
		return nil, fmt.Errorf("pending jobs of host %d: %w", hostID, err)
	}
	if pending == 0 {
		return jobs, nil
	}
	err = db.writeTx(ctx, func(tx *sql.Tx) error {
		rows, err := tx.QueryContext(ctx, `SELECT payload FROM jobs WHERE host_id = ? AND state <> 'done'
			AND NOT (state = 'queued' AND rollout_id IN (SELECT id FROM rollouts WHERE state = 'aborted'))
			ORDER BY priority DESC, queued_at, id`, hostID)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var payload string
			if err := rows.Scan(&payload); err != nil {
				return err
			}
			var j patchbay.Job
			if err := json.Unmarshal([]byte(payload), &j); err != nil {
				return err
			}
			jobs = append(jobs, j)
		}
		if err := rows.Err(); err != nil {
			return err
		}
		rows.Close()
		if len(jobs) == 0 {
			return nil
		}
		_, err = tx.ExecContext(ctx, `UPDATE jobs SET state = 'delivered', delivered_at = ? WHERE host_id = ? AND state = 'queued'
			AND NOT (rollout_id IN (SELECT id FROM rollouts WHERE state = 'aborted'))`, nanos(now), hostID)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("pending jobs of host %d: %w", hostID, err)
	}
	return jobs, nil
}

const jobColumns = `id, host_id, rollout_id, payload, state, result, queued_at, delivered_at, finished_at`

func scanJob(sc interface{ Scan(...any) error }) (patchbay.JobRecord, error) {
	var (
		j                           patchbay.JobRecord
		id                          string
		rollout                     sql.NullInt64
		payload, state, result      string
		queued, delivered, finished int64
	)
	if err := sc.Scan(&id, &j.HostID, &rollout, &payload, &state, &result, &queued, &delivered, &finished); err != nil {
		return j, err
	}
	if err := json.Unmarshal([]byte(payload), &j.Job); err != nil {
		return j, fmt.Errorf("job %s: payload: %w", id, err)
	}
	if result != "" {
		j.Result = &patchbay.JobResult{}
		if err := json.Unmarshal([]byte(result), j.Result); err != nil {
			return j, fmt.Errorf("job %s: result: %w", id, err)
		}
	}
	j.RolloutID, j.State = rollout.Int64, patchbay.JobState(state)
	j.QueuedAt, j.DeliveredAt, j.FinishedAt = fromNanos(queued), fromNanos(delivered), fromNanos(finished)
	return j, nil
}

// JobRecord returns a job with its state and result.
func (db *DB) JobRecord(ctx context.Context, id string) (patchbay.JobRecord, error) {
	var j patchbay.JobRecord
	err := db.readTx(ctx, func(tx *sql.Tx) (err error) {
		j, err = scanJob(tx.QueryRowContext(ctx, `SELECT `+jobColumns+` FROM jobs WHERE id = ?`, id))
		if err == sql.ErrNoRows {
			return patchbay.Errorf(patchbay.ENOTFOUND, "job %s not found", id)
		}
		return err
	})
	if err != nil {
		return j, fmt.Errorf("job %s: %w", id, err)
	}
	return j, nil
}

// HostJobs lists the host's jobs queued at or after since, newest first.
func (db *DB) HostJobs(ctx context.Context, hostID int64, since time.Time) ([]patchbay.JobRecord, error) {
	jobs := []patchbay.JobRecord{}
	err := db.readTx(ctx, func(tx *sql.Tx) error {
		rows, err := tx.QueryContext(ctx, `SELECT `+jobColumns+` FROM jobs WHERE host_id = ? AND queued_at >= ?
			ORDER BY queued_at DESC, id DESC`, hostID, nanos(since))
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			j, err := scanJob(rows)
			if err != nil {
				return err
			}
			jobs = append(jobs, j)
		}
		return rows.Err()
	})
	if err != nil {
		return nil, fmt.Errorf("jobs of host %d: %w", hostID, err)
	}
	return jobs, nil
}

// FinishJob stores the final result of a job.
func (db *DB) FinishJob(ctx context.Context, res patchbay.JobResult, now time.Time) error {
	err := db.writeTx(ctx, func(tx *sql.Tx) error { return finishJob(ctx, tx, res, now) })
	if err != nil {
		return fmt.Errorf("finish job %s: %w", res.JobID, err)
	}
	return nil
}
