package changelog

import (
	"slices"
	"strings"
	"time"

	"github.com/patchbay/patchbay/internal/debversion"
)

// OSVRecord is an OSV document (the subset DebianOSV writes); marshal it
// with encoding/json to get a file the osv package reads.
type OSVRecord struct {
	SchemaVersion    string            `json:"schema_version"`
	ID               string            `json:"id"`
	Summary          string            `json:"summary"`
	Details          string            `json:"details"`
	Upstream         []string          `json:"upstream"`
	Published        string            `json:"published"`
	Modified         string            `json:"modified"`
	Affected         []OSVAffected     `json:"affected"`
	DatabaseSpecific map[string]string `json:"database_specific"`
}

// OSVAffected is one affected package of an OSVRecord.
type OSVAffected struct {
	Package struct {
		Ecosystem string `json:"ecosystem"`
		Name      string `json:"name"`
		PURL      string `json:"purl"`
	} `json:"package"`
	Ranges []OSVRange `json:"ranges"`
}

// OSVRange is an ECOSYSTEM range of an OSVAffected.
type OSVRange struct {
	Type   string              `json:"type"`
	Events []map[string]string `json:"events"`
}

// Bookworm reports whether an entry is a Debian 12 upload: "deb12" in its
// version or a distribution starting with "bookworm" (the definition of
// the shared changelog data set).
func Bookworm(e Entry) bool {
	if strings.Contains(e.Version, "deb12") {
		return true
	}
	for _, d := range e.Distributions {
		if strings.HasPrefix(d, "bookworm") {
			return true
		}
	}
	return false
}

// DebianOSV builds OSV records for ecosystem (e.g. "Debian:12") from the
// changelogs of source packages (source name -> its entries), the way
// osv.dev's DEBIAN-CVE-* records look: one record per CVE, id
// "DEBIAN-CVE-YYYY-NNNN", one affected entry per source package that
// mentions it, with the range [introduced 0, fixed V] where V is the
// oldest version among the kept entries that mentions the CVE. Only
// entries for which keep returns true count (Bookworm for Debian 12).
// Records are sorted by id, affected entries by package.
//
// These are test fixtures built from what a changelog says, not Debian's
// own data: a mention is not always a fix, and CVEs a release never fixed
// are missing. Details says so in every record.
func DebianOSV(ecosystem string, changelogs map[string][]Entry, keep func(Entry) bool) []OSVRecord {
	type fix struct {
		version debversion.Version
		date    time.Time
	}
	byCVE := map[string]map[string]fix{} // CVE -> source -> oldest fix
	for src, entries := range changelogs {
		for _, e := range entries {
			if !keep(e) {
				continue
			}
			v, err := debversion.Parse(e.Version)
			if err != nil {
				continue // Parse never returns such entries
			}
			for _, c := range e.CVEs {
				if byCVE[c] == nil {
					byCVE[c] = map[string]fix{}
				}
				if old, ok := byCVE[c][src]; !ok || v.Compare(old.version) < 0 {
					byCVE[c][src] = fix{v, e.Date}
				}
			}
		}
	}
	out := make([]OSVRecord, 0, len(byCVE))
	for cve, srcs := range byCVE {
		rec := OSVRecord{
			SchemaVersion: "1.6.0",
			ID:            "DEBIAN-" + cve,
			Upstream:      []string{cve},
			DatabaseSpecific: map[string]string{
				"generator": "patchbay internal/vuln/changelog.DebianOSV",
			},
		}
		var names []string
		var published, modified time.Time
		for src, f := range srcs {
			names = append(names, src)
			a := OSVAffected{Ranges: []OSVRange{{Type: "ECOSYSTEM", Events: []map[string]string{
				{"introduced": "0"}, {"fixed": f.version.String()}}}}}
			a.Package.Ecosystem, a.Package.Name = ecosystem, src
			a.Package.PURL = "pkg:deb/debian/" + src + "?arch=source"
			rec.Affected = append(rec.Affected, a)
			if published.IsZero() || f.date.Before(published) {
				published = f.date
			}
			if f.date.After(modified) {
				modified = f.date
			}
		}
		slices.Sort(names)
		slices.SortFunc(rec.Affected, func(a, b OSVAffected) int { return strings.Compare(a.Package.Name, b.Package.Name) })
		rec.Summary = cve + " in " + strings.Join(names, ", ")
		rec.Details = "Test fixture: built from the Debian changelog of " + strings.Join(names, ", ") +
			"; the fixed version is the oldest " + ecosystem + " upload whose changelog entry mentions " + cve +
			". Not Debian security tracker data."
		rec.Published = published.UTC().Format(time.RFC3339)
		rec.Modified = modified.UTC().Format(time.RFC3339)
		out = append(out, rec)
	}
	slices.SortFunc(out, func(a, b OSVRecord) int { return strings.Compare(a.ID, b.ID) })
	return out
}
