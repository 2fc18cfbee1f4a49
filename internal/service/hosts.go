package service

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/patchbay/patchbay"
)

// Heartbeat records a host's check-in and tells it whether to send its
// full inventory.
func (s *Service) Heartbeat(ctx context.Context, hb patchbay.Heartbeat) (patchbay.HeartbeatReply, error) {
	p, err := requireHost(ctx)
	if err != nil {
		return patchbay.HeartbeatReply{}, err
	}
	if hb.SchemaVersion != patchbay.InventorySchemaVersion {
		return patchbay.HeartbeatReply{}, patchbay.Errorf(patchbay.EINVALID, "unsupported heartbeat schema_version %d (this server reads %d)", hb.SchemaVersion, patchbay.InventorySchemaVersion)
	}
	h, err := s.store.Heartbeat(ctx, p.HostID, hb, s.now())
	if err != nil {
		return patchbay.HeartbeatReply{}, fmt.Errorf("heartbeat host %d: %w", p.HostID, err)
	}
	s.checkInLease(ctx, p.HostID)
	s.catchUp(ctx, h)
	blocks, err := s.activeBlocks(ctx)
	if err != nil {
		return patchbay.HeartbeatReply{}, err
	}
	return patchbay.HeartbeatReply{SendInventory: h.InventoryHash != hb.InventoryHash, Blocked: blockVersions(blocks)}, nil
}

// ReportInventory stores a host's full inventory and the events that
// separate it from the previous one, atomically.
func (s *Service) ReportInventory(ctx context.Context, inv patchbay.Inventory) error {
	p, err := requireHost(ctx)
	if err != nil {
		return err
	}
	if err := inv.Validate(); err != nil {
		return err
	}
	inv.Normalize()
	// Two reports of one host racing is rare (one agent per host); retry
	// once on a lost race, then give up with the conflict.
	for attempt := 0; ; attempt++ {
		h, err := s.store.Host(ctx, p.HostID)
		if err != nil {
			return fmt.Errorf("report inventory: %w", err)
		}
		if h.MachineID != inv.MachineID {
			return patchbay.Errorf(patchbay.EFORBIDDEN, "inventory is for machine %s but this credential belongs to machine %s", inv.MachineID, h.MachineID)
		}
		old, err := s.store.Inventory(ctx, h.ID)
		if err != nil {
			return fmt.Errorf("report inventory: %w", err)
		}
		if h.InventoryHash == inv.ContentHash() {
			// Nothing new (a retried upload): just count it as a sighting.
			_, err := s.store.Heartbeat(ctx, h.ID, patchbay.Heartbeat{BootID: inv.BootID, UptimeSeconds: inv.UptimeSeconds}, s.now())
			return err
		}
		now := s.now()
		events := Diff(old, inv, h.InventoryHash != "", now, patchbay.CauseObserved)
		if err := s.attributeEvents(ctx, h.ID, events, now); err != nil {
			// The changes are still recorded, as observed.
			s.logger.ErrorContext(ctx, "attribute events to rollouts", "host_id", h.ID, "err", err)
		}
		err = s.store.SaveInventory(ctx, h.ID, h.InventoryHash, inv, events, now)
		if patchbay.ErrorCode(err) == patchbay.ECONFLICT && attempt == 0 {
			continue
		}
		if err != nil {
			return fmt.Errorf("save inventory of host %d: %w", h.ID, err)
		}
		if len(events) > 0 {
			s.logger.InfoContext(ctx, "inventory changed", "host_id", h.ID, "hostname", inv.Hostname, "events", len(events))
		}
		// The inventory is stored; findings follow it. A failed evaluation
		// does not fail the report: the next change or import retries it.
		if need, err := s.needsEvaluation(ctx, h.ID, inv.OS, inv.UbuntuPro); err != nil {
			s.logger.ErrorContext(ctx, "evaluate host", "host_id", h.ID, "err", err)
		} else if need {
			if _, err := s.evaluateHost(ctx, h.ID); err != nil {
				s.logger.ErrorContext(ctx, "evaluate host", "host_id", h.ID, "err", err)
			}
		}
		// So are the changelogs of its pending updates nobody asked for.
		if inv.PackageManager == "apt" && len(inv.Updates) > 0 {
			if _, err := s.requestChangelogs(ctx, h.ID); err != nil {
				s.logger.ErrorContext(ctx, "request changelogs", "host_id", h.ID, "err", err)
			}
		}
		return nil
	}
}

// ListHosts lists hosts for a user, with their status at now.
func (s *Service) ListHosts(ctx context.Context, f patchbay.HostFilter) ([]patchbay.Host, error) {
	if _, err := requireUser(ctx); err != nil {
		return nil, err
	}
	f.Now, f.DormantAfter = s.now(), s.life.DormantAfter
	hosts, err := s.store.ListHosts(ctx, f)
	if err != nil {
		return nil, fmt.Errorf("list hosts: %w", err)
	}
	for i := range hosts {
		hosts[i].Status = hosts[i].StatusAt(f.Now, s.life)
	}
	return hosts, nil
}

// Host returns a host by reference (id, hostname or machine-id).
func (s *Service) Host(ctx context.Context, ref string) (patchbay.Host, error) {
	p, ok := patchbay.PrincipalFrom(ctx)
	if !ok {
		return patchbay.Host{}, patchbay.Errorf(patchbay.EUNAUTHORIZED, "authentication required")
	}
	if p.Kind == patchbay.PrincipalHost && ref == "self" {
		ref = strconv.FormatInt(p.HostID, 10)
	}
	h, err := s.store.FindHost(ctx, ref)
	if err != nil {
		return patchbay.Host{}, err
	}
	if err := canReadHost(ctx, h.ID); err != nil {
		return patchbay.Host{}, err
	}
	h.Status = h.StatusAt(s.now(), s.life)
	return h, nil
}

// HostPackages lists a host's installed packages.
func (s *Service) HostPackages(ctx context.Context, ref string) ([]patchbay.Package, error) {
	h, err := s.Host(ctx, ref)
	if err != nil {
		return nil, err
	}
	return s.store.Packages(ctx, h.ID)
}

// HostUpdates lists a host's pending updates, each with the CVEs its
// candidate's changelog mentions after the installed version.
func (s *Service) HostUpdates(ctx context.Context, ref string) ([]patchbay.HostUpdate, error) {
	h, err := s.Host(ctx, ref)
	if err != nil {
		return nil, err
	}
	ups, err := s.store.Updates(ctx, h.ID)
	if err != nil {
		return nil, err
	}
	return s.withCVEs(ctx, h, ups)
}

// HistoryFilter selects events of a host's timeline.
type HistoryFilter struct {
	Since   time.Duration // 0: all
	Package string
	Limit   int
}

// HostHistory returns a host's timeline, newest first.
func (s *Service) HostHistory(ctx context.Context, ref string, f HistoryFilter) ([]patchbay.Event, error) {
	h, err := s.Host(ctx, ref)
	if err != nil {
		return nil, err
	}
	if f.Since < 0 || f.Limit < 0 {
		return nil, patchbay.Errorf(patchbay.EINVALID, "since and limit must not be negative")
	}
	ef := patchbay.EventFilter{HostID: h.ID, Package: f.Package, Limit: f.Limit}
	if f.Since > 0 {
		ef.Since = s.now().Add(-f.Since)
	}
	return s.store.Events(ctx, ef)
}

// UpdateHost sets asset fields and labels of a host.
func (s *Service) UpdateHost(ctx context.Context, ref string, set map[string]string) (patchbay.Host, error) {
	if _, err := requireUser(ctx); err != nil {
		return patchbay.Host{}, err
	}
	h, err := s.store.FindHost(ctx, ref)
	if err != nil {
		return patchbay.Host{}, err
	}
	c := patchbay.HostChanges{Assets: map[string]string{}, Labels: map[string]string{}}
	for k, v := range set {
		var probe patchbay.Assets
		if probe.Set(k, v) {
			if k == "env" {
				k = "environment"
			}
			c.Assets[k] = v
			continue
		}
		if err := validLabelKey(k); err != nil {
			return patchbay.Host{}, err
		}
		c.Labels[k] = v
	}
	h, err = s.store.UpdateHost(ctx, h.ID, c)
	if err != nil {
		return patchbay.Host{}, fmt.Errorf("update host: %w", err)
	}
	h.Status = h.StatusAt(s.now(), s.life)
	return h, nil
}
