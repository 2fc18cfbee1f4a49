package agent

import (
	"context"
	"fmt"
	"time"

	"github.com/patchbay/patchbay"
)

// leasePoll is how often an agent asks again for a disruption lease the
// server refused, unless the server says otherwise.
const leasePoll = 5 * time.Second

// downWait is how long the agent waits to be stopped after its job ran
// the reboot command, when the job does not say (its reboot timeout).
const downWait = 10 * time.Minute

// AcquireLease asks the server for job id's disruption lease until it is
// granted (job.Coordinator). A server that cannot be reached is asked
// again; a refusal that waiting cannot change (the job no longer runs on
// this host) is the error, and so is the agent stopping.
func (a *Agent) AcquireLease(_ context.Context, id string) error {
	ctx := a.stop
	log := a.cfg.Logger
	failures := 0
	for {
		reply, err := a.client().AcquireLease(ctx, id)
		wait := leasePoll
		switch code := patchbay.ErrorCode(err); {
		case err == nil && reply.Granted:
			log.InfoContext(ctx, "disruption lease granted", "job_id", id, "expires_at", reply.ExpiresAt)
			return nil
		case err == nil:
			if reply.RetryAfterSeconds > 0 {
				wait = time.Duration(reply.RetryAfterSeconds) * time.Second
			}
			log.InfoContext(ctx, "waiting for a disruption lease", "job_id", id, "budget", reply.Budget, "held_by", reply.HeldBy, "retry_in", wait)
		case code == patchbay.ENOTFOUND || code == patchbay.ECONFLICT || code == patchbay.EFORBIDDEN:
			return fmt.Errorf("the server refused the lease: %s", patchbay.ErrorMessage(err))
		default:
			if ctx.Err() != nil {
				return ctx.Err()
			}
			failures++
			wait = backoff(failures, jobBackoffCap)
			log.WarnContext(ctx, "disruption lease: server exchange failed", "job_id", id, "err", err, "retry_in", wait.Round(time.Second))
		}
		if err := a.cfg.Sleep(ctx, wait); err != nil {
			return err
		}
	}
}

// ReportProgress posts a job's interim result (its phase); a failure is
// only logged: the final result is what counts, and it is kept until
// posted.
func (a *Agent) ReportProgress(ctx context.Context, res patchbay.JobResult) {
	ctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	if err := a.client().PostJobResult(ctx, res.JobID, res); err != nil {
		a.cfg.Logger.WarnContext(ctx, "job progress not posted", "job_id", res.JobID, "phase", res.Phase, "err", err)
		return
	}
	a.cfg.Logger.InfoContext(ctx, "job progress", "job_id", res.JobID, "phase", res.Phase)
}

// awaitReboot waits, after a job ran the reboot command, for the agent
// to be stopped by the shutdown (true). A host that stays up past the
// wait has not rebooted: false, and the job is run again, which sees the
// same boot id and tries again up to its loop guard.
func (a *Agent) awaitReboot(ctx context.Context, j patchbay.Job) bool {
	wait := j.RebootTimeout
	if wait <= 0 || wait > downWait {
		wait = downWait
	}
	a.cfg.Logger.InfoContext(ctx, "reboot command ran; waiting for the shutdown", "job_id", j.ID, "wait", wait)
	t := time.NewTimer(wait)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return true
	case <-t.C:
		a.cfg.Logger.WarnContext(ctx, "the host did not go down after the reboot command", "job_id", j.ID, "waited", wait)
		return false
	}
}
