package service

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/patchbay/patchbay"
)

// MaxJobWait bounds an agent's long poll.
const MaxJobWait = 60 * time.Second

// PollJobs returns the calling host's jobs that are not done. With none
// queued it waits up to wait for one, returning as soon as one is queued
// for the host, or empty when the wait is over or ctx ends.
func (s *Service) PollJobs(ctx context.Context, wait time.Duration) (patchbay.JobsPoll, error) {
	p, err := requireHost(ctx)
	if err != nil {
		return patchbay.JobsPoll{}, err
	}
	if wait < 0 || wait > MaxJobWait {
		return patchbay.JobsPoll{}, patchbay.Errorf(patchbay.EINVALID, "wait %s is not between 0 and %s", wait, MaxJobWait)
	}
	// Subscribe before looking, so that a job queued in between wakes us.
	woken, done := s.sched.subscribe(p.HostID)
	defer done()
	poll, err := s.pendingJobs(ctx, p.HostID)
	if err != nil || len(poll.Jobs) > 0 || wait == 0 {
		return poll, err
	}
	t := time.NewTimer(wait)
	defer t.Stop()
	select {
	case <-woken:
	case <-s.sched.ending:
		return poll, nil
	case <-t.C:
		return poll, nil
	case <-ctx.Done():
		return poll, nil
	}
	return s.pendingJobs(ctx, p.HostID)
}

// pendingJobs returns the host's jobs to deliver, with the blocked
// versions; a job that would install a blocked version is withdrawn
// instead of delivered.
func (s *Service) pendingJobs(ctx context.Context, hostID int64) (patchbay.JobsPoll, error) {
	blocks, err := s.activeBlocks(ctx)
	if err != nil {
		return patchbay.JobsPoll{}, err
	}
	poll := patchbay.JobsPoll{Jobs: []patchbay.Job{}, Blocked: blockVersions(blocks)}
	jobs, err := s.store.PendingJobs(ctx, hostID, s.now())
	if err != nil {
		return poll, err
	}
	if poll.Jobs, err = s.withdrawBlocked(ctx, jobs, blocks); err != nil {
		return poll, err
	}
	return poll, nil
}

// PostJobResult records the calling host's result of job id. A result
// that is not final yet is accepted and ignored; a job already done keeps
// its first result. The result of a rollout's job settles its host (and
// the rollout's next tick runs at once); a result that arrives after the
// host timed out or was retried is kept on the job only.
func (s *Service) PostJobResult(ctx context.Context, id string, res patchbay.JobResult) error {
	p, err := requireHost(ctx)
	if err != nil {
		return err
	}
	rec, err := s.store.JobRecord(ctx, id)
	if patchbay.ErrorCode(err) == patchbay.ENOTFOUND || err == nil && rec.HostID != p.HostID {
		return patchbay.Errorf(patchbay.ENOTFOUND, "job %s not found", id)
	}
	if err != nil {
		return err
	}
	if res.JobID == "" {
		res.JobID = id
	}
	if res.JobID != id {
		return patchbay.Errorf(patchbay.EINVALID, "result of job %s posted for job %s", res.JobID, id)
	}
	if rec.State == patchbay.JobDone {
		return nil
	}
	if !res.Done() {
		return s.jobProgress(ctx, rec, res)
	}
	now := s.now()
	if rec.RolloutID == 0 && rec.Job.Action == patchbay.JobChangelog {
		res.Action = patchbay.JobChangelog
		return s.recordChangelog(ctx, res, now)
	}
	if rec.RolloutID == 0 {
		return s.store.FinishJob(ctx, res, now)
	}
	err = s.store.UpdateRollout(ctx, rec.RolloutID, func(r patchbay.Rollout, hosts []patchbay.HostRun) (*patchbay.RolloutUpdate, error) {
		u := &patchbay.RolloutUpdate{Rollout: r, Finish: &res, FinishAt: now}
		for i := range hosts {
			h := &hosts[i]
			if h.HostID != rec.HostID {
				continue
			}
			if h.JobID != id || h.State != patchbay.HostRunning {
				u.Events = append(u.Events, patchbay.RolloutEvent{Time: now, Actor: eventActor, Kind: "late_result", HostID: h.HostID,
					Detail: fmt.Sprintf("%s: job %s %s after the host became %s", h.Hostname, id, res.Status, h.State)})
				return u, nil
			}
			h.FinishedAt, h.Phase, h.PhaseSince, h.Rebooted = now, "", time.Time{}, res.Rebooted
			if res.Rebooted {
				u.Events = append(u.Events, patchbay.RolloutEvent{Time: now, Actor: eventActor, Kind: "host_rebooted", HostID: h.HostID,
					Detail: fmt.Sprintf("%s: rebooted (boot id %s → %s, attempt %d)", h.Hostname, res.BootIDBefore, res.BootIDAfter, res.RebootAttempts)})
			}
			gate := failedGate(res)
			mismatch := ""
			if res.Status == patchbay.JobSucceeded {
				mismatch = notAsPlanned(rec.Job.Packages, res.Installed) // the job's packages are the frozen plan
			}
			if res.Status == patchbay.JobSucceeded && gate == "" && mismatch == "" {
				h.State, h.Reason = patchbay.HostSucceeded, ""
				u.Events = append(u.Events, patchbay.RolloutEvent{Time: now, Actor: eventActor, Kind: "host_succeeded", HostID: h.HostID, Detail: h.Hostname})
			} else {
				h.State, h.Failures, h.FailedGate = patchbay.HostFailed, h.Failures+1, gate
				h.Reason = res.Reason
				if mismatch != "" {
					h.Reason = "the job succeeded but " + mismatch
				}
				if h.Reason == "" && gate != "" {
					h.Reason = fmt.Sprintf("health gate %s failed", gate)
				}
				if h.Reason == "" {
					h.Reason = "the job failed"
				}
				u.Events = append(u.Events, patchbay.RolloutEvent{Time: now, Actor: eventActor, Kind: "host_failed", HostID: h.HostID, Detail: h.Hostname + ": " + h.Reason})
			}
			u.Hosts = []patchbay.HostRun{*h}
			return u, nil
		}
		return u, nil
	})
	if err != nil {
		return fmt.Errorf("result of job %s: %w", id, err)
	}
	s.logger.InfoContext(ctx, "job result", "job_id", id, "host_id", p.HostID, "status", res.Status)
	if ok, err := s.store.ReleaseLease(ctx, rec.HostID, id); err != nil {
		s.logger.ErrorContext(ctx, "release disruption lease", "job_id", id, "err", err)
	} else if ok {
		s.leaseEvent(ctx, rec.RolloutID, rec.HostID, "lease_released", fmt.Sprintf("job %s %s: disruption lease released", id, res.Status))
	}
	s.wakeScheduler()
	return nil
}

// jobProgress records what a rollout job that is not done reports doing
// (its phase: draining, rebooting, restoring) on its host run, so the
// scheduler can time a reboot out, and keeps the host's lease alive.
func (s *Service) jobProgress(ctx context.Context, rec patchbay.JobRecord, res patchbay.JobResult) error {
	if rec.RolloutID == 0 || res.Phase == "" {
		return nil
	}
	var r patchbay.Rollout
	now := s.now()
	err := s.store.UpdateRollout(ctx, rec.RolloutID, func(ro patchbay.Rollout, hosts []patchbay.HostRun) (*patchbay.RolloutUpdate, error) {
		r = ro
		for i := range hosts {
			h := &hosts[i]
			if h.HostID != rec.HostID || h.JobID != rec.Job.ID || h.State != patchbay.HostRunning || h.Phase == res.Phase {
				continue
			}
			if h.Phase == patchbay.PhaseWaitingLease && !h.PhaseSince.IsZero() {
				h.LeaseWait += now.Sub(h.PhaseSince) // the host timeout does not count it
			}
			h.Phase, h.PhaseSince = res.Phase, now
			detail := h.Hostname + ": " + res.Phase
			if res.Phase == patchbay.PhaseRebooting {
				detail += fmt.Sprintf(" (attempt %d, boot id %s; back within %s)", res.RebootAttempts, res.BootIDBefore, ro.RebootWait())
			}
			return &patchbay.RolloutUpdate{Rollout: ro, Hosts: []patchbay.HostRun{*h},
				Events: []patchbay.RolloutEvent{{Time: now, Actor: eventActor, Kind: "host_phase", HostID: h.HostID, Detail: detail}}}, nil
		}
		return nil, nil
	})
	if err != nil {
		return fmt.Errorf("progress of job %s: %w", rec.Job.ID, err)
	}
	extra := time.Duration(0)
	if res.Phase == patchbay.PhaseRebooting {
		extra = r.RebootWait()
	}
	s.renewLease(ctx, rec.HostID, rec.Job.ID, extra, "")
	s.wakeScheduler()
	return nil
}

// attributionWindow is how far back a host's rollout jobs are looked at
// when its inventory changes.
const attributionWindow = 7 * 24 * time.Hour

// attributeEvents gives the package events of a host's new inventory that
// a rollout's job explains (the job was handed to the agent and planned
// exactly that package at exactly that new version) the rollout as their
// cause, and the job in their detail. The newest job wins.
func (s *Service) attributeEvents(ctx context.Context, hostID int64, events []patchbay.Event, now time.Time) error {
	isPkg := func(k patchbay.EventKind) bool {
		return k == patchbay.EventPackageInstalled || k == patchbay.EventPackageUpgraded || k == patchbay.EventPackageDowngraded
	}
	if !slices.ContainsFunc(events, func(e patchbay.Event) bool { return isPkg(e.Kind) }) {
		return nil
	}
	jobs, err := s.store.HostJobs(ctx, hostID, now.Add(-attributionWindow))
	if err != nil {
		return err
	}
	type planned struct{ name, version string }
	by := map[planned][]patchbay.JobRecord{}
	for _, j := range jobs {
		if j.RolloutID == 0 || j.State == patchbay.JobQueued {
			continue
		}
		for _, p := range j.Job.Packages {
			k := planned{p.Name, p.Version}
			by[k] = append(by[k], j)
		}
	}
	for i := range events {
		e := &events[i]
		if !isPkg(e.Kind) {
			continue
		}
		for _, j := range by[planned{e.Package, e.NewVersion}] {
			if !slices.ContainsFunc(j.Job.Packages, func(p patchbay.PackageVersion) bool {
				return p.Name == e.Package && p.Version == e.NewVersion && (p.Arch == "" || p.Arch == e.Arch)
			}) {
				continue
			}
			e.Cause = patchbay.RolloutCause(j.RolloutID)
			if e.Detail == "" {
				e.Detail = "job " + j.Job.ID
			}
			break
		}
	}
	return nil
}

// notAsPlanned compares the versions an agent found installed after a job
// with the frozen plan and describes the first difference ("" when they
// agree, or when the agent reported no versions). Frozen means frozen: a
// host that ends at another version than planned failed.
func notAsPlanned(plan, installed []patchbay.PackageVersion) string {
	if len(installed) == 0 {
		return ""
	}
	for _, p := range plan {
		i := slices.IndexFunc(installed, func(q patchbay.PackageVersion) bool {
			return q.Name == p.Name && (p.Arch == "" || q.Arch == "" || q.Arch == p.Arch)
		})
		switch {
		case i < 0:
			return fmt.Sprintf("%s was not reported installed (planned %s)", p.Name, p.Version)
		case installed[i].Version != p.Version:
			got := installed[i].Version
			if got == "" {
				got = "nothing"
			}
			return fmt.Sprintf("%s is at %s, planned %s", p.Name, got, p.Version)
		}
	}
	return ""
}
