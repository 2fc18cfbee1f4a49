// Package agent is what runs on every host: it enrols once, then checks in
// every interval with a heartbeat, and sends its full inventory only when
// the inventory's content changed. When the server is unreachable it backs
// off with jitter and sends its latest state once the server is back.
package agent

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"runtime/debug"
	"time"

	"github.com/patchbay/patchbay"
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
}

// Agent is a running agent.
type Agent struct {
	cfg         Config
	st          state
	api         *client.Client
	lastRefresh time.Time
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
	a := &Agent{cfg: cfg}
	if err := a.connect(ctx); err != nil {
		return err
	}
	failures := 0
	for {
		err := a.checkIn(ctx)
		// The inventory (thousands of packages, apt's output) is garbage
		// now; give its memory back to the OS before idling for an
		// interval, so an idle agent stays small.
		debug.FreeOSMemory()
		if cfg.Once || ctx.Err() != nil {
			return err
		}
		wait := jitter(cfg.Interval, 0.1)
		if err != nil {
			failures++
			wait = backoff(failures, cfg.Interval)
			cfg.Logger.WarnContext(ctx, "check-in failed", "err", err, "retry_in", wait.Round(time.Second))
			if patchbay.ErrorCode(err) == patchbay.EUNAUTHORIZED && cfg.Token != "" {
				// The credential was replaced (this machine enrolled again
				// elsewhere) or revoked: enrol again with the token we have.
				if err := a.enroll(ctx); err != nil {
					cfg.Logger.WarnContext(ctx, "re-enrolment failed", "err", err)
				}
			}
		} else {
			failures = 0
		}
		if err := cfg.Sleep(ctx, wait); err != nil {
			return nil // cancelled: a clean stop
		}
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
		a.st = st
		a.api = client.New(a.cfg.Server, st.Credential, tlsCfg)
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
	a.st = st
	a.api = client.New(a.cfg.Server, st.Credential, tlsCfg)
	a.cfg.Logger.InfoContext(ctx, "enrolled", "server", a.cfg.Server, "host_id", resp.HostID, "new_host", resp.Created)
	return nil
}

// checkIn collects the inventory, sends a heartbeat, and the inventory
// when the server asks for it.
func (a *Agent) checkIn(ctx context.Context) error {
	now := a.cfg.Now()
	refresh := a.lastRefresh.IsZero() || now.Sub(a.lastRefresh) >= a.cfg.RefreshInterval
	inv, err := a.cfg.Collector.Collect(ctx, refresh)
	if err != nil {
		return fmt.Errorf("collect inventory: %w", err)
	}
	if refresh && inv.UpdatesError == "" {
		a.lastRefresh = now
	}
	hash := inv.ContentHash()
	reply, err := a.api.Heartbeat(ctx, patchbay.Heartbeat{
		SchemaVersion:   patchbay.InventorySchemaVersion,
		InventoryHash:   hash,
		BootID:          inv.BootID,
		UptimeSeconds:   inv.UptimeSeconds,
		IntervalSeconds: int64(a.cfg.Interval / time.Second),
		AgentVersion:    a.cfg.AgentVersion,
	})
	if err != nil {
		return fmt.Errorf("heartbeat: %w", err)
	}
	if !reply.SendInventory {
		a.cfg.Logger.DebugContext(ctx, "checked in, inventory unchanged")
		return nil
	}
	if err := a.api.PutInventory(ctx, inv); err != nil {
		return fmt.Errorf("send inventory: %w", err)
	}
	a.cfg.Logger.InfoContext(ctx, "inventory sent", "packages", len(inv.Packages), "updates", len(inv.Updates), "reboot_required", inv.RebootRequired)
	return nil
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
