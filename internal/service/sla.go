package service

import (
	"context"
	"fmt"
	"time"

	"github.com/patchbay/patchbay"
)

// DefaultSLASince is how far back the SLA report's time to fix looks.
const DefaultSLASince = 90 * 24 * time.Hour

// SLAReportRequest asks for an SLA report: findings resolved within
// Since (0: DefaultSLASince) make the time to fix; SLA, when set,
// replaces the server's clocks for this report (a what-if).
type SLAReportRequest struct {
	Since time.Duration
	SLA   *patchbay.SLA
}

// SLAReport says how the fleet's open findings stand against the
// remediation SLA (retired hosts left out, exceptions in force shown
// apart and not counted as overdue) and how fast recent ones were fixed.
func (s *Service) SLAReport(ctx context.Context, req SLAReportRequest) (patchbay.SLAReport, error) {
	if _, err := requireUser(ctx); err != nil {
		return patchbay.SLAReport{}, err
	}
	sla := s.sla
	if req.SLA != nil {
		if err := req.SLA.Validate(); err != nil {
			return patchbay.SLAReport{}, err
		}
		sla = *req.SLA
	}
	if req.Since < 0 {
		return patchbay.SLAReport{}, patchbay.Errorf(patchbay.EINVALID, "since %s is negative", req.Since)
	}
	if req.Since == 0 {
		req.Since = DefaultSLASince
	}
	now := s.now()
	since := now.Add(-req.Since)
	open, err := s.store.Findings(ctx, patchbay.FindingFilter{})
	if err != nil {
		return patchbay.SLAReport{}, fmt.Errorf("sla report: %w", err)
	}
	resolved, err := s.store.Findings(ctx, patchbay.FindingFilter{Resolved: true, ResolvedSince: since})
	if err != nil {
		return patchbay.SLAReport{}, fmt.Errorf("sla report: %w", err)
	}
	hosts, err := s.store.ListHosts(ctx, patchbay.HostFilter{})
	if err != nil {
		return patchbay.SLAReport{}, fmt.Errorf("sla report: %w", err)
	}
	byID := make(map[int64]patchbay.Host, len(hosts))
	owners := make(map[int64]string, len(hosts))
	for _, h := range hosts {
		byID[h.ID], owners[h.ID] = h, h.Assets.Owner
	}
	if err := s.markExceptedHosts(ctx, open, byID); err != nil {
		return patchbay.SLAReport{}, fmt.Errorf("sla report: %w", err)
	}
	return patchbay.BuildSLAReport(sla, now, since, open, resolved, owners), nil
}
