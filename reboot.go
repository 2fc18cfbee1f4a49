package patchbay

import (
	"context"
	"fmt"
	"regexp"
	"strings"
	"time"
)

// RebootPolicy says when an install job reboots its host.
type RebootPolicy string

const (
	// RebootNever: the host is never rebooted; a reboot the patch needs
	// is reported (the host's inventory says so) and left to someone.
	RebootNever RebootPolicy = "never"
	// RebootIfRequired: the host is rebooted when, after the patch, it
	// says it needs one (reboot-required file, a newer kernel installed
	// than the running one, needs-restarting -r). The default.
	RebootIfRequired RebootPolicy = "if-required"
	// RebootAlways: the host is rebooted after every successful patch.
	RebootAlways RebootPolicy = "always"
)

// Valid reports whether p is one of the policies ("" is if-required).
func (p RebootPolicy) Valid() bool {
	switch p {
	case "", RebootNever, RebootIfRequired, RebootAlways:
		return true
	}
	return false
}

// OrDefault is p, or RebootIfRequired when p is "".
func (p RebootPolicy) OrDefault() RebootPolicy {
	if p == "" {
		return RebootIfRequired
	}
	return p
}

// DefaultRebootTimeout is how long a rebooting host has to come back with
// a new boot id before it counts as failed.
const DefaultRebootTimeout = 15 * time.Minute

// MaxRebootAttempts is the reboot-loop guard: a job never reboots its
// host more than this many times.
const MaxRebootAttempts = 3

// Phases a running job reports while it is not done (JobResult.Phase and
// HostRun.Phase).
const (
	PhasePatching     = "patching"      // pre-patch hooks, install, post-patch hooks
	PhaseWaitingLease = "waiting-lease" // waits for a disruption-budget lease
	PhaseDraining     = "draining"      // pre-reboot hooks
	PhaseRebooting    = "rebooting"     // the reboot command ran; the host must come back
	PhaseRestoring    = "restoring"     // back with a new boot id: gates, post-reboot hooks
)

// StaleProcess is a process that still maps a file the package manager
// replaced or removed (a library or binary of the old version): it runs
// old code until it is restarted (needrestart's check).
type StaleProcess struct {
	PID     int      `json:"pid"`
	Command string   `json:"command"`
	Unit    string   `json:"unit,omitempty"` // systemd unit, from its cgroup
	Files   []string `json:"files"`          // the deleted files it maps (bounded)
}

// DisruptionBudget bounds how many hosts sharing a label may be disrupted
// (draining, rebooting, restoring) at once, across every rollout: with
// Value "", at most Max hosts per value of the label (cluster=a and
// cluster=b each get Max); with a Value, at most Max hosts having exactly
// that value.
type DisruptionBudget struct {
	ID        int64     `json:"id"`
	Label     string    `json:"label"`
	Value     string    `json:"value,omitempty"`
	Max       int       `json:"max"`
	CreatedAt time.Time `json:"created_at"`
	CreatedBy string    `json:"created_by"`
}

var labelKeyRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_./-]{0,62}$`)

// Validate checks a new budget.
func (b DisruptionBudget) Validate() error {
	switch {
	case !labelKeyRE.MatchString(b.Label):
		return Errorf(EINVALID, "disruption budget: label %q is not a label key (1-63 of A-Z a-z 0-9 _ . / -)", b.Label)
	case len(b.Value) > 200 || strings.ContainsAny(b.Value, "\n\t"):
		return Errorf(EINVALID, "disruption budget: label value %q is not valid", b.Value)
	case b.Max < 1:
		return Errorf(EINVALID, "disruption budget %s: max must be at least 1, not %d (0 would block every reboot: use a rollout with --reboot never)", b.Selector(), b.Max)
	}
	return nil
}

// Selector is "label" or "label=value".
func (b DisruptionBudget) Selector() string {
	if b.Value == "" {
		return b.Label
	}
	return b.Label + "=" + b.Value
}

// Applies reports whether the budget covers a host with labels, and the
// label value it counts the host under.
func (b DisruptionBudget) Applies(labels map[string]string) (string, bool) {
	v, ok := labels[b.Label]
	if !ok || b.Value != "" && v != b.Value {
		return "", false
	}
	return v, true
}

// ParseDisruptionBudget reads "LABEL" or "LABEL=VALUE".
func ParseDisruptionBudget(s string, max int) (DisruptionBudget, error) {
	k, v, _ := strings.Cut(strings.TrimSpace(s), "=")
	b := DisruptionBudget{Label: strings.TrimSpace(k), Value: strings.TrimSpace(v), Max: max}
	if strings.Contains(s, "=") && b.Value == "" {
		return b, Errorf(EINVALID, "disruption budget %q: LABEL=VALUE needs a value (or give LABEL alone: per value)", s)
	}
	return b, b.Validate()
}

// DisruptionLease lets one host be disrupted (drained, rebooted) for one
// job. It ends when the job's final result arrives, when an operator
// releases it, or at ExpiresAt when its holder stops renewing it (an agent
// that died holding it); a zero ExpiresAt never expires (a host that did
// not come back from its reboot keeps its lease until it returns or
// someone releases it: its cluster must not lose a second host).
type DisruptionLease struct {
	HostID     int64     `json:"host_id"`
	Hostname   string    `json:"hostname"`
	JobID      string    `json:"job_id"`
	RolloutID  int64     `json:"rollout_id,omitempty"`
	AcquiredAt time.Time `json:"acquired_at"`
	RenewedAt  time.Time `json:"renewed_at"`
	ExpiresAt  time.Time `json:"expires_at"` // zero: held until released
	Note       string    `json:"note,omitempty"`
}

// Live reports whether the lease holds at now.
func (l DisruptionLease) Live(now time.Time) bool {
	return l.ExpiresAt.IsZero() || now.Before(l.ExpiresAt)
}

// LeaseReply answers an agent asking for a lease before it drains and
// reboots its host.
type LeaseReply struct {
	Granted   bool      `json:"granted"`
	ExpiresAt time.Time `json:"expires_at,omitzero"`
	// Budget and HeldBy say what refused it: the budget that is full and
	// the hosts holding its leases.
	Budget string   `json:"budget,omitempty"`
	HeldBy []string `json:"held_by,omitempty"`
	// RetryAfterSeconds is when to ask again.
	RetryAfterSeconds int `json:"retry_after_seconds,omitempty"`
}

// DisruptionBudgetRequest adds a budget: "LABEL" or "LABEL=VALUE".
type DisruptionBudgetRequest struct {
	Budget string `json:"budget"`
	Max    int    `json:"max"`
}

// DisruptionStatus is every budget with the leases in force.
type DisruptionStatus struct {
	Budgets []DisruptionBudget `json:"budgets"`
	Leases  []DisruptionLease  `json:"leases"`
}

// LeaseGrant is what the store decides when a host asks for a lease.
type LeaseGrant struct {
	Granted bool
	Lease   DisruptionLease
	Budget  string   // the full budget, when refused
	HeldBy  []string // its holders
}

// DisruptionStore keeps disruption budgets and leases.
type DisruptionStore interface {
	CreateDisruptionBudget(ctx context.Context, b DisruptionBudget) (DisruptionBudget, error)
	ListDisruptionBudgets(ctx context.Context) ([]DisruptionBudget, error)
	DeleteDisruptionBudget(ctx context.Context, id int64) error
	// AcquireLease grants host a lease for job, in one transaction, when
	// every budget covering the host has room (live leases of other hosts
	// counted by their current labels); a host holding a lease already
	// gets it renewed (for job). ttl sets ExpiresAt.
	AcquireLease(ctx context.Context, hostID int64, jobID string, rolloutID int64, now time.Time, ttl time.Duration) (LeaseGrant, error)
	// RenewLease moves the expiry of host's live lease (for job, when
	// jobID is not "") to expires (zero: held until released), with note.
	RenewLease(ctx context.Context, hostID int64, jobID string, now, expires time.Time, note string) (bool, error)
	// ReleaseLease ends host's lease (for job, when jobID is not "").
	ReleaseLease(ctx context.Context, hostID int64, jobID string) (bool, error)
	// ListLeases lists the live leases at now.
	ListLeases(ctx context.Context, now time.Time) ([]DisruptionLease, error)
}

// String describes the lease for logs and the CLI.
func (l DisruptionLease) String() string {
	exp := "until released"
	if !l.ExpiresAt.IsZero() {
		exp = "until " + l.ExpiresAt.UTC().Format(time.RFC3339)
	}
	return fmt.Sprintf("%s (job %s) %s", l.Hostname, l.JobID, exp)
}

// RebootWait is how long a rebooting host of r has to come back.
func (r Rollout) RebootWait() time.Duration {
	if r.RebootTimeout <= 0 {
		return DefaultRebootTimeout
	}
	return r.RebootTimeout
}
