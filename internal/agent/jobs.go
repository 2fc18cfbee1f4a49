package agent

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/patchbay/patchbay"
	"github.com/patchbay/patchbay/internal/client"
)

const (
	// defaultJobWait is the long poll's wait: the server answers at once
	// when a job is queued, so a job reaches an idle agent in about the
	// time of one round trip, not at its next check-in.
	defaultJobWait = 30 * time.Second
	// jobBackoffCap bounds the wait between job-loop retries while the
	// server is unreachable, so jobs resume soon after it is back.
	jobBackoffCap = 30 * time.Second
	// minPollGap spaces polls that come back empty at once (a server that
	// does not hold the poll), so such a server is not polled in a loop.
	minPollGap = time.Second
	// unsentDir, in the state dir, holds one empty file per job whose
	// result the server has not accepted yet. The result itself is the
	// executor's job file, the source of truth; the marker only says it
	// is still to be posted. Losing a marker loses nothing: the server
	// delivers a job again until its result is posted, and the executor
	// answers a repeated job with its stored result.
	unsentDir = "jobs-unsent"
)

// jobLoop finishes the jobs an earlier run left, posts every result the
// server has not accepted, then long-polls for jobs and runs them one at
// a time until ctx ends. When the server is unreachable it backs off with
// jitter; a refused credential is handled as the check-in loop does.
func (a *Agent) jobLoop(ctx context.Context) {
	log := a.cfg.Logger
	a.pkg.Lock()
	results, err := a.cfg.Jobs.Resume(context.WithoutCancel(ctx))
	a.pkg.Unlock()
	// A resumed job that reboots again (its host did not come back with a
	// new boot id) waits for the shutdown like a new one.
	for err == nil && slices.ContainsFunc(results, func(r patchbay.JobResult) bool { return r.Phase == patchbay.PhaseRebooting }) {
		i := slices.IndexFunc(results, func(r patchbay.JobResult) bool { return r.Phase == patchbay.PhaseRebooting })
		if a.awaitReboot(ctx, patchbay.Job{ID: results[i].JobID}) {
			return
		}
		a.pkg.Lock()
		results, err = a.cfg.Jobs.Resume(context.WithoutCancel(ctx))
		a.pkg.Unlock()
	}
	if err != nil {
		log.ErrorContext(ctx, "finish interrupted jobs", "err", err)
	}
	for _, r := range results {
		if !r.Done() {
			continue
		}
		log.InfoContext(ctx, "interrupted job finished", "job_id", r.JobID, "action", r.Action, "status", r.Status, "reason", r.Reason)
		if err := a.markUnsent(r.JobID); err != nil {
			log.WarnContext(ctx, "remember unsent job result", "job_id", r.JobID, "err", err)
		}
		if r.Action != patchbay.JobCheck {
			a.triggerCheckIn()
		}
	}
	failures := 0
	for ctx.Err() == nil {
		c := a.client()
		err := a.jobRound(ctx, c)
		if ctx.Err() != nil {
			return
		}
		if err == nil {
			failures = 0
			continue
		}
		failures++
		wait := backoff(failures, jobBackoffCap)
		if patchbay.ErrorCode(err) == patchbay.ENOTFOUND {
			// Only the poll returns "not found" here (a result the server
			// does not know is dropped by post): a server without the job
			// routes. Ask again at the check-in pace, not every 30 s.
			wait = jitter(max(a.cfg.Interval, jobBackoffCap), 0.1)
		}
		log.WarnContext(ctx, "jobs: server exchange failed", "err", err, "retry_in", wait.Round(time.Second))
		a.unauthorized(ctx, err, c)
		if a.cfg.Sleep(ctx, wait) != nil {
			return
		}
	}
}

// jobRound posts the results still unsent, then polls once and runs the
// jobs that come back.
func (a *Agent) jobRound(ctx context.Context, c *client.Client) error {
	if err := a.postUnsent(ctx, c); err != nil {
		return err
	}
	start := time.Now() // a network round trip: real time, not the job clock
	poll, err := c.PollJobs(ctx, a.cfg.JobWait)
	if err != nil {
		return fmt.Errorf("poll jobs: %w", err)
	}
	a.setBlocked(ctx, poll.Blocked)
	if len(poll.Jobs) == 0 {
		if gap := minPollGap - time.Since(start); gap > 0 {
			_ = a.cfg.Sleep(ctx, gap) // cancelled: the loop sees ctx
		}
		return nil
	}
	for _, j := range poll.Jobs {
		if err := a.runJob(ctx, c, j); err != nil {
			return err
		}
	}
	return nil
}

// runJob runs one delivered job and posts its result. A job the agent
// has seen is not run again: the executor returns its stored result, and
// that is posted again.
func (a *Agent) runJob(ctx context.Context, c *client.Client, j patchbay.Job) error {
	log := a.cfg.Logger
	if err := j.Validate(); err != nil {
		// Nothing runs and nothing is stored; the server is told, or it
		// would deliver the job again and again.
		now := a.cfg.Now().UTC()
		res := patchbay.JobResult{
			JobID: j.ID, Action: j.Action, Status: patchbay.JobFailed,
			Reason: "refused: " + patchbay.ErrorMessage(err), Steps: []patchbay.StepResult{},
			StartedAt: now, FinishedAt: now,
		}
		log.WarnContext(ctx, "job refused", "job_id", j.ID, "err", err)
		return a.post(ctx, c, res)
	}
	if j.Action == patchbay.JobInstall {
		// A poll reply can be old: written to a connection that hung while
		// the network was down, and read when it came back. Ask again
		// right before installing: a job withdrawn meanwhile (a blocked
		// version) is not run, and the blocked versions are today's.
		if pending, err := a.stillPending(ctx, c, j.ID); err != nil {
			log.WarnContext(ctx, "could not confirm the job with the server; running it with the blocked versions known", "job_id", j.ID, "err", err)
		} else if !pending {
			log.WarnContext(ctx, "job no longer pending on the server: not run", "job_id", j.ID)
			return nil
		}
	}
	if err := a.markUnsent(j.ID); err != nil {
		return err
	}
	log.InfoContext(ctx, "job started", "job_id", j.ID, "action", j.Action, "packages", len(j.Packages), "checks", len(j.Checks))
	// A job once started runs to its end even when the agent is asked to
	// stop: every command in it has its own timeout, and a check cut short
	// by a restart would report a failure the host does not have.
	a.pkg.Lock()
	res, err := a.cfg.Jobs.Run(context.WithoutCancel(ctx), j)
	a.pkg.Unlock()
	// A job that is not done ran the reboot command (or the agent is
	// stopping while it waits for a disruption lease): the host goes
	// down, and the next start of the agent finishes the job (Resume).
	for err == nil && !res.Done() {
		if res.Phase != patchbay.PhaseRebooting || a.awaitReboot(ctx, j) {
			log.InfoContext(ctx, "job continues at the next start", "job_id", j.ID, "phase", res.Phase)
			return nil
		}
		a.pkg.Lock()
		res, err = a.cfg.Jobs.Run(context.WithoutCancel(ctx), j)
		a.pkg.Unlock()
	}
	if err != nil {
		// The job file could not be written: the job stays queued on the
		// server and comes back at the next poll.
		return fmt.Errorf("run job %s: %w", j.ID, err)
	}
	log.InfoContext(ctx, "job finished", "job_id", j.ID, "action", j.Action, "status", res.Status, "reason", res.Reason, "resumed", res.Resumed)
	if j.Action != patchbay.JobCheck {
		a.triggerCheckIn() // the server sees the new versions now
	}
	if err := a.post(ctx, c, res); err != nil {
		return err
	}
	return a.markSent(j.ID)
}

// stillPending asks the server (without waiting) whether job id is still
// to be run, and takes the blocked versions from its answer. A job the
// executor finished already needs no asking: its stored result is posted
// again.
func (a *Agent) stillPending(ctx context.Context, c *client.Client, id string) (bool, error) {
	if res, ok, err := a.cfg.Jobs.Result(id); err == nil && ok && res.Done() {
		return true, nil
	}
	poll, err := c.PollJobs(ctx, 0)
	if err != nil {
		return true, err
	}
	a.setBlocked(ctx, poll.Blocked)
	return slices.ContainsFunc(poll.Jobs, func(j patchbay.Job) bool { return j.ID == id }), nil
}

// postUnsent posts every finished result the server has not accepted.
func (a *Agent) postUnsent(ctx context.Context, c *client.Client) error {
	ids, err := a.unsent()
	if err != nil {
		return err
	}
	for _, id := range ids {
		res, ok, err := a.cfg.Jobs.Result(id)
		switch {
		case err != nil:
			// A job file that cannot be read cannot be reported; the
			// server's timeout for the job will tell.
			a.cfg.Logger.ErrorContext(ctx, "unsent job result unreadable", "job_id", id, "err", err)
		case !ok:
			// Never stored (the job file could not be written): nothing
			// ran, and the server delivers the job again.
		case !res.Done():
			continue // finished by Resume at the next start, or by a redelivery
		default:
			if err := a.post(ctx, c, res); err != nil {
				return err
			}
		}
		if err := a.markSent(id); err != nil {
			return err
		}
	}
	return nil
}

// post sends a result. A refusal that retrying cannot change (the job is
// not this host's, or the server finds the result invalid) is logged and
// dropped; other errors are returned for a retry.
func (a *Agent) post(ctx context.Context, c *client.Client, res patchbay.JobResult) error {
	err := c.PostJobResult(ctx, res.JobID, res)
	switch patchbay.ErrorCode(err) {
	case "":
		a.cfg.Logger.DebugContext(ctx, "job result posted", "job_id", res.JobID)
		return nil
	case patchbay.ENOTFOUND, patchbay.EINVALID, patchbay.ECONFLICT, patchbay.EFORBIDDEN, patchbay.ETOOLARGE:
		a.cfg.Logger.ErrorContext(ctx, "server refused job result; dropped", "job_id", res.JobID, "err", err)
		return nil
	}
	return fmt.Errorf("post result of job %s: %w", res.JobID, err)
}

func (a *Agent) unsentPath(id string) string {
	return filepath.Join(a.cfg.StateDir, unsentDir, id)
}

// markUnsent records that job id's result is still to be posted.
func (a *Agent) markUnsent(id string) error {
	if err := os.MkdirAll(filepath.Join(a.cfg.StateDir, unsentDir), 0o700); err != nil {
		return fmt.Errorf("unsent results dir: %w", err)
	}
	if err := os.WriteFile(a.unsentPath(id), nil, 0o600); err != nil {
		return fmt.Errorf("remember unsent result of job %s: %w", id, err)
	}
	return nil
}

// markSent forgets job id's marker once the server has the result.
func (a *Agent) markSent(id string) error {
	if err := os.Remove(a.unsentPath(id)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("forget sent result of job %s: %w", id, err)
	}
	return nil
}

// unsent lists the jobs whose results are still to be posted, in order.
func (a *Agent) unsent() ([]string, error) {
	entries, err := os.ReadDir(filepath.Join(a.cfg.StateDir, unsentDir))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("unsent results: %w", err)
	}
	var ids []string
	for _, e := range entries {
		if id := e.Name(); (patchbay.Job{ID: id, Action: patchbay.JobRefresh}).Validate() == nil {
			ids = append(ids, id)
		}
	}
	slices.Sort(ids)
	return ids, nil
}
