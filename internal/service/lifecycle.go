package service

import (
	"context"
	"fmt"
	"time"

	"github.com/patchbay/patchbay"
	"github.com/patchbay/patchbay/internal/rollout"
)

// Lifecycle returns the server's dormant and retirement periods.
func (s *Service) Lifecycle() patchbay.Lifecycle { return s.life }

// RetireHost retires a host: it leaves every host list, compliance
// figure and new plan, its pending and missed places in rollouts are
// skipped, and its agent is refused; its history is kept.
func (s *Service) RetireHost(ctx context.Context, ref, reason string) (patchbay.Host, error) {
	p, err := requireUser(ctx)
	if err != nil {
		return patchbay.Host{}, err
	}
	h, err := s.store.FindHost(ctx, ref)
	if err != nil {
		return patchbay.Host{}, err
	}
	h, err = s.store.RetireHost(ctx, h.ID, p.Name, reason, s.now())
	if err != nil {
		return patchbay.Host{}, err
	}
	s.logger.InfoContext(ctx, "host retired", "host_id", h.ID, "hostname", h.Hostname, "by", p.Name, "reason", reason)
	h.Status = h.StatusAt(s.now(), s.life)
	return h, nil
}

// UnretireHost takes a retired host back: its agent is accepted again,
// and it counts in the figures.
func (s *Service) UnretireHost(ctx context.Context, ref string) (patchbay.Host, error) {
	p, err := requireUser(ctx)
	if err != nil {
		return patchbay.Host{}, err
	}
	h, err := s.store.FindHost(ctx, ref)
	if err != nil {
		return patchbay.Host{}, err
	}
	h, err = s.store.UnretireHost(ctx, h.ID, p.Name, s.now())
	if err != nil {
		return patchbay.Host{}, err
	}
	s.logger.InfoContext(ctx, "host unretired", "host_id", h.ID, "hostname", h.Hostname, "by", p.Name)
	h.Status = h.StatusAt(s.now(), s.life)
	return h, nil
}

// DormantReport lists the dormant hosts, longest unseen first, each with
// its owner, days unseen and last known exposure (the findings open
// against its last inventory), and whether it is due for retirement.
func (s *Service) DormantReport(ctx context.Context) (patchbay.DormantReport, error) {
	if _, err := requireUser(ctx); err != nil {
		return patchbay.DormantReport{}, err
	}
	now := s.now()
	hosts, err := s.store.ListHosts(ctx, patchbay.HostFilter{Status: patchbay.HostDormant, Now: now, DormantAfter: s.life.DormantAfter, Sort: patchbay.SortLastSeen})
	if err != nil {
		return patchbay.DormantReport{}, fmt.Errorf("dormant report: %w", err)
	}
	ids := make([]int64, len(hosts))
	for i, h := range hosts {
		ids[i] = h.ID
	}
	exp, err := s.store.HostExposures(ctx, ids)
	if err != nil {
		return patchbay.DormantReport{}, fmt.Errorf("dormant report: %w", err)
	}
	rep := patchbay.DormantReport{Now: now, Lifecycle: s.life, Hosts: make([]patchbay.DormantHost, 0, len(hosts))}
	for _, h := range hosts {
		unseen := now.Sub(h.LastSeen)
		d := patchbay.DormantHost{ID: h.ID, Hostname: h.Hostname, Owner: h.Assets.Owner, Environment: h.Assets.Environment,
			Status: h.StatusAt(now, s.life), LastSeen: h.LastSeen, DaysUnseen: int(unseen / (24 * time.Hour)),
			SecurityUpdates: h.SecurityUpdatesCount, Exposure: exp[h.ID], ProposeRetire: unseen >= s.life.RetireAfter}
		if d.ProposeRetire {
			rep.ProposedForRetirement++
		}
		rep.Hosts = append(rep.Hosts, d)
	}
	return rep, nil
}

// catchUp gives a host that just checked in the work of the rollouts it
// missed while it was away, before anything else (catch-up jobs are
// handed out first). A rollout that halted or was aborted, does not catch
// up, is paused by an operator or is outside its window gives nothing now;
// the host is looked at again at its next check-in.
func (s *Service) catchUp(ctx context.Context, h patchbay.Host) {
	ids, err := s.store.MissedRollouts(ctx, h.ID)
	if err != nil {
		s.logger.ErrorContext(ctx, "catch-up", "host_id", h.ID, "err", err)
		return
	}
	started := false
	for _, id := range ids {
		ok, err := s.catchUpRollout(ctx, id, h)
		if err != nil {
			s.logger.ErrorContext(ctx, "catch-up", "host_id", h.ID, "rollout_id", id, "err", err)
		}
		started = started || ok
	}
	if started {
		s.sched.notify(h.ID)
	}
}

// catchUpRollout starts host h's missed place in rollout id, if the
// rollout allows it now, and reports whether it did.
func (s *Service) catchUpRollout(ctx context.Context, id int64, host patchbay.Host) (bool, error) {
	now := s.now()
	started := false
	err := s.store.UpdateRollout(ctx, id, func(r patchbay.Rollout, hosts []patchbay.HostRun) (*patchbay.RolloutUpdate, error) {
		started = false
		switch {
		case r.NoCatchUp, r.State == patchbay.RolloutHalted, r.State == patchbay.RolloutAborted,
			r.State == patchbay.RolloutPaused && r.PauseCause == patchbay.PauseOperator:
			return nil, nil
		}
		c, err := rollout.Compile(r)
		if err != nil {
			return nil, err
		}
		if w := c.Window(); w != nil {
			if open, _ := w.Open(now); !open {
				return nil, nil
			}
		}
		for i := range hosts {
			h := &hosts[i]
			if h.HostID != host.ID || h.State != patchbay.HostMissed {
				continue
			}
			away := now.Sub(h.FinishedAt).Round(time.Second)
			job, ev := startHost(r, h, now, true)
			ev.Kind = "host_catch_up"
			ev.Detail = fmt.Sprintf("%s came back: catching up (missed its turn %s ago), attempt %d, job %s", h.Hostname, away, h.Attempts, h.JobID)
			started = true
			return &patchbay.RolloutUpdate{Rollout: r, Hosts: []patchbay.HostRun{*h}, Jobs: []patchbay.JobRecord{job},
				Events: []patchbay.RolloutEvent{ev},
				HostEvents: []patchbay.Event{{HostID: h.HostID, Time: now, Kind: patchbay.EventCatchUp, Cause: patchbay.RolloutCause(id),
					Detail: fmt.Sprintf("rollout %d (%s): missed while away, caught up on return with job %s", id, r.Name, h.JobID)}}}, nil
		}
		return nil, nil
	})
	if err != nil {
		return false, fmt.Errorf("catch up rollout %d: %w", id, err)
	}
	if started {
		s.logger.InfoContext(ctx, "catch-up started", "host_id", host.ID, "hostname", host.Hostname, "rollout_id", id)
	}
	return started, nil
}

// startHost moves h (pending, or missed for a catch-up) to running with a
// new attempt and returns the attempt's job (the store gives it the
// host's frozen patch set) and its log entry.
func startHost(r patchbay.Rollout, h *patchbay.HostRun, now time.Time, catchUp bool) (patchbay.JobRecord, patchbay.RolloutEvent) {
	h.Attempts++
	h.State, h.StartedAt, h.FinishedAt, h.Reason, h.FailedGate = patchbay.HostRunning, now, time.Time{}, "", ""
	h.JobID = hostJobID(r.ID, h.HostID, h.Attempts)
	h.Phase, h.PhaseSince, h.LeaseWait, h.Rebooted, h.CatchUp = "", time.Time{}, 0, false, catchUp
	job := patchbay.Job{ID: h.JobID, Action: patchbay.JobInstall, Refresh: true, Checks: r.Rings[h.Ring].HealthGates,
		Reboot: r.Reboot.OrDefault(), RebootTimeout: r.RebootWait(), RestartServices: r.RestartServices,
		AllowDowngrade: r.RollbackOf != 0, CatchUp: catchUp}
	ev := patchbay.RolloutEvent{Time: now, Actor: eventActor, Kind: "host_started", HostID: h.HostID,
		Detail: fmt.Sprintf("%s: ring %s, attempt %d, job %s", h.Hostname, r.Rings[h.Ring].Name, h.Attempts, h.JobID)}
	return patchbay.JobRecord{Job: job, HostID: h.HostID, State: patchbay.JobQueued, QueuedAt: now}, ev
}
