package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"time"

	"github.com/patchbay/patchbay"
)

// updateSources joins pending updates to the installed package version
// they upgrade, for its source: the host's own package (host_packages
// holds the exact row), so two sources building one binary name cannot
// mix. With oneHost it selects the updates of host ?1 only. CROSS JOIN
// fixes the order SQLite joins in: from the updates, by primary keys and
// package_versions' unique index; left to itself the planner scanned the
// whole of host_packages for every query.
func updateSources(oneHost bool) string {
	where := ""
	if oneHost {
		where = " AND u.host_id = ?1"
	}
	return `SELECT u.host_id, u.name, u.arch, u.candidate_version, pv.source_name, pv.source_version, h.last_seen
	FROM host_updates u
	CROSS JOIN hosts h ON h.id = u.host_id
	CROSS JOIN package_versions pv ON pv.name = u.name AND pv.arch = u.arch AND pv.version = u.installed_version
	CROSS JOIN host_packages hp ON hp.host_id = u.host_id AND hp.package_id = pv.id
	WHERE h.package_manager = 'apt' AND ` + notImageSQL + where
}

// due is the SQL condition of a changelog row c that wants a fetch; ?2 is
// now, ?3 staleBefore (?1, the host, may go unused).
const due = `(c.state = 'failed' AND c.next_attempt <= ?2 OR c.state = 'fetching' AND c.requested_at < ?3)`

// WantedChangelogs lists the (source, candidate) pairs of apt hosts' pending
// updates that want a fetch, each with its most recently seen host.
func (db *DB) WantedChangelogs(ctx context.Context, hostID int64, now, staleBefore time.Time, limit int) ([]patchbay.ChangelogWant, error) {
	var out []patchbay.ChangelogWant
	err := db.readTx(ctx, func(tx *sql.Tx) error {
		rows, err := tx.QueryContext(ctx, `WITH p AS (`+updateSources(hostID != 0)+`)
			SELECT p.source_name, p.candidate_version, p.host_id, p.name, p.arch
			FROM p LEFT JOIN changelogs c ON c.source = p.source_name AND c.version = p.candidate_version
			WHERE c.id IS NULL OR `+due+`
			ORDER BY p.source_name, p.candidate_version, p.last_seen DESC, p.host_id, p.name, p.arch`,
			hostID, nanos(now), nanos(staleBefore))
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var (
				k          patchbay.ChangelogKey
				host       int64
				name, arch string
			)
			if err := rows.Scan(&k.Source, &k.Version, &host, &name, &arch); err != nil {
				return err
			}
			if n := len(out); n > 0 && out[n-1].Key == k {
				// Only the first (most recently seen) host's binaries.
				if w := &out[n-1]; w.HostID == host && len(w.Packages) < patchbay.MaxChangelogPackages {
					w.Packages = append(w.Packages, patchbay.PackageVersion{Name: name, Arch: arch, Version: k.Version})
				}
				continue
			}
			if limit > 0 && len(out) == limit {
				break
			}
			out = append(out, patchbay.ChangelogWant{Key: k, HostID: host,
				Packages: []patchbay.PackageVersion{{Name: name, Arch: arch, Version: k.Version}}})
		}
		return rows.Err()
	})
	if err != nil {
		return nil, fmt.Errorf("wanted changelogs: %w", err)
	}
	return out, nil
}

// QueueChangelogJobs marks each want still due as fetching and queues its
// job, "cl-<changelog id>-<attempt>", in one transaction.
func (db *DB) QueueChangelogJobs(ctx context.Context, wants []patchbay.ChangelogWant, now, staleBefore time.Time) ([]patchbay.JobRecord, error) {
	var jobs []patchbay.JobRecord
	err := db.writeTx(ctx, func(tx *sql.Tx) error {
		jobs = nil
		for _, w := range wants {
			var (
				id       int64
				attempts int
				isDue    bool
			)
			err := tx.QueryRowContext(ctx, `SELECT c.id, c.attempts, `+due+` FROM changelogs c WHERE c.source = ?1 AND c.version = ?4`,
				w.Key.Source, nanos(now), nanos(staleBefore), w.Key.Version).Scan(&id, &attempts, &isDue)
			switch {
			case err == sql.ErrNoRows:
				res, err := tx.ExecContext(ctx, `INSERT INTO changelogs (source, version, state) VALUES (?, ?, 'fetching')`, w.Key.Source, w.Key.Version)
				if err != nil {
					return err
				}
				if id, err = res.LastInsertId(); err != nil {
					return err
				}
			case err != nil:
				return err
			case !isDue:
				continue // another server queued it meanwhile, or it arrived
			}
			attempts++
			j := patchbay.JobRecord{
				Job:      patchbay.Job{ID: fmt.Sprintf("cl-%d-%d", id, attempts), Action: patchbay.JobChangelog, Packages: w.Packages},
				HostID:   w.HostID,
				State:    patchbay.JobQueued,
				QueuedAt: now,
			}
			if err := insertJob(ctx, tx, j); err != nil {
				return fmt.Errorf("changelog of %s %s: %w", w.Key.Source, w.Key.Version, err)
			}
			if _, err := tx.ExecContext(ctx, `UPDATE changelogs SET state = 'fetching', job_id = ?, host_id = ?, attempts = ?, requested_at = ?
				WHERE id = ?`, j.Job.ID, w.HostID, attempts, nanos(now), id); err != nil {
				return err
			}
			jobs = append(jobs, j)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("queue changelog jobs: %w", err)
	}
	return jobs, nil
}

const changelogColumns = `id, source, version, state, source_version, package, job_id, host_id, attempts,
	requested_at, fetched_at, next_attempt, error, entries_read, truncated`

func scanChangelog(sc interface{ Scan(...any) error }) (int64, patchbay.Changelog, error) {
	var (
		id                       int64
		c                        patchbay.Changelog
		state                    string
		requested, fetched, next int64
		truncated                int64
	)
	err := sc.Scan(&id, &c.Key.Source, &c.Key.Version, &state, &c.SourceVersion, &c.Package, &c.JobID, &c.HostID, &c.Attempts,
		&requested, &fetched, &next, &c.Error, &c.EntriesRead, &truncated)
	c.State = patchbay.ChangelogState(state)
	c.RequestedAt, c.FetchedAt, c.NextAttempt = fromNanos(requested), fromNanos(fetched), fromNanos(next)
	c.Truncated = truncated != 0
	c.Entries = []patchbay.ChangelogEntry{}
	return id, c, err
}

// RecordChangelog finishes a changelog job and stores what fn makes of the
// changelog it was for.
func (db *DB) RecordChangelog(ctx context.Context, res patchbay.JobResult, now time.Time, fn func(patchbay.Changelog) patchbay.Changelog) error {
	err := db.writeTx(ctx, func(tx *sql.Tx) error {
		var state string
		err := tx.QueryRowContext(ctx, `SELECT state FROM jobs WHERE id = ?`, res.JobID).Scan(&state)
		if err == sql.ErrNoRows {
			return patchbay.Errorf(patchbay.ENOTFOUND, "job %s not found", res.JobID)
		}
		if err != nil || state == string(patchbay.JobDone) {
			return err
		}
		if err := finishJob(ctx, tx, res, now); err != nil {
			return err
		}
		id, c, err := scanChangelog(tx.QueryRowContext(ctx, `SELECT `+changelogColumns+` FROM changelogs WHERE job_id = ? AND state = 'fetching'`, res.JobID))
		if err == sql.ErrNoRows {
			return nil
		}
		if err != nil {
			return err
		}
		c = fn(c)
		if c.State != patchbay.ChangelogFetched && c.State != patchbay.ChangelogFailed {
			return patchbay.Errorf(patchbay.EINVALID, "changelog of %s %s: state %q after a result", c.Key.Source, c.Key.Version, c.State)
		}
		if _, err := tx.ExecContext(ctx, `UPDATE changelogs SET state = ?, source_version = ?, package = ?, fetched_at = ?, next_attempt = ?,
			error = ?, entries_read = ?, truncated = ? WHERE id = ?`,
			string(c.State), c.SourceVersion, c.Package, nanos(c.FetchedAt), nanos(c.NextAttempt), c.Error, c.EntriesRead, boolInt(c.Truncated), id); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM changelog_entries WHERE changelog_id = ?`, id); err != nil {
			return err
		}
		for i, e := range c.Entries {
			cves, err := json.Marshal(orEmptyStrings(e.CVEs))
			if err != nil {
				return err
			}
			if _, err := tx.ExecContext(ctx, `INSERT INTO changelog_entries (changelog_id, seq, version, date, cves) VALUES (?, ?, ?, ?, ?)`,
				id, i, e.Version, nanos(e.Date), string(cves)); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("record changelog of job %s: %w", res.JobID, err)
	}
	return nil
}

func orEmptyStrings(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// Changelogs returns the stored changelogs of keys with their entries.
func (db *DB) Changelogs(ctx context.Context, keys []patchbay.ChangelogKey) (map[patchbay.ChangelogKey]patchbay.Changelog, error) {
	out := map[patchbay.ChangelogKey]patchbay.Changelog{}
	err := db.readTx(ctx, func(tx *sql.Tx) error {
		byID := map[int64]patchbay.ChangelogKey{}
		for _, k := range keys {
			if _, ok := out[k]; ok {
				continue
			}
			id, c, err := scanChangelog(tx.QueryRowContext(ctx, `SELECT `+changelogColumns+` FROM changelogs WHERE source = ? AND version = ?`, k.Source, k.Version))
			if err == sql.ErrNoRows {
				continue
			}
			if err != nil {
				return err
			}
			out[k] = c
			byID[id] = k
		}
		for id, k := range byID {
			rows, err := tx.QueryContext(ctx, `SELECT version, date, cves FROM changelog_entries WHERE changelog_id = ? ORDER BY seq`, id)
			if err != nil {
				return err
			}
			c := out[k]
			for rows.Next() {
				var (
					e    patchbay.ChangelogEntry
					date int64
					cves string
				)
				if err := rows.Scan(&e.Version, &date, &cves); err != nil {
					rows.Close()
					return err
				}
				e.Date = fromNanos(date)
				if err := json.Unmarshal([]byte(cves), &e.CVEs); err != nil {
					rows.Close()
					return fmt.Errorf("changelog %s %s: cves: %w", k.Source, k.Version, err)
				}
				c.Entries = append(c.Entries, e)
			}
			if err := rows.Close(); err != nil {
				return err
			}
			out[k] = c
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("changelogs: %w", err)
	}
	return out, nil
}

// UpdateSources returns the source of each of the host's pending updates.
func (db *DB) UpdateSources(ctx context.Context, hostID int64) (map[string]patchbay.UpdateSource, error) {
	out := map[string]patchbay.UpdateSource{}
	err := db.readTx(ctx, func(tx *sql.Tx) error {
		if err := hostExists(ctx, tx, hostID); err != nil {
			return err
		}
		rows, err := tx.QueryContext(ctx, updateSources(true), hostID)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var (
				host, seen       int64
				name, arch, cand string
				src              patchbay.UpdateSource
			)
			if err := rows.Scan(&host, &name, &arch, &cand, &src.Source, &src.SourceVersion, &seen); err != nil {
				return err
			}
			out[name+":"+arch] = src
		}
		return rows.Err()
	})
	if err != nil {
		return nil, fmt.Errorf("update sources of host %d: %w", hostID, err)
	}
	return out, nil
}
