package service

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/patchbay/patchbay"
)

// blockCacheTTL is how long the blocks in force are kept in memory before
// they are read again: every heartbeat and job poll carries them, and
// another server replica may have added one.
const blockCacheTTL = 10 * time.Second

// blockCache holds the blocks in force.
type blockCache struct {
	mu     sync.Mutex
	list   []patchbay.Block
	loaded time.Time
}

// activeBlocks returns the blocks in force, from memory when read less
// than blockCacheTTL ago.
func (s *Service) activeBlocks(ctx context.Context) ([]patchbay.Block, error) {
	c := s.blocks
	c.mu.Lock()
	defer c.mu.Unlock()
	now := s.now()
	if !c.loaded.IsZero() && now.Sub(c.loaded) < blockCacheTTL && !now.Before(c.loaded) {
		return c.list, nil
	}
	list, err := s.store.ListBlocks(ctx, false)
	if err != nil {
		return nil, err
	}
	c.list, c.loaded = list, now
	return list, nil
}

func (s *Service) forgetBlocks() {
	s.blocks.mu.Lock()
	s.blocks.loaded = time.Time{}
	s.blocks.mu.Unlock()
}

// blockVersions are blocks as the agents get them.
func blockVersions(blocks []patchbay.Block) []patchbay.PackageVersion {
	out := make([]patchbay.PackageVersion, len(blocks))
	for i, b := range blocks {
		out[i] = patchbay.PackageVersion{Name: b.Package, Version: b.Version}
	}
	return out
}

// AddBlock blocks a version fleet-wide: running and paused rollouts whose
// frozen plans have it halt at once (hosts already patching finish, and
// their agents refuse it if they have not started); queued jobs that would
// install it are withdrawn when their agent next asks; later plans leave it
// out; approved rollouts that planned it cannot start.
func (s *Service) AddBlock(ctx context.Context, req patchbay.BlockRequest) (patchbay.BlockReply, error) {
	p, err := requireUser(ctx)
	if err != nil {
		return patchbay.BlockReply{}, err
	}
	b, err := patchbay.ParseBlock(req.Block)
	if err != nil {
		return patchbay.BlockReply{}, err
	}
	b.Reason, b.CreatedAt, b.CreatedBy = strings.TrimSpace(req.Reason), s.now(), p.Name
	if b, err = s.store.CreateBlock(ctx, b); err != nil {
		return patchbay.BlockReply{}, err
	}
	s.forgetBlocks()
	s.logger.InfoContext(ctx, "version blocked", "block_id", b.ID, "package", b.Package, "version", b.Version, "by", p.Name)
	reply := patchbay.BlockReply{Block: b, Halted: []string{}, Running: []string{}}
	if err := s.haltForBlock(ctx, b, &reply); err != nil {
		return reply, fmt.Errorf("%s is blocked, but halting the rollouts that planned it failed: %w", b.String(), err)
	}
	return reply, nil
}

// haltForBlock halts the running and paused rollouts whose plans have b.
func (s *Service) haltForBlock(ctx context.Context, b patchbay.Block, reply *patchbay.BlockReply) error {
	rollouts, err := s.store.ListRollouts(ctx)
	if err != nil {
		return err
	}
	for _, r := range rollouts {
		if r.State != patchbay.RolloutRunning && r.State != patchbay.RolloutPaused {
			continue
		}
		runs, err := s.store.HostRuns(ctx, r.ID)
		if err != nil {
			return err
		}
		var planned, running []string
		for _, h := range runs {
			for _, pv := range h.Patches {
				if b.Matches(pv) {
					planned = append(planned, h.Hostname)
					if h.State == patchbay.HostRunning {
						running = append(running, fmt.Sprintf("rollout %d: %s", r.ID, h.Hostname))
					}
					break
				}
			}
		}
		if len(planned) == 0 {
			continue
		}
		now := s.now()
		halted := false
		err = s.store.UpdateRollout(ctx, r.ID, func(r patchbay.Rollout, _ []patchbay.HostRun) (*patchbay.RolloutUpdate, error) {
			if err := patchbay.Transition(r.State, patchbay.RolloutHalted); err != nil {
				return nil, nil // finished meanwhile
			}
			from := r.State
			r.State, r.PauseCause, r.FinishedAt = patchbay.RolloutHalted, "", now
			halted = true
			return &patchbay.RolloutUpdate{Rollout: r, Events: []patchbay.RolloutEvent{{Time: now, Actor: b.CreatedBy, Kind: "state",
				Detail: fmt.Sprintf("%s → halted: %s; planned on %d hosts", from, b.Describe(), len(planned))}}}, nil
		})
		if err != nil {
			return fmt.Errorf("rollout %d: %w", r.ID, err)
		}
		if halted {
			reply.Halted = append(reply.Halted, fmt.Sprintf("rollout %d (%s)", r.ID, r.Name))
			reply.Running = append(reply.Running, running...)
		}
	}
	return nil
}

// ListBlocks lists the blocks in force, or all of them.
func (s *Service) ListBlocks(ctx context.Context, all bool) ([]patchbay.Block, error) {
	if _, err := requireUser(ctx); err != nil {
		return nil, err
	}
	return s.store.ListBlocks(ctx, all)
}

// RemoveBlock ends a block: plans made from now on may take the version
// again (halted rollouts stay halted).
func (s *Service) RemoveBlock(ctx context.Context, id int64) (patchbay.Block, error) {
	p, err := requireUser(ctx)
	if err != nil {
		return patchbay.Block{}, err
	}
	b, err := s.store.RemoveBlock(ctx, id, p.Name, s.now())
	if err != nil {
		return b, err
	}
	s.forgetBlocks()
	s.logger.InfoContext(ctx, "block removed", "block_id", id, "by", p.Name)
	return b, nil
}

// checkPlanBlocks refuses to approve, start or resume a rollout whose
// frozen plan has a blocked version.
func (s *Service) checkPlanBlocks(ctx context.Context, id int64) error {
	blocks, err := s.activeBlocks(ctx)
	if err != nil || len(blocks) == 0 {
		return err
	}
	runs, err := s.store.HostRuns(ctx, id)
	if err != nil {
		return err
	}
	for _, h := range runs {
		if h.State != patchbay.HostPending && h.State != patchbay.HostRunning {
			continue
		}
		for _, pv := range h.Patches {
			if b, ok := patchbay.BlockedBy(blocks, pv); ok {
				return patchbay.Errorf(patchbay.ECONFLICT, "rollout %d plans %s on %s, and %s: create a new rollout (its plan leaves it out)",
					id, pv.String(), h.Hostname, b.Describe())
			}
		}
	}
	return nil
}

// withdrawBlocked splits jobs into those to deliver and those that would
// install a blocked version; each of the latter is finished at once as
// failed, as if the agent had refused it, so it is never delivered again.
func (s *Service) withdrawBlocked(ctx context.Context, jobs []patchbay.Job, blocks []patchbay.Block) ([]patchbay.Job, error) {
	if len(blocks) == 0 {
		return jobs, nil
	}
	keep := jobs[:0:0]
	for _, j := range jobs {
		var blocked *patchbay.Block
		for _, pv := range j.Packages {
			if b, ok := patchbay.BlockedBy(blocks, pv); ok {
				blocked = &b
				break
			}
		}
		if blocked == nil {
			keep = append(keep, j)
			continue
		}
		now := s.now()
		res := patchbay.JobResult{JobID: j.ID, Action: j.Action, Status: patchbay.JobFailed, StartedAt: now, FinishedAt: now,
			Steps: []patchbay.StepResult{}, Reason: "withdrawn before it ran: " + blocked.Describe()}
		if err := s.PostJobResult(ctx, j.ID, res); err != nil {
			return nil, fmt.Errorf("withdraw job %s: %w", j.ID, err)
		}
		s.logger.InfoContext(ctx, "job withdrawn: blocked version", "job_id", j.ID, "block_id", blocked.ID)
	}
	return keep, nil
}
