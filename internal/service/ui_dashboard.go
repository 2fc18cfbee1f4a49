package service

import (
	"context"
	"fmt"
	"time"

	"github.com/patchbay/patchbay"
)

// DayCount is the number of findings open at the end of one UTC day (for
// today: now).
type DayCount struct {
	Day  time.Time // midnight UTC
	Open int
}

// Exposure is the fleet's open findings for the dashboard: counted by
// severity and KEV, and their trend per day.
type Exposure struct {
	Counts patchbay.FindingCounts
	Trend  []DayCount // oldest first; the last is today
}

// Exposure counts the open findings and how many were open at the end of
// each of the last days UTC days (today included).
func (s *Service) Exposure(ctx context.Context, days int) (Exposure, error) {
	if _, err := requireUser(ctx); err != nil {
		return Exposure{}, err
	}
	if days < 1 || days > patchbay.MaxTrendPoints {
		return Exposure{}, patchbay.Errorf(patchbay.EINVALID, "exposure trend: %d days, want 1 to %d", days, patchbay.MaxTrendPoints)
	}
	counts, err := s.store.FindingCounts(ctx)
	if err != nil {
		return Exposure{}, fmt.Errorf("exposure: %w", err)
	}
	now := s.now().UTC()
	today := time.Date(now.Year(), now.Month(), now.Day(), 0, 0, 0, 0, time.UTC)
	first := today.AddDate(0, 0, 1-days)
	open, err := s.store.OpenFindingsTrend(ctx, first, 24*time.Hour, days)
	if err != nil {
		return Exposure{}, fmt.Errorf("exposure: %w", err)
	}
	e := Exposure{Counts: counts, Trend: make([]DayCount, days)}
	for i, n := range open {
		e.Trend[i] = DayCount{Day: first.AddDate(0, 0, i), Open: n}
	}
	return e, nil
}

// ActiveRollouts lists the running and paused rollouts, oldest first,
// each with its hosts counted by state in the database (their plans are
// not read).
func (s *Service) ActiveRollouts(ctx context.Context) ([]RolloutSummary, error) {
	if _, err := requireUser(ctx); err != nil {
		return nil, err
	}
	ids, err := s.store.ActiveRollouts(ctx)
	if err != nil {
		return nil, fmt.Errorf("active rollouts: %w", err)
	}
	counts, err := s.store.RolloutHostCounts(ctx, ids)
	if err != nil {
		return nil, fmt.Errorf("active rollouts: %w", err)
	}
	out := make([]RolloutSummary, 0, len(ids))
	for _, id := range ids {
		r, err := s.store.Rollout(ctx, id)
		if patchbay.ErrorCode(err) == patchbay.ENOTFOUND {
			continue // deleted since
		}
		if err != nil {
			return nil, fmt.Errorf("active rollouts: %w", err)
		}
		if r.State != patchbay.RolloutRunning && r.State != patchbay.RolloutPaused {
			continue // ticked for its hosts in flight, but not active
		}
		a := RolloutSummary{Rollout: r, Counts: counts[id]}
		if a.Counts == nil {
			a.Counts = map[patchbay.HostRunState]int{}
		}
		for _, n := range a.Counts {
			a.Hosts += n
		}
		out = append(out, a)
	}
	return out, nil
}
