package service

import (
	"context"
	"fmt"

	"github.com/patchbay/patchbay"
)

// MaxJobResults bounds the job results one RolloutJobResults call reads.
const MaxJobResults = 100

// RolloutJobResults returns the agents' final results of jobs of rollout
// id, by job id (HostRun.JobID names a host's latest attempt). A job that
// has no result yet, does not exist or belongs to another rollout is
// absent. At most MaxJobResults ids are read.
func (s *Service) RolloutJobResults(ctx context.Context, id int64, jobIDs []string) (map[string]patchbay.JobResult, error) {
	if _, err := requireUser(ctx); err != nil {
		return nil, err
	}
	if len(jobIDs) > MaxJobResults {
		return nil, patchbay.Errorf(patchbay.EINVALID, "%d job results asked for, at most %d", len(jobIDs), MaxJobResults)
	}
	out := make(map[string]patchbay.JobResult, len(jobIDs))
	for _, jid := range jobIDs {
		if jid == "" {
			continue
		}
		rec, err := s.store.JobRecord(ctx, jid)
		if patchbay.ErrorCode(err) == patchbay.ENOTFOUND {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("job result %s: %w", jid, err)
		}
		if rec.RolloutID != id || rec.Result == nil {
			continue
		}
		out[jid] = *rec.Result
	}
	return out, nil
}
