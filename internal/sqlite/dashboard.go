package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"slices"
	"time"

	"github.com/patchbay/patchbay"
)

// kevAdvisories is the set of advisories that name a CVE of the KEV
// catalog, built once per query (the catalog holds about a thousand CVEs)
// instead of a lookup per finding.
const kevAdvisories = `kev_advisories AS MATERIALIZED (SELECT DISTINCT c.advisory_id FROM kev k CROSS JOIN advisory_cves c ON c.cve = k.cve)`

// retiredHosts is the (small) set of retired hosts, whose findings are
// out of the fleet's figures.
const retiredHosts = `retired_hosts AS MATERIALIZED (SELECT id FROM hosts WHERE retired_at != 0)`

// FindingCounts counts the open findings by severity, with those of KEV
// CVEs apart, in one snapshot. Retired hosts are left out.
func (db *DB) FindingCounts(ctx context.Context) (patchbay.FindingCounts, error) {
	c := patchbay.FindingCounts{BySeverity: []patchbay.SeverityCount{}}
	err := db.readTx(ctx, func(tx *sql.Tx) error {
		// Counted per advisory first, from the index on (advisory_id,
		// resolved_at): an advisory is looked up once, not once a finding.
		rows, err := tx.QueryContext(ctx, `WITH `+kevAdvisories+`, `+retiredHosts+`,
			per_advisory AS (SELECT advisory_id, count(*) AS n FROM findings WHERE resolved_at = 0
				AND host_id NOT IN retired_hosts GROUP BY advisory_id)
			SELECT a.severity, sum(p.n), sum(CASE WHEN p.advisory_id IN kev_advisories THEN p.n ELSE 0 END)
			FROM per_advisory p JOIN advisories a ON a.id = p.advisory_id
			GROUP BY a.severity_rank, a.severity
			ORDER BY a.severity_rank DESC, a.severity`)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var s patchbay.SeverityCount
			if err := rows.Scan(&s.Severity, &s.Findings, &s.KEV); err != nil {
				return err
			}
			c.BySeverity = append(c.BySeverity, s)
			c.Findings += s.Findings
			c.KEVFindings += s.KEV
		}
		if err := rows.Err(); err != nil {
			return err
		}
		// Hosts from the index on (host_id, resolved_at); KEV hosts from
		// the one on (advisory_id, resolved_at).
		return tx.QueryRowContext(ctx, `WITH `+kevAdvisories+`, `+retiredHosts+`
			SELECT (SELECT count(*) FROM (SELECT DISTINCT host_id FROM findings WHERE resolved_at = 0 AND host_id NOT IN retired_hosts)),
				(SELECT count(DISTINCT host_id) FROM findings WHERE resolved_at = 0 AND advisory_id IN kev_advisories
					AND host_id NOT IN retired_hosts)`).Scan(&c.Hosts, &c.KEVHosts)
	})
	if err != nil {
		return patchbay.FindingCounts{}, fmt.Errorf("count findings: %w", err)
	}
	return c, nil
}

// OpenFindingsTrend counts the findings open at start + i·step, i = 1..n,
// in one pass over the findings: each first_seen adds one and each
// resolved_at takes one away from the first instant at or after it, and
// a running sum over the instants gives the counts.
func (db *DB) OpenFindingsTrend(ctx context.Context, start time.Time, step time.Duration, n int) ([]int, error) {
	if step <= 0 || n < 1 || n > patchbay.MaxTrendPoints {
		return nil, patchbay.Errorf(patchbay.EINVALID, "findings trend: want a positive step and 1 to %d points, not %s and %d", patchbay.MaxTrendPoints, step, n)
	}
	from, st := nanos(start), int64(step)
	end := from + int64(n)*st
	// bucket is the index (0-based) of the first instant at or after t.
	const bucket = `CASE WHEN t <= :from THEN 0 ELSE (t - :from - 1) / :step END`
	rows, err := db.read.QueryContext(ctx, `WITH `+retiredHosts+`
		SELECT b, sum(sum(d)) OVER (ORDER BY b) FROM (
			SELECT `+bucket+` AS b, d FROM (
				SELECT first_seen AS t, 1 AS d FROM findings WHERE first_seen <= :end AND host_id NOT IN retired_hosts
				UNION ALL
				SELECT resolved_at, -1 FROM findings WHERE resolved_at != 0 AND resolved_at <= :end AND host_id NOT IN retired_hosts))
		GROUP BY b ORDER BY b`,
		sql.Named("from", from), sql.Named("step", st), sql.Named("end", end))
	if err != nil {
		return nil, fmt.Errorf("findings trend: %w", err)
	}
	defer rows.Close()
	out := make([]int, n)
	next, open := 0, 0
	for rows.Next() {
		var b int64
		var sum int
		if err := rows.Scan(&b, &sum); err != nil {
			return nil, fmt.Errorf("findings trend: %w", err)
		}
		for ; next < int(b) && next < n; next++ {
			out[next] = open
		}
		open = sum
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("findings trend: %w", err)
	}
	for ; next < n; next++ {
		out[next] = open
	}
	return out, nil
}

// RolloutHostCounts counts the host runs of the rollouts by state.
func (db *DB) RolloutHostCounts(ctx context.Context, ids []int64) (map[int64]map[patchbay.HostRunState]int, error) {
	out := map[int64]map[patchbay.HostRunState]int{}
	if len(ids) == 0 {
		return out, nil
	}
	list, err := json.Marshal(slices.Compact(slices.Sorted(slices.Values(ids))))
	if err != nil {
		return nil, err
	}
	rows, err := db.read.QueryContext(ctx, `SELECT rollout_id, state, count(*) FROM rollout_hosts
		WHERE rollout_id IN (SELECT value FROM json_each(?)) GROUP BY rollout_id, state`, string(list))
	if err != nil {
		return nil, fmt.Errorf("count rollout hosts: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var (
			id    int64
			state patchbay.HostRunState
			n     int
		)
		if err := rows.Scan(&id, &state, &n); err != nil {
			return nil, fmt.Errorf("count rollout hosts: %w", err)
		}
		if out[id] == nil {
			out[id] = map[patchbay.HostRunState]int{}
		}
		out[id][state] = n
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("count rollout hosts: %w", err)
	}
	return out, nil
}
