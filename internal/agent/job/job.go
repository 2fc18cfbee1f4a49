// Package job runs the jobs the server gives an agent as persisted step
// machines. Each job is a file, DIR/<id>.json, rewritten atomically (temp
// file, fsync, rename, fsync of the directory) before every side effect:
// the step "install" is on disk, marked running, before apt runs. An agent
// killed in the middle of a job finds the file when it starts again
// (Resume), repairs what the package manager left, looks at what is
// actually installed and reports that, truthfully. A job id runs at most
// once: the file of a finished job stays, and delivering the job again
// returns its stored result.
package job

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/patchbay/patchbay"
	"github.com/patchbay/patchbay/internal/agent/check"
	"github.com/patchbay/patchbay/internal/agent/hook"
	"github.com/patchbay/patchbay/internal/agent/restart"
	"github.com/patchbay/patchbay/internal/pkgmgr"
)

// interruptedMsg marks a step the agent was killed in.
const interruptedMsg = "interrupted: the agent stopped during this step"

// MaxOutput bounds the package manager's output a step keeps: its last
// bytes, where apt and dpkg put the outcome.
const MaxOutput = 64 << 10

// Config wires an Executor.
type Config struct {
	// Dir holds the job files: the agent's state dir + "/jobs".
	Dir       string
	Manager   pkgmgr.Manager   // refresh
	Installer pkgmgr.Installer // install, repair, verify
	Checks    *check.Set       // nil: no checks registered
	// Changelogs reads candidates' changelogs (changelog jobs); nil: the
	// package manager cannot, and changelog jobs are refused.
	Changelogs pkgmgr.ChangelogReader
	Now        func() time.Time // nil: time.Now

	// Hooks are the hooks of the agent's configuration (nil: none).
	Hooks *hook.Set
	// Runner runs the reboot command and service restarts (nil: the
	// jobs never reboot or restart anything: they fail when they must).
	Runner pkgmgr.Runner
	// RebootCommand reboots the host (nil: systemctl reboot).
	RebootCommand []string
	// BootID reads the current boot id (nil: /proc/sys/kernel/random/boot_id).
	BootID func() (string, error)
	// StaleProcesses lists processes running replaced files (nil:
	// restart.Scan of /proc).
	StaleProcesses func() ([]patchbay.StaleProcess, error)
	// OwnUnit is the agent's own systemd unit, never restarted by a job.
	OwnUnit string
	// Offline: the executor patches an unbooted image (agent --root):
	// whatever the job's reboot policy, nothing is rebooted and no
	// process is looked at; the job ends after its install.
	Offline bool
}

// Executor runs jobs, one at a time.
type Executor struct {
	cfg Config
	mu  sync.Mutex

	blockedMu sync.Mutex
	blocked   []patchbay.PackageVersion // versions the server blocked fleet-wide

	coord Coordinator // set once, before the first job
}

// New returns an executor keeping its files in cfg.Dir (created 0700).
func New(cfg Config) (*Executor, error) {
	if cfg.Dir == "" || cfg.Manager == nil || cfg.Installer == nil {
		return nil, errors.New("job executor: Dir, Manager and Installer are required")
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if len(cfg.RebootCommand) == 0 {
		cfg.RebootCommand = []string{"systemctl", "reboot"}
	}
	if cfg.BootID == nil {
		cfg.BootID = readBootID
	}
	if cfg.StaleProcesses == nil {
		cfg.StaleProcesses = func() ([]patchbay.StaleProcess, error) { return restart.Scan(restart.Options{}) }
	}
	if err := os.MkdirAll(cfg.Dir, 0o700); err != nil {
		return nil, fmt.Errorf("job dir: %w", err)
	}
	e := &Executor{cfg: cfg}
	if err := e.loadBlocked(); err != nil {
		return nil, err
	}
	return e, nil
}

// record is a job file.
type record struct {
	Job    patchbay.Job       `json:"job"`
	Result patchbay.JobResult `json:"result"`
}

// Run runs j and returns its result. A job id already seen is not run
// again: a finished one returns its stored result, an interrupted one is
// finished as Resume would. The error is for a job that is not valid
// (nothing ran, nothing is stored) or a job file that cannot be written
// (then no side effect starts).
func (e *Executor) Run(ctx context.Context, j patchbay.Job) (patchbay.JobResult, error) {
	if err := j.Validate(); err != nil {
		return patchbay.JobResult{}, err
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	rec, ok, err := e.load(j.ID)
	if err != nil {
		return patchbay.JobResult{}, err
	}
	if ok {
		if rec.Result.Done() {
			return rec.Result, nil
		}
		return e.resume(ctx, rec)
	}
	rec = &record{Job: j, Result: patchbay.JobResult{
		JobID: j.ID, Action: j.Action, Status: patchbay.JobRunning, Steps: []patchbay.StepResult{}, StartedAt: e.cfg.Now().UTC(),
	}}
	if reason := e.precheck(j); reason != "" {
		return e.finish(rec, reason)
	}
	if err := e.save(rec); err != nil {
		return patchbay.JobResult{}, err
	}
	switch j.Action {
	case patchbay.JobRefresh:
		if err := e.step(ctx, rec, "refresh", func(ctx context.Context) (string, []byte, error) {
			return "package indexes refreshed", nil, e.cfg.Manager.Refresh(ctx)
		}); err != nil {
			return e.finishErr(rec, "refresh", err)
		}
		return e.finish(rec, "")
	case patchbay.JobCheck:
		return e.runChecks(ctx, rec)
	case patchbay.JobChangelog:
		return e.runChangelog(ctx, rec)
	}
	// install
	if j.Refresh {
		if err := e.step(ctx, rec, "refresh", func(ctx context.Context) (string, []byte, error) {
			return "package indexes refreshed", nil, e.cfg.Manager.Refresh(ctx)
		}); err != nil {
			return e.finishErr(rec, "refresh", err)
		}
	}
	if err := e.repair(ctx, rec); err != nil {
		return e.finishErr(rec, "repair", err)
	}
	if err := e.runHooks(ctx, rec, hook.PrePatch); err != nil {
		return e.finishErr(rec, "", err)
	}
	installErr := e.step(ctx, rec, "install", func(ctx context.Context) (string, []byte, error) {
		install := e.cfg.Installer.Install
		if j.AllowDowngrade { // a rollback: reinstall older versions
			d, ok := e.cfg.Installer.(pkgmgr.Downgrader)
			if !ok {
				return "", nil, fmt.Errorf("this package manager cannot downgrade")
			}
			install = d.InstallDowngrading
		}
		out, err := install(ctx, j.Packages)
		return fmt.Sprintf("installed %d packages", len(j.Packages)), out, err
	})
	if errors.Is(installErr, errSave) {
		return e.finishErr(rec, "install", installErr)
	}
	mismatch, err := e.verify(ctx, rec)
	switch {
	case err != nil:
		return e.finishErr(rec, "verify", err)
	case installErr != nil:
		return e.finish(rec, "install failed: "+installErr.Error())
	case mismatch != "":
		return e.finish(rec, "after the install, "+mismatch)
	}
	return e.afterPatch(ctx, rec)
}

// precheck refuses, before anything runs, a job whose packages the
// package manager's grammar refuses or whose checks are not registered.
func (e *Executor) precheck(j patchbay.Job) string {
	if j.Action == patchbay.JobChangelog && e.cfg.Changelogs == nil {
		return "refused: this host's package manager cannot read changelogs"
	}
	if j.Action == patchbay.JobInstall || j.Action == patchbay.JobChangelog {
		if err := e.cfg.Installer.Validate(j.Packages); err != nil {
			return "refused: " + patchbay.ErrorMessage(err)
		}
		if p, ok := e.isBlocked(j.Packages); ok {
			return "refused: " + p.Name + "=" + p.Version + " is blocked fleet-wide by the server"
		}
	}
	for _, c := range j.Checks {
		if !e.cfg.Checks.Has(c) {
			return fmt.Sprintf("refused: check %q is not registered in the agent's configuration", c)
		}
	}
	return ""
}

// Resume finishes every job an earlier run of the agent left unfinished
// and returns their results. It never installs again: a job that stopped
// during its install is repaired (dpkg --configure -a) and judged by what
// is installed now; one that stopped before its install started reports
// that nothing was installed.
func (e *Executor) Resume(ctx context.Context) ([]patchbay.JobResult, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	names, err := filepath.Glob(filepath.Join(e.cfg.Dir, "*.json"))
	if err != nil {
		return nil, err
	}
	slices.Sort(names)
	var results []patchbay.JobResult
	for _, n := range names {
		rec, ok, err := e.load(strings.TrimSuffix(filepath.Base(n), ".json"))
		if err != nil {
			return results, err
		}
		if !ok || rec.Result.Done() {
			continue
		}
		res, err := e.resume(ctx, rec)
		if err != nil {
			return results, err
		}
		results = append(results, res)
	}
	return results, nil
}

// Result returns the stored result of job id, if the agent has seen it.
func (e *Executor) Result(id string) (patchbay.JobResult, bool, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	rec, ok, err := e.load(id)
	if err != nil || !ok {
		return patchbay.JobResult{}, false, err
	}
	return rec.Result, true, nil
}

func (e *Executor) resume(ctx context.Context, rec *record) (patchbay.JobResult, error) {
	rec.Result.Resumed = true
	if n := len(rec.Result.Steps); n > 0 && rec.Result.Steps[n-1].Name == stepReboot && rec.Result.Steps[n-1].Status == patchbay.JobRunning {
		return e.resumeReboot(ctx, rec)
	}
	interrupted := ""
	for i := range rec.Result.Steps {
		s := &rec.Result.Steps[i]
		if s.Status == patchbay.JobRunning {
			interrupted = s.Name
			s.Status = patchbay.JobFailed
			s.Message = interruptedMsg
			s.FinishedAt = e.cfg.Now().UTC()
		}
	}
	if err := e.save(rec); err != nil {
		return patchbay.JobResult{}, err
	}
	stopped := "the agent stopped"
	if interrupted != "" {
		stopped += " during " + interrupted
	}
	switch rec.Job.Action {
	case patchbay.JobRefresh:
		return e.finish(rec, stopped)
	case patchbay.JobCheck:
		return e.runChecks(ctx, rec)
	case patchbay.JobChangelog: // reads only: read again
		return e.runChangelog(ctx, rec)
	}
	installStarted := slices.ContainsFunc(rec.Result.Steps, func(s patchbay.StepResult) bool { return s.Name == "install" })
	installFailed := slices.ContainsFunc(rec.Result.Steps, func(s patchbay.StepResult) bool {
		return s.Name == "install" && s.Status == patchbay.JobFailed && interrupted != "install"
	})
	if err := e.repair(ctx, rec); err != nil {
		return e.finishErr(rec, "repair", err)
	}
	mismatch, err := e.verify(ctx, rec)
	switch {
	case err != nil:
		return e.finishErr(rec, "verify", err)
	case !installStarted:
		return e.finish(rec, stopped+", before the install started; nothing was installed")
	case installFailed:
		reason := "install failed"
		if mismatch != "" {
			reason += ": " + mismatch
		}
		return e.finish(rec, reason)
	case mismatch != "":
		return e.finish(rec, stopped+"; afterwards "+mismatch)
	}
	return e.afterPatch(ctx, rec)
}

// repair runs the repair step; a repair that ran sets Repaired.
func (e *Executor) repair(ctx context.Context, rec *record) error {
	return e.step(ctx, rec, "repair", func(ctx context.Context) (string, []byte, error) {
		repaired, out, err := e.cfg.Installer.Repair(ctx)
		if repaired {
			rec.Result.Repaired = true
			return "an interrupted package-manager run was repaired (dpkg --configure -a)", out, err
		}
		return "nothing to repair", out, err
	})
}

// verify compares what is installed with the plan and says how they
// differ ("" when every planned version is installed).
func (e *Executor) verify(ctx context.Context, rec *record) (string, error) {
	var mismatch string
	err := e.step(ctx, rec, "verify", func(ctx context.Context) (string, []byte, error) {
		got, err := e.cfg.Installer.Installed(ctx, rec.Job.Packages)
		if err != nil {
			return "", nil, err
		}
		if len(got) != len(rec.Job.Packages) {
			return "", nil, fmt.Errorf("package manager reported %d packages for %d planned", len(got), len(rec.Job.Packages))
		}
		rec.Result.Installed = got
		var diffs []string
		for i, p := range rec.Job.Packages {
			switch g := got[i]; {
			case g.Version == p.Version:
			case g.Version == "":
				diffs = append(diffs, fmt.Sprintf("%s is not installed (or not fully configured), planned %s", label(p), p.Version))
			default:
				diffs = append(diffs, fmt.Sprintf("%s is at %s, planned %s", label(p), g.Version, p.Version))
			}
		}
		mismatch = strings.Join(diffs, "; ")
		if mismatch != "" {
			return mismatch, nil, nil
		}
		return fmt.Sprintf("all %d packages at the planned versions", len(got)), nil, nil
	})
	return mismatch, err
}

func label(p patchbay.PackageVersion) string {
	if p.Arch == "" {
		return p.Name
	}
	return p.Name + ":" + p.Arch
}

// runChangelog reads the changelog of one of the job's packages, changing
// nothing on the host, and finishes the job with it.
func (e *Executor) runChangelog(ctx context.Context, rec *record) (patchbay.JobResult, error) {
	err := e.step(ctx, rec, "changelog", func(ctx context.Context) (string, []byte, error) {
		f, err := e.cfg.Changelogs.Changelog(ctx, rec.Job.Packages)
		if err != nil {
			return "", nil, err
		}
		rec.Result.Changelog = &f
		msg := fmt.Sprintf("read %s of %s %s (%d bytes)", f.Path, f.Package, f.Version, len(f.Text))
		if f.Truncated {
			msg += ", cut"
		}
		return msg, nil, nil
	})
	if err != nil {
		return e.finishErr(rec, "changelog", err)
	}
	return e.finish(rec, "")
}

// runChecks runs the job's checks that have not finished yet (all of
// them, or those after an interruption) and finishes the job: failed when
// the last run of any check did not pass.
func (e *Executor) runChecks(ctx context.Context, rec *record) (patchbay.JobResult, error) {
	failed, err := e.gates(ctx, rec)
	if err != nil {
		return e.finishErr(rec, "check", err)
	}
	return e.finish(rec, failed)
}

// gates runs the job's checks that have not finished yet and says which
// failed ("" when all passed); the error is a job file that cannot be
// written.
func (e *Executor) gates(ctx context.Context, rec *record) (string, error) {
	finished := map[string]bool{}
	for _, s := range rec.Result.Steps {
		if s.Status != patchbay.JobRunning && s.Message != interruptedMsg {
			finished[s.Name] = true
		}
	}
	for _, name := range rec.Job.Checks {
		if finished["check:"+name] {
			continue
		}
		err := e.step(ctx, rec, "check:"+name, func(ctx context.Context) (string, []byte, error) {
			r, err := e.cfg.Checks.Run(ctx, name)
			if err != nil {
				return "", nil, err
			}
			rec.Result.Steps[len(rec.Result.Steps)-1].Check = r.State
			msg := string(r.State) + ": " + r.Message
			if !r.State.Passed() {
				return msg, []byte(r.Output), errors.New(msg)
			}
			return msg, []byte(r.Output), nil
		})
		if errors.Is(err, errSave) {
			return "", err
		}
	}
	last := map[string]patchbay.StepResult{}
	for _, s := range rec.Result.Steps {
		last[s.Name] = s
	}
	var failed []string
	for _, name := range rec.Job.Checks {
		if s := last["check:"+name]; s.Status != patchbay.JobSucceeded {
			failed = append(failed, fmt.Sprintf("health check %s: %s", name, s.Message))
		}
	}
	return strings.Join(failed, "; "), nil
}

var errSave = errors.New("save job file")

// step records a running step, persists it, runs fn, records its outcome
// and persists again. Steps that change the system run with a context that
// stopping the agent does not cancel (each command has its own timeout):
// killing dpkg halfway is what this package exists to survive, not to
// cause.
func (e *Executor) step(ctx context.Context, rec *record, name string, fn func(context.Context) (string, []byte, error)) error {
	rec.Result.Steps = append(rec.Result.Steps, patchbay.StepResult{Name: name, Status: patchbay.JobRunning, StartedAt: e.cfg.Now().UTC()})
	if err := e.save(rec); err != nil {
		return fmt.Errorf("%w: %v", errSave, err)
	}
	if name == "install" || name == "repair" {
		ctx = context.WithoutCancel(ctx)
	}
	msg, out, err := fn(ctx)
	s := &rec.Result.Steps[len(rec.Result.Steps)-1]
	s.FinishedAt = e.cfg.Now().UTC()
	s.Output = tail(out, MaxOutput)
	s.Status, s.Message = patchbay.JobSucceeded, msg
	if err != nil {
		s.Status = patchbay.JobFailed
		s.Message = err.Error()
	}
	if serr := e.save(rec); serr != nil {
		return fmt.Errorf("%w: %v", errSave, serr)
	}
	return err
}

// finishErr ends the job as failed because step failed with err. A job
// file that cannot be written is the caller's error.
func (e *Executor) finishErr(rec *record, step string, err error) (patchbay.JobResult, error) {
	if errors.Is(err, errSave) {
		return rec.Result, err
	}
	if step == "" {
		return e.finish(rec, err.Error())
	}
	return e.finish(rec, step+" failed: "+err.Error())
}

// finish ends the job: failed with reason, or succeeded when reason is "".
func (e *Executor) finish(rec *record, reason string) (patchbay.JobResult, error) {
	rec.Result.Status, rec.Result.Phase = patchbay.JobSucceeded, ""
	if reason != "" {
		rec.Result.Status = patchbay.JobFailed
		rec.Result.Reason = reason
	}
	rec.Result.FinishedAt = e.cfg.Now().UTC()
	if err := e.save(rec); err != nil {
		return rec.Result, err
	}
	return rec.Result, nil
}

// tail keeps the last n bytes of b, marking a cut.
func tail(b []byte, n int) string {
	if len(b) <= n {
		return string(b)
	}
	return fmt.Sprintf("[... %d bytes cut ...]\n", len(b)-n) + string(b[len(b)-n:])
}

func (e *Executor) path(id string) string { return filepath.Join(e.cfg.Dir, id+".json") }

func (e *Executor) load(id string) (*record, bool, error) {
	if err := (patchbay.Job{ID: id, Action: patchbay.JobRefresh}).Validate(); err != nil {
		return nil, false, fmt.Errorf("job file %q: %w", id, err)
	}
	data, err := os.ReadFile(e.path(id))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("read job %s: %w", id, err)
	}
	var rec record
	if err := json.Unmarshal(data, &rec); err != nil {
		return nil, false, fmt.Errorf("job file %s is corrupt: %w", e.path(id), err)
	}
	if rec.Job.ID != id {
		return nil, false, fmt.Errorf("job file %s holds job %q", e.path(id), rec.Job.ID)
	}
	return &rec, true, nil
}

// save writes the job file atomically and durably: temp file, fsync,
// rename, fsync of the directory. A crash leaves the old file or the new
// one, never half of one.
func (e *Executor) save(rec *record) error {
	data, err := json.MarshalIndent(rec, "", "  ")
	if err != nil {
		return err
	}
	if err := writeAtomic(e.cfg.Dir, rec.Job.ID+".json", data); err != nil {
		return fmt.Errorf("save job %s: %w", rec.Job.ID, err)
	}
	return nil
}

// writeAtomic writes dir/name through a temporary file, fsync, rename and
// an fsync of dir: a crash leaves the old file or the new one.
func writeAtomic(dir, name string, data []byte) error {
	tmp, err := os.CreateTemp(dir, "."+name+".*.tmp")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp.Name(), filepath.Join(dir, name)); err != nil {
		return err
	}
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("sync dir: %w", err)
	}
	return nil
}
