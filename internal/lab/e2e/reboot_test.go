package e2e

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/patchbay/patchbay"
	"github.com/patchbay/patchbay/internal/client"
	"github.com/patchbay/patchbay/internal/e2e/e2etest"
	"github.com/patchbay/patchbay/internal/lab"
	"github.com/patchbay/patchbay/internal/lab/labtest"
)

const (
	hooksFile = "/etc/patchbay-hooks.json"
	hookLog   = "/var/log/patchbay-hooks.log" // on the host's disk: kept across reboots
)

// logHook is a hook (or check) command that appends "UNIXTIME EVENT" to
// hookLog, then runs tail (shell).
func logHook(event, tail string) string {
	return `["/bin/sh", "-c", "echo \"$(date +%s.%N) ` + event + `\" >>` + hookLog + `; ` + tail + `"]`
}

// hooksJSON is a hooks file with a logging hook for each event;
// preReboot replaces the pre-reboot hook's tail.
func hooksJSON(preReboot string) string {
	if preReboot == "" {
		preReboot = "exit 0"
	}
	return `{"hooks": [
  {"event": "pre-patch", "name": "announce", "command": ` + logHook("pre-patch", "exit 0") + `},
  {"event": "post-patch", "name": "note", "command": ` + logHook("post-patch", "exit 0") + `},
  {"event": "pre-reboot", "name": "drain", "command": ` + logHook("pre-reboot", preReboot) + `, "timeout": "30s"},
  {"event": "post-reboot", "name": "restore", "command": ` + logHook("post-reboot", "exit 0") + `, "timeout": "30s"}
]}`
}

const rebootChecks = `{"checks": [{"name": "up", "type": "nagios", "timeout": "10s", "command": ` + `["/bin/sh", "-c", "echo \"$(date +%s.%N) check\" >>` + hookLog + `; echo OK - up"]` + `}]}`

// rebootFleet starts n hosts whose agents have hooksJSON(""), the "up"
// check and the lab's reboot command, labelled cluster=a, with
// pb-kernel 1.0-1 installed and 1.0-2 (which asks for a reboot) pending,
// and a policy approving it.
func rebootFleet(ctx context.Context, t *testing.T, n int) (*fleet, *client.Client) {
	t.Helper()
	// The agents fail to start until their hooks and checks files exist;
	// the lab restarts them a second later, as systemd would.
	f := startFleet(t, n, "--interval", "2s", "--refresh-interval", "0", "--hooks-file", hooksFile,
		"--checks-file", "/etc/patchbay-checks.json", "--reboot-command", lab.RebootCommand)
	for _, h := range f.lab.Hosts() {
		if err := h.WriteFile(ctx, "/etc/patchbay-checks.json", []byte(rebootChecks), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := h.WriteFile(ctx, hooksFile, []byte(hooksJSON("")), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	c := f.Client(t)
	repo := f.lab.Repo()
	if err := repo.Publish(ctx, lab.RebootRequired("pb-kernel", "1.0-1")); err != nil {
		t.Fatal(err)
	}
	for _, h := range f.lab.Hosts() {
		aptGet(ctx, t, h, "update")
		aptGet(ctx, t, h, "install", "-y", "pb-kernel=1.0-1")
		// Whether a reboot is required is asked after the patch, not
		// before: start from a host that does not need one.
		mustExec(ctx, t, h, "rm", "-f", "/var/run/reboot-required", "/var/run/reboot-required.pkgs")
	}
	if err := repo.Publish(ctx, lab.RebootRequired("pb-kernel", "1.0-2")); err != nil {
		t.Fatal(err)
	}
	waitCandidate(ctx, t, c, "pb-kernel", "1.0-2", n)
	for _, h := range f.lab.Hosts() {
		f.CLI(t, "hosts", "set", h.Name(), "cluster=a")
	}
	f.CLI(t, "policies", "create", "kernel-only", "--classification", "none", "--approve", "pb-kernel")
	f.CLI(t, "disruption", "add", "cluster", "--max", "1")
	return f, c
}

type hookLine struct {
	at    float64
	event string
}

func readHookLog(ctx context.Context, t *testing.T, h *lab.Host) []hookLine {
	t.Helper()
	res, err := h.Exec(ctx, "cat", hookLog)
	if err != nil || res.ExitCode != 0 {
		return nil
	}
	var out []hookLine
	for _, l := range strings.Split(strings.TrimSpace(string(res.Stdout)), "\n") {
		ts, ev, ok := strings.Cut(l, " ")
		at, err := strconv.ParseFloat(ts, 64)
		if !ok || err != nil {
			t.Fatalf("%s: hook log line %q", h.Name(), l)
		}
		out = append(out, hookLine{at, ev})
	}
	return out
}

func events(ls []hookLine) []string {
	var e []string
	for _, l := range ls {
		e = append(e, l.event)
	}
	return e
}

// TestRebootWithHooksAndBudget: a rollout on 4 hosts of cluster a whose
// patch requires a reboot. Each host drains, reboots (a new boot id),
// passes its gate and restores, hooks in that order; with the budget
// "cluster --max 1" no two hosts are down (drain to restore) at once,
// although the ring lets all 4 run together.
func TestRebootWithHooksAndBudget(t *testing.T) {
	labtest.Require(t)
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	const hosts = 4
	f, c := rebootFleet(ctx, t, hosts)
	bootsBefore := map[string]string{}
	for _, h := range f.lab.Hosts() {
		bootsBefore[h.Name()] = h.BootID()
	}
	start := time.Now()
	d := runRollout(ctx, t, c, patchbay.Rollout{Name: "kernel", Policy: "kernel-only", HostTimeout: 10 * time.Minute,
		Rings: []patchbay.Ring{{Name: "all", Percent: 100, MaxConcurrency: hosts, HealthGates: []string{"up"}}}})
	elapsed := time.Since(start)
	if d.Rollout.State != patchbay.RolloutCompleted {
		t.Fatalf("rollout %s: %+v", d.Rollout.State, d.Hosts)
	}
	type window struct {
		host       string
		down, back float64
	}
	var windows []window
	want := []string{"pre-patch", "post-patch", "pre-reboot", "check", "post-reboot"}
	for _, hr := range d.Hosts {
		h := hostByName(t, f, hr.Hostname)
		if hr.State != patchbay.HostSucceeded || !hr.Rebooted {
			t.Errorf("%s: %s, rebooted %v (%s)", hr.Hostname, hr.State, hr.Rebooted, hr.Reason)
		}
		if h.BootID() == bootsBefore[hr.Hostname] || h.Boots() != 2 {
			t.Errorf("%s: boot id %s (before %s), %d boots; want one reboot", hr.Hostname, h.BootID(), bootsBefore[hr.Hostname], h.Boots())
		}
		if v := dpkgVersion(ctx, t, h, "pb-kernel"); v != "1.0-2" {
			t.Errorf("%s: pb-kernel %s", hr.Hostname, v)
		}
		lines := readHookLog(ctx, t, h)
		if !slices.Equal(events(lines), want) {
			t.Errorf("%s: hooks ran %v, want %v", hr.Hostname, events(lines), want)
			continue
		}
		windows = append(windows, window{hr.Hostname, lines[2].at, lines[4].at})
	}
	sort.Slice(windows, func(i, j int) bool { return windows[i].down < windows[j].down })
	var spans []string
	latest := -1 // the window that ends last among those before
	for i, w := range windows {
		spans = append(spans, fmt.Sprintf("%s %.1fs", w.host, w.back-w.down))
		if latest >= 0 && w.down < windows[latest].back {
			t.Errorf("%s drained at %.3f while %s was down until %.3f: two hosts of cluster a down at once", w.host, w.down, windows[latest].host, windows[latest].back)
		}
		if latest < 0 || w.back > windows[latest].back {
			latest = i
		}
	}
	// The rollout's log shows the leases and reboots.
	out := string(f.CLI(t, "rollouts", "show", strconv.FormatInt(d.Rollout.ID, 10)))
	if !strings.Contains(out, "Reboot if-required") {
		t.Errorf("rollouts show:\n%s", out)
	}
	if st, err := c.Disruption(ctx); err != nil || len(st.Leases) != 0 {
		t.Errorf("leases after the rollout: %+v %v", st.Leases, err)
	}
	t.Logf("FIGURE 4 hosts, reboot required, cluster budget 1: rollout %s; drain → restore per host: %s", elapsed.Round(time.Second), strings.Join(spans, ", "))
}

// TestRebootFailures: with a failure budget of 1 and one host at a time,
// the budget "cluster --max 1" and h2 alone in cluster b,
// h1 reboots and never comes back (its pre-reboot hook removes the hooks
// file, so its agent cannot start on the new boot) and fails at the
// reboot timeout, keeping its lease; h2's pre-reboot hook fails, so h2 is
// failed without a reboot; that is over the budget, the rollout halts and
// h3 is never touched. When h1's agent can start again it finishes its
// job, the late result releases the lease.
func TestRebootFailures(t *testing.T) {
	labtest.Require(t)
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	f, c := rebootFleet(ctx, t, 3)
	h1, h2, h3 := hostByName(t, f, "h1"), hostByName(t, f, "h2"), hostByName(t, f, "h3")
	if err := h1.WriteFile(ctx, hooksFile, []byte(hooksJSON("rm -f "+hooksFile)), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := h2.WriteFile(ctx, hooksFile, []byte(hooksJSON("echo cannot migrate the containers >&2; exit 1")), 0o644); err != nil {
		t.Fatal(err)
	}
	// h2 is in another cluster: h1's held lease must not hold it up (a
	// host of cluster a would wait for it, until its host timeout).
	f.CLI(t, "hosts", "set", "h2", "cluster=b")
	// The agents read their hooks file at start: restart them.
	for _, h := range []*lab.Host{h1, h2} {
		mustExec(ctx, t, h, "sh", "-c", "kill -KILL $(cat /run/lab/main.pid)")
	}
	const rebootTimeout = 20 * time.Second
	start := time.Now()
	d := runRollout(ctx, t, c, patchbay.Rollout{Name: "kernel", Policy: "kernel-only", HostTimeout: 10 * time.Minute,
		RebootTimeout: rebootTimeout, Budget: patchbay.FailureBudget{Count: 1},
		Rings: []patchbay.Ring{{Name: "all", Percent: 100, MaxConcurrency: 1, HealthGates: []string{"up"}}}})
	if d.Rollout.State != patchbay.RolloutHalted {
		t.Fatalf("rollout %s: %+v", d.Rollout.State, d.Hosts)
	}
	byHost := map[string]patchbay.HostRun{}
	for _, hr := range d.Hosts {
		byHost[hr.Hostname] = hr
	}
	if hr := byHost["h1"]; hr.State != patchbay.HostFailed || !strings.Contains(hr.Reason, "did not come back within 20s of its reboot") {
		t.Errorf("h1: %s %q", hr.State, hr.Reason)
	}
	if h1.Boots() != 2 {
		t.Errorf("h1: %d boots, want 2 (it rebooted, its agent did not start)", h1.Boots())
	}
	if hr := byHost["h2"]; hr.State != patchbay.HostFailed || !strings.Contains(hr.Reason, "pre-reboot hook drain exited with status 1; the host was not rebooted") {
		t.Errorf("h2: %s %q", hr.State, hr.Reason)
	}
	if h2.Boots() != 1 || dpkgVersion(ctx, t, h2, "pb-kernel") != "1.0-2" {
		t.Errorf("h2: %d boots, pb-kernel %s; want patched and not rebooted", h2.Boots(), dpkgVersion(ctx, t, h2, "pb-kernel"))
	}
	if got := events(readHookLog(ctx, t, h2)); !slices.Equal(got, []string{"pre-patch", "post-patch", "pre-reboot"}) {
		t.Errorf("h2 hooks %v", got)
	}
	if hr := byHost["h3"]; hr.State != patchbay.HostPending || hr.Attempts != 0 || dpkgVersion(ctx, t, h3, "pb-kernel") != "1.0-1" {
		t.Errorf("h3: %s after %d attempts; want never started", hr.State, hr.Attempts)
	}
	t.Logf("FIGURE reboot timeout %s: h1 failed %s after the rollout started; halted over budget 1", rebootTimeout, time.Since(start).Round(time.Second))

	// h1 holds its lease: cluster a has lost a host.
	out := string(f.CLI(t, "disruption", "list"))
	if !strings.Contains(out, "h1") || !strings.Contains(out, "until released") {
		t.Errorf("disruption list:\n%s", out)
	}
	// h1's agent can start again: it finishes the job and reports.
	if err := h1.WriteFile(ctx, hooksFile, []byte(hooksJSON("")), 0o644); err != nil {
		t.Fatal(err)
	}
	e2etest.WaitFor(t, "h1's lease released by its late result", 2*time.Minute, func() (bool, string) {
		st, err := c.Disruption(ctx)
		if err != nil {
			return false, err.Error()
		}
		return len(st.Leases) == 0, fmt.Sprint(st.Leases)
	})
	if got := events(readHookLog(ctx, t, h1)); !slices.Equal(got, []string{"pre-patch", "post-patch", "pre-reboot", "check", "post-reboot"}) {
		t.Errorf("h1 hooks after it came back: %v", got)
	}
}

func hostByName(t *testing.T, f *fleet, name string) *lab.Host {
	t.Helper()
	for _, h := range f.lab.Hosts() {
		if h.Name() == name {
			return h
		}
	}
	t.Fatalf("no host %s", name)
	return nil
}
