// Package match decides whether an installed package version is affected by
// an advisory, with full OSV range semantics, and says why in words.
//
// Exported API (stable; the evaluation service builds on it):
//
//	Ecosystem(os patchbay.OS, proAttached bool) []string   // host -> OSV ecosystems
//	BySource(ecosystem string) bool                        // are names source packages?
//	RulesFor(ecosystem string) (Rules, error)              // version rules of an ecosystem
//	Affects(id string, a patchbay.Affected, version string, r Rules) (Result, error)
//	Check(adv patchbay.Advisory, ecosystem, pkg, version string) (Result, error)
//
// Range semantics follow the OSV schema's evaluation for ECOSYSTEM ranges:
// the events of one range are sorted by version ("0" introduced is below
// every version; at equal versions introduced sorts first), then walked:
// introduced <= v opens the range, fixed <= v closes it, last_affected < v
// closes it. When a range has limit events, v must also be below one of them
// ("*" is no limit). A version is affected when any range says so or when it
// is in the versions list. GIT ranges name commits, not versions, and are
// ignored; SEMVER ranges are refused (no distribution feed uses them).
// An affected entry with neither ranges nor versions affects nothing (the
// Debian tracker's "not-affected" releases look like that).
//
// A version the ecosystem's rules cannot read is an error, never "not
// affected". Withdrawn advisories: Affects does not know about them (it sees
// one Affected entry); Check returns "not affected" for them, with evidence.
package match

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	apkversion "github.com/knqyf263/go-apk-version"

	"github.com/patchbay/patchbay"
	"github.com/patchbay/patchbay/internal/debversion"
	"github.com/patchbay/patchbay/internal/pkgmgr/rpm"
)

// Rules is the version comparison of an ecosystem.
type Rules struct {
	Name    string                         // "dpkg", "rpm", "apk": shown in evidence
	Compare func(a, b string) (int, error) // -1, 0, +1; error when either is unreadable
}

// Result is the outcome of matching one installed version.
type Result struct {
	Affected bool
	// Fixed is the version that fixes the installed one: the first fixed
	// event above it in the range that matched (the highest of those when
	// several ranges match). "" when not affected, or when no fix is known
	// (introduced only, last_affected, or a version list alone).
	Fixed string
	// Evidence says which advisory, which range and which comparison; set
	// when affected, and for withdrawn advisories.
	Evidence string
}

// RulesFor returns the version rules of an OSV ecosystem ("Debian:12",
// "Ubuntu:Pro:22.04:LTS", "AlmaLinux:9", "Rocky Linux:9", "Alpine:v3.20").
func RulesFor(ecosystem string) (Rules, error) {
	switch family(ecosystem) {
	case "Debian", "Ubuntu":
		return Rules{Name: "dpkg", Compare: debversion.Compare}, nil
	case "AlmaLinux", "Rocky Linux", "Red Hat":
		return Rules{Name: "rpm", Compare: rpm.CompareVersions}, nil
	case "Alpine":
		return Rules{Name: "apk", Compare: compareAPK}, nil
	}
	return Rules{}, fmt.Errorf("version rules: unknown ecosystem %q", ecosystem)
}

// BySource reports whether the package names of an ecosystem are source
// packages (Debian, Ubuntu: match a host's binary packages through their
// source name) rather than binary packages (the RPM family) or origin
// packages (Alpine, where the origin is apk's source name too).
func BySource(ecosystem string) bool {
	switch family(ecosystem) {
	case "Debian", "Ubuntu", "Alpine":
		return true
	}
	return false
}

// family is the part of an ecosystem name before the first ":".
func family(ecosystem string) string {
	f, _, _ := strings.Cut(ecosystem, ":")
	return f
}

// Ecosystem returns the OSV ecosystems whose advisories apply to a host with
// this os-release, most specific last: Debian 12 -> "Debian:12"; Ubuntu
// 22.04 -> "Ubuntu:22.04:LTS" (plus "Ubuntu:Pro:22.04:LTS" when attached to
// Ubuntu Pro); Ubuntu 24.10 -> "Ubuntu:24.10"; AlmaLinux 9.4 ->
// "AlmaLinux:9"; Rocky 9 -> "Rocky Linux:9"; Alpine 3.20.3 ->
// "Alpine:v3.20". Unknown systems, or a missing version, give nil.
// Ubuntu's FIPS streams are not mapped: os-release does not tell them.
func Ecosystem(os patchbay.OS, proAttached bool) []string {
	v := strings.TrimSpace(os.VersionID)
	if v == "" {
		return nil
	}
	major, rest, _ := strings.Cut(v, ".")
	switch os.ID {
	case "debian":
		return []string{"Debian:" + major}
	case "ubuntu":
		minor, _, _ := strings.Cut(rest, ".")
		rel := major + "." + minor
		if !lts(major, minor) {
			return []string{"Ubuntu:" + rel}
		}
		out := []string{"Ubuntu:" + rel + ":LTS"}
		if proAttached {
			out = append(out, "Ubuntu:Pro:"+rel+":LTS")
		}
		return out
	case "almalinux":
		return []string{"AlmaLinux:" + major}
	case "rocky":
		return []string{"Rocky Linux:" + major}
	case "alpine":
		minor, _, _ := strings.Cut(rest, ".")
		minor, _, _ = strings.Cut(minor, "_") // 3.21_alpha20240807
		if minor == "" {
			return nil
		}
		return []string{"Alpine:v" + major + "." + minor}
	}
	return nil
}

// lts: Ubuntu's long-term releases are the April releases of even years.
func lts(major, minor string) bool {
	if minor != "04" || major == "" {
		return false
	}
	last := major[len(major)-1]
	return last >= '0' && last <= '9' && (last-'0')%2 == 0
}

func compareAPK(a, b string) (int, error) {
	va, err := apkversion.NewVersion(a)
	if err != nil {
		return 0, fmt.Errorf("alpine version %q: %w", a, err)
	}
	vb, err := apkversion.NewVersion(b)
	if err != nil {
		return 0, fmt.Errorf("alpine version %q: %w", b, err)
	}
	return va.Compare(vb), nil
}

// Check matches version of package pkg in ecosystem against every affected
// entry of adv for that (ecosystem, package), with the ecosystem's rules.
// A withdrawn advisory affects nothing. Entries for other ecosystems or
// packages are skipped, so Check can take a whole advisory.
func Check(adv patchbay.Advisory, ecosystem, pkg, version string) (Result, error) {
	if !adv.Withdrawn.IsZero() {
		return Result{Evidence: fmt.Sprintf("%s withdrawn on %s: matches nothing",
			adv.ID, adv.Withdrawn.UTC().Format("2006-01-02"))}, nil
	}
	r, err := RulesFor(ecosystem)
	if err != nil {
		return Result{}, err
	}
	var out Result
	for _, a := range adv.Affected {
		if a.Ecosystem != ecosystem || a.Package != pkg {
			continue
		}
		res, err := Affects(adv.ID, a, version, r)
		if err != nil {
			return Result{}, err
		}
		if res.Affected {
			out = merge(out, res, r)
		}
	}
	return out, nil
}

// merge combines two affected results: the fix is the later of the two
// fixes, and unknown when either has none.
func merge(acc, res Result, r Rules) Result {
	if !acc.Affected {
		return res
	}
	acc.Evidence += "; " + res.Evidence
	switch {
	case acc.Fixed == "" || res.Fixed == "":
		acc.Fixed = ""
	default:
		if c, err := r.Compare(res.Fixed, acc.Fixed); err == nil && c > 0 {
			acc.Fixed = res.Fixed
		}
	}
	return acc
}

// Affects reports whether version is affected by one affected entry of the
// advisory id, compared with rules r. Errors: the installed version, or a
// version of an event or of the versions list, is unreadable under r; or a
// range has a type other than ECOSYSTEM or GIT.
func Affects(id string, a patchbay.Affected, version string, r Rules) (Result, error) {
	if r.Compare == nil {
		return Result{}, errors.New("match: no version rules")
	}
	if _, err := r.Compare(version, version); err != nil {
		return Result{}, fmt.Errorf("match %s %s: installed version: %w", id, a.Package, err)
	}
	var out Result
	for _, rg := range a.Ranges {
		switch rg.Type {
		case "ECOSYSTEM", "":
		case "GIT":
			continue
		default:
			return Result{}, fmt.Errorf("match %s %s: unsupported range type %q", id, a.Package, rg.Type)
		}
		res, err := inRange(id, rg.Events, version, r)
		if err != nil {
			return Result{}, fmt.Errorf("match %s %s: %w", id, a.Package, err)
		}
		if res.Affected {
			out = merge(out, res, r)
		}
	}
	if out.Affected {
		return out, nil
	}
	for _, lv := range a.Versions {
		eq := lv == version
		if !eq {
			c, err := r.Compare(version, lv)
			if err != nil {
				return Result{}, fmt.Errorf("match %s %s: versions list: %w", id, a.Package, err)
			}
			eq = c == 0
		}
		if eq {
			return Result{Affected: true, Evidence: fmt.Sprintf(
				"%s versions list of %s: installed %s is listed (%s rules)", id, a.Package, lv, r.Name)}, nil
		}
	}
	return Result{}, nil
}

// event is a range event with its kind and version side by side.
type event struct {
	kind    string // "introduced", "fixed", "last_affected", "limit"
	version string
	zero    bool // introduced "0": below every version
}

func (e event) String() string { return e.kind + " " + e.version }

// kindRank breaks ties between events at the same version: opening
// before closing, so "introduced X, fixed X" is an empty range.
func kindRank(kind string) int {
	switch kind {
	case "introduced":
		return 0
	case "last_affected":
		return 1
	case "fixed":
		return 2
	}
	return 3
}

func events(raw []patchbay.RangeEvent) ([]event, error) {
	out := make([]event, 0, len(raw))
	for _, e := range raw {
		var ev event
		n := 0
		if e.Introduced != "" {
			ev, n = event{kind: "introduced", version: e.Introduced, zero: e.Introduced == "0"}, n+1
		}
		if e.Fixed != "" {
			ev, n = event{kind: "fixed", version: e.Fixed}, n+1
		}
		if e.LastAffected != "" {
			ev, n = event{kind: "last_affected", version: e.LastAffected}, n+1
		}
		if e.Limit != "" {
			ev, n = event{kind: "limit", version: e.Limit}, n+1
		}
		if n != 1 {
			return nil, fmt.Errorf("range event with %d fields set, want 1", n)
		}
		out = append(out, ev)
	}
	return out, nil
}

// inRange evaluates one ECOSYSTEM range.
func inRange(id string, raw []patchbay.RangeEvent, v string, r Rules) (Result, error) {
	evs, err := events(raw)
	if err != nil {
		return Result{}, err
	}
	// Compare every event with v first: this validates all versions, so
	// the sort below cannot meet an unreadable one.
	cv := make([]int, len(evs)) // sign of compare(v, event)
	for i, e := range evs {
		if e.zero || (e.kind == "limit" && e.version == "*") {
			cv[i] = 1
			if e.kind == "limit" {
				cv[i] = -1
			}
			continue
		}
		c, err := r.Compare(v, e.version)
		if err != nil {
			return Result{}, fmt.Errorf("%s event: %w", e.kind, err)
		}
		cv[i] = c
	}
	idx := make([]int, len(evs))
	for i := range idx {
		idx[i] = i
	}
	slices.SortStableFunc(idx, func(i, j int) int {
		if c := compareEvents(evs[i], evs[j], r); c != 0 {
			return c
		}
		return kindRank(evs[i].kind) - kindRank(evs[j].kind)
	})
	affected, open := false, -1
	hasLimit, belowLimit := false, false
	for _, i := range idx {
		e := evs[i]
		switch e.kind {
		case "introduced":
			if cv[i] >= 0 {
				affected, open = true, i
			}
		case "fixed":
			if cv[i] >= 0 {
				affected = false
			}
		case "last_affected":
			if cv[i] > 0 {
				affected = false
			}
		case "limit":
			hasLimit = true
			if cv[i] < 0 {
				belowLimit = true
			}
		}
	}
	if !affected || (hasLimit && !belowLimit) {
		return Result{}, nil
	}
	// The closing event of the segment v is in: the first fixed or
	// last_affected event after v in sorted order.
	var closing *event
	for _, i := range idx {
		e := evs[i]
		if (e.kind == "fixed" && cv[i] < 0) || (e.kind == "last_affected" && cv[i] <= 0) {
			closing = &evs[i]
			break
		}
	}
	res := Result{Affected: true}
	if closing != nil && closing.kind == "fixed" {
		res.Fixed = closing.version
	}
	res.Evidence = evidence(id, evs, idx, evs[open], closing, v, r.Name)
	return res, nil
}

// compareEvents orders two events by version; errors cannot happen here
// because inRange validated every version first (a "*" limit is highest).
func compareEvents(a, b event, r Rules) int {
	switch {
	case a.zero && b.zero:
		return 0
	case a.zero:
		return -1
	case b.zero:
		return 1
	}
	aInf, bInf := a.kind == "limit" && a.version == "*", b.kind == "limit" && b.version == "*"
	switch {
	case aInf && bInf:
		return 0
	case aInf:
		return 1
	case bInf:
		return -1
	}
	c, _ := r.Compare(a.version, b.version)
	return c
}

// evidence writes: `ID range [introduced 0, fixed F]: installed V < fixed F
// (dpkg rules)`.
func evidence(id string, evs []event, idx []int, open event, closing *event, v, rules string) string {
	parts := make([]string, len(idx))
	for k, i := range idx {
		parts[k] = evs[i].String()
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%s range [%s]: installed %s", id, strings.Join(parts, ", "), v)
	if !open.zero {
		fmt.Fprintf(&b, " >= introduced %s and", open.version)
	}
	switch {
	case closing == nil:
		b.WriteString(" has no fix yet")
	case closing.kind == "fixed":
		fmt.Fprintf(&b, " < fixed %s", closing.version)
	default:
		fmt.Fprintf(&b, " <= last_affected %s, no fixed version known", closing.version)
	}
	fmt.Fprintf(&b, " (%s rules)", rules)
	return b.String()
}
