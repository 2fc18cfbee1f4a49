package e2e

import (
	"context"
	"fmt"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/patchbay/patchbay"
	"github.com/patchbay/patchbay/internal/client"
	"github.com/patchbay/patchbay/internal/e2e/e2etest"
	"github.com/patchbay/patchbay/internal/lab"
	"github.com/patchbay/patchbay/internal/lab/labtest"
)

// TestRolloutRealApt: a security rollout (canary ring of 1, then the rest)
// runs on real agents with real apt. The agents check in an hour apart, so
// the jobs can only reach them through the long poll, and the server can
// only learn the new versions from the check-in the agent makes right
// after a job. Every host ends at exactly the planned versions, as
// dpkg-query inside the host says, and the server sees no security update
// left.
func TestRolloutRealApt(t *testing.T) {
	labtest.Require(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	const hosts = 3

	f := startFleet(t, hosts, "--interval", "1h")
	c := f.Client(t)
	waitForSecurityUpdates(ctx, t, c, hosts)

	d, err := c.CreateRollout(ctx, patchbay.Rollout{Name: "lab-security", Policy: patchbay.PolicySecurity,
		Rings: []patchbay.Ring{
			{Name: "canary", Count: 1, MaxConcurrency: 1},
			{Name: "rest", Percent: 100, MaxConcurrency: 2},
		}})
	if err != nil {
		t.Fatal(err)
	}
	if len(d.Hosts) != hosts {
		t.Fatalf("plan has %d hosts: %+v", len(d.Hosts), d.Hosts)
	}
	plan := map[string][]patchbay.PackageVersion{}
	for _, h := range d.Hosts {
		if len(h.Patches) == 0 {
			t.Fatalf("%s: empty patch set", h.Hostname)
		}
		plan[h.Hostname] = h.Patches
	}
	for _, a := range []string{"approve", "start"} {
		if _, err := c.RolloutAction(ctx, d.Rollout.ID, a); err != nil {
			t.Fatalf("%s: %v", a, err)
		}
	}
	start := time.Now()
	e2etest.WaitFor(t, "the rollout to end", 5*time.Minute, func() (bool, string) {
		if d, err = c.Rollout(ctx, d.Rollout.ID); err != nil {
			return false, err.Error()
		}
		var states []string
		for _, h := range d.Hosts {
			states = append(states, h.Hostname+"="+string(h.State)+" "+h.Reason)
		}
		s := d.Rollout.State
		return s == patchbay.RolloutCompleted || s == patchbay.RolloutHalted || s == patchbay.RolloutAborted,
			string(s) + ": " + strings.Join(states, ", ")
	})
	t.Logf("FIGURE security rollout on %d lab hosts (canary 1, then 2 at a time) with real apt: %s", hosts, time.Since(start).Round(time.Millisecond))
	if d.Rollout.State != patchbay.RolloutCompleted {
		t.Fatalf("rollout %s: %+v", d.Rollout.State, d.Hosts)
	}

	for _, lh := range f.lab.Hosts() {
		pkgs, ok := plan[lh.Name()]
		if !ok {
			t.Errorf("%s is not in the plan", lh.Name())
			continue
		}
		for _, p := range pkgs {
			name := p.Name
			if p.Arch != "" {
				name += ":" + p.Arch
			}
			got := strings.TrimSpace(mustExec(ctx, t, lh, "dpkg-query", "-W", "-f", "${Version}", name))
			if got != p.Version {
				t.Errorf("%s: %s at %q, planned %s", lh.Name(), name, got, p.Version)
			}
		}
	}
	// The server learnt the new versions from the check-in each agent
	// made right after its job, not from a scheduled one an hour away.
	e2etest.WaitFor(t, "no security update left on the server", 30*time.Second, func() (bool, string) {
		hs, err := c.ListHosts(ctx, client.HostQuery{})
		if err != nil {
			return false, err.Error()
		}
		for _, h := range hs {
			if h.SecurityUpdatesCount != 0 {
				return false, hostSummary(hs)
			}
		}
		return true, ""
	})
}

// TestRolloutAgentKilledMidInstall: the agent is killed with SIGKILL (and
// its dpkg with it, as a crash would) while a rollout's install runs a
// postinst. The restarted agent finishes the job from its job file:
// repairs dpkg, reports what is installed, and never installs again; the
// rollout completes with the planned versions and dpkg is consistent.
func TestRolloutAgentKilledMidInstall(t *testing.T) {
	labtest.Require(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()

	f := startFleet(t, 1, "--interval", "2s", "--refresh-interval", "0")
	h := f.lab.Hosts()[0]
	repo := f.lab.Repo()
	if err := repo.Publish(ctx, lab.BlockingPostinst("pb-block", "1.0-1")); err != nil {
		t.Fatal(err)
	}
	aptGet(ctx, t, h, "update")
	aptGet(ctx, t, h, "install", "-y", "pb-block=1.0-1")
	if err := repo.Publish(ctx, lab.BlockingPostinst("pb-block", "1.0-2")); err != nil {
		t.Fatal(err)
	}
	if err := h.WriteFile(ctx, lab.HoldPath("pb-block"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	c := f.Client(t)
	e2etest.WaitFor(t, "pb-block 1.0-2 pending on the server", 60*time.Second, func() (bool, string) {
		hs, err := c.ListHosts(ctx, client.HostQuery{})
		if err != nil || len(hs) != 1 {
			return false, fmt.Sprint(hs, err)
		}
		ups, err := c.HostUpdates(ctx, fmt.Sprint(hs[0].ID))
		if err != nil {
			return false, err.Error()
		}
		for _, u := range ups {
			if u.Name == "pb-block" && u.CandidateVersion == "1.0-2" {
				return true, ""
			}
		}
		return false, fmt.Sprintf("%d updates, no pb-block 1.0-2", len(ups))
	})

	d, err := c.CreateRollout(ctx, patchbay.Rollout{Name: "killed", Policy: patchbay.PolicyAll,
		Rings: []patchbay.Ring{{Name: "all", Percent: 100, MaxConcurrency: 1}}})
	if err != nil {
		t.Fatal(err)
	}
	if len(d.Hosts) != 1 {
		t.Fatalf("plan: %+v", d.Hosts)
	}
	plan := d.Hosts[0].Patches
	for _, a := range []string{"approve", "start"} {
		if _, err := c.RolloutAction(ctx, d.Rollout.ID, a); err != nil {
			t.Fatalf("%s: %v", a, err)
		}
	}
	// dpkg marks pb-block half-configured before its postinst, which
	// waits on the hold file: the job's install is under way.
	e2etest.WaitFor(t, "pb-block in its postinst", 2*time.Minute, func() (bool, string) {
		r, _ := h.Exec(ctx, "dpkg-query", "-W", "-f", "${db:Status-Abbrev} ${Version}", "pb-block")
		s := strings.Join(strings.Fields(string(r.Stdout)), " ") // the abbreviation is padded
		return s == "iF 1.0-2", s
	})
	if err := h.KillMain(ctx); err != nil {
		t.Fatal(err)
	}
	if err := h.KillProcess(ctx, "dpkg"); err != nil {
		t.Fatal(err)
	}
	if r, _ := h.Exec(ctx, "dpkg", "--audit"); len(strings.TrimSpace(string(r.Stdout))) == 0 {
		t.Fatal("dpkg --audit is clean after dpkg was killed mid-install; the test proves nothing")
	}
	mustExec(ctx, t, h, "rm", "-f", lab.HoldPath("pb-block"))

	e2etest.WaitFor(t, "the rollout to end", 3*time.Minute, func() (bool, string) {
		if d, err = c.Rollout(ctx, d.Rollout.ID); err != nil {
			return false, err.Error()
		}
		s := d.Rollout.State
		return s == patchbay.RolloutCompleted || s == patchbay.RolloutHalted || s == patchbay.RolloutAborted,
			fmt.Sprintf("%s: %s %s", s, d.Hosts[0].State, d.Hosts[0].Reason)
	})
	if d.Rollout.State != patchbay.RolloutCompleted || d.Hosts[0].State != patchbay.HostSucceeded {
		t.Fatalf("rollout %s, host %s: %s", d.Rollout.State, d.Hosts[0].State, d.Hosts[0].Reason)
	}
	for _, p := range plan {
		name := p.Name
		if p.Arch != "" {
			name += ":" + p.Arch
		}
		if got := strings.TrimSpace(mustExec(ctx, t, h, "dpkg-query", "-W", "-f", "${Version}", name)); got != p.Version {
			t.Errorf("%s at %q, planned %s", name, got, p.Version)
		}
	}
	if out := strings.TrimSpace(mustExec(ctx, t, h, "dpkg", "--audit")); out != "" {
		t.Errorf("dpkg --audit after the rollout:\n%s", out)
	}
	// One start of the job across both boots of the agent; the second
	// boot finished it from the job file.
	started, finished := 0, 0
	for _, l := range strings.Split(readLog(t, h), "\n") {
		if strings.Contains(l, `msg="job started" job_id=r`) && strings.Contains(l, "job_id="+d.Hosts[0].JobID) {
			started++
		}
		if strings.Contains(l, `msg="interrupted job finished"`) && strings.Contains(l, "job_id="+d.Hosts[0].JobID) && strings.Contains(l, "status=succeeded") {
			finished++
		}
	}
	if started != 1 || finished != 1 {
		t.Errorf("agent log: job %s started %d times, finished after the restart %d times; want 1 and 1", d.Hosts[0].JobID, started, finished)
	}
}

func readLog(t *testing.T, h *lab.Host) string {
	t.Helper()
	data, err := os.ReadFile(h.LogPath())
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}

// TestRolloutCanaryGateHalts: the canary's health check, a Nagios-style
// command registered in the agent's --checks-file, returns CRITICAL after
// the canary is patched. The rollout halts before the next ring starts,
// and no other host was touched.
func TestRolloutCanaryGateHalts(t *testing.T) {
	labtest.Require(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	const hosts = 3
	const checksFile, gateFile = "/etc/patchbay-checks.json", "/var/tmp/gate"

	// The agents fail to start until their checks file exists; the lab
	// restarts them a second later, as systemd would.
	f := startFleet(t, hosts, "--interval", "1h", "--checks-file", checksFile)
	checks := `{"checks": [{"name": "app", "type": "nagios", "timeout": "10s",
  "command": ["/bin/sh", "-c", "g=$(cat ` + gateFile + `); echo \"app gate $g\"; exit $g"]}]}`
	for _, h := range f.lab.Hosts() {
		if err := h.WriteFile(ctx, gateFile, []byte("0"), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := h.WriteFile(ctx, checksFile, []byte(checks), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	c := f.Client(t)
	waitForSecurityUpdates(ctx, t, c, hosts)

	d, err := c.CreateRollout(ctx, patchbay.Rollout{Name: "gated", Policy: patchbay.PolicySecurity,
		Budget: patchbay.FailureBudget{Count: 5},
		Rings: []patchbay.Ring{
			{Name: "canary", Count: 1, MaxConcurrency: 1, HealthGates: []string{"app"}, Canary: true},
			{Name: "rest", Percent: 100, MaxConcurrency: 2, HealthGates: []string{"app"}},
		}})
	if err != nil {
		t.Fatal(err)
	}
	byName := map[string]*lab.Host{}
	for _, h := range f.lab.Hosts() {
		byName[h.Name()] = h
	}
	var canary string
	plan := map[string][]patchbay.PackageVersion{}
	for _, hr := range d.Hosts {
		plan[hr.Hostname] = hr.Patches
		if hr.Ring == 0 {
			canary = hr.Hostname
		}
	}
	if canary == "" || len(plan) != hosts {
		t.Fatalf("plan: %+v", d.Hosts)
	}
	if err := byName[canary].WriteFile(ctx, gateFile, []byte("2"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, a := range []string{"approve", "start"} {
		if _, err := c.RolloutAction(ctx, d.Rollout.ID, a); err != nil {
			t.Fatalf("%s: %v", a, err)
		}
	}
	e2etest.WaitFor(t, "the rollout to stop", 3*time.Minute, func() (bool, string) {
		if d, err = c.Rollout(ctx, d.Rollout.ID); err != nil {
			return false, err.Error()
		}
		s := d.Rollout.State
		return s == patchbay.RolloutCompleted || s == patchbay.RolloutHalted || s == patchbay.RolloutAborted, string(s)
	})
	if d.Rollout.State != patchbay.RolloutHalted {
		t.Fatalf("rollout %s, want halted: %+v", d.Rollout.State, d.Hosts)
	}
	for _, hr := range d.Hosts {
		h := byName[hr.Hostname]
		if hr.Hostname == canary {
			if hr.State != patchbay.HostFailed || hr.FailedGate != "app" || !strings.Contains(hr.Reason, "CRITICAL") {
				t.Errorf("canary %s: %s, gate %q, %q", hr.Hostname, hr.State, hr.FailedGate, hr.Reason)
			}
			continue
		}
		if hr.State != patchbay.HostPending || hr.Attempts != 0 {
			t.Errorf("%s: %s after %d attempts; want never started", hr.Hostname, hr.State, hr.Attempts)
		}
		// Untouched: every planned package still at its old version.
		for _, p := range plan[hr.Hostname] {
			name := p.Name
			if p.Arch != "" {
				name += ":" + p.Arch
			}
			if got := strings.TrimSpace(mustExec(ctx, t, h, "dpkg-query", "-W", "-f", "${Version}", name)); got == p.Version {
				t.Errorf("%s: %s already at the planned %s; the halted rollout touched it", hr.Hostname, name, got)
			}
		}
		if strings.Contains(readLog(t, h), `msg="job started" job_id=r`) {
			t.Errorf("%s's agent started a job", hr.Hostname)
		}
	}
}

// startFleet starts a server and a lab of n hosts whose agents enrol with
// one token and run with agentArgs added (interval and the like); the
// agents' logs are printed when the test fails.
func startFleet(t *testing.T, n int, agentArgs ...string) *fleet {
	t.Helper()
	return startFleetServer(t, nil, n, agentArgs...)
}

// startFleetServer is startFleet with arguments for the server.
func startFleetServer(t *testing.T, serverArgs []string, n int, agentArgs ...string) *fleet {
	t.Helper()
	f := startServer(t, serverArgs...)
	tok := e2etest.Decode[patchbay.CreateTokenResponse](t, f.CLI(t, "tokens", "create", "--uses", fmt.Sprint(n), "-o", "json"))
	_, port, _ := net.SplitHostPort(f.Addr)
	f.lab = labtest.New(t, lab.Options{
		Hosts:       n,
		AgentBinary: binary,
		AgentArgs: append([]string{"agent", "--server", "https://" + net.JoinHostPort(lab.RepoIP, port), "--token", tok.Token,
			"--state-dir", "/var/lib/patchbay-agent"}, agentArgs...),
		Expose: []string{f.Addr},
	})
	t.Cleanup(func() {
		if t.Failed() {
			for _, h := range f.lab.Hosts() {
				logTail(t, h)
			}
		}
	})
	return f
}

// waitForSecurityUpdates waits until n hosts report pending security updates.
func waitForSecurityUpdates(ctx context.Context, t *testing.T, c *client.Client, n int) {
	t.Helper()
	e2etest.WaitFor(t, "every host with its security updates", 90*time.Second, func() (bool, string) {
		hs, err := c.ListHosts(ctx, client.HostQuery{})
		if err != nil {
			return false, err.Error()
		}
		with := 0
		for _, h := range hs {
			if h.SecurityUpdatesCount > 0 {
				with++
			}
		}
		return with == n, hostSummary(hs)
	})
}
