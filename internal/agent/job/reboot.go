package job

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/patchbay/patchbay"
	"github.com/patchbay/patchbay/internal/agent/hook"
	"github.com/patchbay/patchbay/internal/agent/restart"
	"github.com/patchbay/patchbay/internal/pkgmgr"
)

// Steps of the part of an install job after the patch.
const (
	stepRebootCheck = "reboot-check"
	stepServices    = "services"
	stepLease       = "lease"
	stepReboot      = "reboot"
)

// Coordinator is the server's side of a reboot, as the agent reaches it.
type Coordinator interface {
	// AcquireLease returns once the server granted job a disruption
	// lease for the host, or fails: the job no longer runs there, or the
	// agent is stopping (then the error wraps context.Canceled and the
	// job resumes at the next start).
	AcquireLease(ctx context.Context, jobID string) error
	// ReportProgress tells the server what a job that is not done is
	// doing (its Phase); best effort.
	ReportProgress(ctx context.Context, res patchbay.JobResult)
}

// SetCoordinator wires the server's side of reboots: without one, leases
// are granted at once and progress goes nowhere. Call it before the first
// job.
func (e *Executor) SetCoordinator(c Coordinator) { e.coord = c }

func readBootID() (string, error) {
	b, err := os.ReadFile("/proc/sys/kernel/random/boot_id")
	if err != nil {
		return "", fmt.Errorf("boot id: %w", err)
	}
	return strings.TrimSpace(string(b)), nil
}

// finishedOK reports whether the last step named name succeeded.
func finishedOK(rec *record, name string) bool {
	ok := false
	for _, s := range rec.Result.Steps {
		if s.Name == name {
			ok = s.Status == patchbay.JobSucceeded
		}
	}
	return ok
}

// runHooks runs the hooks of event that have not succeeded yet in this
// job, in order; the first that fails stops the rest and is the error.
func (e *Executor) runHooks(ctx context.Context, rec *record, event string) error {
	for _, h := range e.cfg.Hooks.For(event) {
		if finishedOK(rec, h.StepName()) {
			continue
		}
		var hookErr error
		err := e.step(ctx, rec, h.StepName(), func(ctx context.Context) (string, []byte, error) {
			out, err := e.cfg.Hooks.Run(ctx, h, rec.Job.ID)
			hookErr = err
			if len(out) > hook.MaxOutput {
				out = out[len(out)-hook.MaxOutput:]
			}
			return "exit 0", out, err
		})
		if errors.Is(err, errSave) {
			return err
		}
		if hookErr != nil {
			what := map[string]string{
				hook.PrePatch: "nothing was installed", hook.PostPatch: "the packages are installed",
				hook.PreReboot: "the host was not rebooted", hook.PostReboot: "the host rebooted and passed its gates but was not restored",
			}[event]
			return fmt.Errorf("%v; %s", hookErr, what)
		}
	}
	return nil
}

// setPhase records what the job does now and tells the server.
func (e *Executor) setPhase(ctx context.Context, rec *record, phase string) error {
	rec.Result.Phase = phase
	if err := e.save(rec); err != nil {
		return fmt.Errorf("%w: %v", errSave, err)
	}
	if e.coord != nil {
		e.coord.ReportProgress(ctx, rec.Result)
	}
	return nil
}

// afterPatch is everything after a verified install: post-patch hooks,
// then either the reboot sequence (when the job's policy and the host say
// so) or the stale-process report and the health gates. Each part skips
// what this job finished already, so a resumed job goes on where it
// stopped.
func (e *Executor) afterPatch(ctx context.Context, rec *record) (patchbay.JobResult, error) {
	if rec.Result.Rebooted { // stopped after its reboot: never reboot twice
		return e.afterReboot(ctx, rec)
	}
	if err := e.runHooks(ctx, rec, hook.PostPatch); err != nil {
		return e.finishErr(rec, "", err)
	}
	if e.cfg.Offline {
		return e.runChecks(ctx, rec)
	}
	policy := rec.Job.Reboot
	if policy == "" {
		policy = patchbay.RebootNever
	}
	if !finishedOK(rec, stepRebootCheck) {
		err := e.step(ctx, rec, stepRebootCheck, func(ctx context.Context) (string, []byte, error) {
			req, reasons, err := e.cfg.Manager.RebootRequired(ctx)
			if err != nil {
				return "", nil, err
			}
			rec.Result.RebootRequired, rec.Result.RebootReasons = req, reasons
			msg := "no reboot required"
			if req {
				msg = "reboot required: " + strings.Join(reasons, "; ")
			}
			return msg + " (reboot policy " + string(policy) + ")", nil, nil
		})
		if err != nil {
			return e.finishErr(rec, stepRebootCheck, err)
		}
	}
	need := policy == patchbay.RebootAlways || policy == patchbay.RebootIfRequired && rec.Result.RebootRequired
	if !need {
		if err := e.services(ctx, rec); err != nil {
			return e.finishErr(rec, stepServices, err)
		}
		return e.runChecks(ctx, rec)
	}
	return e.rebootSequence(ctx, rec)
}

// services lists the processes still running replaced files and, when
// the job asks, restarts their services.
func (e *Executor) services(ctx context.Context, rec *record) error {
	if finishedOK(rec, stepServices) {
		return nil
	}
	return e.step(ctx, rec, stepServices, func(ctx context.Context) (string, []byte, error) {
		ps, err := e.cfg.StaleProcesses()
		if err != nil {
			return "", nil, err
		}
		rec.Result.StaleProcesses = ps
		units := restart.Units(ps, e.cfg.OwnUnit)
		if len(ps) == 0 {
			return "no process runs replaced files", nil, nil
		}
		msg := fmt.Sprintf("%d processes run replaced files (services: %s)", len(ps), strings.Join(units, ", "))
		if !rec.Job.RestartServices || len(units) == 0 {
			return msg, nil, nil
		}
		if e.cfg.Runner == nil {
			return "", nil, errors.New("this agent cannot restart services")
		}
		done, out, err := restart.Restart(context.WithoutCancel(ctx), e.cfg.Runner, units)
		rec.Result.Restarted = done
		if err != nil {
			return "", out, err
		}
		return msg + "; restarted " + strings.Join(done, ", "), out, nil
	})
}

// rebootSequence: lease, pre-reboot hooks, reboot. It returns the job not
// done while the host goes down; the agent's next start (resumeReboot)
// goes on from there.
func (e *Executor) rebootSequence(ctx context.Context, rec *record) (patchbay.JobResult, error) {
	if rec.Result.RebootAttempts >= patchbay.MaxRebootAttempts {
		return e.finish(rec, fmt.Sprintf("reboot-loop guard: %d reboot attempts and the host never came back with a new boot id", rec.Result.RebootAttempts))
	}
	if e.cfg.Runner == nil {
		return e.finish(rec, "the host needs a reboot and this agent cannot reboot it")
	}
	if !finishedOK(rec, stepLease) {
		if err := e.setPhase(ctx, rec, patchbay.PhaseWaitingLease); err != nil {
			return rec.Result, err
		}
		var stopped bool
		err := e.step(ctx, rec, stepLease, func(ctx context.Context) (string, []byte, error) {
			if e.coord == nil {
				return "no coordinator: no disruption budget applies", nil, nil
			}
			err := e.coord.AcquireLease(ctx, rec.Job.ID)
			if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
				stopped = true
			}
			if err != nil {
				return "", nil, err
			}
			return "disruption lease granted", nil, nil
		})
		if errors.Is(err, errSave) {
			return rec.Result, err
		}
		if stopped {
			// The agent is stopping: the job is not done; its next start
			// asks for the lease again.
			s := &rec.Result.Steps[len(rec.Result.Steps)-1]
			s.Message = interruptedMsg
			return rec.Result, e.save(rec)
		}
		if err != nil {
			return e.finish(rec, "no disruption lease: "+err.Error()+"; the host was not rebooted")
		}
	}
	if err := e.setPhase(ctx, rec, patchbay.PhaseDraining); err != nil {
		return rec.Result, err
	}
	if err := e.runHooks(ctx, rec, hook.PreReboot); err != nil {
		return e.finishErr(rec, "", err)
	}
	before, err := e.cfg.BootID()
	if err != nil {
		return e.finishErr(rec, stepReboot, err)
	}
	rec.Result.BootIDBefore = before
	rec.Result.RebootAttempts++
	rec.Result.Phase = patchbay.PhaseRebooting
	rec.Result.Steps = append(rec.Result.Steps, patchbay.StepResult{Name: stepReboot, Status: patchbay.JobRunning, StartedAt: e.cfg.Now().UTC(),
		Message: fmt.Sprintf("attempt %d, boot id %s", rec.Result.RebootAttempts, before)})
	// On disk before the command: whatever happens next, the next start
	// knows a reboot was asked for.
	if err := e.save(rec); err != nil {
		return rec.Result, fmt.Errorf("%w: %v", errSave, err)
	}
	if e.coord != nil {
		e.coord.ReportProgress(ctx, rec.Result)
	}
	argv := e.cfg.RebootCommand
	res, err := e.cfg.Runner.Run(context.WithoutCancel(ctx), pkgmgr.Cmd{Path: argv[0], Args: argv[1:], Timeout: time.Minute})
	if err == nil && res.ExitCode != 0 {
		err = fmt.Errorf("%s exited with status %d", strings.Join(argv, " "), res.ExitCode)
	}
	if err != nil {
		s := &rec.Result.Steps[len(rec.Result.Steps)-1]
		s.Status, s.Message, s.FinishedAt = patchbay.JobFailed, err.Error(), e.cfg.Now().UTC()
		s.Output = tail(append(res.Stdout, res.Stderr...), MaxOutput)
		return e.finish(rec, "reboot failed: "+err.Error())
	}
	return rec.Result, nil
}

// resumeReboot finishes a job whose last step is a reboot: the host came
// back with a new boot id (gates, post-reboot hooks, done), or it did not
// reboot (try again, up to the loop guard).
func (e *Executor) resumeReboot(ctx context.Context, rec *record) (patchbay.JobResult, error) {
	s := &rec.Result.Steps[len(rec.Result.Steps)-1]
	now, err := e.cfg.BootID()
	if err != nil {
		return e.finishErr(rec, stepReboot, err)
	}
	s.FinishedAt = e.cfg.Now().UTC()
	if now == rec.Result.BootIDBefore {
		s.Status, s.Message = patchbay.JobFailed, "the host did not reboot: boot id still "+now
		if err := e.save(rec); err != nil {
			return rec.Result, err
		}
		return e.rebootSequence(ctx, rec)
	}
	s.Status, s.Message = patchbay.JobSucceeded, fmt.Sprintf("rebooted: boot id %s → %s", rec.Result.BootIDBefore, now)
	rec.Result.Rebooted, rec.Result.BootIDAfter = true, now
	if err := e.setPhase(ctx, rec, patchbay.PhaseRestoring); err != nil {
		return rec.Result, err
	}
	return e.afterReboot(ctx, rec)
}

// afterReboot runs the health gates, then (when they pass) the
// post-reboot hooks.
func (e *Executor) afterReboot(ctx context.Context, rec *record) (patchbay.JobResult, error) {
	failed, err := e.gates(ctx, rec)
	if err != nil {
		return e.finishErr(rec, "check", err)
	}
	if failed != "" {
		return e.finish(rec, "after the reboot, "+failed+"; the post-reboot hooks did not run")
	}
	if err := e.runHooks(ctx, rec, hook.PostReboot); err != nil {
		return e.finishErr(rec, "", err)
	}
	return e.finish(rec, "")
}
