// Package debtracker reads the Debian security tracker's JSON export
// (https://security-tracker.debian.org/tracker/data/json, one ~50 MB file)
// into advisories, decoding it as a stream.
//
// Exported API:
//
//	Parse(ctx, r io.Reader, fn func(patchbay.Advisory) error) error
//	Ecosystem(codename string) (string, bool)
//	Severity(urgency string) patchbay.Severity
//
// The file is {source: {CVE or TEMP id: {description, releases: {codename:
// {status, fixed_version, urgency, repositories}}}}}. Parse calls fn once
// per (source package, CVE), in file order, with:
//
//   - ID "<CVE>:<source>" (unique: the same CVE in two source packages is
//     two advisories), Source "debian-tracker", CVEs [the CVE] (none for
//     TEMP- ids), Summary the description;
//   - one Affected entry per known release (buster -> "Debian:10" ...
//     duke -> "Debian:15"; sid and unknown codenames are skipped), Package
//     the source package:
//     resolved with a fixed version -> range [introduced 0, fixed V];
//     open or undetermined (no fix yet; undetermined is counted as affected,
//     Debian has not ruled it out) -> range [introduced 0];
//     not affected (resolved with fixed_version "0", status
//     "not-affected" or fixed_version "<not-affected>") -> no range: the
//     entry records that Debian looked and it affects nothing;
//   - Severity from the most severe urgency among those releases
//     (unimportant and low -> low, medium -> medium, high -> high, "not yet
//     assigned" -> unknown; a trailing "**" is ignored), SeverityRaw
//     "urgency <as written>".
//
// Advisories with no release Patchbay knows are not passed to fn. A
// fixed_version is not checked here; matching refuses an unreadable one.
package debtracker

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"regexp"
	"slices"
	"strings"

	"github.com/patchbay/patchbay"
)

// Ecosystem maps a Debian release codename to its OSV ecosystem.
func Ecosystem(codename string) (string, bool) {
	switch codename {
	case "jessie":
		return "Debian:8", true
	case "stretch":
		return "Debian:9", true
	case "buster":
		return "Debian:10", true
	case "bullseye":
		return "Debian:11", true
	case "bookworm":
		return "Debian:12", true
	case "trixie":
		return "Debian:13", true
	case "forky":
		return "Debian:14", true
	case "duke":
		return "Debian:15", true
	}
	return "", false
}

type issue struct {
	Description string             `json:"description"`
	Releases    map[string]release `json:"releases"`
}

type release struct {
	Status       string `json:"status"`
	FixedVersion string `json:"fixed_version"`
	Urgency      string `json:"urgency"`
}

var cveID = regexp.MustCompile(`^CVE-\d{4}-\d{4,}$`)

// Parse decodes the tracker JSON from r token by token (one issue in
// memory at a time) and calls fn for each advisory. It stops at the first
// error of decoding, of fn or of ctx.
func Parse(ctx context.Context, r io.Reader, fn func(patchbay.Advisory) error) error {
	dec := json.NewDecoder(r)
	if err := expectDelim(dec, '{'); err != nil {
		return fmt.Errorf("parse debian tracker: %w", err)
	}
	for dec.More() {
		source, err := key(dec)
		if err != nil {
			return fmt.Errorf("parse debian tracker: %w", err)
		}
		if err := expectDelim(dec, '{'); err != nil {
			return fmt.Errorf("parse debian tracker: %s: %w", source, err)
		}
		for dec.More() {
			if err := ctx.Err(); err != nil {
				return err
			}
			id, err := key(dec)
			if err != nil {
				return fmt.Errorf("parse debian tracker: %s: %w", source, err)
			}
			var is issue
			if err := dec.Decode(&is); err != nil {
				return fmt.Errorf("parse debian tracker: %s %s: %w", source, id, err)
			}
			adv, ok := advisory(source, id, is)
			if !ok {
				continue
			}
			if err := fn(adv); err != nil {
				return err
			}
		}
		if err := expectDelim(dec, '}'); err != nil {
			return fmt.Errorf("parse debian tracker: %s: %w", source, err)
		}
	}
	if err := expectDelim(dec, '}'); err != nil {
		return fmt.Errorf("parse debian tracker: %w", err)
	}
	return nil
}

func expectDelim(dec *json.Decoder, want json.Delim) error {
	tok, err := dec.Token()
	if err != nil {
		return err
	}
	if d, ok := tok.(json.Delim); !ok || d != want {
		return fmt.Errorf("got %v, want %q", tok, want)
	}
	return nil
}

func key(dec *json.Decoder) (string, error) {
	tok, err := dec.Token()
	if err != nil {
		return "", err
	}
	s, ok := tok.(string)
	if !ok {
		return "", fmt.Errorf("got %v, want an object key", tok)
	}
	return s, nil
}

func advisory(source, id string, is issue) (patchbay.Advisory, bool) {
	adv := patchbay.Advisory{
		ID:       id + ":" + source,
		Source:   "debian-tracker",
		Aliases:  []string{},
		CVEs:     []string{},
		Summary:  strings.TrimSpace(is.Description),
		Severity: patchbay.SeverityUnknown,
		Affected: []patchbay.Affected{},
	}
	if cveID.MatchString(id) {
		adv.CVEs = []string{id}
		adv.Aliases = []string{id}
	}
	if strings.TrimSpace(source) == "" || strings.TrimSpace(id) == "" {
		return adv, false
	}
	codenames := make([]string, 0, len(is.Releases))
	for c := range is.Releases {
		if _, ok := Ecosystem(c); ok {
			codenames = append(codenames, c)
		}
	}
	slices.Sort(codenames)
	rank := -1
	for _, c := range codenames {
		rel := is.Releases[c]
		eco, _ := Ecosystem(c)
		a := patchbay.Affected{Ecosystem: eco, Package: source, Ranges: []patchbay.Range{}, Versions: []string{}}
		fixed := strings.TrimSpace(rel.FixedVersion)
		switch {
		case rel.Status == "not-affected" || rel.Status == "<not-affected>" || fixed == "<not-affected>":
		case rel.Status == "resolved" && fixed == "0":
		case rel.Status == "resolved" && fixed != "" && fixed != "<unfixed>":
			a.Ranges = []patchbay.Range{{Type: "ECOSYSTEM", Events: []patchbay.RangeEvent{{Introduced: "0"}, {Fixed: fixed}}}}
		default: // open, undetermined, resolved without a version
			a.Ranges = []patchbay.Range{{Type: "ECOSYSTEM", Events: []patchbay.RangeEvent{{Introduced: "0"}}}}
		}
		adv.Affected = append(adv.Affected, a)
		if r := urgencyRank(rel.Urgency); r > rank {
			rank = r
			adv.Severity = Severity(rel.Urgency)
			adv.SeverityRaw = "urgency " + strings.TrimSpace(rel.Urgency)
		}
	}
	if len(adv.Affected) == 0 {
		return adv, false
	}
	slices.SortFunc(adv.Affected, func(a, b patchbay.Affected) int { return compareEcosystems(a.Ecosystem, b.Ecosystem) })
	return adv, true
}

// compareEcosystems orders "Debian:9" before "Debian:10".
func compareEcosystems(a, b string) int {
	if len(a) != len(b) {
		return len(a) - len(b)
	}
	return strings.Compare(a, b)
}

// Severity maps a tracker urgency onto Patchbay's scale.
func Severity(urgency string) patchbay.Severity {
	switch strings.TrimRight(strings.TrimSpace(urgency), "*") {
	case "unimportant", "low":
		return patchbay.SeverityLow
	case "medium":
		return patchbay.SeverityMedium
	case "high":
		return patchbay.SeverityHigh
	}
	return patchbay.SeverityUnknown
}

func urgencyRank(urgency string) int {
	switch Severity(urgency) {
	case patchbay.SeverityLow:
		return 1
	case patchbay.SeverityMedium:
		return 2
	case patchbay.SeverityHigh:
		return 3
	}
	return 0
}
