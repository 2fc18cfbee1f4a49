package patchbay

import (
	"fmt"
	"time"
)

// JobAction is what a job asks an agent to do. Only the actions of this
// allow-list exist; an agent refuses any other.
type JobAction string

const (
	// JobRefresh updates the package indexes (apt-get update, dnf makecache).
	JobRefresh JobAction = "refresh"
	// JobInstall installs exact package versions, then runs the job's
	// health checks, if any.
	JobInstall JobAction = "install"
	// JobCheck runs health checks registered in the agent's configuration.
	JobCheck JobAction = "check"
	// JobChangelog reads the Debian changelog of a candidate version from
	// its package, downloaded from the host's own apt sources; nothing is
	// installed. Packages are the candidates (binaries of one source at
	// one version); the agent reads the smallest.
	JobChangelog JobAction = "changelog"
)

// Valid reports whether a is on the allow-list.
func (a JobAction) Valid() bool {
	switch a {
	case JobRefresh, JobInstall, JobCheck, JobChangelog:
		return true
	}
	return false
}

// PackageVersion is one exact version of a package, as a rollout plan
// freezes it: what an install job must leave installed, no other version.
type PackageVersion struct {
	Name string `json:"name"`
	// Arch is the package's architecture as the inventory reports it
	// ("amd64", "all", "noarch", "x86_64"); "" lets the package manager
	// choose the native one.
	Arch string `json:"arch,omitempty"`
	// Version is the full version as the inventory reports it: Debian
	// "[epoch:]upstream[-revision]", RPM "[epoch:]version-release".
	Version string `json:"version"`
}

// String is "name:arch=version" (without ":arch" when Arch is empty).
func (p PackageVersion) String() string {
	if p.Arch == "" {
		return p.Name + "=" + p.Version
	}
	return p.Name + ":" + p.Arch + "=" + p.Version
}

// Job is one unit of work the server gives an agent. Its arguments are
// data (package names and versions, names of checks the agent's own
// configuration defines), never commands.
type Job struct {
	// ID identifies the job on the agent, which runs a job id at most
	// once: 1-128 of [A-Za-z0-9._-], starting with a letter or digit.
	ID     string    `json:"id"`
	Action JobAction `json:"action"`
	// Refresh asks an install job to refresh the package indexes first.
	Refresh bool `json:"refresh,omitempty"`
	// Packages are the exact versions an install job installs.
	Packages []PackageVersion `json:"packages,omitempty"`
	// Checks name health checks of the agent's configuration: the checks
	// of a check job, or the gate run after an install job succeeded (after
	// its reboot, when it reboots).
	Checks []string `json:"checks,omitempty"`
	// Reboot says whether an install job reboots the host after the patch
	// ("": never, for jobs of older servers); RebootTimeout is the
	// rollout's, for the agent's own wait. RestartServices restarts the
	// services running replaced files when the host is not rebooted.
	Reboot          RebootPolicy  `json:"reboot,omitempty"`
	RebootTimeout   time.Duration `json:"reboot_timeout,omitempty"`
	RestartServices bool          `json:"restart_services,omitempty"`
	// AllowDowngrade lets an install job install versions older than the
	// installed ones (a rollback); only install jobs have it.
	AllowDowngrade bool `json:"allow_downgrade,omitempty"`
	// CatchUp marks the job of a rollout the host missed while it was
	// away, given when it came back: it is handed out before any other.
	CatchUp bool `json:"catch_up,omitempty"`
}

// MaxJobPackages bounds the packages of one job.
const MaxJobPackages = 10000

// Validate checks the job's shape: a valid id, an action of the
// allow-list with the arguments it needs, no package twice. Whether names
// and versions are valid for the host's package manager is that package
// manager's check.
func (j Job) Validate() error {
	if !validJobID(j.ID) {
		return Errorf(EINVALID, "invalid job id %q", j.ID)
	}
	if !j.Action.Valid() {
		return Errorf(EINVALID, "job %s: unknown action %q (want refresh, install, check or changelog)", j.ID, j.Action)
	}
	switch j.Action {
	case JobInstall:
		if len(j.Packages) == 0 {
			return Errorf(EINVALID, "job %s: install without packages", j.ID)
		}
	case JobCheck:
		if len(j.Checks) == 0 {
			return Errorf(EINVALID, "job %s: check without checks", j.ID)
		}
	case JobChangelog:
		if len(j.Packages) == 0 || len(j.Packages) > MaxChangelogPackages {
			return Errorf(EINVALID, "job %s: a changelog job names 1 to %d packages, not %d", j.ID, MaxChangelogPackages, len(j.Packages))
		}
		if j.Refresh || len(j.Checks) > 0 {
			return Errorf(EINVALID, "job %s: a changelog job neither refreshes nor runs checks", j.ID)
		}
	}
	if j.Action != JobInstall && j.Action != JobChangelog && (len(j.Packages) > 0 || j.Refresh) {
		return Errorf(EINVALID, "job %s: packages and refresh belong to install jobs", j.ID)
	}
	if j.Action != JobInstall && (j.Reboot != "" || j.RestartServices) {
		return Errorf(EINVALID, "job %s: reboot and restart_services belong to install jobs", j.ID)
	}
	if !j.Reboot.Valid() {
		return Errorf(EINVALID, "job %s: unknown reboot policy %q", j.ID, j.Reboot)
	}
	if j.AllowDowngrade && j.Action != JobInstall {
		return Errorf(EINVALID, "job %s: only an install job may allow downgrades", j.ID)
	}
	if j.Action == JobRefresh && len(j.Checks) > 0 {
		return Errorf(EINVALID, "job %s: a refresh job runs no checks", j.ID)
	}
	if len(j.Packages) > MaxJobPackages {
		return Errorf(EINVALID, "job %s: %d packages, at most %d", j.ID, len(j.Packages), MaxJobPackages)
	}
	seen := make(map[string]bool, len(j.Packages))
	for _, p := range j.Packages {
		if p.Name == "" || p.Version == "" {
			return Errorf(EINVALID, "job %s: package %q without name or version", j.ID, p.String())
		}
		k := p.Name + ":" + p.Arch
		if seen[k] {
			return Errorf(EINVALID, "job %s: package %s planned twice", j.ID, k)
		}
		seen[k] = true
	}
	checks := make(map[string]bool, len(j.Checks))
	for _, c := range j.Checks {
		if checks[c] {
			return Errorf(EINVALID, "job %s: check %q listed twice", j.ID, c)
		}
		checks[c] = true
	}
	return nil
}

func validJobID(s string) bool {
	if s == "" || len(s) > 128 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		alnum := '0' <= c && c <= '9' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z'
		if !alnum && (i == 0 || c != '.' && c != '_' && c != '-') {
			return false
		}
	}
	return true
}

// JobStatus is how a job or one of its steps ended.
type JobStatus string

const (
	JobRunning   JobStatus = "running" // a step whose side effect started
	JobSucceeded JobStatus = "succeeded"
	JobFailed    JobStatus = "failed"
)

// CheckState is a health check's verdict, with Nagios plugin semantics.
type CheckState string

const (
	CheckOK       CheckState = "OK"
	CheckWarning  CheckState = "WARNING"
	CheckCritical CheckState = "CRITICAL"
	CheckUnknown  CheckState = "UNKNOWN"
)

// Passed reports whether a gate passes with this state: OK and WARNING
// pass; CRITICAL and UNKNOWN (a check that could not tell) fail.
func (s CheckState) Passed() bool { return s == CheckOK || s == CheckWarning }

// StepResult is one step of a job as the agent ran it.
type StepResult struct {
	// Name: "refresh", "repair", "install", "verify", "check:NAME",
	// "hook:EVENT:NAME", "reboot-check", "services", "lease", "reboot".
	Name       string     `json:"name"`
	Status     JobStatus  `json:"status"`
	Message    string     `json:"message,omitempty"`
	Check      CheckState `json:"check,omitempty"` // of a check step
	Output     string     `json:"output,omitempty"`
	StartedAt  time.Time  `json:"started_at"`
	FinishedAt time.Time  `json:"finished_at,omitzero"`
}

// JobResult is what an agent reports about a job. It is final once Status
// is succeeded or failed.
type JobResult struct {
	JobID  string    `json:"job_id"`
	Action JobAction `json:"action"`
	Status JobStatus `json:"status"`
	// Reason says why the job failed, in a sentence fit for a user.
	Reason string `json:"reason,omitempty"`
	// Installed are the versions of the planned packages found installed
	// after an install job ("" when absent or not fully installed).
	Installed []PackageVersion `json:"installed,omitempty"`
	// Repaired is set when an interrupted package-manager run was repaired
	// (dpkg --configure -a) during the job.
	Repaired bool `json:"repaired,omitempty"`
	// Resumed is set when the agent stopped during the job and finished
	// it after restarting.
	Resumed bool `json:"resumed,omitempty"`
	// Changelog is what a changelog job read.
	Changelog *ChangelogFile `json:"changelog,omitempty"`
	// Phase is what a job that is not done is doing (PhaseRebooting...).
	Phase string `json:"phase,omitempty"`
	// RebootRequired and RebootReasons are the host's answer after the
	// patch; Rebooted is set when the job rebooted it and it came back
	// with a new boot id (BootIDBefore → BootIDAfter). RebootAttempts
	// counts the reboot commands the job ran.
	RebootRequired bool     `json:"reboot_required,omitempty"`
	RebootReasons  []string `json:"reboot_reasons,omitempty"`
	Rebooted       bool     `json:"rebooted,omitempty"`
	RebootAttempts int      `json:"reboot_attempts,omitempty"`
	BootIDBefore   string   `json:"boot_id_before,omitempty"`
	BootIDAfter    string   `json:"boot_id_after,omitempty"`
	// StaleProcesses run replaced files after a patch that did not reboot
	// the host; Restarted are the units the job restarted for them.
	StaleProcesses []StaleProcess `json:"stale_processes,omitempty"`
	Restarted      []string       `json:"restarted,omitempty"`
	Steps          []StepResult   `json:"steps"`
	StartedAt      time.Time      `json:"started_at"`
	FinishedAt     time.Time      `json:"finished_at,omitzero"`
}

// Done reports whether the result is final.
func (r JobResult) Done() bool { return r.Status == JobSucceeded || r.Status == JobFailed }

// String summarises the result for logs.
func (r JobResult) String() string {
	if r.Reason != "" {
		return fmt.Sprintf("job %s (%s): %s: %s", r.JobID, r.Action, r.Status, r.Reason)
	}
	return fmt.Sprintf("job %s (%s): %s", r.JobID, r.Action, r.Status)
}
