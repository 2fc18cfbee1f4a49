package service

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/patchbay/patchbay"
	"github.com/patchbay/patchbay/internal/rollout"
)

// CreateRollout makes a draft rollout from def: it checks the definition,
// computes the plan (the exact versions each targeted host would install,
// its ring) and stores both. The plan may be recomputed (PlanRollout)
// until the rollout is approved.
func (s *Service) CreateRollout(ctx context.Context, def patchbay.Rollout) (patchbay.RolloutDetail, error) {
	p, err := requireUser(ctx)
	if err != nil {
		return patchbay.RolloutDetail{}, err
	}
	now := s.now()
	r := patchbay.Rollout{
		Name: def.Name, Policy: def.Policy, Target: def.Target, State: patchbay.RolloutDraft,
		Rings: def.Rings, Budget: def.Budget, Window: def.Window, HostTimeout: def.HostTimeout,
		Reboot: def.Reboot, RebootTimeout: def.RebootTimeout, RestartServices: def.RestartServices, NoCatchUp: def.NoCatchUp, CreatedAt: now,
	}
	if r.Policy == "" {
		r.Policy = patchbay.PolicyAll
	}
	if r.Target == nil {
		r.Target = patchbay.Selector{}
	}
	if _, err := rollout.Compile(r); err != nil {
		return patchbay.RolloutDetail{}, err
	}
	runs, err := s.planHosts(ctx, r)
	if err != nil {
		return patchbay.RolloutDetail{}, err
	}
	r, err = s.store.CreateRollout(ctx, r, runs, []patchbay.RolloutEvent{{Time: now, Actor: p.Name, Kind: "created",
		Detail: fmt.Sprintf("policy %s, target %q, %d hosts", r.Policy, r.Target.String(), len(runs))}})
	if err != nil {
		return patchbay.RolloutDetail{}, err
	}
	s.logger.InfoContext(ctx, "rollout created", "rollout_id", r.ID, "name", r.Name, "hosts", len(runs), "by", p.Name)
	return s.rolloutDetail(ctx, r.ID)
}

// planHosts computes the host runs of r: every targeted host in its ring,
// with the pending updates its policy approves and no exception holds, at
// their candidate versions, and the others with why they were left out. A
// host with nothing to install is skipped from the start, one whose
// updates exceptions hold is held.
func (s *Service) planHosts(ctx context.Context, r patchbay.Rollout) ([]patchbay.HostRun, error) {
	pol, err := s.policy(ctx, r.Policy)
	if patchbay.ErrorCode(err) == patchbay.ENOTFOUND {
		return nil, patchbay.Errorf(patchbay.EINVALID, "%s", patchbay.ErrorMessage(err))
	}
	if err != nil {
		return nil, err
	}
	now := s.now()
	hosts, err := s.store.ListHosts(ctx, patchbay.HostFilter{Now: now})
	if err != nil {
		return nil, fmt.Errorf("plan rollout: %w", err)
	}
	rings, err := rollout.AssignRings(r, hosts)
	if err != nil {
		return nil, err
	}
	if len(rings) == 0 {
		return nil, patchbay.Errorf(patchbay.EINVALID, "target %q matches no host", r.Target.String())
	}
	updates := make(map[int64][]patchbay.Update, len(rings))
	planned := make(map[int64]patchbay.Host, len(rings))
	for _, h := range hosts {
		if _, ok := rings[h.ID]; !ok {
			continue
		}
		planned[h.ID] = h
		if updates[h.ID], err = s.store.Updates(ctx, h.ID); err != nil {
			return nil, fmt.Errorf("plan rollout: %w", err)
		}
	}
	in, err := s.loadPlanInputs(ctx, pol, planned, updates)
	if err != nil {
		return nil, fmt.Errorf("plan rollout: %w", err)
	}
	runs := make([]patchbay.HostRun, 0, len(rings))
	for _, h := range hosts {
		ring, ok := rings[h.ID]
		if !ok {
			continue
		}
		run := patchbay.HostRun{HostID: h.ID, Hostname: h.Hostname, Ring: ring}
		run.Patches, run.Excluded, run.State, run.Reason = in.decideHost(h, updates[h.ID], now)
		runs = append(runs, run)
	}
	return runs, nil
}

// PlanRollout recomputes the plan of a draft rollout from the hosts'
// current pending updates; a rollout that is no longer a draft keeps its
// frozen plan and is only shown.
func (s *Service) PlanRollout(ctx context.Context, id int64) (patchbay.RolloutDetail, error) {
	p, err := requireUser(ctx)
	if err != nil {
		return patchbay.RolloutDetail{}, err
	}
	r, err := s.store.Rollout(ctx, id)
	if err != nil {
		return patchbay.RolloutDetail{}, err
	}
	if r.State != patchbay.RolloutDraft || r.RollbackOf != 0 {
		// A rollback's plan comes from the hosts' history, made once.
		return s.rolloutDetail(ctx, id)
	}
	runs, err := s.planHosts(ctx, r)
	if err != nil {
		return patchbay.RolloutDetail{}, err
	}
	err = s.store.UpdateRollout(ctx, id, func(r patchbay.Rollout, old []patchbay.HostRun) (*patchbay.RolloutUpdate, error) {
		if r.State != patchbay.RolloutDraft {
			return nil, patchbay.Errorf(patchbay.ECONFLICT, "rollout %d is %s: its plan is frozen", id, r.State)
		}
		return &patchbay.RolloutUpdate{Rollout: r, ReplaceHosts: runs,
			Events: []patchbay.RolloutEvent{{Time: s.now(), Actor: p.Name, Kind: "planned", Detail: fmt.Sprintf("%d hosts", len(runs))}}}, nil
	})
	if err != nil {
		return patchbay.RolloutDetail{}, err
	}
	return s.rolloutDetail(ctx, id)
}

// RolloutAction is an operator's action on a rollout.
type RolloutAction string

const (
	ActionApprove RolloutAction = "approve"
	ActionStart   RolloutAction = "start"
	ActionPause   RolloutAction = "pause"
	ActionResume  RolloutAction = "resume"
	ActionAbort   RolloutAction = "abort"
)

// ActOnRollout approves (freezing the plan), starts, pauses, resumes or
// aborts a rollout, and records who did it in the rollout's log.
func (s *Service) ActOnRollout(ctx context.Context, id int64, action RolloutAction) (patchbay.RolloutDetail, error) {
	p, err := requireUser(ctx)
	if err != nil {
		return patchbay.RolloutDetail{}, err
	}
	if action == ActionApprove || action == ActionStart || action == ActionResume {
		if err := s.checkPlanBlocks(ctx, id); err != nil {
			return patchbay.RolloutDetail{}, fmt.Errorf("%s rollout %d: %w", action, id, err)
		}
	}
	now := s.now()
	err = s.store.UpdateRollout(ctx, id, func(r patchbay.Rollout, hosts []patchbay.HostRun) (*patchbay.RolloutUpdate, error) {
		from := r.State
		var to patchbay.RolloutState
		switch action {
		case ActionApprove:
			to, r.ApprovedAt = patchbay.RolloutApproved, now
		case ActionStart:
			to, r.StartedAt = patchbay.RolloutRunning, now
		case ActionPause:
			to, r.PauseCause = patchbay.RolloutPaused, patchbay.PauseOperator
		case ActionResume:
			if from != patchbay.RolloutPaused {
				return nil, patchbay.Errorf(patchbay.ECONFLICT, "rollout %d is %s, not paused", id, from)
			}
			to, r.PauseCause = patchbay.RolloutRunning, ""
		case ActionAbort:
			to, r.PauseCause, r.FinishedAt = patchbay.RolloutAborted, "", now
		default:
			return nil, patchbay.Errorf(patchbay.EINVALID, "unknown action %q (want approve, start, pause, resume or abort)", action)
		}
		if err := patchbay.Transition(from, to); err != nil {
			return nil, err
		}
		r.State = to
		return &patchbay.RolloutUpdate{Rollout: r, Events: []patchbay.RolloutEvent{{Time: now, Actor: p.Name, Kind: string(action),
			Detail: fmt.Sprintf("%s → %s", from, to)}}}, nil
	})
	if err != nil {
		return patchbay.RolloutDetail{}, fmt.Errorf("%s rollout %d: %w", action, id, err)
	}
	s.logger.InfoContext(ctx, "rollout "+string(action), "rollout_id", id, "by", p.Name)
	if action == ActionStart || action == ActionResume {
		if err := s.Tick(ctx, id); err != nil {
			s.logger.ErrorContext(ctx, "rollout tick", "rollout_id", id, "err", err)
		}
	}
	return s.rolloutDetail(ctx, id)
}

// RetryHost puts a failed host of a running or paused rollout back to
// pending; SkipHost marks a pending or failed host skipped. A host that
// failed once still counts against the failure budget.
func (s *Service) RetryHost(ctx context.Context, id int64, hostRef string) (patchbay.RolloutDetail, error) {
	return s.changeHost(ctx, id, hostRef, "retry", func(h *patchbay.HostRun) error {
		if h.State != patchbay.HostFailed {
			return patchbay.Errorf(patchbay.ECONFLICT, "host %s is %s; only a failed host can be retried", h.Hostname, h.State)
		}
		h.State, h.Reason, h.FailedGate, h.FinishedAt = patchbay.HostPending, "", "", time.Time{}
		return nil
	})
}

// SkipHost marks a pending or failed host skipped: its ring may move on
// without it.
func (s *Service) SkipHost(ctx context.Context, id int64, hostRef string) (patchbay.RolloutDetail, error) {
	p, _ := patchbay.PrincipalFrom(ctx)
	return s.changeHost(ctx, id, hostRef, "skip", func(h *patchbay.HostRun) error {
		if h.State != patchbay.HostPending && h.State != patchbay.HostFailed {
			return patchbay.Errorf(patchbay.ECONFLICT, "host %s is %s; only a pending or failed host can be skipped", h.Hostname, h.State)
		}
		h.State, h.Reason = patchbay.HostSkipped, "skipped by "+p.Name
		return nil
	})
}

func (s *Service) changeHost(ctx context.Context, id int64, hostRef, action string, change func(*patchbay.HostRun) error) (patchbay.RolloutDetail, error) {
	p, err := requireUser(ctx)
	if err != nil {
		return patchbay.RolloutDetail{}, err
	}
	host, err := s.store.FindHost(ctx, hostRef)
	if err != nil {
		return patchbay.RolloutDetail{}, err
	}
	now := s.now()
	err = s.store.UpdateRollout(ctx, id, func(r patchbay.Rollout, hosts []patchbay.HostRun) (*patchbay.RolloutUpdate, error) {
		if r.State.Final() {
			return nil, patchbay.Errorf(patchbay.ECONFLICT, "rollout %d is %s", id, r.State)
		}
		for i := range hosts {
			if hosts[i].HostID != host.ID {
				continue
			}
			if err := change(&hosts[i]); err != nil {
				return nil, err
			}
			return &patchbay.RolloutUpdate{Rollout: r, Hosts: hosts[i : i+1],
				Events: []patchbay.RolloutEvent{{Time: now, Actor: p.Name, Kind: action, HostID: host.ID, Detail: host.Hostname}}}, nil
		}
		return nil, patchbay.Errorf(patchbay.ENOTFOUND, "host %s is not in rollout %d", host.Hostname, id)
	})
	if err != nil {
		return patchbay.RolloutDetail{}, fmt.Errorf("%s host %s: %w", action, hostRef, err)
	}
	s.wakeScheduler()
	return s.rolloutDetail(ctx, id)
}

// ShowRollout returns a rollout with its hosts, counts, log and what the
// scheduler would do now.
func (s *Service) ShowRollout(ctx context.Context, id int64) (patchbay.RolloutDetail, error) {
	if _, err := requireUser(ctx); err != nil {
		return patchbay.RolloutDetail{}, err
	}
	return s.rolloutDetail(ctx, id)
}

// ListRollouts lists rollouts, newest first.
func (s *Service) ListRollouts(ctx context.Context) ([]patchbay.Rollout, error) {
	if _, err := requireUser(ctx); err != nil {
		return nil, err
	}
	return s.store.ListRollouts(ctx)
}

// maxInstalledLookups bounds the hosts whose current versions a detail
// shows (of a draft or approved rollout); a larger rollout shows planned
// versions only.
const maxInstalledLookups = 500

func (s *Service) rolloutDetail(ctx context.Context, id int64) (patchbay.RolloutDetail, error) {
	r, err := s.store.Rollout(ctx, id)
	if err != nil {
		return patchbay.RolloutDetail{}, err
	}
	hosts, err := s.store.HostRuns(ctx, id)
	if err != nil {
		return patchbay.RolloutDetail{}, err
	}
	events, err := s.store.RolloutEvents(ctx, id, patchbay.MaxDetailEvents)
	if err != nil {
		return patchbay.RolloutDetail{}, err
	}
	d := patchbay.RolloutDetail{Rollout: r, Hosts: hosts, Events: events, Counts: map[patchbay.HostRunState]int{}}
	for _, h := range hosts {
		d.Counts[h.State]++
	}
	if c, err := rollout.Compile(r); err == nil {
		d.Status = rollout.Plan(c, hosts, s.now()).Reason
	}
	// The versions installed now matter for the plan, before the rollout
	// runs; a running rollout's show (redrawn every 2 s) skips them.
	if len(hosts) <= maxInstalledLookups && (r.State == patchbay.RolloutDraft || r.State == patchbay.RolloutApproved) {
		d.Installed = map[int64]map[string]string{}
		for _, h := range hosts {
			if len(h.Patches) == 0 && len(h.Excluded) == 0 {
				continue
			}
			updates, err := s.store.Updates(ctx, h.HostID)
			if err != nil {
				return patchbay.RolloutDetail{}, err
			}
			m := map[string]string{}
			for _, u := range updates {
				m[u.Key()] = u.InstalledVersion
			}
			d.Installed[h.HostID] = m
		}
	}
	return d, nil
}

// eventActor is the actor of the scheduler's own log entries.
const eventActor = "scheduler"

// hostJobID names the job of one attempt on one host of a rollout: a
// host is never given the same attempt twice.
func hostJobID(rolloutID, hostID int64, attempt int) string {
	return fmt.Sprintf("r%d-h%d-a%d", rolloutID, hostID, attempt)
}

// failedGate returns the first health check of res that did not pass.
func failedGate(res patchbay.JobResult) string {
	for _, st := range res.Steps {
		if name, ok := strings.CutPrefix(st.Name, "check:"); ok && st.Check != "" && !st.Check.Passed() {
			return name
		}
	}
	return ""
}
