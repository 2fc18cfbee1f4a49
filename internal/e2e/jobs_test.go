package e2e

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/patchbay/patchbay"
	"github.com/patchbay/patchbay/internal/client"
	"github.com/patchbay/patchbay/internal/e2e/e2etest"
	"github.com/patchbay/patchbay/internal/pki"
)

// withFlatRepo gives the fake root an apt source: a flat file repository
// offering bash 5.2.15-2+b8, newer than the installed 5.2.15-2+b7, so the
// agent reports one pending update (apt only simulates; no .deb is needed).
func (r *fakeRoot) withFlatRepo(t *testing.T) {
	t.Helper()
	repo := t.TempDir()
	pkgs := "Package: bash\nVersion: 5.2.15-2+b8\nArchitecture: amd64\nMaintainer: e2e <e2e@example.org>\n" +
		"Filename: ./bash_5.2.15-2+b8_amd64.deb\nSize: 1\nSHA256: " + strings.Repeat("0", 64) + "\nDescription: test package\n\n"
	if err := os.WriteFile(filepath.Join(repo, "Packages"), []byte(pkgs), 0o644); err != nil {
		t.Fatal(err)
	}
	rel, err := exec.Command("apt-ftparchive", "release", repo).Output()
	if err != nil {
		t.Skipf("apt-ftparchive: %v", err)
	}
	if err := os.WriteFile(filepath.Join(repo, "Release"), rel, 0o644); err != nil {
		t.Fatal(err)
	}
	src := fmt.Sprintf("deb [trusted=yes] file:%s ./\n", repo)
	if err := os.WriteFile(filepath.Join(r.dir, "etc/apt/sources.list"), []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
}

// startAgent runs `patchbay agent` (check-ins an hour apart, jobs on) until
// the test ends.
func (s *server) startAgent(t *testing.T, root, stateDir, token string, extra ...string) {
	t.Helper()
	args := append([]string{"agent", "--server", s.URL, "--token", token, "--root", root, "--state-dir", stateDir, "--interval", "1h", "--log-level", "debug"}, extra...)
	cmd := exec.Command(binary, args...)
	var logs bytes.Buffer
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGINT)
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			cmd.Process.Kill()
			<-done
			t.Error("agent did not stop on SIGINT")
		}
		if t.Failed() {
			t.Logf("agent log:\n%s", lastLines(logs.String(), 40))
		}
	})
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}

// TestJobPickupLatency runs the real server and the real agent: a rollout
// started on the server reaches the idle agent through its long poll, not
// at its next check-in (an hour away). The agent inventories a fake root,
// where apt installs nothing ("only on the running system"), so every job
// fails at once and its result measures the way there and back: rollout
// start -> scheduler tick -> job queued -> long poll wakes -> executor ->
// result posted -> host settled. 20 rollouts; p50/p95 are logged.
func TestJobPickupLatency(t *testing.T) {
	s := startServer(t)
	tok := decode[patchbay.CreateTokenResponse](t, s.CLI(t, "tokens", "create", "-o", "json"))
	root := newFakeRoot(t, "fedcba9876543210fedcba9876543210", "jobs-host")
	root.withFlatRepo(t)
	s.startAgent(t, root.dir, filepath.Join(t.TempDir(), "state"), tok.Token)

	tlsCfg, err := pki.PoolConfig(s.CAPEM)
	if err != nil {
		t.Fatal(err)
	}
	c := client.New(s.URL, s.Admin, tlsCfg)
	ctx := context.Background()
	e2etest.WaitFor(t, "the host with its pending update", 30*time.Second, func() (bool, string) {
		hosts, err := c.ListHosts(ctx, client.HostQuery{})
		if err != nil || len(hosts) != 1 {
			return false, fmt.Sprintf("hosts %v, err %v", hosts, err)
		}
		return hosts[0].UpdatesCount == 1, fmt.Sprintf("updates_count %d", hosts[0].UpdatesCount)
	})

	const n = 20
	var wall, server []time.Duration
	for i := range n {
		d, err := c.CreateRollout(ctx, patchbay.Rollout{Name: fmt.Sprintf("pickup-%d", i), Policy: patchbay.PolicyAll,
			Rings: []patchbay.Ring{{Name: "all", Percent: 100, MaxConcurrency: 1}}})
		if err != nil {
			t.Fatalf("create rollout %d: %v", i, err)
		}
		if len(d.Hosts) != 1 || len(d.Hosts[0].Patches) != 1 || d.Hosts[0].Patches[0].Version != "5.2.15-2+b8" {
			t.Fatalf("plan %d: %+v", i, d.Hosts)
		}
		if _, err := c.RolloutAction(ctx, d.Rollout.ID, "approve"); err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		if _, err := c.RolloutAction(ctx, d.Rollout.ID, "start"); err != nil {
			t.Fatal(err)
		}
		var h patchbay.HostRun
		e2etest.WaitFor(t, fmt.Sprintf("the result of rollout %d", i), 10*time.Second, func() (bool, string) {
			got, err := c.Rollout(ctx, d.Rollout.ID)
			if err != nil || len(got.Hosts) != 1 {
				return false, fmt.Sprint(err)
			}
			h = got.Hosts[0]
			return h.State != patchbay.HostPending && h.State != patchbay.HostRunning, string(h.State)
		})
		if h.State != patchbay.HostFailed || !strings.Contains(h.Reason, "only on the running system") {
			t.Fatalf("rollout %d: host %s: %q; want the agent's refusal to install into a root that is not running", i, h.State, h.Reason)
		}
		wall = append(wall, h.FinishedAt.Sub(start))
		server = append(server, h.FinishedAt.Sub(h.StartedAt))
	}
	t.Logf("job round trip, start request to result stored (%d jobs): p50 %v, p95 %v, max %v", n, pct(wall, 50), pct(wall, 95), pct(wall, 100))
	t.Logf("job round trip, job queued to result stored (server clock): p50 %v, p95 %v, max %v", pct(server, 50), pct(server, 95), pct(server, 100))
}

// pct is the p-th percentile (nearest rank) of ds.
func pct(ds []time.Duration, p int) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	i := (p*len(s)+99)/100 - 1
	return s[max(0, min(i, len(s)-1))].Round(100 * time.Microsecond)
}
