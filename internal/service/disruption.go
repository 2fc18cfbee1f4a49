package service

import (
	"context"
	"fmt"

	"time"

	"github.com/patchbay/patchbay"
)

// minLeaseTTL is the shortest life of a disruption lease between
// renewals; a host's lease lives at least three of its check-in
// intervals, so heartbeats keep it while its agent lives.
const minLeaseTTL = 10 * time.Minute

// leaseRetry is when a refused agent should ask again.
const leaseRetry = 5 * time.Second

func leaseTTL(h patchbay.Host) time.Duration {
	return max(minLeaseTTL, time.Duration(patchbay.StaleAfterIntervals*h.IntervalSeconds)*time.Second)
}

// AddDisruptionBudget adds a budget (users).
func (s *Service) AddDisruptionBudget(ctx context.Context, req patchbay.DisruptionBudgetRequest) (patchbay.DisruptionBudget, error) {
	p, err := requireUser(ctx)
	if err != nil {
		return patchbay.DisruptionBudget{}, err
	}
	b, err := patchbay.ParseDisruptionBudget(req.Budget, req.Max)
	if err != nil {
		return b, err
	}
	b.CreatedAt, b.CreatedBy = s.now(), p.Name
	if b, err = s.store.CreateDisruptionBudget(ctx, b); err != nil {
		return b, err
	}
	s.logger.InfoContext(ctx, "disruption budget added", "budget", b.Selector(), "max", b.Max, "by", p.Name)
	return b, nil
}

// Disruption lists the budgets and the live leases (users).
func (s *Service) Disruption(ctx context.Context) (patchbay.DisruptionStatus, error) {
	if _, err := requireUser(ctx); err != nil {
		return patchbay.DisruptionStatus{}, err
	}
	budgets, err := s.store.ListDisruptionBudgets(ctx)
	if err != nil {
		return patchbay.DisruptionStatus{}, err
	}
	leases, err := s.store.ListLeases(ctx, s.now())
	if err != nil {
		return patchbay.DisruptionStatus{}, err
	}
	return patchbay.DisruptionStatus{Budgets: budgets, Leases: leases}, nil
}

// RemoveDisruptionBudget removes a budget (users).
func (s *Service) RemoveDisruptionBudget(ctx context.Context, id int64) error {
	p, err := requireUser(ctx)
	if err != nil {
		return err
	}
	if err := s.store.DeleteDisruptionBudget(ctx, id); err != nil {
		return err
	}
	s.logger.InfoContext(ctx, "disruption budget removed", "budget_id", id, "by", p.Name)
	return nil
}

// ReleaseLease ends a host's lease by hand (users): the host that did not
// come back was dealt with, its cluster may lose another.
func (s *Service) ReleaseLease(ctx context.Context, ref string) (patchbay.DisruptionLease, error) {
	p, err := requireUser(ctx)
	if err != nil {
		return patchbay.DisruptionLease{}, err
	}
	h, err := s.store.FindHost(ctx, ref)
	if err != nil {
		return patchbay.DisruptionLease{}, err
	}
	l, ok, err := s.hostLease(ctx, h.ID)
	if err != nil {
		return l, err
	}
	if !ok {
		return l, patchbay.Errorf(patchbay.ENOTFOUND, "%s holds no disruption lease", h.Hostname)
	}
	if _, err := s.store.ReleaseLease(ctx, h.ID, ""); err != nil {
		return l, err
	}
	s.leaseEvent(ctx, l.RolloutID, h.ID, "lease_released", fmt.Sprintf("%s: disruption lease released by %s", h.Hostname, p.Name))
	s.logger.InfoContext(ctx, "disruption lease released", "host", h.Hostname, "job_id", l.JobID, "by", p.Name)
	s.wakeScheduler()
	return l, nil
}

func (s *Service) hostLease(ctx context.Context, hostID int64) (patchbay.DisruptionLease, bool, error) {
	leases, err := s.store.ListLeases(ctx, s.now())
	if err != nil {
		return patchbay.DisruptionLease{}, false, err
	}
	for _, l := range leases {
		if l.HostID == hostID {
			return l, true, nil
		}
	}
	return patchbay.DisruptionLease{}, false, nil
}

// AcquireLease answers the calling host's agent, which asks before it
// drains and reboots for job id: granted when every disruption budget
// covering the host has room, refused (ask again) when one is full. A job
// that is not the host's running rollout job gets ECONFLICT: it must not
// reboot anything.
func (s *Service) AcquireLease(ctx context.Context, id string) (patchbay.LeaseReply, error) {
	p, err := requireHost(ctx)
	if err != nil {
		return patchbay.LeaseReply{}, err
	}
	rec, err := s.store.JobRecord(ctx, id)
	if patchbay.ErrorCode(err) == patchbay.ENOTFOUND || err == nil && rec.HostID != p.HostID {
		return patchbay.LeaseReply{}, patchbay.Errorf(patchbay.ENOTFOUND, "job %s not found", id)
	}
	if err != nil {
		return patchbay.LeaseReply{}, err
	}
	if rec.State == patchbay.JobDone {
		return patchbay.LeaseReply{}, patchbay.Errorf(patchbay.ECONFLICT, "job %s is done: it may not reboot the host", id)
	}
	if rec.RolloutID != 0 {
		running, err := s.hostRunning(ctx, rec.RolloutID, p.HostID, id)
		if err != nil {
			return patchbay.LeaseReply{}, err
		}
		if !running {
			return patchbay.LeaseReply{}, patchbay.Errorf(patchbay.ECONFLICT, "job %s no longer runs in rollout %d (the host was failed, retried or skipped): it may not reboot the host", id, rec.RolloutID)
		}
	}
	h, err := s.store.Host(ctx, p.HostID)
	if err != nil {
		return patchbay.LeaseReply{}, err
	}
	now := s.now()
	g, err := s.store.AcquireLease(ctx, p.HostID, id, rec.RolloutID, now, leaseTTL(h))
	if err != nil {
		return patchbay.LeaseReply{}, err
	}
	if !g.Granted {
		return patchbay.LeaseReply{Budget: g.Budget, HeldBy: g.HeldBy, RetryAfterSeconds: int(leaseRetry / time.Second)}, nil
	}
	s.leaseEvent(ctx, rec.RolloutID, p.HostID, "lease_granted", fmt.Sprintf("%s: disruption lease granted for job %s", h.Hostname, id))
	s.logger.InfoContext(ctx, "disruption lease granted", "host", h.Hostname, "job_id", id)
	return patchbay.LeaseReply{Granted: true, ExpiresAt: g.Lease.ExpiresAt}, nil
}

// hostRunning reports whether host runs job id in rollout r.
func (s *Service) hostRunning(ctx context.Context, r, host int64, id string) (bool, error) {
	hosts, err := s.store.HostRuns(ctx, r)
	if err != nil {
		return false, err
	}
	for _, h := range hosts {
		if h.HostID == host {
			return h.State == patchbay.HostRunning && h.JobID == id, nil
		}
	}
	return false, nil
}

// leaseEvent logs a lease change in its rollout's log (best effort).
func (s *Service) leaseEvent(ctx context.Context, rollout, host int64, kind, detail string) {
	if rollout == 0 {
		return
	}
	err := s.store.UpdateRollout(ctx, rollout, func(r patchbay.Rollout, _ []patchbay.HostRun) (*patchbay.RolloutUpdate, error) {
		return &patchbay.RolloutUpdate{Rollout: r, Events: []patchbay.RolloutEvent{{Time: s.now(), Actor: eventActor, Kind: kind, HostID: host, Detail: detail}}}, nil
	})
	if err != nil {
		s.logger.WarnContext(ctx, "rollout event", "rollout_id", rollout, "kind", kind, "err", err)
	}
}

// renewLease keeps the lease of a host whose job reports progress: while
// it reboots, for the reboot timeout on top.
func (s *Service) renewLease(ctx context.Context, hostID int64, jobID string, extra time.Duration, note string) {
	h, err := s.store.Host(ctx, hostID)
	if err == nil {
		now := s.now()
		_, err = s.store.RenewLease(ctx, hostID, jobID, now, now.Add(leaseTTL(h)+extra), note)
	}
	if err != nil {
		s.logger.WarnContext(ctx, "renew disruption lease", "host_id", hostID, "job_id", jobID, "err", err)
	}
}

// holdLease keeps the lease of a host that did not come back from its
// reboot until it returns or someone releases it: its cluster has lost a
// host already.
func (s *Service) holdLease(ctx context.Context, hostID int64) {
	if ok, err := s.store.RenewLease(ctx, hostID, "", s.now(), time.Time{}, "the host did not come back from its reboot: held until it returns or `patchbay disruption release`"); err != nil {
		s.logger.WarnContext(ctx, "hold disruption lease", "host_id", hostID, "err", err)
	} else if ok {
		s.logger.WarnContext(ctx, "disruption lease held: host did not come back from its reboot", "host_id", hostID)
	}
}

// checkInLease handles a lease at a host's check-in: it is alive, so its
// lease lives on; once its job is done (a host back late from a reboot
// whose timeout failed it), the lease ends.
func (s *Service) checkInLease(ctx context.Context, hostID int64) {
	l, ok, err := s.hostLease(ctx, hostID)
	if err != nil || !ok {
		return
	}
	rec, err := s.store.JobRecord(ctx, l.JobID)
	switch {
	case err == nil && rec.State == patchbay.JobDone || patchbay.ErrorCode(err) == patchbay.ENOTFOUND:
		if _, err := s.store.ReleaseLease(ctx, hostID, l.JobID); err == nil {
			s.leaseEvent(ctx, l.RolloutID, hostID, "lease_released", fmt.Sprintf("%s: disruption lease released: the host is back and its job %s is done", l.Hostname, l.JobID))
			s.wakeScheduler()
		}
	case err == nil && !l.ExpiresAt.IsZero():
		h, err := s.store.Host(ctx, hostID)
		if err != nil {
			return
		}
		if exp := s.now().Add(leaseTTL(h)); exp.After(l.ExpiresAt) {
			_, _ = s.store.RenewLease(ctx, hostID, l.JobID, s.now(), exp, l.Note)
		}
	}
}
