package job

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/patchbay/patchbay"
	"github.com/patchbay/patchbay/internal/agent/hook"
	"github.com/patchbay/patchbay/internal/pkgmgr"
	"github.com/patchbay/patchbay/internal/pkgmgr/osexec"
)

// machine is the host as a rebooting job sees it: a boot id that the
// reboot command changes (when reboots work), and hooks that append to a
// log file.
type machine struct {
	bootID   string
	boots    int
	broken   bool // the reboot command "works" but the host never reboots
	commands []string
	log      string // hook log
	stale    []patchbay.StaleProcess
}

func (m *machine) Run(ctx context.Context, c pkgmgr.Cmd) (pkgmgr.Result, error) {
	m.commands = append(m.commands, strings.Join(append([]string{c.Path}, c.Args...), " "))
	if c.Path == "reboot-now" {
		if !m.broken {
			m.boots++
			m.bootID = "boot-" + string(rune('0'+m.boots))
		}
		return pkgmgr.Result{}, nil
	}
	return osexec.Runner{}.Run(ctx, c)
}

type coordinator struct {
	phases []string
	refuse error
}

func (c *coordinator) AcquireLease(ctx context.Context, jobID string) error { return c.refuse }
func (c *coordinator) ReportProgress(ctx context.Context, res patchbay.JobResult) {
	c.phases = append(c.phases, res.Phase)
}

func newRebootHost(t *testing.T, hooks ...hook.Spec) (*machine, Config) {
	t.Helper()
	m := &machine{bootID: "boot-0", log: filepath.Join(t.TempDir(), "hooks.log")}
	for i := range hooks {
		if hooks[i].Command == nil {
			hooks[i].Command = []string{"sh", "-c", "echo " + hooks[i].Event + ":" + hooks[i].Name + " >>" + m.log}
		}
	}
	cfg := Config{
		Now: func() time.Time { return clock }, Hooks: hook.New(hook.Config{Hooks: hooks}, m), Runner: m,
		RebootCommand: []string{"reboot-now"},
		BootID:        func() (string, error) { return m.bootID, nil },
		StaleProcesses: func() ([]patchbay.StaleProcess, error) {
			return m.stale, nil
		},
		Checks: checkSet(shCheck("ok", "echo OK")),
	}
	return m, cfg
}

func start(t *testing.T, dir string, pm *fakePM, cfg Config, coord Coordinator) *Executor {
	t.Helper()
	cfg.Dir, cfg.Manager, cfg.Installer = dir, pm, pm
	e, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if coord != nil {
		e.SetCoordinator(coord)
	}
	return e
}

func (m *machine) hookLog(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile(m.log)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(b))
}

var allHooks = []hook.Spec{{Event: hook.PrePatch, Name: "announce"}, {Event: hook.PostPatch, Name: "note"},
	{Event: hook.PreReboot, Name: "drain"}, {Event: hook.PostReboot, Name: "restore"}}

func rebootJob(policy patchbay.RebootPolicy) patchbay.Job {
	j := installJob("r1", demo2)
	j.Reboot, j.Checks = policy, []string{"ok"}
	return j
}

// TestRebootSequence: a patch that needs a reboot drains, reboots, and —
// once the agent starts on the new boot — passes its gates and restores.
func TestRebootSequence(t *testing.T) {
	dir := t.TempDir()
	pm := newFake()
	pm.needReboot = true
	m, cfg := newRebootHost(t, allHooks...)
	coord := &coordinator{}
	res, err := start(t, dir, pm, cfg, coord).Run(context.Background(), rebootJob(patchbay.RebootIfRequired))
	if err != nil {
		t.Fatal(err)
	}
	if res.Done() || res.Phase != patchbay.PhaseRebooting || res.BootIDBefore != "boot-0" || res.RebootAttempts != 1 {
		t.Fatalf("before the reboot: %+v", res)
	}
	if got := m.hookLog(t); got != "pre-patch:announce\npost-patch:note\npre-reboot:drain" {
		t.Errorf("hooks before the reboot:\n%s", got)
	}
	// The host reboots: a new agent process, the same job dir.
	pm.needReboot = false
	results, err := start(t, dir, pm, cfg, coord).Resume(context.Background())
	if err != nil || len(results) != 1 {
		t.Fatalf("resume: %v %v", results, err)
	}
	res = results[0]
	if res.Status != patchbay.JobSucceeded || !res.Rebooted || res.BootIDAfter != "boot-1" || res.Phase != "" || !res.RebootRequired {
		t.Errorf("after the reboot: %+v", res)
	}
	want := []string{"repair=succeeded", "hook:pre-patch:announce=succeeded", "install=succeeded", "verify=succeeded",
		"hook:post-patch:note=succeeded", "reboot-check=succeeded", "lease=succeeded", "hook:pre-reboot:drain=succeeded",
		"reboot=succeeded", "check:ok=succeeded", "hook:post-reboot:restore=succeeded"}
	if diff := cmp.Diff(want, stepNames(res)); diff != "" {
		t.Errorf("steps (-want +got):\n%s", diff)
	}
	if got := m.hookLog(t); got != "pre-patch:announce\npost-patch:note\npre-reboot:drain\npost-reboot:restore" {
		t.Errorf("hooks:\n%s", got)
	}
	if diff := cmp.Diff([]string{patchbay.PhaseWaitingLease, patchbay.PhaseDraining, patchbay.PhaseRebooting, patchbay.PhaseRestoring}, coord.phases); diff != "" {
		t.Errorf("phases reported (-want +got):\n%s", diff)
	}
	if m.boots != 1 {
		t.Errorf("%d reboots", m.boots)
	}
}

// TestRebootLoopGuard: a host whose reboot command does nothing is asked
// MaxRebootAttempts times, then the job fails.
func TestRebootLoopGuard(t *testing.T) {
	dir := t.TempDir()
	pm := newFake()
	pm.needReboot = true
	m, cfg := newRebootHost(t)
	m.broken = true
	res, err := start(t, dir, pm, cfg, nil).Run(context.Background(), rebootJob(patchbay.RebootAlways))
	for i := 0; err == nil && !res.Done() && i < 10; i++ {
		res, err = start(t, dir, pm, cfg, nil).Run(context.Background(), rebootJob(patchbay.RebootAlways))
	}
	if err != nil {
		t.Fatal(err)
	}
	if res.Status != patchbay.JobFailed || !strings.Contains(res.Reason, "reboot-loop guard: 3 reboot attempts") || res.RebootAttempts != 3 {
		t.Errorf("result %s, attempts %d", res, res.RebootAttempts)
	}
	reboots := 0
	for _, c := range m.commands {
		if c == "reboot-now" {
			reboots++
		}
	}
	if reboots != patchbay.MaxRebootAttempts {
		t.Errorf("%d reboot commands, want %d", reboots, patchbay.MaxRebootAttempts)
	}
}

func TestRebootRefusals(t *testing.T) {
	for _, tc := range []struct {
		name      string
		hooks     []hook.Spec
		policy    patchbay.RebootPolicy
		need      bool
		refuse    error
		installed string // demo-app after the job
		reason    string // "" succeeded
		rebooted  bool
		log       string
	}{
		{name: "failing pre-patch hook installs nothing", hooks: []hook.Spec{{Event: hook.PrePatch, Name: "gate", Command: []string{"sh", "-c", "echo no >&2; exit 3"}}},
			policy: patchbay.RebootAlways, installed: "1.0-1", reason: "pre-patch hook gate exited with status 3; nothing was installed"},
		{name: "failing pre-reboot hook leaves the host unrebooted", hooks: []hook.Spec{{Event: hook.PreReboot, Name: "drain", Command: []string{"sh", "-c", "exit 1"}},
			{Event: hook.PostReboot, Name: "restore"}}, policy: patchbay.RebootIfRequired, need: true, installed: "1.0-2",
			reason: "pre-reboot hook drain exited with status 1; the host was not rebooted"},
		{name: "lease refused", policy: patchbay.RebootAlways, refuse: errors.New("job r1 is no longer running"), installed: "1.0-2",
			reason: "no disruption lease: job r1 is no longer running; the host was not rebooted"},
		{name: "never reboots even when required", policy: patchbay.RebootNever, need: true, installed: "1.0-2", hooks: []hook.Spec{{Event: hook.PreReboot, Name: "drain"}}},
		{name: "if-required without the need", policy: patchbay.RebootIfRequired, installed: "1.0-2", hooks: []hook.Spec{{Event: hook.PreReboot, Name: "drain"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pm := newFake()
			pm.needReboot = tc.need
			m, cfg := newRebootHost(t, tc.hooks...)
			res, err := start(t, t.TempDir(), pm, cfg, &coordinator{refuse: tc.refuse}).Run(context.Background(), rebootJob(tc.policy))
			if err != nil {
				t.Fatal(err)
			}
			if !res.Done() || res.Reason != tc.reason || res.Rebooted != tc.rebooted || m.boots != 0 {
				t.Errorf("result %s (rebooted %v, boots %d), want reason %q", res, res.Rebooted, m.boots, tc.reason)
			}
			if pm.installed["demo-app"] != tc.installed {
				t.Errorf("demo-app %q, want %q", pm.installed["demo-app"], tc.installed)
			}
			if res.RebootRequired != tc.need && !strings.Contains(tc.name, "pre-patch") {
				t.Errorf("reboot required %v, want %v", res.RebootRequired, tc.need)
			}
			if got := m.hookLog(t); got != tc.log {
				t.Errorf("hook log %q, want %q", got, tc.log)
			}
		})
	}
}

func TestStaleProcessesRestarted(t *testing.T) {
	pm := newFake()
	m, cfg := newRebootHost(t)
	m.stale = []patchbay.StaleProcess{{PID: 10, Command: "nginx", Unit: "nginx.service", Files: []string{"/usr/lib/libssl.so.3"}},
		{PID: 11, Command: "patchbay", Unit: "patchbay-agent.service"}}
	cfg.OwnUnit = "patchbay-agent.service"
	// systemctl is not run for real: the machine records it.
	cfg.Runner = runnerFunc(func(ctx context.Context, c pkgmgr.Cmd) (pkgmgr.Result, error) {
		m.commands = append(m.commands, c.Path+" "+strings.Join(c.Args, " "))
		return pkgmgr.Result{}, nil
	})
	j := rebootJob(patchbay.RebootIfRequired)
	j.RestartServices = true
	res, err := start(t, t.TempDir(), pm, cfg, nil).Run(context.Background(), j)
	if err != nil || res.Status != patchbay.JobSucceeded {
		t.Fatalf("%s %v", res, err)
	}
	if diff := cmp.Diff([]string{"nginx.service"}, res.Restarted); diff != "" || len(res.StaleProcesses) != 2 {
		t.Errorf("restarted (-want +got):\n%s\nstale %+v", diff, res.StaleProcesses)
	}
	if diff := cmp.Diff([]string{"systemctl restart -- nginx.service"}, m.commands); diff != "" {
		t.Errorf("commands (-want +got):\n%s", diff)
	}
}

type runnerFunc func(context.Context, pkgmgr.Cmd) (pkgmgr.Result, error)

func (f runnerFunc) Run(ctx context.Context, c pkgmgr.Cmd) (pkgmgr.Result, error) { return f(ctx, c) }
