package sqlite

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/patchbay/patchbay"
)

// ImportAdvisories upserts advs by id in one transaction. An advisory is
// stored whole as JSON with the columns lists filter on, and indexed by
// its (ecosystem, package) pairs and CVEs. One whose stored JSON is the
// same is left alone and reported unchanged.
func (db *DB) ImportAdvisories(ctx context.Context, advs []patchbay.Advisory, now time.Time) (patchbay.ImportResult, error) {
	type prepared struct {
		adv  patchbay.Advisory
		data string
		hash string
	}
	preps := make([]prepared, 0, len(advs))
	for i, a := range advs {
		if a.ID == "" || a.Source == "" {
			return patchbay.ImportResult{}, patchbay.Errorf(patchbay.EINVALID, "advisories[%d]: id and source are required", i)
		}
		if a.Severity == "" {
			a.Severity = patchbay.SeverityUnknown
		}
		if _, err := patchbay.ParseSeverity(string(a.Severity)); err != nil {
			return patchbay.ImportResult{}, patchbay.Errorf(patchbay.EINVALID, "advisory %s: %s", a.ID, patchbay.ErrorMessage(err))
		}
		for j, af := range a.Affected {
			if af.Ecosystem == "" || af.Package == "" {
				return patchbay.ImportResult{}, patchbay.Errorf(patchbay.EINVALID, "advisory %s: affected[%d]: ecosystem and package are required", a.ID, j)
			}
		}
		a.CVEs = sortedClone(a.CVEs)
		data, err := json.Marshal(a)
		if err != nil {
			return patchbay.ImportResult{}, fmt.Errorf("import advisory %s: %w", a.ID, err)
		}
		sum := sha256.Sum256(data)
		preps = append(preps, prepared{adv: a, data: string(data), hash: hex.EncodeToString(sum[:])})
	}

	var res patchbay.ImportResult
	changed := map[patchbay.EcoPackage]bool{}
	err := db.writeTx(ctx, func(tx *sql.Tx) error {
		sel, err := tx.PrepareContext(ctx, `SELECT content_hash FROM advisories WHERE id = ?`)
		if err != nil {
			return err
		}
		defer sel.Close()
		oldPairs, err := tx.PrepareContext(ctx, `SELECT ecosystem, package FROM advisory_packages WHERE advisory_id = ?`)
		if err != nil {
			return err
		}
		defer oldPairs.Close()
		delPairs, err := tx.PrepareContext(ctx, `DELETE FROM advisory_packages WHERE advisory_id = ?`)
		if err != nil {
			return err
		}
		defer delPairs.Close()
		delCVEs, err := tx.PrepareContext(ctx, `DELETE FROM advisory_cves WHERE advisory_id = ?`)
		if err != nil {
			return err
		}
		defer delCVEs.Close()
		upsert, err := tx.PrepareContext(ctx, `INSERT INTO advisories
			(id, source, severity, severity_rank, cvss_score, withdrawn, published, modified, content_hash, data, imported_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
			ON CONFLICT (id) DO UPDATE SET source = excluded.source, severity = excluded.severity,
			severity_rank = excluded.severity_rank, cvss_score = excluded.cvss_score, withdrawn = excluded.withdrawn,
			published = excluded.published, modified = excluded.modified, content_hash = excluded.content_hash,
			data = excluded.data, imported_at = excluded.imported_at`)
		if err != nil {
			return err
		}
		defer upsert.Close()
		insPair, err := tx.PrepareContext(ctx, `INSERT OR IGNORE INTO advisory_packages (ecosystem, package, advisory_id) VALUES (?, ?, ?)`)
		if err != nil {
			return err
		}
		defer insPair.Close()
		insCVE, err := tx.PrepareContext(ctx, `INSERT OR IGNORE INTO advisory_cves (cve, advisory_id) VALUES (?, ?)`)
		if err != nil {
			return err
		}
		defer insCVE.Close()

		for _, p := range preps {
			a := p.adv
			var stored string
			err := sel.QueryRowContext(ctx, a.ID).Scan(&stored)
			exists := err == nil
			if err != nil && !errors.Is(err, sql.ErrNoRows) {
				return fmt.Errorf("advisory %s: %w", a.ID, err)
			}
			if exists && stored == p.hash {
				res.Unchanged++
				continue
			}
			if exists {
				res.Updated++
				rows, err := oldPairs.QueryContext(ctx, a.ID)
				if err != nil {
					return fmt.Errorf("advisory %s: %w", a.ID, err)
				}
				for rows.Next() {
					var ep patchbay.EcoPackage
					if err := rows.Scan(&ep.Ecosystem, &ep.Package); err != nil {
						rows.Close()
						return err
					}
					changed[ep] = true
				}
				if err := rows.Close(); err != nil {
					return err
				}
				if _, err := delPairs.ExecContext(ctx, a.ID); err != nil {
					return err
				}
				if _, err := delCVEs.ExecContext(ctx, a.ID); err != nil {
					return err
				}
			} else {
				res.Added++
			}
			if _, err := upsert.ExecContext(ctx, a.ID, a.Source, string(a.Severity), patchbay.SeverityRank(a.Severity), a.CVSSScore,
				nanos(a.Withdrawn), nanos(a.Published), nanos(a.Modified), p.hash, p.data, nanos(now)); err != nil {
				return fmt.Errorf("advisory %s: %w", a.ID, err)
			}
			for _, af := range a.Affected {
				changed[patchbay.EcoPackage{Ecosystem: af.Ecosystem, Package: af.Package}] = true
				if _, err := insPair.ExecContext(ctx, af.Ecosystem, af.Package, a.ID); err != nil {
					return fmt.Errorf("advisory %s: %w", a.ID, err)
				}
			}
			for _, c := range a.CVEs {
				if _, err := insCVE.ExecContext(ctx, c, a.ID); err != nil {
					return fmt.Errorf("advisory %s: %w", a.ID, err)
				}
			}
		}
		return nil
	})
	if err != nil {
		return patchbay.ImportResult{}, fmt.Errorf("import advisories: %w", err)
	}
	res.Changed = make([]patchbay.EcoPackage, 0, len(changed))
	for ep := range changed {
		res.Changed = append(res.Changed, ep)
	}
	slices.SortFunc(res.Changed, compareEcoPackage)
	return res, nil
}

func compareEcoPackage(a, b patchbay.EcoPackage) int {
	if c := strings.Compare(a.Ecosystem, b.Ecosystem); c != 0 {
		return c
	}
	return strings.Compare(a.Package, b.Package)
}

// Advisory returns one advisory by id.
func (db *DB) Advisory(ctx context.Context, id string) (patchbay.Advisory, error) {
	var data string
	err := db.read.QueryRowContext(ctx, `SELECT data FROM advisories WHERE id = ?`, id).Scan(&data)
	if errors.Is(err, sql.ErrNoRows) {
		return patchbay.Advisory{}, patchbay.Errorf(patchbay.ENOTFOUND, "advisory %s not found", id)
	}
	if err != nil {
		return patchbay.Advisory{}, fmt.Errorf("advisory %s: %w", id, err)
	}
	return decodeAdvisory(data)
}

func decodeAdvisory(data string) (patchbay.Advisory, error) {
	var a patchbay.Advisory
	if err := json.Unmarshal([]byte(data), &a); err != nil {
		return a, fmt.Errorf("decode stored advisory: %w", err)
	}
	if a.Aliases == nil {
		a.Aliases = []string{}
	}
	if a.CVEs == nil {
		a.CVEs = []string{}
	}
	if a.Affected == nil {
		a.Affected = []patchbay.Affected{}
	}
	return a, nil
}

// ListAdvisories returns the advisories that match f, newest published
// first, ties broken by id.
func (db *DB) ListAdvisories(ctx context.Context, f patchbay.AdvisoryFilter) ([]patchbay.Advisory, error) {
	if f.Limit < 0 || f.Offset < 0 {
		return nil, patchbay.Errorf(patchbay.EINVALID, "list advisories: limit and offset must not be negative")
	}
	var where []string
	var args []any
	if f.CVE != "" {
		where = append(where, "id IN (SELECT advisory_id FROM advisory_cves WHERE cve = ?)")
		args = append(args, f.CVE)
	}
	if f.Ecosystem != "" || f.Package != "" {
		cond := []string{}
		if f.Ecosystem != "" {
			cond = append(cond, "ecosystem = ?")
			args = append(args, f.Ecosystem)
		}
		if f.Package != "" {
			cond = append(cond, "package = ?")
			args = append(args, f.Package)
		}
		where = append(where, "id IN (SELECT advisory_id FROM advisory_packages WHERE "+strings.Join(cond, " AND ")+")")
	}
	if f.Source != "" {
		where = append(where, "source = ?")
		args = append(args, f.Source)
	}
	q := `SELECT data FROM advisories`
	if len(where) > 0 {
		q += " WHERE " + strings.Join(where, " AND ")
	}
	limit := -1
	if f.Limit > 0 {
		limit = f.Limit
	}
	q += " ORDER BY published DESC, id LIMIT ? OFFSET ?"
	args = append(args, limit, f.Offset)
	rows, err := db.read.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("list advisories: %w", err)
	}
	defer rows.Close()
	out := []patchbay.Advisory{}
	for rows.Next() {
		var data string
		if err := rows.Scan(&data); err != nil {
			return nil, fmt.Errorf("list advisories: %w", err)
		}
		a, err := decodeAdvisory(data)
		if err != nil {
			return nil, fmt.Errorf("list advisories: %w", err)
		}
		out = append(out, a)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list advisories: %w", err)
	}
	return out, nil
}

// AdvisoriesFor returns the advisories of each pair, each advisory
// decoded once however many pairs it affects.
func (db *DB) AdvisoriesFor(ctx context.Context, pairs []patchbay.EcoPackage) (map[patchbay.EcoPackage][]patchbay.Advisory, error) {
	out := map[patchbay.EcoPackage][]patchbay.Advisory{}
	if len(pairs) == 0 {
		return out, nil
	}
	keys := make([][2]string, len(pairs))
	for i, p := range pairs {
		keys[i] = [2]string{p.Ecosystem, p.Package}
	}
	arg, err := json.Marshal(keys)
	if err != nil {
		return nil, fmt.Errorf("advisories for packages: %w", err)
	}
	rows, err := db.read.QueryContext(ctx, `SELECT ap.ecosystem, ap.package, a.id, a.data
		FROM json_each(?) j
		JOIN advisory_packages ap ON ap.ecosystem = j.value ->> 0 AND ap.package = j.value ->> 1
		JOIN advisories a ON a.id = ap.advisory_id
		ORDER BY ap.ecosystem, ap.package, a.id`, string(arg))
	if err != nil {
		return nil, fmt.Errorf("advisories for packages: %w", err)
	}
	defer rows.Close()
	decoded := map[string]patchbay.Advisory{}
	for rows.Next() {
		var (
			ep       patchbay.EcoPackage
			id, data string
		)
		if err := rows.Scan(&ep.Ecosystem, &ep.Package, &id, &data); err != nil {
			return nil, fmt.Errorf("advisories for packages: %w", err)
		}
		a, ok := decoded[id]
		if !ok {
			if a, err = decodeAdvisory(data); err != nil {
				return nil, fmt.Errorf("advisories for packages: %w", err)
			}
			decoded[id] = a
		}
		out[ep] = append(out[ep], a)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("advisories for packages: %w", err)
	}
	return out, nil
}

// ImportKEV replaces the KEV catalog.
func (db *DB) ImportKEV(ctx context.Context, entries []patchbay.KEVEntry) error {
	for i, e := range entries {
		if e.CVE == "" {
			return patchbay.Errorf(patchbay.EINVALID, "kev[%d]: cve is required", i)
		}
	}
	err := db.writeTx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `DELETE FROM kev`); err != nil {
			return err
		}
		ins, err := tx.PrepareContext(ctx, `INSERT INTO kev (cve, date_added, due_date, vendor, product, name, ransomware)
			VALUES (?, ?, ?, ?, ?, ?, ?)
			ON CONFLICT (cve) DO UPDATE SET date_added = excluded.date_added, due_date = excluded.due_date,
			vendor = excluded.vendor, product = excluded.product, name = excluded.name, ransomware = excluded.ransomware`)
		if err != nil {
			return err
		}
		defer ins.Close()
		for _, e := range entries {
			if _, err := ins.ExecContext(ctx, e.CVE, nanos(e.DateAdded), nanos(e.DueDate), e.Vendor, e.Product, e.Name, boolInt(e.Ransomware)); err != nil {
				return fmt.Errorf("kev %s: %w", e.CVE, err)
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("import kev: %w", err)
	}
	return nil
}

// KEV returns the catalog entries of cves.
func (db *DB) KEV(ctx context.Context, cves []string) (map[string]patchbay.KEVEntry, error) {
	out := map[string]patchbay.KEVEntry{}
	if len(cves) == 0 {
		return out, nil
	}
	arg, err := json.Marshal(cves)
	if err != nil {
		return nil, fmt.Errorf("kev: %w", err)
	}
	rows, err := db.read.QueryContext(ctx, `SELECT cve, date_added, due_date, vendor, product, name, ransomware
		FROM kev WHERE cve IN (SELECT value FROM json_each(?))`, string(arg))
	if err != nil {
		return nil, fmt.Errorf("kev: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var (
			e          patchbay.KEVEntry
			added, due int64
			ransomware int64
		)
		if err := rows.Scan(&e.CVE, &added, &due, &e.Vendor, &e.Product, &e.Name, &ransomware); err != nil {
			return nil, fmt.Errorf("kev: %w", err)
		}
		e.DateAdded, e.DueDate, e.Ransomware = fromNanos(added), fromNanos(due), ransomware != 0
		out[e.CVE] = e
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("kev: %w", err)
	}
	return out, nil
}
