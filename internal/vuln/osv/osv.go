// Package osv reads advisories in the OSV format (https://ossf.github.io/osv-schema/)
// into patchbay.Advisory: one JSON document, a directory of them, the zip
// layout osv.dev publishes per ecosystem (all.zip), or a download of one.
//
// Exported API:
//
//	Parse(data []byte) (patchbay.Advisory, error)
//	Walk(ctx, path string, fn func(patchbay.Advisory) error) error
//	WalkZip(ctx, r io.ReaderAt, size int64, fn func(patchbay.Advisory) error) error
//	Fetch(ctx, client, url, etag, lastModified string) (body io.ReadCloser, newETag, newLastModified string, notModified bool, err error)
//
// What Parse keeps: id, aliases, summary (details when there is none),
// published, modified, withdrawn; CVE ids found in id, aliases, upstream and
// related (deduplicated, sorted); the first CVSS vector of severity[]
// (v3 before v4 before v2; the affected entries' own severity[] when the
// top level has none) with its base score computed by
// github.com/pandatix/go-cvss (an unreadable vector is kept with score 0);
// the distribution's own rating as Severity (normalised) and SeverityRaw
// (as written): Ubuntu's priority (severity[] type "Ubuntu"), a
// database_specific or ecosystem_specific "severity", "priority" or
// "urgency", or the prefix of the summary ("Important: openssl security
// update", AlmaLinux and Rocky). Affected entries without an ecosystem or
// package name (upstream GIT-only entries) are dropped: nothing installed
// can match them.
package osv

import (
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"

	cvss20 "github.com/pandatix/go-cvss/20"
	cvss30 "github.com/pandatix/go-cvss/30"
	cvss31 "github.com/pandatix/go-cvss/31"
	cvss40 "github.com/pandatix/go-cvss/40"

	"github.com/patchbay/patchbay"
)

// document is the part of an OSV record Patchbay reads.
type document struct {
	ID               string          `json:"id"`
	Summary          string          `json:"summary"`
	Details          string          `json:"details"`
	Aliases          []string        `json:"aliases"`
	Upstream         []string        `json:"upstream"`
	Related          []string        `json:"related"`
	Published        string          `json:"published"`
	Modified         string          `json:"modified"`
	Withdrawn        string          `json:"withdrawn"`
	Severity         []severity      `json:"severity"`
	Affected         []affected      `json:"affected"`
	DatabaseSpecific json.RawMessage `json:"database_specific"`
}

type severity struct {
	Type  string `json:"type"`
	Score string `json:"score"`
}

type affected struct {
	Package struct {
		Ecosystem string `json:"ecosystem"`
		Name      string `json:"name"`
	} `json:"package"`
	Severity []severity `json:"severity"`
	Ranges   []struct {
		Type   string `json:"type"`
		Events []struct {
			Introduced   string `json:"introduced"`
			Fixed        string `json:"fixed"`
			LastAffected string `json:"last_affected"`
			Limit        string `json:"limit"`
		} `json:"events"`
	} `json:"ranges"`
	Versions          []string        `json:"versions"`
	EcosystemSpecific json.RawMessage `json:"ecosystem_specific"`
	DatabaseSpecific  json.RawMessage `json:"database_specific"`
}

// cveID is the CVE id grammar: CVE-year-sequence of at least 4 digits.
var cveID = regexp.MustCompile(`^CVE-\d{4}-\d{4,}$`)

// Parse reads one OSV JSON document. It fails on invalid JSON, a missing
// id and unreadable timestamps.
func Parse(data []byte) (patchbay.Advisory, error) {
	var d document
	if err := json.Unmarshal(data, &d); err != nil {
		return patchbay.Advisory{}, fmt.Errorf("parse osv: %w", err)
	}
	if strings.TrimSpace(d.ID) == "" {
		return patchbay.Advisory{}, errors.New("parse osv: no id")
	}
	adv := patchbay.Advisory{
		ID:      d.ID,
		Source:  "osv",
		Aliases: nonNil(d.Aliases),
		Summary: strings.TrimSpace(d.Summary),
	}
	if adv.Summary == "" {
		adv.Summary = firstLine(d.Details)
	}
	var err error
	for _, f := range []struct {
		name string
		raw  string
		dst  *time.Time
	}{{"published", d.Published, &adv.Published}, {"modified", d.Modified, &adv.Modified}, {"withdrawn", d.Withdrawn, &adv.Withdrawn}} {
		if *f.dst, err = parseTime(f.raw); err != nil {
			return patchbay.Advisory{}, fmt.Errorf("parse osv %s: %s: %w", d.ID, f.name, err)
		}
	}
	adv.CVEs = cves(d)
	sev := d.Severity
	for _, a := range d.Affected {
		if len(sev) == 0 {
			sev = a.Severity
		}
	}
	adv.CVSSVector, adv.CVSSScore = pickCVSS(sev)
	adv.Severity, adv.SeverityRaw = rating(d)
	adv.Affected = []patchbay.Affected{}
	for _, a := range d.Affected {
		if a.Package.Ecosystem == "" || a.Package.Name == "" {
			continue
		}
		pa := patchbay.Affected{
			Ecosystem: a.Package.Ecosystem,
			Package:   a.Package.Name,
			Ranges:    []patchbay.Range{},
			Versions:  nonNil(a.Versions),
		}
		for _, r := range a.Ranges {
			pr := patchbay.Range{Type: r.Type, Events: make([]patchbay.RangeEvent, 0, len(r.Events))}
			for _, e := range r.Events {
				pr.Events = append(pr.Events, patchbay.RangeEvent{
					Introduced: e.Introduced, Fixed: e.Fixed, LastAffected: e.LastAffected, Limit: e.Limit,
				})
			}
			pa.Ranges = append(pa.Ranges, pr)
		}
		adv.Affected = append(adv.Affected, pa)
	}
	return adv, nil
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

func firstLine(s string) string {
	s = strings.TrimSpace(s)
	line, _, _ := strings.Cut(s, "\n")
	return strings.TrimSpace(line)
}

// parseTime reads an OSV timestamp (RFC 3339; a missing zone means UTC).
func parseTime(s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t.UTC(), nil
	}
	t, err := time.Parse("2006-01-02T15:04:05", s)
	if err != nil {
		return time.Time{}, fmt.Errorf("timestamp %q: not RFC 3339", s)
	}
	return t, nil
}

// cves collects the CVE ids of the id, aliases, upstream and related.
func cves(d document) []string {
	out := []string{}
	add := func(s string) {
		s = strings.TrimSpace(s)
		if cveID.MatchString(s) {
			out = append(out, s)
		}
	}
	add(d.ID)
	for _, l := range [][]string{d.Aliases, d.Upstream, d.Related} {
		for _, s := range l {
			add(s)
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// pickCVSS returns the preferred CVSS vector and its base score.
func pickCVSS(sev []severity) (string, float64) {
	for _, typ := range []string{"CVSS_V3", "CVSS_V4", "CVSS_V2"} {
		for _, s := range sev {
			if s.Type == typ && s.Score != "" {
				return s.Score, BaseScore(s.Score)
			}
		}
	}
	return "", 0
}

// BaseScore computes the CVSS base score of a v2.0, v3.0, v3.1 or v4.0
// vector, or returns 0 when the vector is unreadable.
func BaseScore(vector string) float64 {
	switch {
	case strings.HasPrefix(vector, "CVSS:4.0/"):
		if v, err := cvss40.ParseVector(vector); err == nil {
			return v.Score()
		}
	case strings.HasPrefix(vector, "CVSS:3.1/"):
		if v, err := cvss31.ParseVector(vector); err == nil {
			return v.BaseScore()
		}
	case strings.HasPrefix(vector, "CVSS:3.0/"):
		if v, err := cvss30.ParseVector(vector); err == nil {
			return v.BaseScore()
		}
	default:
		if v, err := cvss20.ParseVector(strings.TrimPrefix(vector, "(")); err == nil {
			return v.BaseScore()
		}
	}
	return 0
}

// rating finds the distribution's own rating of the advisory.
func rating(d document) (patchbay.Severity, string) {
	for _, s := range d.Severity {
		if s.Type == "Ubuntu" && s.Score != "" {
			return Normalise(s.Score), s.Score
		}
	}
	specific := [][]byte{d.DatabaseSpecific}
	for _, a := range d.Affected {
		specific = append(specific, a.EcosystemSpecific, a.DatabaseSpecific)
	}
	for _, raw := range specific {
		if len(raw) == 0 {
			continue
		}
		var m map[string]any
		if json.Unmarshal(raw, &m) != nil {
			continue
		}
		for _, key := range []string{"severity", "priority", "urgency"} {
			if s, ok := m[key].(string); ok && s != "" {
				return Normalise(s), s
			}
		}
	}
	if word, _, ok := strings.Cut(d.Summary, ":"); ok {
		if sev := Normalise(word); sev != patchbay.SeverityUnknown {
			return sev, word
		}
	}
	return patchbay.SeverityUnknown, ""
}

// Normalise maps a distribution's rating word onto Patchbay's scale:
// Red Hat's Low/Moderate/Important/Critical, Ubuntu's
// negligible/low/medium/high/critical, Debian's unimportant/low/medium/high
// (a trailing "**" is dropped), GitHub's LOW/MODERATE/HIGH/CRITICAL.
// Anything else, "untriaged" and "not yet assigned" included, is unknown.
func Normalise(raw string) patchbay.Severity {
	w := strings.ToLower(strings.TrimSpace(strings.TrimRight(strings.TrimSpace(raw), "*")))
	switch w {
	case "critical":
		return patchbay.SeverityCritical
	case "important", "high":
		return patchbay.SeverityHigh
	case "moderate", "medium":
		return patchbay.SeverityMedium
	case "low", "negligible", "unimportant":
		return patchbay.SeverityLow
	case "none":
		return patchbay.SeverityNone
	}
	return patchbay.SeverityUnknown
}
