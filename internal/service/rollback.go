package service

import (
	"context"
	"fmt"
	"slices"

	"github.com/patchbay/patchbay"
)

// RollbackRequest limits a rollback to one host (hostname or id) or to
// the hosts of one ring of the rolled-back rollout; both empty: all its
// hosts.
type RollbackRequest struct {
	Host string `json:"host,omitempty"`
	Ring string `json:"ring,omitempty"`
}

// RollbackRollout makes a draft rollout that undoes rollout id: for each
// of its hosts (limited by req), the package changes the host's timeline
// attributes to that rollout, each reinstalled at the version it replaced.
// The new rollout keeps the rings, budget, window and timeout of the old
// one and follows the normal approve/start flow; its install jobs allow
// downgrades. A host where the rollout changed nothing is skipped with the
// reason; a package the rollout newly installed (no previous version) is
// left out with the reason, as removals are not part of a plan.
func (s *Service) RollbackRollout(ctx context.Context, id int64, req RollbackRequest) (patchbay.RolloutDetail, error) {
	p, err := requireUser(ctx)
	if err != nil {
		return patchbay.RolloutDetail{}, err
	}
	if req.Host != "" && req.Ring != "" {
		return patchbay.RolloutDetail{}, patchbay.Errorf(patchbay.EINVALID, "rollback: give a host or a ring, not both")
	}
	old, err := s.store.Rollout(ctx, id)
	if err != nil {
		return patchbay.RolloutDetail{}, err
	}
	if old.State == patchbay.RolloutDraft || old.State == patchbay.RolloutApproved {
		return patchbay.RolloutDetail{}, patchbay.Errorf(patchbay.ECONFLICT, "rollout %d is %s: it changed nothing to roll back", id, old.State)
	}
	runs, err := s.store.HostRuns(ctx, id)
	if err != nil {
		return patchbay.RolloutDetail{}, err
	}
	ring := -1
	if req.Ring != "" {
		ring = slices.IndexFunc(old.Rings, func(g patchbay.Ring) bool { return g.Name == req.Ring })
		if ring < 0 {
			return patchbay.RolloutDetail{}, patchbay.Errorf(patchbay.EINVALID, "rollout %d has no ring %q", id, req.Ring)
		}
	}
	var hostID int64
	if req.Host != "" {
		h, err := s.store.FindHost(ctx, req.Host)
		if err != nil {
			return patchbay.RolloutDetail{}, err
		}
		if !slices.ContainsFunc(runs, func(r patchbay.HostRun) bool { return r.HostID == h.ID }) {
			return patchbay.RolloutDetail{}, patchbay.Errorf(patchbay.EINVALID, "host %s is not a host of rollout %d", h.Hostname, id)
		}
		hostID = h.ID
	}
	var plan []patchbay.HostRun
	for _, run := range runs {
		if hostID != 0 && run.HostID != hostID || ring >= 0 && run.Ring != ring {
			continue
		}
		nr, err := s.rollbackHost(ctx, id, run)
		if err != nil {
			return patchbay.RolloutDetail{}, err
		}
		plan = append(plan, nr)
	}
	if len(plan) == 0 {
		return patchbay.RolloutDetail{}, patchbay.Errorf(patchbay.EINVALID, "rollback of rollout %d: no host selected", id)
	}
	now := s.now()
	r := patchbay.Rollout{
		Name: fmt.Sprintf("rollback of #%d (%s)", id, old.Name), Policy: old.Policy, Target: old.Target,
		State: patchbay.RolloutDraft, Rings: old.Rings, Budget: old.Budget, Window: old.Window,
		HostTimeout: old.HostTimeout, RollbackOf: id, CreatedAt: now,
		Reboot: old.Reboot, RebootTimeout: old.RebootTimeout, RestartServices: old.RestartServices,
	}
	if r.Target == nil {
		r.Target = patchbay.Selector{}
	}
	n := 0
	for _, h := range plan {
		if len(h.Patches) > 0 {
			n++
		}
	}
	r, err = s.store.CreateRollout(ctx, r, plan, []patchbay.RolloutEvent{{Time: now, Actor: p.Name, Kind: "created",
		Detail: fmt.Sprintf("rollback of rollout %d: %d hosts, %d with changes to undo", id, len(plan), n)}})
	if err != nil {
		return patchbay.RolloutDetail{}, err
	}
	s.logger.InfoContext(ctx, "rollback rollout created", "rollout_id", r.ID, "rollback_of", id, "hosts", len(plan), "by", p.Name)
	return s.rolloutDetail(ctx, r.ID)
}

// rollbackHost plans one host of a rollback of rollout id from the host's
// timeline: for each package the rollout changed, the version before its
// first change.
func (s *Service) rollbackHost(ctx context.Context, id int64, run patchbay.HostRun) (patchbay.HostRun, error) {
	nr := patchbay.HostRun{HostID: run.HostID, Hostname: run.Hostname, Ring: run.Ring, State: patchbay.HostPending}
	events, err := s.store.Events(ctx, patchbay.EventFilter{HostID: run.HostID, Kinds: []patchbay.EventKind{
		patchbay.EventPackageInstalled, patchbay.EventPackageUpgraded, patchbay.EventPackageDowngraded}})
	if err != nil {
		return nr, fmt.Errorf("rollback host %s: %w", run.Hostname, err)
	}
	cause := patchbay.RolloutCause(id)
	previous := map[string]patchbay.PackageVersion{}
	var order []string
	// Events come newest first: the oldest change of a package by the
	// rollout holds the version it replaced.
	for _, e := range slices.Backward(events) {
		if e.Cause != cause {
			continue
		}
		k := e.Package + ":" + e.Arch
		if _, seen := previous[k]; seen {
			continue
		}
		previous[k] = patchbay.PackageVersion{Name: e.Package, Arch: e.Arch, Version: e.OldVersion}
		order = append(order, k)
	}
	for _, k := range order {
		pv := previous[k]
		if pv.Version == "" {
			nr.Excluded = append(nr.Excluded, patchbay.ExcludedUpdate{PackageVersion: pv,
				Reason: fmt.Sprintf("newly installed by rollout %d: a rollback does not remove packages", id)})
			continue
		}
		nr.Patches = append(nr.Patches, pv)
	}
	if len(nr.Patches) == 0 {
		nr.State = patchbay.HostSkipped
		nr.Reason = fmt.Sprintf("rollout %d changed no package on this host that can be rolled back", id)
		nr.Excluded = append(nr.Excluded, patchbay.ExcludedUpdate{Reason: nr.Reason})
	}
	return nr, nil
}
