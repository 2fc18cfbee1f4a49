package job

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/patchbay/patchbay"
	"github.com/patchbay/patchbay/internal/agent/check"
	"github.com/patchbay/patchbay/internal/pkgmgr"
	"github.com/patchbay/patchbay/internal/pkgmgr/osexec"
)

// fakePM is an in-memory package manager: installed and available
// versions, and dpkg's "interrupted" flag. The lab tests run the same
// executor against real apt; this one makes crashes exact.
type fakePM struct {
	installed   map[string]string // name -> version, fully installed
	unpacked    map[string]string // name -> version, unpacked but not configured
	available   map[string][]string
	interrupted bool
	failInstall string // a package whose postinst fails
	crashAt     string // "install": panic(crash) after unpacking
	calls       []string
	// needReboot is what RebootRequired answers.
	needReboot bool
}

type crash struct{}

var _ pkgmgr.Installer = (*fakePM)(nil)
var _ pkgmgr.Manager = (*fakePM)(nil)

func (f *fakePM) Name() string                                         { return "fake" }
func (f *fakePM) Packages(context.Context) ([]patchbay.Package, error) { return nil, nil }
func (f *fakePM) Updates(context.Context) ([]patchbay.Update, error)   { return nil, nil }
func (f *fakePM) RebootRequired(context.Context) (bool, []string, error) {
	if f.needReboot {
		return true, []string{"/var/run/reboot-required: demo-app"}, nil
	}
	return false, nil, nil
}
func (f *fakePM) Refresh(context.Context) error {
	f.calls = append(f.calls, "refresh")
	return nil
}

func (f *fakePM) Validate(pkgs []patchbay.PackageVersion) error {
	for _, p := range pkgs {
		if strings.ContainsAny(p.Name+p.Version, " ;") {
			return patchbay.Errorf(patchbay.EINVALID, "invalid package %q", p.String())
		}
	}
	return nil
}

func (f *fakePM) Install(_ context.Context, pkgs []patchbay.PackageVersion) ([]byte, error) {
	f.calls = append(f.calls, "install")
	if err := f.Validate(pkgs); err != nil {
		return nil, err
	}
	for _, p := range pkgs {
		found := false
		for _, v := range f.available[p.Name] {
			found = found || v == p.Version
		}
		if !found {
			return nil, errors.New(p.Name + " " + p.Version + " is not available from any source")
		}
	}
	for _, p := range pkgs {
		f.unpacked[p.Name] = p.Version
		delete(f.installed, p.Name)
	}
	f.interrupted = true
	if f.crashAt == "install" {
		panic(crash{})
	}
	return f.configure(), f.err()
}

func (f *fakePM) configure() []byte {
	var out []byte
	for n, v := range f.unpacked {
		out = append(out, "Setting up "+n+" ("+v+") ...\n"...)
		if n == f.failInstall {
			out = append(out, n+": postinst fails on purpose\n"...)
			continue
		}
		f.installed[n] = v
		delete(f.unpacked, n)
	}
	f.interrupted = len(f.unpacked) > 0
	return out
}

func (f *fakePM) err() error {
	if f.interrupted {
		return errors.New("exit 100: E: Sub-process /usr/bin/dpkg returned an error code (1)")
	}
	return nil
}

func (f *fakePM) Repair(context.Context) (bool, []byte, error) {
	f.calls = append(f.calls, "repair")
	if !f.interrupted {
		return false, nil, nil
	}
	return true, f.configure(), f.err()
}

func (f *fakePM) Installed(_ context.Context, pkgs []patchbay.PackageVersion) ([]patchbay.PackageVersion, error) {
	out := make([]patchbay.PackageVersion, len(pkgs))
	for i, p := range pkgs {
		out[i] = patchbay.PackageVersion{Name: p.Name, Arch: p.Arch, Version: f.installed[p.Name]}
	}
	return out, nil
}

func newFake() *fakePM {
	return &fakePM{
		installed: map[string]string{"demo-app": "1.0-1"},
		unpacked:  map[string]string{},
		available: map[string][]string{"demo-app": {"1.0-1", "1.0-2"}, "pb-fail": {"1.0-1"}},
	}
}

var clock = time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)

func newExecutor(t *testing.T, dir string, pm *fakePM, checks *check.Set) *Executor {
	t.Helper()
	e, err := New(Config{Dir: dir, Manager: pm, Installer: pm, Checks: checks, Now: func() time.Time { return clock },
		StaleProcesses: func() ([]patchbay.StaleProcess, error) { return nil, nil }})
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func checkSet(specs ...check.Spec) *check.Set {
	return check.New(check.Config{Checks: specs}, osexec.Runner{}, nil)
}

func shCheck(name, script string) check.Spec {
	return check.Spec{Name: name, Type: check.TypeNagios, Command: []string{"sh", "-c", script}}
}

func installJob(id string, pkgs ...patchbay.PackageVersion) patchbay.Job {
	return patchbay.Job{ID: id, Action: patchbay.JobInstall, Packages: pkgs}
}

var demo2 = patchbay.PackageVersion{Name: "demo-app", Version: "1.0-2"}

func stepNames(r patchbay.JobResult) []string {
	var n []string
	for _, s := range r.Steps {
		n = append(n, s.Name+"="+string(s.Status))
	}
	return n
}

func TestInstallSucceeds(t *testing.T) {
	pm := newFake()
	e := newExecutor(t, t.TempDir(), pm, checkSet(shCheck("ok", "echo 'OK - fine'")))
	j := installJob("j1", demo2)
	j.Refresh, j.Checks = true, []string{"ok"}
	res, err := e.Run(context.Background(), j)
	if err != nil {
		t.Fatal(err)
	}
	if res.Status != patchbay.JobSucceeded || res.Reason != "" || res.Resumed || res.Repaired {
		t.Errorf("result %+v", res)
	}
	want := []string{"refresh=succeeded", "repair=succeeded", "install=succeeded", "verify=succeeded", "reboot-check=succeeded", "services=succeeded", "check:ok=succeeded"}
	if diff := cmp.Diff(want, stepNames(res)); diff != "" {
		t.Errorf("steps (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]patchbay.PackageVersion{demo2}, res.Installed); diff != "" {
		t.Errorf("installed (-want +got):\n%s", diff)
	}
	if got := res.Steps[6]; got.Check != patchbay.CheckOK || got.Message != "OK: OK - fine" {
		t.Errorf("check step %+v", got)
	}
	if !strings.Contains(res.Steps[2].Output, "Setting up demo-app (1.0-2)") {
		t.Errorf("install output %q", res.Steps[2].Output)
	}
}

func TestDuplicateDeliveryReturnsStoredResult(t *testing.T) {
	dir := t.TempDir()
	pm := newFake()
	first, err := newExecutor(t, dir, pm, nil).Run(context.Background(), installJob("j1", demo2))
	if err != nil || first.Status != patchbay.JobSucceeded {
		t.Fatalf("%+v %v", first, err)
	}
	calls := len(pm.calls)
	// Another agent process (a restart) and the same job again.
	again, err := newExecutor(t, dir, pm, nil).Run(context.Background(), installJob("j1", demo2))
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(first, again); diff != "" {
		t.Errorf("re-delivery (-first +again):\n%s", diff)
	}
	if len(pm.calls) != calls {
		t.Errorf("the package manager ran again: %q", pm.calls[calls:])
	}
	if got, ok, err := newExecutor(t, dir, pm, nil).Result("j1"); err != nil || !ok || got.Status != patchbay.JobSucceeded {
		t.Errorf("Result = %+v %v %v", got, ok, err)
	}
}

// runUntilCrash runs j with pm set to crash, as a kill -9 of the agent
// there would.
func runUntilCrash(t *testing.T, e *Executor, j patchbay.Job) {
	t.Helper()
	defer func() {
		if r := recover(); r != (crash{}) {
			t.Fatalf("no crash: %v", r)
		}
	}()
	e.Run(context.Background(), j)
	t.Fatal("Run returned")
}

func TestCrashDuringInstallResumesTruthfully(t *testing.T) {
	dir := t.TempDir()
	pm := newFake()
	pm.crashAt = "install"
	runUntilCrash(t, newExecutor(t, dir, pm, nil), installJob("j1", demo2))

	// On disk: install recorded as running before the package manager ran.
	var rec record
	data, err := os.ReadFile(filepath.Join(dir, "j1.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(data, &rec); err != nil {
		t.Fatal(err)
	}
	if last := rec.Result.Steps[len(rec.Result.Steps)-1]; last.Name != "install" || last.Status != patchbay.JobRunning {
		t.Fatalf("last persisted step %+v", last)
	}

	pm.crashAt = ""
	pm.calls = nil
	e := newExecutor(t, dir, pm, nil)
	results, err := e.Resume(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(results) != 1 {
		t.Fatalf("Resume gave %d results", len(results))
	}
	res := results[0]
	if res.Status != patchbay.JobSucceeded || !res.Resumed || !res.Repaired {
		t.Errorf("result %+v", res)
	}
	if diff := cmp.Diff([]string{"repair"}, pm.calls); diff != "" {
		t.Errorf("calls after restart (-want +got):\n%s", diff)
	}
	want := []string{"repair=succeeded", "install=failed", "repair=succeeded", "verify=succeeded", "reboot-check=succeeded", "services=succeeded"}
	if diff := cmp.Diff(want, stepNames(res)); diff != "" {
		t.Errorf("steps (-want +got):\n%s", diff)
	}
	if res.Steps[1].Message != interruptedMsg {
		t.Errorf("install step %+v", res.Steps[1])
	}
	// Nothing left to resume; re-delivery gives the same result.
	if more, err := e.Resume(context.Background()); err != nil || len(more) != 0 {
		t.Errorf("second Resume = %v, %v", more, err)
	}
	again, err := e.Run(context.Background(), installJob("j1", demo2))
	if err != nil || !cmp.Equal(res, again) {
		t.Errorf("re-delivery = %+v, %v", again, err)
	}
}

func TestCrashDuringInstallThatCannotBeRepaired(t *testing.T) {
	dir := t.TempDir()
	pm := newFake()
	pm.crashAt, pm.failInstall = "install", "pb-fail"
	runUntilCrash(t, newExecutor(t, dir, pm, nil), installJob("j1", demo2, patchbay.PackageVersion{Name: "pb-fail", Version: "1.0-1"}))
	pm.crashAt = ""
	results, err := newExecutor(t, dir, pm, nil).Resume(context.Background())
	if err != nil || len(results) != 1 {
		t.Fatalf("%v %v", results, err)
	}
	res := results[0]
	if res.Status != patchbay.JobFailed || !res.Resumed || !res.Repaired {
		t.Errorf("result %+v", res)
	}
	if !strings.HasPrefix(res.Reason, "repair failed: ") {
		t.Errorf("reason %q", res.Reason)
	}
}

func TestCrashBeforeInstallInstallsNothing(t *testing.T) {
	dir := t.TempDir()
	pm := newFake()
	e := newExecutor(t, dir, pm, nil)
	// The agent died right after persisting the repair step.
	rec := &record{Job: installJob("j1", demo2), Result: patchbay.JobResult{JobID: "j1", Action: patchbay.JobInstall, Status: patchbay.JobRunning,
		Steps: []patchbay.StepResult{{Name: "repair", Status: patchbay.JobRunning, StartedAt: clock}}, StartedAt: clock}}
	if err := e.save(rec); err != nil {
		t.Fatal(err)
	}
	res, err := e.Run(context.Background(), installJob("j1", demo2)) // re-delivered after the restart
	if err != nil {
		t.Fatal(err)
	}
	if res.Status != patchbay.JobFailed || res.Reason != "the agent stopped during repair, before the install started; nothing was installed" {
		t.Errorf("result %+v", res)
	}
	if pm.installed["demo-app"] != "1.0-1" || strings.Contains(strings.Join(pm.calls, " "), "install") {
		t.Errorf("installed %v after calls %q", pm.installed, pm.calls)
	}
}

func TestInstallFailures(t *testing.T) {
	tests := []struct {
		name       string
		job        patchbay.Job
		checks     *check.Set
		wantReason string
		wantSteps  []string
		wantCalls  []string
	}{
		{
			name:       "version not available",
			job:        installJob("j", patchbay.PackageVersion{Name: "demo-app", Version: "1.0-9"}),
			wantReason: "install failed: demo-app 1.0-9 is not available from any source",
			wantSteps:  []string{"repair=succeeded", "install=failed", "verify=succeeded"},
			wantCalls:  []string{"repair", "install"},
		},
		{
			name:       "postinst fails",
			job:        installJob("j", patchbay.PackageVersion{Name: "pb-fail", Version: "1.0-1"}),
			wantReason: "install failed: exit 100: E: Sub-process /usr/bin/dpkg returned an error code (1)",
			wantSteps:  []string{"repair=succeeded", "install=failed", "verify=succeeded"},
			wantCalls:  []string{"repair", "install"},
		},
		{
			name:       "invalid package never reaches the package manager",
			job:        installJob("j", patchbay.PackageVersion{Name: "demo-app", Version: "1.0;reboot"}),
			wantReason: `refused: invalid package "demo-app=1.0;reboot"`,
		},
		{
			name:       "unregistered check refused before installing",
			job:        patchbay.Job{ID: "j", Action: patchbay.JobInstall, Packages: []patchbay.PackageVersion{demo2}, Checks: []string{"nope"}},
			wantReason: `refused: check "nope" is not registered in the agent's configuration`,
		},
		{
			name:       "critical health check fails the job",
			job:        patchbay.Job{ID: "j", Action: patchbay.JobInstall, Packages: []patchbay.PackageVersion{demo2}, Checks: []string{"crit", "warn", "unknown"}},
			checks:     checkSet(shCheck("crit", "echo CRIT; exit 2"), shCheck("warn", "echo WARN; exit 1"), shCheck("unknown", "exit 3")),
			wantReason: "health check crit: CRITICAL: CRIT; health check unknown: UNKNOWN: exit 3",
			wantSteps:  []string{"repair=succeeded", "install=succeeded", "verify=succeeded", "reboot-check=succeeded", "services=succeeded", "check:crit=failed", "check:warn=succeeded", "check:unknown=failed"},
			wantCalls:  []string{"repair", "install"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pm := newFake()
			pm.failInstall = "pb-fail"
			res, err := newExecutor(t, t.TempDir(), pm, tt.checks).Run(context.Background(), tt.job)
			if err != nil {
				t.Fatal(err)
			}
			if res.Status != patchbay.JobFailed || res.Reason != tt.wantReason {
				t.Errorf("result %s %q, want failed %q", res.Status, res.Reason, tt.wantReason)
			}
			if diff := cmp.Diff(tt.wantSteps, stepNames(res)); diff != "" {
				t.Errorf("steps (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.wantCalls, pm.calls); diff != "" {
				t.Errorf("calls (-want +got):\n%s", diff)
			}
		})
	}
}

func TestRefreshAndCheckJobs(t *testing.T) {
	pm := newFake()
	e := newExecutor(t, t.TempDir(), pm, checkSet(shCheck("ok", "echo fine")))
	res, err := e.Run(context.Background(), patchbay.Job{ID: "r1", Action: patchbay.JobRefresh})
	if err != nil || res.Status != patchbay.JobSucceeded || len(res.Steps) != 1 || res.Steps[0].Name != "refresh" {
		t.Errorf("refresh: %+v %v", res, err)
	}
	res, err = e.Run(context.Background(), patchbay.Job{ID: "c1", Action: patchbay.JobCheck, Checks: []string{"ok"}})
	if err != nil || res.Status != patchbay.JobSucceeded || len(res.Steps) != 1 || res.Steps[0].Check != patchbay.CheckOK {
		t.Errorf("check: %+v %v", res, err)
	}
	if diff := cmp.Diff([]string{"refresh"}, pm.calls); diff != "" {
		t.Errorf("calls (-want +got):\n%s", diff)
	}
}

func TestInvalidJobsAreErrors(t *testing.T) {
	dir := t.TempDir()
	e := newExecutor(t, dir, newFake(), nil)
	for _, j := range []patchbay.Job{
		{ID: "../escape", Action: patchbay.JobRefresh},
		{ID: "x", Action: "reboot"},
		{ID: "x", Action: "shell"},
		{ID: "x", Action: patchbay.JobInstall},
	} {
		if _, err := e.Run(context.Background(), j); patchbay.ErrorCode(err) != patchbay.EINVALID {
			t.Errorf("Run(%+v) = %v", j, err)
		}
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Errorf("files stored for invalid jobs: %v", entries)
	}
}

func TestOutputIsBounded(t *testing.T) {
	big := strings.Repeat("x", 3*MaxOutput) + "THE END"
	got := tail([]byte(big), MaxOutput)
	if !strings.HasSuffix(got, "THE END") || len(got) > MaxOutput+64 || !strings.HasPrefix(got, "[... ") {
		t.Errorf("tail: %d bytes, starts %q", len(got), got[:20])
	}
}

func TestCorruptJobFileIsAnError(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "j1.json"), []byte("{"), 0o600); err != nil {
		t.Fatal(err)
	}
	e := newExecutor(t, dir, newFake(), nil)
	if _, err := e.Run(context.Background(), installJob("j1", demo2)); err == nil || !strings.Contains(err.Error(), "corrupt") {
		t.Errorf("err = %v", err)
	}
	if _, err := e.Resume(context.Background()); err == nil {
		t.Error("Resume ignored a corrupt job file")
	}
}
