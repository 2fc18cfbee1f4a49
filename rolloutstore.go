package patchbay

import (
	"context"
	"fmt"
	"time"
)

// RolloutCause is the Cause of a host's timeline event that a rollout's
// job made: "rollout:ID".
func RolloutCause(rolloutID int64) string { return fmt.Sprintf("rollout:%d", rolloutID) }

// RolloutEvent is one entry of a rollout's own log: who created, approved,
// started, paused, resumed or aborted it, and the state changes the
// scheduler made.
type RolloutEvent struct {
	ID        int64     `json:"id"`
	RolloutID int64     `json:"rollout_id"`
	Time      time.Time `json:"time"`
	// Actor is the principal's name, or "scheduler".
	Actor  string `json:"actor"`
	Kind   string `json:"kind"` // "created", "approved", "state", "host_started", "host_failed", ...
	HostID int64  `json:"host_id,omitempty"`
	Detail string `json:"detail,omitempty"`
}

// JobState is where a queued job is on its way to an agent.
type JobState string

const (
	JobQueued    JobState = "queued"    // waits for the agent's next poll
	JobDelivered JobState = "delivered" // handed out at least once; handed out again until done
	JobDone      JobState = "done"      // its final result is stored
)

// JobRecord is a job as the server keeps it: for which host and rollout,
// where it is, and the agent's result.
type JobRecord struct {
	Job         Job        `json:"job"`
	HostID      int64      `json:"host_id"`
	RolloutID   int64      `json:"rollout_id,omitempty"`
	State       JobState   `json:"state"`
	Result      *JobResult `json:"result,omitempty"`
	QueuedAt    time.Time  `json:"queued_at"`
	DeliveredAt time.Time  `json:"delivered_at"`
	FinishedAt  time.Time  `json:"finished_at"`
}

// RolloutUpdate is what one scheduler tick or operator action writes,
// in the transaction that read the rollout.
type RolloutUpdate struct {
	// Rollout replaces the stored definition, state and timestamps.
	Rollout Rollout
	// Hosts are the host runs that changed (by host id). Their Patches
	// are not written: a plan is frozen once made.
	Hosts []HostRun
	// ReplaceHosts, when not nil, replaces every host run of the rollout
	// (a draft's plan made again); Hosts must then be empty.
	ReplaceHosts []HostRun
	Events       []RolloutEvent
	// HostEvents are appended to the hosts' timelines (catch-ups).
	HostEvents []Event
	// Jobs are queued; a job id that exists already is an ECONFLICT error
	// (a host is never given the same attempt twice). An install job for
	// one of the rollout's hosts installs that host's frozen patch set: the
	// store sets its Packages from the plan, in the same transaction.
	Jobs []JobRecord
	// Finish stores a job's final result and marks it done; finishing a
	// job that is done already changes nothing.
	Finish *JobResult
	// FinishAt is when Finish arrived.
	FinishAt time.Time
}

// RolloutStore keeps rollouts, their host runs and their event log.
type RolloutStore interface {
	// CreateRollout stores a new rollout with its host runs and events in
	// one transaction and returns it with its id.
	CreateRollout(ctx context.Context, r Rollout, hosts []HostRun, events []RolloutEvent) (Rollout, error)
	Rollout(ctx context.Context, id int64) (Rollout, error)
	// ListRollouts lists rollouts, newest first.
	ListRollouts(ctx context.Context) ([]Rollout, error)
	// HostRuns lists a rollout's hosts by ring, hostname, id.
	HostRuns(ctx context.Context, rolloutID int64) ([]HostRun, error)
	// RolloutEvents returns the last limit entries of a rollout's log
	// (all when limit is 0), oldest first.
	RolloutEvents(ctx context.Context, rolloutID int64, limit int) ([]RolloutEvent, error)
	// ActiveRollouts lists the ids of running and paused rollouts, and of
	// any other rollout with hosts running (the scheduler ticks them all).
	ActiveRollouts(ctx context.Context) ([]int64, error)
	// MissedRollouts lists the ids of the rollouts in which host is
	// missed (it was away when its turn came), oldest first.
	MissedRollouts(ctx context.Context, hostID int64) ([]int64, error)
	// UpdateRollout reads the rollout and its host runs in a write
	// transaction, calls fn, and writes the update fn returns (nothing when
	// nil) in the same transaction; an error from fn rolls back. The host
	// runs fn gets have no Patches (the frozen plan is not needed to
	// schedule, and reading it would cost most of a tick on a large
	// rollout); HostRuns returns them.
	UpdateRollout(ctx context.Context, id int64, fn func(r Rollout, hosts []HostRun) (*RolloutUpdate, error)) error
}

// JobStore keeps the jobs handed to agents.
type JobStore interface {
	// PendingJobs returns the host's jobs that are not done, oldest first,
	// and marks queued ones delivered at now.
	PendingJobs(ctx context.Context, hostID int64, now time.Time) ([]Job, error)
	JobRecord(ctx context.Context, id string) (JobRecord, error)
	// HostJobs lists the host's jobs queued at or after since, newest
	// first.
	HostJobs(ctx context.Context, hostID int64, since time.Time) ([]JobRecord, error)
	// FinishJob stores the final result of a job that belongs to no
	// rollout; a job of a rollout finishes through UpdateRollout.
	FinishJob(ctx context.Context, res JobResult, now time.Time) error
}

// Rollout policies: which pending updates a rollout's plan takes.
const (
	PolicyAll      = "all"      // every pending update
	PolicySecurity = "security" // only updates from a security origin
)

// MaxDetailEvents bounds the log entries a RolloutDetail carries.
const MaxDetailEvents = 200

// RolloutDetail is a rollout with its hosts, counts and log: what create,
// plan and show return.
type RolloutDetail struct {
	Rollout Rollout              `json:"rollout"`
	Hosts   []HostRun            `json:"hosts"`
	Counts  map[HostRunState]int `json:"counts"`
	Events  []RolloutEvent       `json:"events"` // the last MaxDetailEvents
	// Status says in a sentence what the scheduler would do now.
	Status string `json:"status,omitempty"`
	// Installed holds, per host id, the version installed now of each
	// planned package ("name:arch" → version) as the host's last inventory
	// reports it among its pending updates: for a draft or approved
	// rollout of at most 500 hosts.
	Installed map[int64]map[string]string `json:"installed,omitempty"`
}
