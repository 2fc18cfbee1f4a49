// Package changelog parses Debian changelogs (debian/changelog, as shipped
// in /usr/share/doc/<pkg>/changelog.Debian.gz and printed by
// `apt-get changelog`) and tells which CVEs an upgrade fixes.
//
// Exported API:
//
//	Parse(r io.Reader) ([]Entry, error)
//	CVEsFixedBetween(entries []Entry, installed, candidate string) ([]string, error)
//	DebianOSV(ecosystem string, changelogs map[string][]Entry, keep func(Entry) bool) []OSVRecord
//	Bookworm(e Entry) bool
//
// The grammar is dpkg's (Dpkg::Changelog::Debian): a header
// `source (version) dist [dist...]; urgency=u[, key=value...]`, indented
// body lines, and a trailer ` -- Name <email>  date`. Parse is lenient
// where dpkg only warns: lines outside an entry (comments such as "# Older
// entries have been removed", emacs variables, text of pre-1996 formats) are
// skipped, and an entry whose trailer is missing ends at the next header.
// A header whose version dpkg would refuse does not start an entry. The CVE
// ids of an entry are those its body mentions (CVE-YYYY-NNNN...).
// A mention is not always a fix (a revert, a "not affected" note); nothing
// here can tell.
package changelog

import (
	"bufio"
	"fmt"
	"io"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/patchbay/patchbay/internal/debversion"
)

// Entry is one upload in a changelog.
type Entry struct {
	Source        string    `json:"source"`
	Version       string    `json:"version"`
	Distributions []string  `json:"distributions"` // "bookworm-security"; usually one
	Urgency       string    `json:"urgency"`       // upload urgency, not a CVE severity
	Maintainer    string    `json:"maintainer"`    // "Name <email>" from the trailer
	Date          time.Time `json:"date"`          // UTC; zero when the trailer is missing or unreadable
	Text          string    `json:"text"`          // body lines, indentation kept, blank lines at both ends trimmed
	CVEs          []string  `json:"cves"`          // sorted, deduplicated
}

var (
	header  = regexp.MustCompile(`^(\w[-+0-9a-z.]*) \(([^() \t]+)\)((?:\s+[-+0-9a-zA-Z.]+)+);(.*?)\s*$`)
	trailer = regexp.MustCompile(`^ -- (.*?) ?<(.*)>(  ?)(.*?)\s*$`)
	cveRE   = regexp.MustCompile(`CVE-\d{4}-\d{4,}`)
)

// maxLine bounds one changelog line.
const maxLine = 1 << 20

// Parse reads a changelog (plain text; gunzip first). It fails only when r
// fails or a line is longer than 1 MiB.
func Parse(r io.Reader) ([]Entry, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), maxLine)
	var (
		out  []Entry
		cur  *Entry
		body []string
	)
	finish := func() {
		if cur == nil {
			return
		}
		cur.Text = strings.Trim(strings.Join(body, "\n"), "\n")
		cur.CVEs = cves(cur.Text)
		out = append(out, *cur)
		cur, body = nil, nil
	}
	for sc.Scan() {
		line := strings.TrimRight(sc.Text(), "\r")
		if e, ok := parseHeader(line); ok {
			finish()
			cur = &e
			continue
		}
		if cur == nil {
			continue
		}
		if m := trailer.FindStringSubmatch(line); m != nil {
			cur.Maintainer = strings.TrimSpace(m[1]) + " <" + m[2] + ">"
			cur.Date = parseDate(m[4])
			finish()
			continue
		}
		if line == "" || line[0] == ' ' || line[0] == '\t' {
			body = append(body, line)
			continue
		}
		// A line at the left margin inside an entry: dpkg warns; it is
		// most often the start of an old-format section, so the entry
		// ends here.
		finish()
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("parse changelog: %w", err)
	}
	finish()
	return out, nil
}

func parseHeader(line string) (Entry, bool) {
	m := header.FindStringSubmatch(line)
	if m == nil || !debversion.Valid(m[2]) {
		return Entry{}, false
	}
	e := Entry{Source: m[1], Version: m[2], Distributions: strings.Fields(m[3])}
	for _, kv := range strings.Split(m[4], ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(kv), "=")
		if ok && strings.EqualFold(k, "urgency") {
			e.Urgency = strings.ToLower(strings.TrimSpace(v))
		}
	}
	return e, true
}

// parseDate reads an RFC 5322 date as changelogs write it, with or without
// the weekday, with one- or two-digit days, and a trailing "(UTC)" comment.
func parseDate(s string) time.Time {
	s = strings.TrimSpace(s)
	if i := strings.Index(s, " ("); i > 0 {
		s = s[:i]
	}
	for _, layout := range []string{
		"Mon, 2 Jan 2006 15:04:05 -0700",
		"Mon,  2 Jan 2006 15:04:05 -0700",
		"2 Jan 2006 15:04:05 -0700",
		"Monday, 2 Jan 2006 15:04:05 -0700",
	} {
		if t, err := time.Parse(layout, s); err == nil {
			return t.UTC()
		}
	}
	return time.Time{}
}

func cves(text string) []string {
	out := cveRE.FindAllString(text, -1)
	if out == nil {
		return []string{}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// CVEsFixedBetween returns the CVE ids mentioned by the entries whose
// version is newer than installed and not newer than candidate (dpkg
// rules): what upgrading from installed to candidate brings. Sorted,
// deduplicated, never nil. An unreadable installed or candidate version is
// an error. Changelogs shipped in packages are often cut ("Older entries
// have been removed"); that only loses old entries, never recent ones.
func CVEsFixedBetween(entries []Entry, installed, candidate string) ([]string, error) {
	from, err := debversion.Parse(installed)
	if err != nil {
		return nil, fmt.Errorf("cves fixed between: installed: %w", err)
	}
	to, err := debversion.Parse(candidate)
	if err != nil {
		return nil, fmt.Errorf("cves fixed between: candidate: %w", err)
	}
	out := []string{}
	for _, e := range entries {
		v, err := debversion.Parse(e.Version)
		if err != nil {
			return nil, fmt.Errorf("cves fixed between: entry: %w", err)
		}
		if v.Compare(from) > 0 && v.Compare(to) <= 0 {
			out = append(out, e.CVEs...)
		}
	}
	slices.Sort(out)
	return slices.Compact(out), nil
}
