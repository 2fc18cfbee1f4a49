package patchbay

import (
	"context"
	"time"
)

// The CVEs each pending update fixes (Debian, Ubuntu) come from the
// candidate package's own changelog. A changelog job asks one host that
// has the update pending to download the candidate .deb from its apt
// sources and return its /usr/share/doc/<pkg>/changelog.Debian.gz; the
// server parses it and keeps the entries that mention CVEs, once per
// (source package, candidate version) for the whole fleet.

// MaxChangelogBytes bounds the decompressed changelog text a job returns:
// the newest entries, which are the ones an upgrade brings.
const MaxChangelogBytes = 256 << 10

// MaxChangelogPackages bounds the candidate packages of a changelog job.
const MaxChangelogPackages = 64

// ChangelogFile is what a changelog job read from a downloaded package.
type ChangelogFile struct {
	// Package is the binary package read, at Version.
	Package string `json:"package"`
	Version string `json:"version"`
	// Source and SourceVersion are the package's source, from its control
	// file (the binary's own name and version when it names none).
	Source        string `json:"source"`
	SourceVersion string `json:"source_version"`
	// Path is the file inside the package, "usr/share/doc/tzdata/changelog.Debian.gz".
	Path string `json:"path"`
	// Text is the decompressed changelog, cut after MaxChangelogBytes.
	Text      string `json:"text"`
	Truncated bool   `json:"truncated,omitempty"`
}

// ChangelogKey names the changelog of one source package at one candidate
// version (the version the pending update would install).
type ChangelogKey struct {
	Source  string `json:"source"`
	Version string `json:"version"`
}

// ChangelogState is where the fetch of a changelog is.
type ChangelogState string

const (
	ChangelogFetching ChangelogState = "fetching" // a job is out
	ChangelogFetched  ChangelogState = "fetched"
	ChangelogFailed   ChangelogState = "failed" // retried at NextAttempt
)

// ChangelogEntry is one upload in a stored changelog that mentions CVEs.
type ChangelogEntry struct {
	Version string    `json:"version"`
	Date    time.Time `json:"date"`
	CVEs    []string  `json:"cves"`
}

// Changelog is a (source, version) changelog as the server keeps it.
type Changelog struct {
	Key ChangelogKey `json:"key"`
	// SourceVersion is the candidate's source version as its package
	// names it ("" until fetched; the same as Key.Version but for
	// binaries versioned apart from their source).
	SourceVersion string         `json:"source_version"`
	Package       string         `json:"package"` // the binary whose changelog was read
	State         ChangelogState `json:"state"`
	JobID         string         `json:"job_id"` // the last job asked
	HostID        int64          `json:"host_id"`
	Attempts      int            `json:"attempts"`
	RequestedAt   time.Time      `json:"requested_at"`
	FetchedAt     time.Time      `json:"fetched_at"`
	NextAttempt   time.Time      `json:"next_attempt"` // of a failed fetch
	Error         string         `json:"error"`
	// EntriesRead counts every entry parsed; Entries are those that
	// mention a CVE, newest first.
	EntriesRead int              `json:"entries_read"`
	Truncated   bool             `json:"truncated"`
	Entries     []ChangelogEntry `json:"entries"`
}

// ChangelogWant is a changelog that a host can fetch: one host with the
// update pending and its candidate binaries of the source.
type ChangelogWant struct {
	Key      ChangelogKey
	HostID   int64
	Packages []PackageVersion
}

// UpdateSource is the source package of a pending update's installed
// version.
type UpdateSource struct {
	Source        string
	SourceVersion string
}

// ChangelogStore keeps the changelogs of pending updates.
type ChangelogStore interface {
	// WantedChangelogs lists the (source, candidate version) pairs of the
	// pending updates of apt hosts (of hostID only; 0: all hosts) whose
	// changelog is due for a fetch: never asked, failed with NextAttempt
	// at or before now, or asked before staleBefore and never answered.
	// Each comes with the most recently seen host that has it pending and
	// that host's candidate binaries of the source. At most limit pairs.
	WantedChangelogs(ctx context.Context, hostID int64, now, staleBefore time.Time, limit int) ([]ChangelogWant, error)
	// QueueChangelogJobs marks each wanted changelog that is still due as
	// fetching (one more attempt) and queues its job for the want's host,
	// in one transaction; it returns the jobs queued. Two servers racing
	// queue one job per pair.
	QueueChangelogJobs(ctx context.Context, wants []ChangelogWant, now, staleBefore time.Time) ([]JobRecord, error)
	// RecordChangelog finishes a changelog job with res and, in the same
	// transaction, calls fn with the changelog whose current job it is and
	// stores what fn returns (its state, fetched or failed; entries;
	// error; next attempt). A result of a job that is no longer the
	// changelog's current one (asked again meanwhile) only finishes the
	// job. Finishing a job that is done already changes nothing.
	RecordChangelog(ctx context.Context, res JobResult, now time.Time, fn func(Changelog) Changelog) error
	// Changelogs returns the stored changelogs of keys; absent ones are
	// missing from the map.
	Changelogs(ctx context.Context, keys []ChangelogKey) (map[ChangelogKey]Changelog, error)
	// UpdateSources returns the source of each of the host's pending
	// updates, by Update.Key(); an update whose installed version is not
	// in the inventory is missing.
	UpdateSources(ctx context.Context, hostID int64) (map[string]UpdateSource, error)
}

// HostUpdate is a pending update as the server shows it: the agent's
// report with the CVEs the candidate's changelog mentions in its entries
// newer than the installed version (sorted; empty when none, or when the
// changelog is not fetched yet), and where that changelog is: fetched,
// fetching, failed, or "" when there is none to fetch (not a
// Debian-family host, or a source the inventory does not name).
type HostUpdate struct {
	Update
	CVEs      []string       `json:"cves"`
	Changelog ChangelogState `json:"changelog,omitempty"`
}
