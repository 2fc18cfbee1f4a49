package patchbay

import (
	"context"
	"fmt"
	"path"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Classifications a policy may ask for.
const (
	ClassAll      = "all"      // every pending update
	ClassSecurity = "security" // only updates from a security origin
	ClassNone     = "none"     // no update by classification: only the approve list (and KEV fixes, when asked)
)

// MaxPolicyPatterns bounds each of a policy's approve and reject lists.
const MaxPolicyPatterns = 200

// Policy is a patch baseline: which of a host's pending updates a rollout
// that names it installs. Rules are read in this order, the first that
// decides wins:
//
//  1. a package matching Reject is never approved;
//  2. a package matching Approve is approved whatever the rules below say;
//  3. with ApproveKEV, an update that fixes a CVE in CISA's KEV catalog is
//     approved at once (no age, classification or severity rule applies);
//  4. Classification security leaves out updates from other origins, and
//     none leaves out every update rules 1-3 did not approve (a policy
//     of named packages only);
//  5. MinSeverity leaves out updates whose known severity is lower (an
//     update whose severity is unknown — no finding says what it fixes —
//     passes this rule: it is never guessed);
//  6. MinAge leaves out updates the fleet first saw less than MinAge ago
//     (auto-approval after N days, as AWS patch baselines do).
//
// Exceptions (holds) apply before all of this: a held package is never
// installed, even one a policy approves by name.
type Policy struct {
	ID             int64         `json:"id"`
	Name           string        `json:"name"`
	Description    string        `json:"description"`
	Classification string        `json:"classification"`
	MinSeverity    Severity      `json:"min_severity,omitempty"`
	MinAge         time.Duration `json:"min_age"`
	Approve        []string      `json:"approve"`
	Reject         []string      `json:"reject"`
	ApproveKEV     bool          `json:"approve_kev"`
	// Builtin policies ("all", "security") exist on every server and
	// cannot be edited.
	Builtin   bool      `json:"builtin"`
	CreatedAt time.Time `json:"created_at"`
	CreatedBy string    `json:"created_by"`
	UpdatedAt time.Time `json:"updated_at"`
	UpdatedBy string    `json:"updated_by"`
}

// BuiltinPolicies are the policies every server has: every pending
// update, or only security ones.
func BuiltinPolicies() []Policy {
	return []Policy{
		{Name: ClassAll, Description: "every pending update", Classification: ClassAll, Approve: []string{}, Reject: []string{}, Builtin: true},
		{Name: ClassSecurity, Description: "updates from a security origin", Classification: ClassSecurity, Approve: []string{}, Reject: []string{}, Builtin: true},
	}
}

// BuiltinPolicy returns the built-in policy of that name.
func BuiltinPolicy(name string) (Policy, bool) {
	for _, p := range BuiltinPolicies() {
		if p.Name == name {
			return p, true
		}
	}
	return Policy{}, false
}

// Validate checks a policy's definition: a name of letters, digits, '.',
// '_' and '-', a known classification and severity, a non-negative age and
// package patterns that path.Match can read.
func (p Policy) Validate() error {
	if err := ValidateName("policy", p.Name); err != nil {
		return err
	}
	if p.Classification != ClassAll && p.Classification != ClassSecurity && p.Classification != ClassNone {
		return Errorf(EINVALID, "policy %s: classification %q: want %s, %s or %s", p.Name, p.Classification, ClassAll, ClassSecurity, ClassNone)
	}
	if p.MinSeverity != "" && SeverityRank(p.MinSeverity) < SeverityRank(SeverityLow) {
		return Errorf(EINVALID, "policy %s: minimum severity %q: want low, medium, high or critical", p.Name, p.MinSeverity)
	}
	if p.MinAge < 0 {
		return Errorf(EINVALID, "policy %s: minimum age %s is negative", p.Name, p.MinAge)
	}
	if len(p.Description) > 1000 {
		return Errorf(EINVALID, "policy %s: description is longer than 1000 characters", p.Name)
	}
	for _, list := range []struct {
		name     string
		patterns []string
	}{{"approve", p.Approve}, {"reject", p.Reject}} {
		if len(list.patterns) > MaxPolicyPatterns {
			return Errorf(EINVALID, "policy %s: more than %d %s patterns", p.Name, MaxPolicyPatterns, list.name)
		}
		for _, pat := range list.patterns {
			if err := ValidatePackagePattern(pat); err != nil {
				return Errorf(EINVALID, "policy %s: %s pattern: %s", p.Name, list.name, ErrorMessage(err))
			}
		}
	}
	return nil
}

// ValidateName checks the name of a policy or another named object:
// 1 to 64 characters of letters, digits, '.', '_' and '-', starting with a
// letter or digit.
func ValidateName(what, name string) error {
	if name == "" {
		return Errorf(EINVALID, "a %s needs a name", what)
	}
	if len(name) > 64 {
		return Errorf(EINVALID, "%s name %q is longer than 64 characters", what, name)
	}
	for i, r := range name {
		ok := r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || i > 0 && (r == '.' || r == '_' || r == '-')
		if !ok {
			return Errorf(EINVALID, "%s name %q: use letters, digits, '.', '_' and '-', starting with a letter or digit", what, name)
		}
	}
	return nil
}

// ValidatePackagePattern checks a package name pattern: a package name, or
// a shell pattern of path.Match ("linux-image-*", "lib?ssl*").
func ValidatePackagePattern(pat string) error {
	if strings.TrimSpace(pat) == "" {
		return Errorf(EINVALID, "empty package pattern")
	}
	if len(pat) > 200 {
		return Errorf(EINVALID, "package pattern %q is longer than 200 characters", pat[:40]+"…")
	}
	if strings.ContainsAny(pat, " \t\n/") {
		return Errorf(EINVALID, "package pattern %q: no spaces or slashes", pat)
	}
	if _, err := path.Match(pat, ""); err != nil {
		return Errorf(EINVALID, "package pattern %q: %v", pat, err)
	}
	return nil
}

// MatchPackage reports whether name matches pattern (as path.Match reads
// it; a malformed pattern matches nothing).
func MatchPackage(pattern, name string) bool {
	ok, err := path.Match(pattern, name)
	return err == nil && ok
}

// UpdateFacts is what a policy decides an update by: the update, when the
// fleet first saw its candidate version, and what the host's findings say
// it fixes.
type UpdateFacts struct {
	Update    Update
	FirstSeen time.Time // zero: unknown (treated as seen now)
	// Severity is the worst severity of the findings the update fixes;
	// SeverityUnknown (or "") when no finding says.
	Severity Severity
	CVEs     []string // CVEs the update fixes, per the host's findings
	KEV      []string // those of CVEs in the KEV catalog
}

// PolicyDecision is a policy's verdict on one update, with the rule that
// made it, in words.
type PolicyDecision struct {
	Approved bool
	Reason   string
}

// Decide applies the policy's rules (see Policy) to one update at now.
func (p Policy) Decide(f UpdateFacts, now time.Time) PolicyDecision {
	name := f.Update.Name
	for _, pat := range p.Reject {
		if MatchPackage(pat, name) {
			return PolicyDecision{false, fmt.Sprintf("rejected by policy %s (pattern %q)", p.Name, pat)}
		}
	}
	for _, pat := range p.Approve {
		if MatchPackage(pat, name) {
			return PolicyDecision{true, fmt.Sprintf("approved by pattern %q", pat)}
		}
	}
	if p.ApproveKEV && len(f.KEV) > 0 {
		return PolicyDecision{true, "fixes known-exploited " + strings.Join(f.KEV, ", ")}
	}
	if p.Classification == ClassNone {
		return PolicyDecision{false, "not on policy " + p.Name + "'s approve list"}
	}
	if p.Classification == ClassSecurity && !f.Update.Security {
		return PolicyDecision{false, "not a security update"}
	}
	sev := f.Severity
	if sev == "" {
		sev = SeverityUnknown
	}
	if p.MinSeverity != "" && sev != SeverityUnknown && SeverityRank(sev) < SeverityRank(p.MinSeverity) {
		return PolicyDecision{false, fmt.Sprintf("severity %s is below %s", sev, p.MinSeverity)}
	}
	if p.MinAge > 0 {
		seen := f.FirstSeen
		if seen.IsZero() {
			seen = now
		}
		if due := seen.Add(p.MinAge); now.Before(due) {
			return PolicyDecision{false, fmt.Sprintf("first seen %s, approved from %s (minimum age %s)",
				seen.UTC().Format(time.DateOnly), due.UTC().Format("2006-01-02 15:04 MST"), FormatDuration(p.MinAge))}
		}
	}
	why := "matches policy " + p.Name
	if p.MinSeverity != "" && sev == SeverityUnknown {
		why += " (severity unknown)"
	}
	return PolicyDecision{true, why}
}

// FormatDays writes d in days with one decimal ("2.5d").
func FormatDays(d time.Duration) string {
	return strconv.FormatFloat(d.Hours()/24, 'f', 1, 64) + "d"
}

// FormatDuration writes d as days when it is a whole number of days
// ("7d"), else as time.Duration does.
func FormatDuration(d time.Duration) string {
	if d > 0 && d%(24*time.Hour) == 0 {
		return fmt.Sprintf("%dd", d/(24*time.Hour))
	}
	return d.String()
}

// PolicyStore keeps the stored patch policies (the built-in ones are not
// stored).
type PolicyStore interface {
	// CreatePolicy stores a new policy; a name in use is ECONFLICT.
	CreatePolicy(ctx context.Context, p Policy) (Policy, error)
	// Policy returns a stored policy by name.
	Policy(ctx context.Context, name string) (Policy, error)
	// ListPolicies lists stored policies by name.
	ListPolicies(ctx context.Context) ([]Policy, error)
	// UpdatePolicy replaces a stored policy's definition (by name).
	UpdatePolicy(ctx context.Context, p Policy) (Policy, error)
	// UpdatesFirstSeen returns when the fleet first reported each of the
	// candidate versions as a pending update (absent when never).
	UpdatesFirstSeen(ctx context.Context, versions []PackageVersion) (map[PackageVersion]time.Time, error)
}

// sortPatterns returns patterns sorted without duplicates and never nil.
func sortPatterns(p []string) []string {
	out := slices.Clone(p)
	slices.Sort(out)
	out = slices.Compact(out)
	if out == nil {
		out = []string{}
	}
	return out
}

// Normalize sorts and deduplicates the pattern lists and makes them
// non-nil, so stored and compared policies look the same.
func (p Policy) Normalize() Policy {
	p.Approve, p.Reject = sortPatterns(p.Approve), sortPatterns(p.Reject)
	return p
}
