package patchbay

import (
	"context"
	"fmt"
	"strings"
	"time"
)

// EcoPackage names the advisories of one package in one ecosystem: the
// unit in which advisories change and in which evaluation fetches them.
type EcoPackage struct {
	Ecosystem string `json:"ecosystem"`
	Package   string `json:"package"`
}

// AdvisoryFilter selects advisories in a list. Zero values select
// everything.
type AdvisoryFilter struct {
	CVE           string // advisories naming this CVE
	Ecosystem     string
	Package       string // affected package (source or binary, as the ecosystem names it)
	Source        string // feed: "osv", "debian-tracker"
	Limit, Offset int
}

// ImportResult says what an advisory import changed.
type ImportResult struct {
	Added     int `json:"added"`
	Updated   int `json:"updated"`
	Unchanged int `json:"unchanged"`
	// Changed are the (ecosystem, package) pairs whose advisories changed:
	// the pairs of every added or updated advisory, before and after.
	Changed []EcoPackage `json:"changed"`
}

// EvalHost is what evaluating one host needs: its OS, package manager,
// the inventory hash it is evaluated against and its installed package
// versions, as ids that PackageVersions resolves. The same id on two hosts
// is the same package version, so a run resolves and evaluates it once.
type EvalHost struct {
	ID             int64
	OS             OS
	PackageManager string
	UbuntuPro      bool // Ubuntu:Pro: advisories apply
	InventoryHash  string
	PackageIDs     []int64
}

// HostEvaluation is the outcome of evaluating one host: every finding open
// for it now. Installed returns the installed version of a package by
// Package.Key() ("" when not installed), for the timeline events of
// findings that resolve; nil means none is installed. It is a function so
// that the common evaluation, where nothing resolves, builds no map.
type HostEvaluation struct {
	HostID int64
	// InventoryHash is the inventory that was evaluated; a host whose
	// inventory changed since is ECONFLICT (its new inventory gets its own
	// evaluation).
	InventoryHash string
	Findings      []Finding
	Installed     func(key string) string
}

// FindingChanges is what a reconcile changed.
type FindingChanges struct {
	Opened   []Finding
	Resolved []Finding
	Updated  int // open findings whose version, fix or evidence changed
}

// FindingFilter selects findings. Zero values select everything open.
type FindingFilter struct {
	HostID      int64
	AdvisoryID  string
	CVE         string
	MinSeverity Severity // this severity or worse
	KEV         bool     // only CVEs in CISA's KEV catalog
	Fixable     bool     // only findings with a fixed version
	Labels      map[string]string
	Resolved    bool // resolved findings instead of open ones
	// ResolvedSince, with Resolved, keeps the findings resolved at or
	// after it.
	ResolvedSince time.Time
	Limit         int
	Offset        int
}

// SeverityRank orders severities: unknown 0, none 1 ... critical 5.
func SeverityRank(s Severity) int {
	switch s {
	case SeverityNone:
		return 1
	case SeverityLow:
		return 2
	case SeverityMedium:
		return 3
	case SeverityHigh:
		return 4
	case SeverityCritical:
		return 5
	}
	return 0
}

// ParseSeverity reads a severity name.
func ParseSeverity(s string) (Severity, error) {
	switch v := Severity(strings.ToLower(s)); v {
	case SeverityUnknown, SeverityNone, SeverityLow, SeverityMedium, SeverityHigh, SeverityCritical:
		return v, nil
	}
	return "", Errorf(EINVALID, "severity %q: want unknown, none, low, medium, high or critical", s)
}

// FindingOpenedEvent is the timeline entry of a new finding.
func FindingOpenedEvent(f Finding, now time.Time) Event {
	fix := "no fix yet"
	if f.FixedVersion != "" {
		fix = "fixed in " + f.FixedVersion
	}
	return Event{HostID: f.HostID, Time: now, Kind: EventFindingOpened, Package: f.Package, Arch: f.Arch,
		NewVersion: f.InstalledVersion,
		Detail:     fmt.Sprintf("%s%s: %s %s is affected, %s", f.AdvisoryID, cveList(f.CVEs), f.Package, f.InstalledVersion, fix)}
}

// FindingResolvedEvent is the timeline entry of a finding that no longer
// matches; installed is the package's version now ("" when removed).
func FindingResolvedEvent(f Finding, installed string, now time.Time) Event {
	why := "package removed"
	switch {
	case installed != "" && installed != f.InstalledVersion:
		why = fmt.Sprintf("%s %s installed", f.Package, installed)
	case installed != "":
		why = "advisory no longer matches " + f.InstalledVersion
	}
	return Event{HostID: f.HostID, Time: now, Kind: EventFindingResolved, Package: f.Package, Arch: f.Arch,
		OldVersion: f.InstalledVersion, NewVersion: installed,
		Detail: fmt.Sprintf("%s%s resolved: %s", f.AdvisoryID, cveList(f.CVEs), why)}
}

func cveList(cves []string) string {
	if len(cves) == 0 {
		return ""
	}
	return " (" + strings.Join(cves, ", ") + ")"
}

// AdvisoryStore keeps advisories, the KEV catalog, findings and feed
// sources.
type AdvisoryStore interface {
	FeedStore

	// ImportAdvisories upserts advisories by id in one transaction and
	// reports which (ecosystem, package) pairs changed. An advisory whose
	// content is unchanged is not rewritten.
	ImportAdvisories(ctx context.Context, advs []Advisory, now time.Time) (ImportResult, error)
	Advisory(ctx context.Context, id string) (Advisory, error)
	ListAdvisories(ctx context.Context, f AdvisoryFilter) ([]Advisory, error)
	// AdvisoriesFor returns the advisories of each pair (pairs with none
	// are absent), withdrawn ones included.
	AdvisoriesFor(ctx context.Context, pairs []EcoPackage) (map[EcoPackage][]Advisory, error)

	// ImportKEV replaces the KEV catalog with entries, in one transaction.
	ImportKEV(ctx context.Context, entries []KEVEntry) error
	// KEV returns the catalog's entries for cves (absent ones are not in it).
	KEV(ctx context.Context, cves []string) (map[string]KEVEntry, error)

	// EvalHosts calls fn for each host with an inventory, in id order; ids
	// limits it to those hosts (nil: all). Hosts are read in pages, each
	// page from one snapshot.
	EvalHosts(ctx context.Context, ids []int64, fn func(EvalHost) error) error
	// PackageVersions resolves package version ids.
	PackageVersions(ctx context.Context, ids []int64) (map[int64]Package, error)

	// ReconcileFindings makes e.Findings the host's open findings in one
	// transaction: new ones open with first_seen now, open ones not in
	// e.Findings resolve at now, and each opening and resolution is an
	// event on the host's timeline.
	ReconcileFindings(ctx context.Context, e HostEvaluation, now time.Time) (FindingChanges, error)
	// Findings lists findings with their advisory's CVEs, severity, score
	// and KEV flag, worst first.
	Findings(ctx context.Context, f FindingFilter) ([]Finding, error)
}

// EvalStats count what one evaluation run did.
type EvalStats struct {
	Hosts           int `json:"hosts"`            // hosts reconciled
	PackageVersions int `json:"package_versions"` // distinct (ecosystem, package, version) matched
	Opened          int `json:"findings_opened"`
	Resolved        int `json:"findings_resolved"`
	Skipped         int `json:"skipped"` // hosts whose inventory changed meanwhile (their new one is evaluated on arrival)
	Errors          int `json:"errors"`  // versions the ecosystem's rules could not read
}

// AdvisoryImportReply answers an import of a batch of advisories.
type AdvisoryImportReply struct {
	Added           int       `json:"added"`
	Updated         int       `json:"updated"`
	Unchanged       int       `json:"unchanged"`
	ChangedPackages int       `json:"changed_packages"` // (ecosystem, package) pairs re-evaluated
	Evaluation      EvalStats `json:"evaluation"`
}

// AdvisoryImportRequest is a batch of advisories to import.
type AdvisoryImportRequest struct {
	Advisories []Advisory `json:"advisories"`
}

// KEVImportRequest replaces the KEV catalog.
type KEVImportRequest struct {
	Entries []KEVEntry `json:"entries"`
}

// Vuln is one CVE across the fleet: the advisories naming it, its KEV
// entry if any, and the hosts it affects.
type Vuln struct {
	CVE        string     `json:"cve"`
	KEV        *KEVEntry  `json:"kev"`
	Advisories []Advisory `json:"advisories"`
	Findings   []Finding  `json:"findings"`
}

// Feed kinds: what a feed source's URL serves.
const (
	FeedOSV           = "osv"            // an OSV zip (osv.dev's per-ecosystem all.zip) or one OSV JSON document
	FeedDebianTracker = "debian-tracker" // the Debian security tracker's JSON export
	FeedKEV           = "kev"            // CISA's KEV catalog JSON
)

// Feed sync outcomes.
const (
	FeedImported    = "imported"     // downloaded and imported
	FeedNotModified = "not-modified" // the server answered 304: nothing downloaded
	FeedError       = "error"        // see LastError
)

// FeedSource is a URL the server downloads advisories from on a schedule,
// with a conditional GET whose validators are ETag and LastModified.
type FeedSource struct {
	ID           int64     `json:"id"`
	URL          string    `json:"url"`
	Kind         string    `json:"kind"`
	CreatedAt    time.Time `json:"created_at"`
	ETag         string    `json:"etag"`
	LastModified string    `json:"last_modified"`
	LastSync     time.Time `json:"last_sync"`    // last attempt; zero: never
	LastStatus   string    `json:"last_status"`  // FeedImported, FeedNotModified, FeedError or ""
	LastError    string    `json:"last_error"`   // of the last attempt, "" when it succeeded
	LastSuccess  time.Time `json:"last_success"` // last attempt that reached the feed (200 or 304)
	// Counts of the last download imported: advisories (or KEV entries)
	// read, and what the import made of them.
	Entries   int `json:"entries"`
	Added     int `json:"added"`
	Updated   int `json:"updated"`
	Unchanged int `json:"unchanged"`
}

// ValidateFeedSource checks a new source's URL and kind.
func ValidateFeedSource(rawURL, kind string) error {
	switch kind {
	case FeedOSV, FeedDebianTracker, FeedKEV:
	default:
		return Errorf(EINVALID, "feed kind %q: want osv, debian-tracker or kev", kind)
	}
	if !strings.HasPrefix(rawURL, "https://") && !strings.HasPrefix(rawURL, "http://") {
		return Errorf(EINVALID, "feed url %q: want an http:// or https:// URL", rawURL)
	}
	if len(rawURL) > 2048 {
		return Errorf(EINVALID, "feed url: longer than 2048 bytes")
	}
	return nil
}

// FeedSourceRequest adds a feed source.
type FeedSourceRequest struct {
	URL  string `json:"url"`
	Kind string `json:"kind"`
}

// FeedStore keeps the feed sources. It is part of AdvisoryStore.
type FeedStore interface {
	// CreateFeedSource adds a source; a URL already listed is ECONFLICT.
	CreateFeedSource(ctx context.Context, url, kind string, now time.Time) (FeedSource, error)
	FeedSources(ctx context.Context) ([]FeedSource, error)
	FeedSource(ctx context.Context, id int64) (FeedSource, error)
	DeleteFeedSource(ctx context.Context, id int64) error
	// RecordFeedSync stores the outcome of a sync: validators, last sync,
	// status, error, success time and counts, from src.
	RecordFeedSync(ctx context.Context, src FeedSource) error
}
