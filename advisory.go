package patchbay

import "time"

// Severity is Patchbay's normalised severity scale. Distributions' own
// ratings (Debian urgency, Red Hat "Important", Ubuntu priority) map onto
// it; the original rating is kept beside it.
type Severity string

const (
	SeverityUnknown  Severity = "unknown"
	SeverityNone     Severity = "none"
	SeverityLow      Severity = "low"
	SeverityMedium   Severity = "medium"
	SeverityHigh     Severity = "high"
	SeverityCritical Severity = "critical"
)

// Advisory is one security advisory, normalised from OSV, the Debian
// security tracker or another feed.
type Advisory struct {
	ID      string   `json:"id"`      // "DSA-5678-1", "ALSA-2025:10073", "UBUNTU-CVE-2024-1234", "CVE-2024-1234" (tracker)
	Source  string   `json:"source"`  // feed it came from: "osv", "debian-tracker"
	Aliases []string `json:"aliases"` // other ids of the same advisory
	CVEs    []string `json:"cves"`    // CVE ids from id, aliases, upstream and related
	Summary string   `json:"summary"`
	// Severity is the distribution's own rating, normalised; SeverityRaw
	// is how the source wrote it ("Important", "urgency high").
	Severity    Severity   `json:"severity"`
	SeverityRaw string     `json:"severity_raw"`
	CVSSVector  string     `json:"cvss_vector"` // CVSS v3.x or v4.0 vector, when the feed has one
	CVSSScore   float64    `json:"cvss_score"`  // base score computed from the vector; 0 when none
	Published   time.Time  `json:"published"`
	Modified    time.Time  `json:"modified"`
	Withdrawn   time.Time  `json:"withdrawn"` // zero unless withdrawn; withdrawn advisories match nothing
	Affected    []Affected `json:"affected"`
}

// Affected is the part of an advisory about one package in one ecosystem.
type Affected struct {
	// Ecosystem as OSV names it: "Debian:12", "Ubuntu:22.04:LTS",
	// "Ubuntu:Pro:22.04:LTS", "AlmaLinux:9", "Rocky Linux:9", "Alpine:v3.20".
	Ecosystem string `json:"ecosystem"`
	// Package is a source package for Debian and Ubuntu, a binary package
	// for the RPM family, an origin package for Alpine.
	Package  string   `json:"package"`
	Ranges   []Range  `json:"ranges"`
	Versions []string `json:"versions"` // explicitly affected versions
}

// Range is an OSV range: events in any order, read with the ecosystem's
// version rules (type ECOSYSTEM).
type Range struct {
	Type   string       `json:"type"`
	Events []RangeEvent `json:"events"`
}

// RangeEvent is one event of a range; exactly one field is set.
type RangeEvent struct {
	Introduced   string `json:"introduced,omitempty"` // "0" means from the beginning
	Fixed        string `json:"fixed,omitempty"`
	LastAffected string `json:"last_affected,omitempty"`
	Limit        string `json:"limit,omitempty"`
}

// KEVEntry is one CVE of CISA's Known Exploited Vulnerabilities catalog.
type KEVEntry struct {
	CVE        string    `json:"cve"`
	DateAdded  time.Time `json:"date_added"`
	DueDate    time.Time `json:"due_date"`
	Vendor     string    `json:"vendor"`
	Product    string    `json:"product"`
	Name       string    `json:"name"`
	Ransomware bool      `json:"known_ransomware"`
}

// Finding is one advisory affecting one installed package on one host.
type Finding struct {
	ID               int64     `json:"id"`
	HostID           int64     `json:"host_id"`
	Hostname         string    `json:"hostname"`
	Package          string    `json:"package"` // binary package
	Arch             string    `json:"arch"`
	SourceName       string    `json:"source_name"`
	InstalledVersion string    `json:"installed_version"`
	AdvisoryID       string    `json:"advisory_id"`
	CVEs             []string  `json:"cves"`
	FixedVersion     string    `json:"fixed_version"` // "" while there is no fix yet
	Severity         Severity  `json:"severity"`
	SeverityRaw      string    `json:"severity_raw"`
	CVSSScore        float64   `json:"cvss_score"`
	KEV              bool      `json:"kev"`
	FirstSeen        time.Time `json:"first_seen"`
	ResolvedAt       time.Time `json:"resolved_at"` // zero while open
	// Evidence says why this matched: the advisory, the range and the
	// version comparison, in words a person can check.
	Evidence string `json:"evidence"`
	// ExceptionID is the exception in force that covers this finding (its
	// fix is held, the risk accepted until the exception expires).
	ExceptionID int64 `json:"exception_id,omitempty"`
}
