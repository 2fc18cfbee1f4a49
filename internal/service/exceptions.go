package service

import (
	"context"
	"fmt"
	"strings"

	"github.com/patchbay/patchbay"
)

// CreateException grants an exception and applies it at once to the
// rollouts not finished yet: a pending host whose frozen patch set has a
// package the exception holds is put to held (it is never touched); a
// host already patching finishes and is listed in the reply.
func (s *Service) CreateException(ctx context.Context, req patchbay.ExceptionRequest) (patchbay.ExceptionReply, error) {
	p, err := requireUser(ctx)
	if err != nil {
		return patchbay.ExceptionReply{}, err
	}
	now := s.now()
	e := patchbay.Exception{Package: strings.TrimSpace(req.Package), Advisory: strings.TrimSpace(req.Advisory),
		Reason: strings.TrimSpace(req.Reason), Owner: strings.TrimSpace(req.Owner), ExpiresAt: req.ExpiresAt,
		CreatedAt: now, CreatedBy: p.Name}
	n := 0
	if req.Host != "" {
		n++
		h, err := s.store.FindHost(ctx, req.Host)
		if err != nil {
			return patchbay.ExceptionReply{}, err
		}
		e.Scope, e.HostID = patchbay.ScopeHost, h.ID
	}
	if req.Selector != "" {
		n++
		if e.Selector, err = patchbay.ParseSelector(req.Selector); err != nil {
			return patchbay.ExceptionReply{}, err
		}
		e.Scope = patchbay.ScopeSelector
	}
	if req.All {
		n++
		e.Scope = patchbay.ScopeAll
	}
	if n != 1 {
		return patchbay.ExceptionReply{}, patchbay.Errorf(patchbay.EINVALID, "an exception needs exactly one scope: a host, a selector or all hosts")
	}
	if e, err = s.store.CreateException(ctx, e); err != nil {
		return patchbay.ExceptionReply{}, err
	}
	s.logger.InfoContext(ctx, "exception created", "exception_id", e.ID, "scope", e.ScopeString(), "target", e.Target(),
		"expires_at", e.ExpiresAt, "by", p.Name)
	reply := patchbay.ExceptionReply{Exception: e, Held: []string{}, Running: []string{}}
	if err := s.applyException(ctx, e, &reply); err != nil {
		// The exception is stored and holds every plan made from now on;
		// report what could not be applied to existing ones.
		return reply, fmt.Errorf("exception %d is granted, but applying it to unfinished rollouts failed: %w", e.ID, err)
	}
	return reply, nil
}

// applyException puts to held the pending hosts of unfinished rollouts
// whose frozen patch sets e holds.
func (s *Service) applyException(ctx context.Context, e patchbay.Exception, reply *patchbay.ExceptionReply) error {
	rollouts, err := s.store.ListRollouts(ctx)
	if err != nil {
		return err
	}
	for _, r := range rollouts {
		if r.State.Final() {
			continue
		}
		runs, err := s.store.HostRuns(ctx, r.ID)
		if err != nil {
			return err
		}
		holds := map[int64]string{} // host id → held packages
		running := map[int64]bool{}
		for _, run := range runs {
			if run.State != patchbay.HostPending && run.State != patchbay.HostRunning {
				continue
			}
			pkgs, err := s.heldPatches(ctx, e, run)
			if err != nil {
				return err
			}
			if len(pkgs) == 0 {
				continue
			}
			if run.State == patchbay.HostRunning {
				running[run.HostID] = true
				reply.Running = append(reply.Running, fmt.Sprintf("rollout %d: %s", r.ID, run.Hostname))
				continue
			}
			holds[run.HostID] = strings.Join(pkgs, ", ")
		}
		if len(holds) == 0 {
			continue
		}
		now := s.now()
		err = s.store.UpdateRollout(ctx, r.ID, func(r patchbay.Rollout, hosts []patchbay.HostRun) (*patchbay.RolloutUpdate, error) {
			if r.State.Final() {
				return nil, nil
			}
			u := &patchbay.RolloutUpdate{Rollout: r}
			for _, h := range hosts {
				pkgs, ok := holds[h.HostID]
				if !ok {
					continue
				}
				if h.State != patchbay.HostPending { // started meanwhile: it finishes
					reply.Running = append(reply.Running, fmt.Sprintf("rollout %d: %s", r.ID, h.Hostname))
					continue
				}
				h.State, h.FinishedAt = patchbay.HostHeld, now
				h.Reason = fmt.Sprintf("held by exception %d (%s): %s", e.ID, e.Target(), pkgs)
				u.Hosts = append(u.Hosts, h)
				u.Events = append(u.Events, patchbay.RolloutEvent{Time: now, Actor: e.CreatedBy, Kind: "host_held", HostID: h.HostID,
					Detail: h.Hostname + ": " + h.Reason})
				reply.Held = append(reply.Held, fmt.Sprintf("rollout %d: %s", r.ID, h.Hostname))
			}
			if len(u.Hosts) == 0 {
				return nil, nil
			}
			return u, nil
		})
		if err != nil {
			return fmt.Errorf("rollout %d: %w", r.ID, err)
		}
	}
	s.wakeScheduler()
	return nil
}

// heldPatches lists the packages of run's frozen patch set that e holds on
// its host.
func (s *Service) heldPatches(ctx context.Context, e patchbay.Exception, run patchbay.HostRun) ([]string, error) {
	if len(run.Patches) == 0 {
		return nil, nil
	}
	h, err := s.store.Host(ctx, run.HostID)
	if err != nil {
		return nil, err
	}
	if !e.CoversHost(h) {
		return nil, nil
	}
	var (
		findings []patchbay.Finding
		cl       changelogFixes
	)
	if e.Advisory != "" {
		if findings, err = s.store.Findings(ctx, patchbay.FindingFilter{HostID: h.ID, Fixable: true}); err != nil {
			return nil, err
		}
		ups, err := s.store.Updates(ctx, h.ID)
		if err != nil {
			return nil, err
		}
		fx, err := s.changelogFixes(ctx, map[int64]patchbay.Host{h.ID: h}, map[int64][]patchbay.Update{h.ID: ups})
		if err != nil {
			return nil, err
		}
		cl = fx[h.ID]
	}
	var held []string
	for _, p := range run.Patches {
		u := patchbay.Update{Name: p.Name, Arch: p.Arch, CandidateVersion: p.Version}
		facts, advisories := updateFacts(h, u, findings, cl, nil)
		if e.HoldsUpdate(facts, advisories) {
			held = append(held, p.Name)
		}
	}
	return held, nil
}

// ListExceptions lists exceptions in force, or all of them, newest first.
func (s *Service) ListExceptions(ctx context.Context, all bool) ([]patchbay.Exception, error) {
	if _, err := requireUser(ctx); err != nil {
		return nil, err
	}
	return s.store.ListExceptions(ctx, s.now(), all)
}

// Exception returns one exception.
func (s *Service) Exception(ctx context.Context, id int64) (patchbay.Exception, error) {
	if _, err := requireUser(ctx); err != nil {
		return patchbay.Exception{}, err
	}
	return s.store.Exception(ctx, id, s.now())
}

// RevokeException ends an exception before its expiry; plans made from
// now on include what it held (hosts it put to held stay held: start a new
// rollout for them).
func (s *Service) RevokeException(ctx context.Context, id int64, reason string) (patchbay.Exception, error) {
	p, err := requireUser(ctx)
	if err != nil {
		return patchbay.Exception{}, err
	}
	if strings.TrimSpace(reason) == "" {
		return patchbay.Exception{}, patchbay.Errorf(patchbay.EINVALID, "say why the exception is revoked (--reason)")
	}
	e, err := s.store.RevokeException(ctx, id, p.Name, strings.TrimSpace(reason), s.now())
	if err != nil {
		return e, err
	}
	s.logger.InfoContext(ctx, "exception revoked", "exception_id", id, "by", p.Name)
	return e, nil
}

// markExcepted sets ExceptionID on the findings an exception in force
// covers.
func (s *Service) markExcepted(ctx context.Context, findings []patchbay.Finding) error {
	return s.markExceptedHosts(ctx, findings, map[int64]patchbay.Host{})
}

// markExceptedHosts is markExcepted with the hosts already read (by id);
// the others are read and added to hosts.
func (s *Service) markExceptedHosts(ctx context.Context, findings []patchbay.Finding, hosts map[int64]patchbay.Host) error {
	if len(findings) == 0 {
		return nil
	}
	excs, err := s.store.ListExceptions(ctx, s.now(), false)
	if err != nil || len(excs) == 0 {
		return err
	}
	for i := range findings {
		f := &findings[i]
		h, ok := hosts[f.HostID]
		if !ok {
			if h, err = s.store.Host(ctx, f.HostID); err != nil {
				return err
			}
			hosts[f.HostID] = h
		}
		for _, e := range excs {
			if e.CoversHost(h) && e.CoversFinding(*f) {
				f.ExceptionID = e.ID
				break
			}
		}
	}
	return nil
}
