package service

import (
	"context"
	"fmt"

	"github.com/patchbay/patchbay"
)

// RolloutSummary is a rollout with its hosts counted by state: one row of
// a list of rollouts.
type RolloutSummary struct {
	patchbay.Rollout
	Hosts  int                           `json:"hosts"`
	Counts map[patchbay.HostRunState]int `json:"counts"`
}

// ListRolloutSummaries lists rollouts, newest first, each with its hosts
// counted by state. It reads each rollout's host runs: fine for the
// hundreds of rollouts a list shows, not meant for a hot path.
func (s *Service) ListRolloutSummaries(ctx context.Context) ([]RolloutSummary, error) {
	if _, err := requireUser(ctx); err != nil {
		return nil, err
	}
	list, err := s.store.ListRollouts(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]RolloutSummary, 0, len(list))
	for _, r := range list {
		runs, err := s.store.HostRuns(ctx, r.ID)
		if err != nil {
			return nil, fmt.Errorf("hosts of rollout %d: %w", r.ID, err)
		}
		sum := RolloutSummary{Rollout: r, Hosts: len(runs), Counts: map[patchbay.HostRunState]int{}}
		for _, h := range runs {
			sum.Counts[h.State]++
		}
		out = append(out, sum)
	}
	return out, nil
}
