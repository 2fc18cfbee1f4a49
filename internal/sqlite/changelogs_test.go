package sqlite

import (
	"strings"
	"testing"
)

// TestChangelogQueryPlans: the changelog queries reach host_packages and
// package_versions by key, never by a scan (the planner's own choice
// scanned all of host_packages, hosts x packages rows, at every
// inventory). The per-host query scans nothing; the fleet sweep scans
// only host_updates.
func TestChangelogQueryPlans(t *testing.T) {
	db := openTest(t)
	for _, tt := range []struct {
		name    string
		oneHost bool
		scans   []string
	}{
		{"one host", true, nil},
		{"fleet", false, []string{"SCAN u"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			rows, err := db.read.QueryContext(t.Context(), `EXPLAIN QUERY PLAN WITH p AS (`+updateSources(tt.oneHost)+`)
				SELECT p.source_name FROM p LEFT JOIN changelogs c ON c.source = p.source_name AND c.version = p.candidate_version
				WHERE c.id IS NULL OR `+due, 1, 0, 0)
			if err != nil {
				t.Fatal(err)
			}
			defer rows.Close()
			var plan, scans []string
			for rows.Next() {
				var id, parent, unused int
				var detail string
				if err := rows.Scan(&id, &parent, &unused, &detail); err != nil {
					t.Fatal(err)
				}
				plan = append(plan, detail)
				if strings.HasPrefix(detail, "SCAN") {
					scans = append(scans, detail)
				}
			}
			if strings.Join(scans, ";") != strings.Join(tt.scans, ";") {
				t.Errorf("scans %q, want %q; plan:\n%s", scans, tt.scans, strings.Join(plan, "\n"))
			}
		})
	}
}
