package service

import (
	"context"
	"fmt"
	"time"

	"github.com/patchbay/patchbay"
)

// Overview is the fleet at a glance, for the dashboard.
type Overview struct {
	Now             time.Time
	Total           int
	Active          int
	Stale           int // missed 3 check-ins, not dormant yet
	Dormant         int
	Retired         int // not in Total
	WithUpdates     int // hosts with any pending update
	SecurityUpdates int // hosts with pending security updates
	NeedsReboot     int
	// MostExposed are the hosts with the most pending security updates
	// (at most 10, only hosts with at least one).
	MostExposed []patchbay.Host
}

// Overview counts the fleet by status, pending updates and reboots.
func (s *Service) Overview(ctx context.Context) (Overview, error) {
	if _, err := requireUser(ctx); err != nil {
		return Overview{}, err
	}
	o := Overview{Now: s.now()}
	for _, c := range []struct {
		dst *int
		f   patchbay.HostFilter
	}{
		{&o.Total, patchbay.HostFilter{}},
		{&o.Active, patchbay.HostFilter{Status: patchbay.HostActive, Now: o.Now}},
		{&o.Stale, patchbay.HostFilter{Status: patchbay.HostStale, Now: o.Now, DormantAfter: s.life.DormantAfter}},
		{&o.Dormant, patchbay.HostFilter{Status: patchbay.HostDormant, Now: o.Now, DormantAfter: s.life.DormantAfter}},
		{&o.Retired, patchbay.HostFilter{Status: patchbay.HostRetired}},
		{&o.WithUpdates, patchbay.HostFilter{HasUpdates: true}},
		{&o.SecurityUpdates, patchbay.HostFilter{SecurityUpdates: true}},
		{&o.NeedsReboot, patchbay.HostFilter{NeedsReboot: true}},
	} {
		n, err := s.store.CountHosts(ctx, c.f)
		if err != nil {
			return Overview{}, fmt.Errorf("overview: %w", err)
		}
		*c.dst = n
	}
	top, err := s.store.ListHosts(ctx, patchbay.HostFilter{SecurityUpdates: true, Sort: patchbay.SortSecurityUpdates, Desc: true, Limit: 10})
	if err != nil {
		return Overview{}, fmt.Errorf("overview: %w", err)
	}
	for i := range top {
		top[i].Status = top[i].StatusAt(o.Now, s.life)
	}
	o.MostExposed = top
	return o, nil
}

// HostsPage is one page of a host list and how many hosts match in all.
type HostsPage struct {
	Hosts []patchbay.Host
	Total int
}

// ListHostsPage lists one page of hosts and counts every match.
func (s *Service) ListHostsPage(ctx context.Context, f patchbay.HostFilter) (HostsPage, error) {
	hosts, err := s.ListHosts(ctx, f)
	if err != nil {
		return HostsPage{}, err
	}
	f.Now, f.DormantAfter = s.now(), s.life.DormantAfter
	n, err := s.store.CountHosts(ctx, f)
	if err != nil {
		return HostsPage{}, fmt.Errorf("count hosts: %w", err)
	}
	return HostsPage{Hosts: hosts, Total: n}, nil
}
