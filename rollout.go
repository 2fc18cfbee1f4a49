package patchbay

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"
)

// RolloutState is where a rollout is in its life:
//
//	draft → approved → running ⇄ paused → completed | halted | aborted
//
// A draft or approved rollout may also be aborted, and a paused one may
// halt or complete (hosts in flight finish while it is paused).
// Completed, halted and aborted are final.
type RolloutState string

const (
	RolloutDraft     RolloutState = "draft"     // being edited; its plan may still change
	RolloutApproved  RolloutState = "approved"  // plan frozen; waits to be started
	RolloutRunning   RolloutState = "running"   // hosts are being started
	RolloutPaused    RolloutState = "paused"    // no new host starts; see PauseCause
	RolloutCompleted RolloutState = "completed" // every ring done
	RolloutHalted    RolloutState = "halted"    // stopped by the failure budget or a canary's health gate
	RolloutAborted   RolloutState = "aborted"   // stopped by an operator
)

// RolloutStates lists every state in life order.
var RolloutStates = []RolloutState{RolloutDraft, RolloutApproved, RolloutRunning, RolloutPaused, RolloutCompleted, RolloutHalted, RolloutAborted}

// Next lists the states a rollout in state s may move to; none when s is
// final or unknown.
func (s RolloutState) Next() []RolloutState {
	switch s {
	case RolloutDraft:
		return []RolloutState{RolloutApproved, RolloutAborted}
	case RolloutApproved:
		return []RolloutState{RolloutRunning, RolloutAborted}
	case RolloutRunning:
		return []RolloutState{RolloutPaused, RolloutCompleted, RolloutHalted, RolloutAborted}
	case RolloutPaused:
		return []RolloutState{RolloutRunning, RolloutCompleted, RolloutHalted, RolloutAborted}
	}
	return nil
}

// Valid reports whether s is one of RolloutStates.
func (s RolloutState) Valid() bool { return slices.Contains(RolloutStates, s) }

// Final reports whether nothing can follow s.
func (s RolloutState) Final() bool {
	return s == RolloutCompleted || s == RolloutHalted || s == RolloutAborted
}

// Transition checks that a rollout in state from may move to state to. An
// unknown state is EINVALID; a move the state machine does not allow
// (including staying in the same state) is ECONFLICT, with a message naming
// both states.
func Transition(from, to RolloutState) error {
	for _, s := range []RolloutState{from, to} {
		if !s.Valid() {
			return Errorf(EINVALID, "unknown rollout state %q (want one of %s)", s, joinStates(RolloutStates))
		}
	}
	next := from.Next()
	if slices.Contains(next, to) {
		return nil
	}
	if len(next) > 0 {
		return Errorf(ECONFLICT, "a %s rollout cannot become %s (it can become %s)", from, to, joinStates(next))
	}
	return Errorf(ECONFLICT, "a %s rollout cannot become %s: %s is final", from, to, from)
}

func joinStates(states []RolloutState) string {
	s := make([]string, len(states))
	for i, st := range states {
		s[i] = string(st)
	}
	return strings.Join(s, ", ")
}

// PauseCause says why a rollout is paused, and so whether the scheduler
// may resume it by itself.
type PauseCause string

const (
	// PauseOperator: someone paused it; only someone resumes it.
	PauseOperator PauseCause = "operator"
	// PauseWindow: its maintenance window closed; the scheduler resumes it
	// when the next window opens.
	PauseWindow PauseCause = "window"
)

// Rollout installs a frozen patch set on a set of hosts, ring after ring,
// inside maintenance windows, within a failure budget. Its hosts and their
// progress are HostRuns.
type Rollout struct {
	ID     int64  `json:"id"`
	Name   string `json:"name"`
	Policy string `json:"policy"` // the patch policy that chose the updates
	// Target selects the rollout's hosts when the plan is made.
	Target     Selector      `json:"target"`
	State      RolloutState  `json:"state"`
	PauseCause PauseCause    `json:"pause_cause,omitempty"` // set while paused
	Rings      []Ring        `json:"rings"`
	Budget     FailureBudget `json:"failure_budget"`
	// Window is when hosts may start; nil means at any time.
	Window *Window `json:"window,omitempty"`
	// HostTimeout is how long a host may run before it counts as failed
	// (an agent that never reports back must not hold a rollout forever);
	// 0 means no limit.
	HostTimeout time.Duration `json:"host_timeout"`
	// Reboot says when a host is rebooted after its patch ("": if
	// required); RebootTimeout is how long it has to come back with a new
	// boot id (0: DefaultRebootTimeout). RestartServices restarts, on a
	// host that is not rebooted, the services still running replaced
	// libraries.
	Reboot          RebootPolicy  `json:"reboot,omitempty"`
	RebootTimeout   time.Duration `json:"reboot_timeout,omitempty"`
	RestartServices bool          `json:"restart_services,omitempty"`
	// RollbackOf is the rollout this one rolls back (0: none): its plan
	// reinstalls the versions that rollout replaced, and its install jobs
	// allow downgrades.
	RollbackOf int64 `json:"rollback_of,omitempty"`
	// NoCatchUp: a host that was away (stale or dormant) when its ring
	// ran is left missed for good. By default it catches up: when it
	// checks in again, it gets this rollout's job before anything else
	// (unless the rollout halted or was aborted, and inside its window).
	NoCatchUp bool `json:"no_catch_up,omitempty"`
	// AnnouncedWindow is the opening of the maintenance window last
	// announced in the rollout's log (kind window_announced).
	AnnouncedWindow time.Time `json:"announced_window,omitzero"`
	CreatedAt       time.Time `json:"created_at"`
	ApprovedAt      time.Time `json:"approved_at"`
	StartedAt       time.Time `json:"started_at"`
	FinishedAt      time.Time `json:"finished_at"`
}

// Validate checks the rollout's definition (not its hosts): a name, at least
// one ring, each ring valid with a unique name, a budget and a window of the
// right shape. The window's cron expression and time zone are checked where
// they are parsed (internal/rollout).
func (r Rollout) Validate() error {
	if strings.TrimSpace(r.Name) == "" {
		return Errorf(EINVALID, "a rollout needs a name")
	}
	if r.State != "" && !r.State.Valid() {
		return Errorf(EINVALID, "unknown rollout state %q", r.State)
	}
	if r.State == RolloutPaused && r.PauseCause != PauseOperator && r.PauseCause != PauseWindow {
		return Errorf(EINVALID, "a paused rollout needs a pause cause (%s or %s), not %q", PauseOperator, PauseWindow, r.PauseCause)
	}
	if len(r.Rings) == 0 {
		return Errorf(EINVALID, "rollout %q needs at least one ring", r.Name)
	}
	seen := map[string]bool{}
	for i, g := range r.Rings {
		if err := g.Validate(); err != nil {
			return Errorf(EINVALID, "ring %d: %s", i+1, ErrorMessage(err))
		}
		if seen[g.Name] {
			return Errorf(EINVALID, "ring %d: name %q is used twice", i+1, g.Name)
		}
		seen[g.Name] = true
	}
	if err := r.Budget.Validate(); err != nil {
		return err
	}
	if r.HostTimeout < 0 {
		return Errorf(EINVALID, "host timeout %s is negative", r.HostTimeout)
	}
	if !r.Reboot.Valid() {
		return Errorf(EINVALID, "unknown reboot policy %q (want never, if-required or always)", r.Reboot)
	}
	if r.RebootTimeout < 0 || r.RebootTimeout > 24*time.Hour {
		return Errorf(EINVALID, "reboot timeout %s is not between 0 (the default, %s) and 24h", r.RebootTimeout, DefaultRebootTimeout)
	}
	if r.Window != nil {
		if err := r.Window.Validate(); err != nil {
			return err
		}
	}
	return nil
}

// Ring is one step of a rollout. Its hosts are chosen by exactly one of
// Selector, Count or Percent (see internal/rollout.AssignRings): a selector
// takes every matching host; a count or a percentage takes from the hosts
// no earlier ring took. Percent 100 means "all the rest".
type Ring struct {
	Name     string   `json:"name"`
	Selector Selector `json:"selector,omitempty"`
	Count    int      `json:"count,omitempty"`
	Percent  int      `json:"percent,omitempty"` // of the remaining hosts, rounded up
	// MaxConcurrency is how many of the ring's hosts may run at once.
	MaxConcurrency int `json:"max_concurrency"`
	// BakeTime is how long to wait after the ring's last host finished
	// before the next ring starts.
	BakeTime time.Duration `json:"bake_time"`
	// HealthGates name the checks each host of the ring must pass after
	// patching; a failed gate fails the host.
	HealthGates []string `json:"health_gates"`
	// Canary: a failed health gate on any host of this ring halts the
	// whole rollout at once, whatever the failure budget says.
	Canary bool `json:"canary"`
}

// Validate checks one ring on its own.
func (g Ring) Validate() error {
	if strings.TrimSpace(g.Name) == "" {
		return Errorf(EINVALID, "a ring needs a name")
	}
	n := 0
	if len(g.Selector) > 0 {
		n++
	}
	if g.Count != 0 {
		n++
	}
	if g.Percent != 0 {
		n++
	}
	if n != 1 {
		return Errorf(EINVALID, "ring %q needs exactly one of a selector, a count or a percentage", g.Name)
	}
	if g.Count < 0 {
		return Errorf(EINVALID, "ring %q: count %d is negative", g.Name, g.Count)
	}
	if g.Percent < 0 || g.Percent > 100 {
		return Errorf(EINVALID, "ring %q: percentage %d is not between 1 and 100", g.Name, g.Percent)
	}
	if err := g.Selector.Validate(); err != nil {
		return Errorf(EINVALID, "ring %q: %s", g.Name, ErrorMessage(err))
	}
	if g.MaxConcurrency < 1 {
		return Errorf(EINVALID, "ring %q: max concurrency must be at least 1, not %d", g.Name, g.MaxConcurrency)
	}
	if g.BakeTime < 0 {
		return Errorf(EINVALID, "ring %q: bake time %s is negative", g.Name, g.BakeTime)
	}
	for _, h := range g.HealthGates {
		if strings.TrimSpace(h) == "" {
			return Errorf(EINVALID, "ring %q: a health gate has no name", g.Name)
		}
	}
	return nil
}

// Selector picks hosts by asset fields and labels: every pair must match,
// as in HostFilter.Labels. The keys of AssetKeys (and "env") name asset
// fields; any other key names a label. An empty selector matches every host.
type Selector map[string]string

// ParseSelector reads "key=value,key2=value2" (spaces around pairs are
// ignored). The empty string is the empty selector.
func ParseSelector(s string) (Selector, error) {
	sel := Selector{}
	for _, kv := range strings.Split(s, ",") {
		kv = strings.TrimSpace(kv)
		if kv == "" {
			continue
		}
		k, v, ok := strings.Cut(kv, "=")
		k, v = strings.TrimSpace(k), strings.TrimSpace(v)
		if !ok || k == "" || v == "" {
			return nil, Errorf(EINVALID, "selector %q: want key=value", kv)
		}
		if old, dup := sel[k]; dup && old != v {
			return nil, Errorf(EINVALID, "selector: %s is given twice (%q and %q)", k, old, v)
		}
		sel[k] = v
	}
	return sel, nil
}

// Validate refuses empty keys and values.
func (s Selector) Validate() error {
	for k, v := range s {
		if k == "" || v == "" {
			return Errorf(EINVALID, "selector %s=%s: want key=value", k, v)
		}
	}
	return nil
}

// String writes the selector as ParseSelector reads it, keys sorted.
func (s Selector) String() string {
	var b strings.Builder
	for i, k := range slices.Sorted(maps.Keys(s)) {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, "%s=%s", k, s[k])
	}
	return b.String()
}

// Matches reports whether h has every pair of s.
func (s Selector) Matches(h Host) bool {
	for k, want := range s {
		got, ok := assetValue(h.Assets, k)
		if !ok {
			got, ok = h.Labels[k]
		}
		if !ok || got != want {
			return false
		}
	}
	return true
}

func assetValue(a Assets, key string) (string, bool) {
	switch key {
	case "owner":
		return a.Owner, true
	case "environment", "env":
		return a.Environment, true
	case "role":
		return a.Role, true
	case "criticality":
		return a.Criticality, true
	case "location":
		return a.Location, true
	}
	return "", false
}

// FailureBudget is how many hosts of the whole rollout may fail before it
// halts: Count hosts, or Percent of the rollout's hosts (rounded down, so a
// budget never tolerates more than asked). Both zero is a budget of zero:
// the first failure halts. A host counts once however often it failed, and
// the count is never reset between rings.
type FailureBudget struct {
	Count   int `json:"count,omitempty"`
	Percent int `json:"percent,omitempty"`
}

// Validate refuses negative values, both fields at once, and more than 100 %.
func (b FailureBudget) Validate() error {
	switch {
	case b.Count < 0 || b.Percent < 0:
		return Errorf(EINVALID, "failure budget: count and percentage cannot be negative")
	case b.Count > 0 && b.Percent > 0:
		return Errorf(EINVALID, "failure budget: give a count or a percentage, not both")
	case b.Percent > 100:
		return Errorf(EINVALID, "failure budget: percentage %d is over 100", b.Percent)
	}
	return nil
}

// Allowed is how many of total hosts may fail; the rollout halts once more
// than that have failed.
func (b FailureBudget) Allowed(total int) int {
	if b.Percent > 0 {
		return total * b.Percent / 100
	}
	return b.Count
}

// String is "2 hosts", "10%" or "0 hosts".
func (b FailureBudget) String() string {
	if b.Percent > 0 {
		return fmt.Sprintf("%d%%", b.Percent)
	}
	return fmt.Sprintf("%d hosts", b.Count)
}

// MaxWindowDuration and MaxWindowDayOffset bound a Window.
const (
	MaxWindowDuration  = 31 * 24 * time.Hour
	MaxWindowDayOffset = 31
)

// Window is a recurring maintenance window: it opens at each time the cron
// expression names, in TimeZone's wall clock, moved DayOffset calendar days
// (so the wall-clock time stays put across a DST change), and stays open
// for Duration of elapsed time.
//
// Cron is the five-field form (minute hour day-of-month month day-of-week)
// or a descriptor such as @weekly. Unlike classic cron, when both day
// fields are restricted a day must match both, so "0 22 8-14 * 2" is the
// second Tuesday of each month at 22:00, and with DayOffset 4 the Saturday
// after it.
type Window struct {
	Cron      string        `json:"cron"`
	Duration  time.Duration `json:"duration"`
	TimeZone  string        `json:"time_zone"` // IANA name, e.g. "Europe/London"
	DayOffset int           `json:"day_offset,omitempty"`
}

// Validate checks the window's shape; internal/rollout parses the cron
// expression and loads the zone.
func (w Window) Validate() error {
	switch {
	case strings.TrimSpace(w.Cron) == "":
		return Errorf(EINVALID, "maintenance window: a cron expression is required")
	case w.Duration < time.Minute || w.Duration > MaxWindowDuration:
		return Errorf(EINVALID, "maintenance window: duration %s is not between 1m and %s", w.Duration, MaxWindowDuration)
	case strings.TrimSpace(w.TimeZone) == "":
		return Errorf(EINVALID, "maintenance window: a time zone is required (an IANA name such as Europe/London, or UTC)")
	case w.DayOffset < -MaxWindowDayOffset || w.DayOffset > MaxWindowDayOffset:
		return Errorf(EINVALID, "maintenance window: day offset %d is not between -%d and %d", w.DayOffset, MaxWindowDayOffset, MaxWindowDayOffset)
	}
	return nil
}

// HostRunState is where one host is in a rollout.
type HostRunState string

const (
	HostPending   HostRunState = "pending"   // waits for its ring and a free slot
	HostRunning   HostRunState = "running"   // its job was handed to the agent
	HostSucceeded HostRunState = "succeeded" // patched and its health gates passed
	HostFailed    HostRunState = "failed"    // the job or a health gate failed, or it timed out
	HostSkipped   HostRunState = "skipped"   // nothing to install, or an operator skipped it
	HostHeld      HostRunState = "held"      // an exception holds it; never touched
	HostMissed    HostRunState = "missed"    // it was away when its turn came; catches up when it returns
)

// HostRunStates lists every host state.
var HostRunStates = []HostRunState{HostPending, HostRunning, HostSucceeded, HostFailed, HostSkipped, HostHeld, HostMissed}

// Valid reports whether s is one of HostRunStates.
func (s HostRunState) Valid() bool { return slices.Contains(HostRunStates, s) }

// Done reports whether a host in state s lets its ring move on: it
// succeeded, was skipped or held, or missed its turn (it catches up on
// its own). A failed host is not done: it blocks its ring until it is
// retried (back to pending) or skipped.
func (s HostRunState) Done() bool {
	return s == HostSucceeded || s == HostSkipped || s == HostHeld || s == HostMissed
}

// HostRun is one host of a rollout: its ring, its frozen patch set and its
// progress.
type HostRun struct {
	RolloutID int64        `json:"rollout_id"`
	HostID    int64        `json:"host_id"`
	Hostname  string       `json:"hostname"`
	Ring      int          `json:"ring"` // index into Rollout.Rings
	State     HostRunState `json:"state"`
	// Attempts counts the starts of this host's job; Failures counts the
	// attempts that failed. A host with Failures > 0 counts against the
	// failure budget even after a successful retry or a skip.
	Attempts   int       `json:"attempts"`
	Failures   int       `json:"failures"`
	StartedAt  time.Time `json:"started_at"`  // of the latest attempt
	FinishedAt time.Time `json:"finished_at"` // of the latest attempt; zero while pending or running
	// FailedGate names the health gate that failed the host, if one did.
	FailedGate string `json:"failed_gate,omitempty"`
	// Reason says why the host failed, was skipped or is held.
	Reason string `json:"reason,omitempty"`
	// JobID is the agent job of the latest attempt.
	JobID string `json:"job_id,omitempty"`
	// Phase is what a running host's job reports doing (PhaseRebooting
	// and the like), since PhaseSince; "" before its first report.
	Phase      string    `json:"phase,omitempty"`
	PhaseSince time.Time `json:"phase_since,omitzero"`
	// LeaseWait is how long the latest attempt waited for a disruption
	// lease, in the waits that ended (the one under way runs since
	// PhaseSince). The host timeout does not count it: a host queued
	// behind its cluster's budget is not late.
	LeaseWait time.Duration `json:"lease_wait,omitempty"`
	// Rebooted is set when the latest attempt rebooted the host (and it
	// came back with a new boot id).
	Rebooted bool `json:"rebooted,omitempty"`
	// CatchUp is set when the latest attempt was started because the host
	// came back after missing its turn.
	CatchUp bool `json:"catch_up,omitempty"`
	// HostLastSeen, HostInterval and HostImage are the host's own, read
	// with the run (not stored on it) so that the scheduler can tell an
	// away host (HostRun.Away).
	HostLastSeen time.Time `json:"host_last_seen,omitzero"`
	HostInterval int64     `json:"-"`
	HostImage    bool      `json:"-"`
	// Patches is the frozen patch set: exactly these versions, and no
	// other, are installed on the host.
	Patches []PackageVersion `json:"patches"`
	// Excluded are the host's pending updates the plan did not take, each
	// with the policy rule or exception that left it out.
	Excluded []ExcludedUpdate `json:"excluded"`
}

// Away reports whether the run's host has missed StaleAfterIntervals
// check-ins at now (see patchbay.Away). A run read without its host's
// last sighting, and an image, are never away.
func (h HostRun) Away(now time.Time) bool {
	return !h.HostImage && !h.HostLastSeen.IsZero() && Away(h.HostLastSeen, h.HostInterval, now)
}

// ExcludedUpdate is a pending update a rollout's plan left out, and why.
type ExcludedUpdate struct {
	PackageVersion
	Reason string `json:"reason"`
	// ExceptionID is the exception holding it, when one does.
	ExceptionID int64 `json:"exception_id,omitempty"`
}
