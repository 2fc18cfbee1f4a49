package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/patchbay/patchbay"
)

// RetireHost retires host id at now, with a retired event in its
// timeline. Its pending and missed places in rollouts that may still run
// or catch up are skipped, each with an entry in the rollout's log.
func (db *DB) RetireHost(ctx context.Context, id int64, by, reason string, now time.Time) (patchbay.Host, error) {
	var h patchbay.Host
	err := db.writeTx(ctx, func(tx *sql.Tx) (err error) {
		if h, err = hostByID(ctx, tx, id); err != nil {
			return err
		}
		if !h.RetiredAt.IsZero() {
			return patchbay.Errorf(patchbay.ECONFLICT, "host %s is retired already (since %s, by %s)", h.Hostname, h.RetiredAt.UTC().Format(time.RFC3339), h.RetiredBy)
		}
		if _, err := tx.ExecContext(ctx, `UPDATE hosts SET retired_at = ?, retired_by = ?, retired_reason = ? WHERE id = ?`,
			nanos(now), by, reason, id); err != nil {
			return err
		}
		detail := "retired by " + by
		if reason != "" {
			detail += ": " + reason
		}
		if err := db.insertEvents(ctx, tx, id, []patchbay.Event{{Time: now, Kind: patchbay.EventRetired, Cause: "user:" + by, Detail: detail}}, now); err != nil {
			return err
		}
		rows, err := tx.QueryContext(ctx, `SELECT rollout_id, state FROM rollout_hosts WHERE host_id = ? AND state IN ('pending', 'missed')
			AND rollout_id IN (SELECT id FROM rollouts WHERE state NOT IN ('halted', 'aborted'))`, id)
		if err != nil {
			return err
		}
		type place struct {
			rollout int64
			state   string
		}
		var places []place
		for rows.Next() {
			var p place
			if err := rows.Scan(&p.rollout, &p.state); err != nil {
				rows.Close()
				return err
			}
			places = append(places, p)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		for _, p := range places {
			if _, err := tx.ExecContext(ctx, `UPDATE rollout_hosts SET state = 'skipped', reason = 'the host was retired', finished_at = ?
				WHERE rollout_id = ? AND host_id = ?`, nanos(now), p.rollout, id); err != nil {
				return err
			}
			if err := insertRolloutEvents(ctx, tx, p.rollout, []patchbay.RolloutEvent{{Time: now, Actor: by, Kind: "host_skipped", HostID: id,
				Detail: fmt.Sprintf("%s: was %s; the host was retired", h.Hostname, p.state)}}); err != nil {
				return err
			}
		}
		h, err = hostByID(ctx, tx, id)
		return err
	})
	if err != nil {
		return patchbay.Host{}, fmt.Errorf("retire host %d: %w", id, err)
	}
	return h, nil
}

// UnretireHost takes a retired host back, with an unretired event.
func (db *DB) UnretireHost(ctx context.Context, id int64, by string, now time.Time) (patchbay.Host, error) {
	var h patchbay.Host
	err := db.writeTx(ctx, func(tx *sql.Tx) (err error) {
		if h, err = hostByID(ctx, tx, id); err != nil {
			return err
		}
		if h.RetiredAt.IsZero() {
			return patchbay.Errorf(patchbay.ECONFLICT, "host %s is not retired", h.Hostname)
		}
		if _, err := tx.ExecContext(ctx, `UPDATE hosts SET retired_at = 0, retired_by = '', retired_reason = '' WHERE id = ?`, id); err != nil {
			return err
		}
		detail := fmt.Sprintf("unretired by %s (retired since %s)", by, h.RetiredAt.UTC().Format(time.RFC3339))
		if err := db.insertEvents(ctx, tx, id, []patchbay.Event{{Time: now, Kind: patchbay.EventUnretired, Cause: "user:" + by, Detail: detail}}, now); err != nil {
			return err
		}
		h, err = hostByID(ctx, tx, id)
		return err
	})
	if err != nil {
		return patchbay.Host{}, fmt.Errorf("unretire host %d: %w", id, err)
	}
	return h, nil
}

// HostExposures counts the open findings of the hosts of ids.
func (db *DB) HostExposures(ctx context.Context, ids []int64) (map[int64]patchbay.Exposure, error) {
	out := map[int64]patchbay.Exposure{}
	if len(ids) == 0 {
		return out, nil
	}
	rows, err := db.read.QueryContext(ctx, `WITH `+kevAdvisories+`
		SELECT f.host_id, count(*),
			sum(a.severity = 'critical'), sum(a.severity = 'high'),
			sum(f.advisory_id IN kev_advisories)
		FROM findings f JOIN advisories a ON a.id = f.advisory_id
		WHERE f.resolved_at = 0 AND f.host_id IN (SELECT value FROM json_each(?))
		GROUP BY f.host_id`, jsonInts(ids))
	if err != nil {
		return nil, fmt.Errorf("host exposures: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var (
			id int64
			e  patchbay.Exposure
		)
		if err := rows.Scan(&id, &e.Findings, &e.Critical, &e.High, &e.KEV); err != nil {
			return nil, fmt.Errorf("host exposures: %w", err)
		}
		out[id] = e
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("host exposures: %w", err)
	}
	return out, nil
}
