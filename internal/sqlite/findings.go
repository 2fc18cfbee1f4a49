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
	"strconv"
	"strings"
	"time"

	"github.com/patchbay/patchbay"
	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

// evalHostsPage is how many hosts EvalHosts reads per read transaction:
// small enough that no snapshot stays open for long (a long reader holds
// back WAL checkpoints), large enough that the per-query cost vanishes.
const evalHostsPage = 256

// EvalHosts calls fn for each host that has reported an inventory. The
// package ids of a host come from its host_packages rows in one aggregate:
// the rows are contiguous in that table's primary key.
func (db *DB) EvalHosts(ctx context.Context, ids []int64, fn func(patchbay.EvalHost) error) error {
	filter := ""
	var idArg string
	if ids != nil {
		if len(ids) == 0 {
			return nil
		}
		b, err := json.Marshal(ids)
		if err != nil {
			return fmt.Errorf("eval hosts: %w", err)
		}
		idArg = string(b)
		filter = " AND id IN (SELECT value FROM json_each(?))"
	}
	q := `SELECT id, os_id, os_id_like, os_version_id, os_codename, os_name, os_pretty_name, package_manager, ubuntu_pro, inventory_hash,
		(SELECT json_group_array(package_id) FROM host_packages WHERE host_id = hosts.id)
		FROM hosts WHERE id > ? AND inventory_hash != '' AND retired_at = 0` + filter + ` ORDER BY id LIMIT ?`
	var after int64
	for {
		var page []patchbay.EvalHost
		args := []any{after}
		if idArg != "" {
			args = append(args, idArg)
		}
		args = append(args, evalHostsPage)
		err := db.readTx(ctx, func(tx *sql.Tx) error {
			rows, err := tx.QueryContext(ctx, q, args...)
			if err != nil {
				return err
			}
			defer rows.Close()
			for rows.Next() {
				var (
					h   patchbay.EvalHost
					raw []byte
					pro int64
				)
				if err := rows.Scan(&h.ID, &h.OS.ID, &h.OS.IDLike, &h.OS.VersionID, &h.OS.Codename, &h.OS.Name, &h.OS.PrettyName,
					&h.PackageManager, &pro, &h.InventoryHash, &raw); err != nil {
					return err
				}
				h.UbuntuPro = pro != 0
				if h.PackageIDs, err = parseIntArray(raw); err != nil {
					return fmt.Errorf("host %d: %w", h.ID, err)
				}
				page = append(page, h)
			}
			return rows.Err()
		})
		if err != nil {
			return fmt.Errorf("eval hosts: %w", err)
		}
		for _, h := range page {
			if err := fn(h); err != nil {
				return err
			}
		}
		if len(page) < evalHostsPage {
			return nil
		}
		after = page[len(page)-1].ID
	}
}

// parseIntArray reads the JSON array of integers json_group_array makes,
// without reflection: it runs for every host of every evaluation.
func parseIntArray(b []byte) ([]int64, error) {
	s := strings.TrimSpace(string(b))
	if len(s) < 2 || s[0] != '[' || s[len(s)-1] != ']' {
		return nil, fmt.Errorf("package ids: not a JSON array: %.40q", s)
	}
	s = s[1 : len(s)-1]
	if s == "" {
		return []int64{}, nil
	}
	out := make([]int64, 0, strings.Count(s, ",")+1)
	for s != "" {
		var part string
		part, s, _ = strings.Cut(s, ",")
		n, err := strconv.ParseInt(strings.TrimSpace(part), 10, 64)
		if err != nil {
			return nil, fmt.Errorf("package ids: %w", err)
		}
		out = append(out, n)
	}
	return out, nil
}

// PackageVersions resolves package version ids; unknown ids are absent.
func (db *DB) PackageVersions(ctx context.Context, ids []int64) (map[int64]patchbay.Package, error) {
	out := make(map[int64]patchbay.Package, len(ids))
	for chunk := range slices.Chunk(ids, 20000) {
		arg, err := json.Marshal(chunk)
		if err != nil {
			return nil, fmt.Errorf("package versions: %w", err)
		}
		rows, err := db.read.QueryContext(ctx, `SELECT id, name, arch, version, source_name, source_version
			FROM package_versions WHERE id IN (SELECT value FROM json_each(?))`, string(arg))
		if err != nil {
			return nil, fmt.Errorf("package versions: %w", err)
		}
		for rows.Next() {
			var (
				id int64
				p  patchbay.Package
			)
			if err := rows.Scan(&id, &p.Name, &p.Arch, &p.Version, &p.SourceName, &p.SourceVersion); err != nil {
				rows.Close()
				return nil, fmt.Errorf("package versions: %w", err)
			}
			out[id] = p
		}
		if err := rows.Close(); err != nil {
			return nil, fmt.Errorf("package versions: %w", err)
		}
		if err := rows.Err(); err != nil {
			return nil, fmt.Errorf("package versions: %w", err)
		}
	}
	return out, nil
}

// findingKey identifies an open finding.
type findingKey struct{ pkg, arch, advisory string }

// ReconcileFindings makes e.Findings the open findings of the host, in one
// transaction guarded by the host's inventory hash.
func (db *DB) ReconcileFindings(ctx context.Context, e patchbay.HostEvaluation, now time.Time) (patchbay.FindingChanges, error) {
	want := make(map[findingKey]patchbay.Finding, len(e.Findings))
	for i, f := range e.Findings {
		if f.Package == "" || f.AdvisoryID == "" || f.InstalledVersion == "" {
			return patchbay.FindingChanges{}, patchbay.Errorf(patchbay.EINVALID, "findings[%d]: package, advisory_id and installed_version are required", i)
		}
		k := findingKey{f.Package, f.Arch, f.AdvisoryID}
		if _, dup := want[k]; dup {
			return patchbay.FindingChanges{}, patchbay.Errorf(patchbay.EINVALID, "findings[%d]: %s:%s %s listed twice", i, f.Package, f.Arch, f.AdvisoryID)
		}
		want[k] = f
	}
	fp := fingerprint(e.Findings)
	// Most re-evaluations find what the last one found: a read, not a
	// write transaction, settles them.
	var hash, stored string
	err := db.read.QueryRowContext(ctx, `SELECT inventory_hash, findings_fingerprint FROM hosts WHERE id = ?`, e.HostID).Scan(&hash, &stored)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return patchbay.FindingChanges{}, patchbay.Errorf(patchbay.ENOTFOUND, "host %d not found", e.HostID)
	case err != nil:
		return patchbay.FindingChanges{}, fmt.Errorf("reconcile findings of host %d: %w", e.HostID, err)
	case hash != e.InventoryHash:
		return patchbay.FindingChanges{}, patchbay.Errorf(patchbay.ECONFLICT, "the inventory of host %d changed since it was evaluated", e.HostID)
	case stored == fp:
		return patchbay.FindingChanges{}, nil
	}
	var ch patchbay.FindingChanges
	err = db.writeTx(ctx, func(tx *sql.Tx) error {
		ch = patchbay.FindingChanges{}
		var hash string
		err := tx.QueryRowContext(ctx, `SELECT inventory_hash FROM hosts WHERE id = ?`, e.HostID).Scan(&hash)
		if errors.Is(err, sql.ErrNoRows) {
			return patchbay.Errorf(patchbay.ENOTFOUND, "host %d not found", e.HostID)
		}
		if err != nil {
			return err
		}
		if hash != e.InventoryHash {
			return patchbay.Errorf(patchbay.ECONFLICT, "the inventory of host %d changed since it was evaluated", e.HostID)
		}
		open, err := openFindings(ctx, tx, e.HostID)
		if err != nil {
			return err
		}
		var events []patchbay.Event
		for k, old := range open {
			nf, ok := want[k]
			if !ok {
				if _, err := tx.ExecContext(ctx, `UPDATE findings SET resolved_at = ? WHERE id = ?`, nanos(now), old.ID); err != nil {
					return err
				}
				old.ResolvedAt = now
				ch.Resolved = append(ch.Resolved, old)
				continue
			}
			if nf.InstalledVersion != old.InstalledVersion || nf.FixedVersion != old.FixedVersion ||
				nf.SourceName != old.SourceName || nf.Evidence != old.Evidence {
				if _, err := tx.ExecContext(ctx, `UPDATE findings SET installed_version = ?, fixed_version = ?, source_name = ?, evidence = ?
					WHERE id = ?`, nf.InstalledVersion, nf.FixedVersion, nf.SourceName, nf.Evidence, old.ID); err != nil {
					return err
				}
				ch.Updated++
			}
		}
		if len(want) > len(open)-len(ch.Resolved) {
			ins, err := tx.PrepareContext(ctx, `INSERT INTO findings
				(host_id, package, arch, source_name, installed_version, advisory_id, fixed_version, evidence, first_seen)
				VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id`)
			if err != nil {
				return err
			}
			defer ins.Close()
			for k, f := range want {
				if _, ok := open[k]; ok {
					continue
				}
				f.HostID, f.FirstSeen, f.ResolvedAt = e.HostID, now, time.Time{}
				if err := ins.QueryRowContext(ctx, e.HostID, f.Package, f.Arch, f.SourceName, f.InstalledVersion, f.AdvisoryID,
					f.FixedVersion, f.Evidence, nanos(now)).Scan(&f.ID); err != nil {
					if isForeignKey(err) {
						return patchbay.Errorf(patchbay.EINVALID, "finding for %s: no such advisory", f.AdvisoryID)
					}
					return fmt.Errorf("insert finding %s %s: %w", f.Package, f.AdvisoryID, err)
				}
				ch.Opened = append(ch.Opened, f)
			}
		}
		if err := fillCVEs(ctx, tx, ch.Opened); err != nil {
			return err
		}
		slices.SortFunc(ch.Opened, compareFinding)
		slices.SortFunc(ch.Resolved, compareFinding)
		for _, f := range ch.Resolved {
			installed := ""
			if e.Installed != nil {
				installed = e.Installed(f.Package + ":" + f.Arch)
			}
			events = append(events, patchbay.FindingResolvedEvent(f, installed, now))
		}
		for _, f := range ch.Opened {
			events = append(events, patchbay.FindingOpenedEvent(f, now))
		}
		if _, err := tx.ExecContext(ctx, `UPDATE hosts SET findings_fingerprint = ? WHERE id = ?`, fp, e.HostID); err != nil {
			return err
		}
		return db.insertEvents(ctx, tx, e.HostID, events, now)
	})
	if err != nil {
		return patchbay.FindingChanges{}, fmt.Errorf("reconcile findings of host %d: %w", e.HostID, err)
	}
	return ch, nil
}

// fingerprint is the SHA-256 of the findings a reconcile stores, in the
// order given (evaluation lists them in a stable order; the same set in
// another order costs one needless write, never a missed one); never "".
// It runs for every host of every evaluation, so it writes the fields
// straight into the hash.
func fingerprint(fs []patchbay.Finding) string {
	h := sha256.New()
	var buf []byte
	for _, f := range fs {
		buf = buf[:0]
		for _, s := range [...]string{f.Package, f.Arch, f.AdvisoryID, f.InstalledVersion, f.FixedVersion, f.SourceName, f.Evidence} {
			buf = append(append(buf, s...), 0)
		}
		h.Write(buf)
	}
	return hex.EncodeToString(h.Sum(nil))
}

func compareFinding(a, b patchbay.Finding) int {
	return strings.Compare(a.Package+"\x00"+a.Arch+"\x00"+a.AdvisoryID, b.Package+"\x00"+b.Arch+"\x00"+b.AdvisoryID)
}

// fillCVEs sets the CVEs of findings from their advisories.
func fillCVEs(ctx context.Context, tx *sql.Tx, fs []patchbay.Finding) error {
	byAdv := map[string][]string{}
	for i := range fs {
		cves, ok := byAdv[fs[i].AdvisoryID]
		if !ok {
			var raw string
			if err := tx.QueryRowContext(ctx, `SELECT json_group_array(cve) FROM advisory_cves WHERE advisory_id = ?`, fs[i].AdvisoryID).Scan(&raw); err != nil {
				return err
			}
			if err := json.Unmarshal([]byte(raw), &cves); err != nil {
				return err
			}
			byAdv[fs[i].AdvisoryID] = cves
		}
		fs[i].CVEs = cves
	}
	return nil
}

// openFindings reads the open findings of a host with their CVEs.
func openFindings(ctx context.Context, tx *sql.Tx, hostID int64) (map[findingKey]patchbay.Finding, error) {
	rows, err := tx.QueryContext(ctx, `SELECT f.id, f.package, f.arch, f.source_name, f.installed_version, f.advisory_id,
		f.fixed_version, f.evidence, f.first_seen,
		(SELECT json_group_array(cve) FROM advisory_cves c WHERE c.advisory_id = f.advisory_id)
		FROM findings f WHERE f.host_id = ? AND f.resolved_at = 0`, hostID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[findingKey]patchbay.Finding{}
	for rows.Next() {
		f := patchbay.Finding{HostID: hostID}
		var (
			first int64
			cves  string
		)
		if err := rows.Scan(&f.ID, &f.Package, &f.Arch, &f.SourceName, &f.InstalledVersion, &f.AdvisoryID,
			&f.FixedVersion, &f.Evidence, &first, &cves); err != nil {
			return nil, err
		}
		f.FirstSeen = fromNanos(first)
		if err := json.Unmarshal([]byte(cves), &f.CVEs); err != nil {
			return nil, err
		}
		out[findingKey{f.Package, f.Arch, f.AdvisoryID}] = f
	}
	return out, rows.Err()
}

// Findings lists findings, worst first: by severity, score, then hostname,
// package and advisory.
func (db *DB) Findings(ctx context.Context, f patchbay.FindingFilter) ([]patchbay.Finding, error) {
	if f.Limit < 0 || f.Offset < 0 {
		return nil, patchbay.Errorf(patchbay.EINVALID, "list findings: limit and offset must not be negative")
	}
	where := []string{"f.resolved_at = 0"}
	if f.Resolved {
		where[0] = "f.resolved_at != 0"
	}
	var args []any
	if f.Resolved && !f.ResolvedSince.IsZero() {
		where = append(where, "f.resolved_at >= ?")
		args = append(args, nanos(f.ResolvedSince))
	}
	if f.HostID != 0 {
		where = append(where, "f.host_id = ?")
		args = append(args, f.HostID)
	} else {
		where = append(where, "h.retired_at = 0") // a retired host is out of the fleet's figures
	}
	if f.AdvisoryID != "" {
		where = append(where, "f.advisory_id = ?")
		args = append(args, f.AdvisoryID)
	}
	if f.CVE != "" {
		where = append(where, "f.advisory_id IN (SELECT advisory_id FROM advisory_cves WHERE cve = ?)")
		args = append(args, f.CVE)
	}
	if f.MinSeverity != "" {
		if _, err := patchbay.ParseSeverity(string(f.MinSeverity)); err != nil {
			return nil, err
		}
		where = append(where, "a.severity_rank >= ?")
		args = append(args, patchbay.SeverityRank(f.MinSeverity))
	}
	if f.KEV {
		where = append(where, kevExists)
	}
	if f.Fixable {
		where = append(where, "f.fixed_version != ''")
	}
	for _, k := range sortedKeys(f.Labels) {
		if col, ok := assetColumn(k); ok {
			where = append(where, "h."+col+" = ?")
			args = append(args, f.Labels[k])
			continue
		}
		where = append(where, "EXISTS (SELECT 1 FROM host_labels l WHERE l.host_id = h.id AND l.key = ? AND l.value = ?)")
		args = append(args, k, f.Labels[k])
	}
	limit := -1
	if f.Limit > 0 {
		limit = f.Limit
	}
	args = append(args, limit, f.Offset)
	q := `SELECT f.id, f.host_id, h.hostname, f.package, f.arch, f.source_name, f.installed_version, f.advisory_id,
		(SELECT json_group_array(cve) FROM advisory_cves c WHERE c.advisory_id = f.advisory_id),
		f.fixed_version, a.severity, coalesce(a.data ->> '$.severity_raw', ''), a.cvss_score, ` + kevExists + `,
		f.first_seen, f.resolved_at, f.evidence
		FROM findings f JOIN hosts h ON h.id = f.host_id JOIN advisories a ON a.id = f.advisory_id
		WHERE ` + strings.Join(where, " AND ") + `
		ORDER BY a.severity_rank DESC, a.cvss_score DESC, h.hostname, f.package, f.arch, f.advisory_id, f.id
		LIMIT ? OFFSET ?`
	rows, err := db.read.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("list findings: %w", err)
	}
	defer rows.Close()
	out := []patchbay.Finding{}
	for rows.Next() {
		var (
			x               patchbay.Finding
			cves, sev       string
			kev             int64
			first, resolved int64
		)
		if err := rows.Scan(&x.ID, &x.HostID, &x.Hostname, &x.Package, &x.Arch, &x.SourceName, &x.InstalledVersion, &x.AdvisoryID,
			&cves, &x.FixedVersion, &sev, &x.SeverityRaw, &x.CVSSScore, &kev, &first, &resolved, &x.Evidence); err != nil {
			return nil, fmt.Errorf("list findings: %w", err)
		}
		if err := json.Unmarshal([]byte(cves), &x.CVEs); err != nil {
			return nil, fmt.Errorf("list findings: %w", err)
		}
		x.Severity, x.KEV = patchbay.Severity(sev), kev != 0
		x.FirstSeen, x.ResolvedAt = fromNanos(first), fromNanos(resolved)
		out = append(out, x)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list findings: %w", err)
	}
	return out, nil
}

// kevExists is true for a finding whose advisory names a CVE in the KEV
// catalog.
const kevExists = `EXISTS (SELECT 1 FROM advisory_cves c JOIN kev k ON k.cve = c.cve WHERE c.advisory_id = f.advisory_id)`

// isForeignKey reports whether err is a violated foreign key.
func isForeignKey(err error) bool {
	var e *sqlite.Error
	return errors.As(err, &e) && e.Code() == sqlite3.SQLITE_CONSTRAINT_FOREIGNKEY
}
