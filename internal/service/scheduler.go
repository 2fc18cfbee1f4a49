package service

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/patchbay/patchbay"
	"github.com/patchbay/patchbay/internal/rollout"
)

// schedState is the in-memory side of the scheduler: a wake-up signal for
// the tick loop and the agents' long polls waiting per host. Everything
// that matters is in the store; this only makes things happen sooner.
type schedState struct {
	wake chan struct{} // buffered 1: "tick soon"

	mu      sync.Mutex
	waiters map[int64]map[chan struct{}]struct{} // host id → polls waiting

	ending  chan struct{} // closed by EndPolls
	endOnce sync.Once
}

func newSchedState() *schedState {
	return &schedState{wake: make(chan struct{}, 1), waiters: map[int64]map[chan struct{}]struct{}{}, ending: make(chan struct{})}
}

// EndPolls makes every agent long poll, waiting or to come, answer at once
// (with the jobs queued, if any): call it before shutting the HTTP server
// down, so that a graceful shutdown does not wait for polls of up to 60 s.
func (s *Service) EndPolls() {
	s.sched.endOnce.Do(func() { close(s.sched.ending) })
}

// wakeScheduler asks the tick loop to run soon.
func (s *Service) wakeScheduler() {
	select {
	case s.sched.wake <- struct{}{}:
	default:
	}
	s.wakeNotifier() // the rollout logs may have grown
}

// subscribe returns a channel closed when a job is queued for host; call
// the returned func when done waiting.
func (st *schedState) subscribe(host int64) (<-chan struct{}, func()) {
	ch := make(chan struct{})
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.waiters[host] == nil {
		st.waiters[host] = map[chan struct{}]struct{}{}
	}
	st.waiters[host][ch] = struct{}{}
	return ch, func() {
		st.mu.Lock()
		defer st.mu.Unlock()
		if _, ok := st.waiters[host][ch]; ok {
			delete(st.waiters[host], ch)
			if len(st.waiters[host]) == 0 {
				delete(st.waiters, host)
			}
		}
	}
}

// notify wakes every poll waiting for host.
func (st *schedState) notify(host int64) {
	st.mu.Lock()
	defer st.mu.Unlock()
	for ch := range st.waiters[host] {
		close(ch)
	}
	delete(st.waiters, host)
}

// RunScheduler ticks every active rollout every interval, and sooner when
// woken (a job result, an operator action), until ctx is done.
func (s *Service) RunScheduler(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		if err := s.TickAll(ctx); err != nil && ctx.Err() == nil {
			s.logger.ErrorContext(ctx, "rollout scheduler", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-s.sched.wake:
		}
	}
}

// TickAll ticks every running or paused rollout once.
func (s *Service) TickAll(ctx context.Context) error {
	ids, err := s.store.ActiveRollouts(ctx)
	if err != nil {
		return err
	}
	var first error
	for _, id := range ids {
		if err := s.Tick(ctx, id); err != nil {
			s.logger.ErrorContext(ctx, "rollout tick", "rollout_id", id, "err", err)
			if first == nil {
				first = err
			}
		}
	}
	return first
}

// Tick runs the scheduler once on one rollout, in one write transaction:
// it asks rollout.Plan what to do now and applies the decision (state,
// timed-out hosts, hosts to start with their jobs), logging every change
// in the rollout's log. A host is started only from pending, with a job
// id of its own per attempt, so a tick repeated after a crash or restart
// never gives a host the same work twice.
func (s *Service) Tick(ctx context.Context, id int64) error {
	now := s.now()
	var started, downHosts []int64
	missed := false
	err := s.store.UpdateRollout(ctx, id, func(r patchbay.Rollout, hosts []patchbay.HostRun) (*patchbay.RolloutUpdate, error) {
		started, downHosts, missed = nil, nil, false
		c, err := rollout.Compile(r)
		if err != nil {
			return nil, err
		}
		d := rollout.Plan(c, hosts, now)
		u := &patchbay.RolloutUpdate{Rollout: r}
		byID := make(map[int64]int, len(hosts))
		for i := range hosts {
			byID[hosts[i].HostID] = i
		}
		for _, hid := range d.TimedOut {
			h := &hosts[byID[hid]]
			h.State, h.Failures, h.FinishedAt = patchbay.HostFailed, h.Failures+1, now
			h.Reason = fmt.Sprintf("no result within the host timeout (%s)", r.HostTimeout)
			if h.Phase == patchbay.PhaseWaitingLease {
				h.Reason = fmt.Sprintf("stopped checking in while waiting for a disruption lease (last seen %s)", h.HostLastSeen.UTC().Format(time.RFC3339))
			} else if h.LeaseWait > 0 {
				h.Reason += fmt.Sprintf(", not counting %s waiting for a disruption lease", h.LeaseWait.Round(time.Second))
			}
			u.Hosts = append(u.Hosts, *h)
			u.Events = append(u.Events, patchbay.RolloutEvent{Time: now, Actor: eventActor, Kind: "host_failed", HostID: hid, Detail: h.Hostname + ": " + h.Reason})
		}
		for _, hid := range d.RebootTimedOut {
			h := &hosts[byID[hid]]
			h.State, h.Failures, h.FinishedAt = patchbay.HostFailed, h.Failures+1, now
			h.Reason = fmt.Sprintf("did not come back within %s of its reboot (no result with a new boot id)", r.RebootWait())
			u.Hosts = append(u.Hosts, *h)
			u.Events = append(u.Events, patchbay.RolloutEvent{Time: now, Actor: eventActor, Kind: "host_failed", HostID: hid, Detail: h.Hostname + ": " + h.Reason})
			downHosts = append(downHosts, hid)
		}
		for _, hid := range d.Start {
			h := &hosts[byID[hid]]
			if h.State != patchbay.HostPending {
				return nil, fmt.Errorf("plan started host %d in state %s", hid, h.State)
			}
			job, ev := startHost(r, h, now, false)
			u.Hosts = append(u.Hosts, *h)
			u.Jobs = append(u.Jobs, job)
			u.Events = append(u.Events, ev)
			started = append(started, hid)
		}
		for _, hid := range d.Missed {
			h := &hosts[byID[hid]]
			h.State, h.FinishedAt = patchbay.HostMissed, now
			h.Reason = fmt.Sprintf("away when ring %s ran (last seen %s)", r.Rings[h.Ring].Name, h.HostLastSeen.UTC().Format(time.RFC3339))
			if r.NoCatchUp {
				h.Reason += "; this rollout does not catch up"
			} else {
				h.Reason += "; it catches up when it checks in again"
			}
			u.Hosts = append(u.Hosts, *h)
			u.Events = append(u.Events, patchbay.RolloutEvent{Time: now, Actor: eventActor, Kind: "host_missed", HostID: hid, Detail: h.Hostname + ": " + h.Reason})
			missed = true
		}
		if d.State != r.State || d.PauseCause != r.PauseCause {
			if d.State != r.State {
				if err := patchbay.Transition(r.State, d.State); err != nil {
					return nil, err
				}
			}
			u.Events = append(u.Events, patchbay.RolloutEvent{Time: now, Actor: eventActor, Kind: "state",
				Detail: fmt.Sprintf("%s → %s: %s", r.State, d.State, d.Reason)})
			u.Rollout.State, u.Rollout.PauseCause = d.State, d.PauseCause
			if d.State.Final() {
				u.Rollout.FinishedAt = now
			}
		}
		if ev, opens, ok := s.announcement(c, d, hosts, now); ok {
			u.Rollout.AnnouncedWindow = opens
			u.Events = append(u.Events, ev)
		}
		if len(u.Hosts) == 0 && len(u.Events) == 0 {
			return nil, nil // nothing changed: write nothing
		}
		return u, nil
	})
	if err != nil {
		return fmt.Errorf("tick rollout %d: %w", id, err)
	}
	for _, hid := range started {
		s.sched.notify(hid)
	}
	for _, hid := range downHosts {
		s.holdLease(ctx, hid)
	}
	if missed {
		s.wakeScheduler() // the ring may be done now: look again soon
	}
	return nil
}

// announcement is the window_announced entry of a running rollout (or one
// paused by its window) whose window opens within announceBefore, with
// hosts still to patch, once per opening, and the opening it announces
// (the rollout's AnnouncedWindow from then on).
func (s *Service) announcement(c rollout.Rollout, d rollout.Decision, hosts []patchbay.HostRun, now time.Time) (patchbay.RolloutEvent, time.Time, bool) {
	w := c.Window()
	if w == nil || s.announceBefore <= 0 || !(d.State == patchbay.RolloutRunning || d.State == patchbay.RolloutPaused && d.PauseCause == patchbay.PauseWindow) {
		return patchbay.RolloutEvent{}, time.Time{}, false
	}
	opens, closes := w.Next(now)
	if opens.IsZero() || !opens.After(now) || opens.Sub(now) > s.announceBefore || c.AnnouncedWindow.Equal(opens) {
		return patchbay.RolloutEvent{}, time.Time{}, false
	}
	var names []string
	for _, h := range hosts {
		if h.State == patchbay.HostPending {
			names = append(names, h.Hostname)
		}
	}
	if len(names) == 0 {
		return patchbay.RolloutEvent{}, time.Time{}, false
	}
	shown := names
	if len(shown) > 20 {
		shown = append(shown[:20:20], fmt.Sprintf("and %d more", len(names)-20))
	}
	return patchbay.RolloutEvent{Time: now, Actor: eventActor, Kind: "window_announced",
		Detail: fmt.Sprintf("maintenance window opens %s (in %s) until %s: %d hosts to patch: %s",
			opens.UTC().Format(time.RFC3339), opens.Sub(now).Round(time.Minute), closes.UTC().Format(time.RFC3339), len(names), strings.Join(shown, ", "))}, opens, true
}
