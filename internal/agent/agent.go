// Package agent is what runs on every host: it enrols once, then checks in
// every interval with a heartbeat, and sends its full inventory only when
// the inventory's content changed. When the server is unreachable it backs
// off with jitter and sends its latest state once the server is back.
// Beside the check-ins, a job loop long-polls the server for jobs and runs
// them with a persisted executor (jobs.go).
package agent

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"runtime/debug"
	"sync"
	"time"

	"github.com/patchbay/patchbay"
	"github.com/patchbay/patchbay/internal/agent/job"
	"github.com/patchbay/patchbay/internal/client"
	"github.com/patchbay/patchbay/internal/credential"
	"github.com/patchbay/patchbay/internal/pki"
)

// Collector gathers the host's inventory. refresh asks it to update the
// package indexes first (apt-get update) when true.
type Collector interface {
	Collect(ctx context.Context, refresh bool) (patchbay.Inventory, error)
}

// Config is the agent's configuration, validated by the caller.
type Config struct {
	Server   string // https://host:port
	Token    string // enrolment token; needed only until enrolled
	StateDir string
	// Interval between check-ins (jittered by ±10%).
	Interval time.Duration
	// RefreshInterval between package-index refreshes; 0 refreshes at
	// every collection.
	RefreshInterval time.Duration
	Once            bool // one check-in, then return
	AgentVersion    string
	Collector       Collector
	Logger          *slog.Logger
	Now             func() time.Time
	// Sleep waits for d or until ctx ends; tests may shorten it.
	Sleep func(ctx context.Context, d time.Duration) error
	// Jobs runs the jobs the server gives this host; nil: the agent runs
	// none (and does not poll for them).
	Jobs *job.Executor
	// JobWait is how long one long poll for jobs waits on the server
	// (0: 30 s).
	JobWait time.Duration // Image is the label of the image this agent inventories (RunImage);
	// "" for a running host.
	Image string
}

// Agent is a running agent.
type Agent struct {
	cfg         Config
	lastRefresh time.Time
	// checkInNow asks the check-in loop to check in at once (after a job
	// changed the packages); buffered, one pending request is enough.
	checkInNow chan struct{}

	enrolling sync.Mutex // one enrolment at a time
	mu        sync.Mutex // guards st and api, which enrolment replaces
	// pkg lets one package-manager user run at a time: a check-in's
	// collection (apt-get update, the upgrade simulation) or a job. Side
	// by side they fight over apt's locks (apt-get update takes the lists
	// lock without waiting: DPkg::Lock::Timeout does not cover it), and a
	// collection during an install reads a half-changed system. A
	// check-in that finds a job running sends a heartbeat with what the
	// last collection found instead of collecting, so heartbeats go on
	// during a long install.
	pkg sync.Mutex
	// lastBeat is the heartbeat of the last collection (zero before one).
	lastBeat patchbay.Heartbeat
	st       state
	api      *client.Client
	// stop is Run's context: jobs run without it (a started step runs to
	// its end), but waiting for a disruption lease ends with it.
	stop context.Context
}

// Run enrols if needed and checks in until ctx ends (or once).
func Run(ctx context.Context, cfg Config) error {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Sleep == nil {
		cfg.Sleep = sleep
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.JobWait <= 0 {
		cfg.JobWait = defaultJobWait
	}
	a := &Agent{cfg: cfg, checkInNow: make(chan struct{}, 1), stop: ctx}
	if cfg.Jobs != nil {
		cfg.Jobs.SetCoordinator(a)
	}
	if err := a.connect(ctx); err != nil {
		return err
	}
	if cfg.Jobs == nil || cfg.Once {
		return a.checkInLoop(ctx)
	}
	jobsDone := make(chan struct{})
	go func() {
		defer close(jobsDone)
		a.jobLoop(ctx)
	}()
	err := a.checkInLoop(ctx)
	<-jobsDone // a job in progress finishes first
	return err
}

// checkInLoop checks in every interval (or once), and at once when a job
// asks for it.
func (a *Agent) checkInLoop(ctx context.Context) error {
	cfg := a.cfg
	failures := 0
	for {
		c := a.client()
		err := a.checkIn(ctx, c)
		// The inventory (thousands of packages, apt's output) is garbage
		// now; give its memory back to the OS before idling for an
		// interval, so an idle agent stays small.
		debug.FreeOSMemory()
		if cfg.Once {
			return err
		}
		if ctx.Err() != nil {
			return nil // cancelled, perhaps mid-check-in: a clean stop
		}
		wait := jitter(cfg.Interval, 0.1)
		if err != nil {
			failures++
			wait = backoff(failures, cfg.Interval)
			cfg.Logger.WarnContext(ctx, "check-in failed", "err", err, "retry_in", wait.Round(time.Second))
			a.unauthorized(ctx, err, c)
		} else {
			failures = 0
		}
		if err := a.idle(ctx, wait); err != nil {
			return nil // cancelled: a clean stop
		}
	}
}

// idle waits for d, or until a job asks for a check-in, or until ctx
// ends (then it returns ctx's error).
func (a *Agent) idle(ctx context.Context, d time.Duration) error {
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		select {
		case <-a.checkInNow:
			cancel()
		case <-wctx.Done():
		}
	}()
	_ = a.cfg.Sleep(wctx, d)
	return ctx.Err()
}

// triggerCheckIn asks the check-in loop to check in now.
func (a *Agent) triggerCheckIn() {
	select {
	case a.checkInNow <- struct{}{}:
	default: // one is already pending
	}
}

// client returns the API client of the current credential.
func (a *Agent) client() *client.Client {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.api
}

// unauthorized handles err of a call made with c: when the server refused
// the credential (this machine enrolled again elsewhere, or the host was
// revoked) the agent enrols again with the token it has, unless the other
// loop already did since c was taken.
func (a *Agent) unauthorized(ctx context.Context, err error, c *client.Client) {
	if patchbay.ErrorCode(err) != patchbay.EUNAUTHORIZED || a.cfg.Token == "" {
		return
	}
	a.enrolling.Lock()
	defer a.enrolling.Unlock()
	if a.client() != c {
		return
	}
	if err := a.enroll(ctx); err != nil {
		a.cfg.Logger.WarnContext(ctx, "re-enrolment failed", "err", err)
	}
}

// connect loads the saved credential, or enrols with the token.
func (a *Agent) connect(ctx context.Context) error {
	st, ok, err := loadState(a.cfg.StateDir)
	if err != nil {
		return err
	}
	if ok && st.Server == a.cfg.Server && st.Credential != "" {
		tlsCfg, err := pki.PoolConfig([]byte(st.CAPEM))
		if err != nil {
			return fmt.Errorf("agent state: %w", err)
		}
		a.mu.Lock()
		a.st = st
		a.api = client.New(a.cfg.Server, st.Credential, tlsCfg)
		a.mu.Unlock()
		return nil
	}
	if a.cfg.Token == "" {
		if ok {
			return fmt.Errorf("agent is enrolled with %s, not %s: pass --token to enrol with the new server", st.Server, a.cfg.Server)
		}
		return errors.New("agent is not enrolled: pass --token (make one with `patchbay tokens create`)")
	}
	// Enrolment must succeed before anything else; retry while the server
	// is unreachable, but not when it refuses the token.
	for failures := 1; ; failures++ {
		err := a.enroll(ctx)
		if err == nil {
			return nil
		}
		code := patchbay.ErrorCode(err)
		if a.cfg.Once || code == patchbay.EUNAUTHORIZED || code == patchbay.EINVALID || code == patchbay.EFORBIDDEN {
			return err
		}
		wait := backoff(failures, a.cfg.Interval)
		a.cfg.Logger.WarnContext(ctx, "enrolment failed", "err", err, "retry_in", wait.Round(time.Second))
		if a.cfg.Sleep(ctx, wait) != nil {
			return ctx.Err()
		}
	}
}

func (a *Agent) enroll(ctx context.Context) error {
	tok, err := credential.ParseEnroll(a.cfg.Token)
	if err != nil {
		return patchbay.Errorf(patchbay.EINVALID, "%v", err)
	}
	inv, err := a.cfg.Collector.Collect(ctx, false)
	if err != nil {
		return fmt.Errorf("collect facts for enrolment: %w", err)
	}
	var caPEM []byte
	c := client.New(a.cfg.Server, "", pki.PinnedConfig(tok.CAHash, func(p []byte) { caPEM = p }))
	resp, err := c.Enroll(ctx, patchbay.EnrollRequest{
		Token:           a.cfg.Token,
		MachineID:       inv.MachineID,
		Hostname:        inv.Hostname,
		IntervalSeconds: int64(a.cfg.Interval / time.Second),
		Image:           a.cfg.Image,
	})
	if err != nil {
		return fmt.Errorf("enrol with %s: %w", a.cfg.Server, err)
	}
	st := state{Server: a.cfg.Server, HostID: resp.HostID, MachineID: inv.MachineID, Credential: resp.Credential, CAPEM: string(caPEM), EnrolledAt: a.cfg.Now()}
	if err := saveState(a.cfg.StateDir, st); err != nil {
		return err
	}
	tlsCfg, err := pki.PoolConfig(caPEM)
	if err != nil {
		return fmt.Errorf("server CA: %w", err)
	}
	a.mu.Lock()
	a.st = st
	a.api = client.New(a.cfg.Server, st.Credential, tlsCfg)
	a.mu.Unlock()
	a.cfg.Logger.InfoContext(ctx, "enrolled", "server", a.cfg.Server, "host_id", resp.HostID, "new_host", resp.Created)
	return nil
}

// checkIn collects the inventory, sends a heartbeat, and the inventory
// when the server asks for it.
func (a *Agent) checkIn(ctx context.Context, c *client.Client) error {
	now := a.cfg.Now()
	refresh := a.lastRefresh.IsZero() || now.Sub(a.lastRefresh) >= a.cfg.RefreshInterval
	if !a.pkg.TryLock() {
		if a.lastBeat.SchemaVersion != 0 {
			return a.heartbeatOnly(ctx, c)
		}
		a.pkg.Lock() // nothing collected yet: wait for the job
	}
	inv, err := a.cfg.Collector.Collect(ctx, refresh)
	a.pkg.Unlock()
	if err != nil {
		return fmt.Errorf("collect inventory: %w", err)
	}
	if refresh && inv.UpdatesError == "" {
		a.lastRefresh = now
	}
	hash := inv.ContentHash()
	a.lastBeat = patchbay.Heartbeat{
		SchemaVersion:   patchbay.InventorySchemaVersion,
		InventoryHash:   hash,
		BootID:          inv.BootID,
		UptimeSeconds:   inv.UptimeSeconds,
		IntervalSeconds: int64(a.cfg.Interval / time.Second),
		AgentVersion:    a.cfg.AgentVersion,
	}
	reply, err := c.Heartbeat(ctx, a.lastBeat)
	if err != nil {
		return fmt.Errorf("heartbeat: %w", err)
	}
	a.setBlocked(ctx, reply.Blocked)
	if !reply.SendInventory {
		a.cfg.Logger.DebugContext(ctx, "checked in, inventory unchanged")
		return nil
	}
	if err := c.PutInventory(ctx, inv); err != nil {
		return fmt.Errorf("send inventory: %w", err)
	}
	a.cfg.Logger.InfoContext(ctx, "inventory sent", "packages", len(inv.Packages), "updates", len(inv.Updates), "reboot_required", inv.RebootRequired)
	return nil
}

// heartbeatOnly tells the server the host is alive while a job holds the
// package manager, with the last collection's facts; the inventory follows
// at the check-in the job triggers when it ends.
func (a *Agent) heartbeatOnly(ctx context.Context, c *client.Client) error {
	reply, err := c.Heartbeat(ctx, a.lastBeat)
	if err != nil {
		return fmt.Errorf("heartbeat: %w", err)
	}
	a.setBlocked(ctx, reply.Blocked)
	a.cfg.Logger.DebugContext(ctx, "checked in during a job, without collecting")
	return nil
}

// setBlocked hands the versions the server blocked to the job executor,
// which refuses jobs that would install them.
func (a *Agent) setBlocked(ctx context.Context, list []patchbay.PackageVersion) {
	if a.cfg.Jobs == nil || list == nil { // nil: a server that does not send them
		return
	}
	if err := a.cfg.Jobs.SetBlocked(list); err != nil {
		a.cfg.Logger.ErrorContext(ctx, "keep blocked versions", "err", err)
	}
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// jitter returns d changed by a random fraction of at most ±f.
func jitter(d time.Duration, f float64) time.Duration {
	return time.Duration(float64(d) * (1 + f*(2*rand.Float64()-1)))
}

// backoff is exponential from 2 s, capped at the check-in interval (at
// least 30 s), with full jitter so a fleet does not return in lockstep.
func backoff(failures int, interval time.Duration) time.Duration {
	limit := max(interval, 30*time.Second)
	d := 2 * time.Second << min(failures-1, 16)
	d = min(d, limit)
	return d/2 + time.Duration(rand.Int64N(int64(d/2)+1))
}
