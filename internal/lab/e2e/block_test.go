package e2e

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/patchbay/patchbay"
	"github.com/patchbay/patchbay/internal/e2e/e2etest"
	"github.com/patchbay/patchbay/internal/lab/labtest"
)

// TestBlockDuringRollout: demo-app 1.0-2 turns out bad while a rollout
// installs it. Two hosts have it already; the third is offline, its job
// queued. `patchbay block add` halts the rollout; the agents learn the
// blocked version; when the offline host comes back its job is withdrawn
// before delivery, so it never installs 1.0-2; a new plan leaves the
// version out.
func TestBlockDuringRollout(t *testing.T) {
	labtest.Require(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	const hosts = 3

	f := startFleet(t, hosts, "--interval", "2s", "--refresh-interval", "0")
	c := f.Client(t)
	demoAppPending(ctx, t, f, c)
	f.CLI(t, "policies", "create", "demo-only", "--classification", "none", "--approve", "demo-app")

	offline := f.lab.Hosts()[2]
	if err := offline.CutNetwork(ctx); err != nil {
		t.Fatal(err)
	}
	d, err := c.CreateRollout(ctx, patchbay.Rollout{Name: "demo", Policy: "demo-only",
		Rings: []patchbay.Ring{{Name: "all", Percent: 100, MaxConcurrency: hosts}}})
	if err != nil {
		t.Fatal(err)
	}
	for _, hr := range d.Hosts {
		if len(hr.Patches) != 1 || hr.Patches[0].Name != "demo-app" || hr.Patches[0].Version != "1.0-2" {
			t.Fatalf("%s: plan %v, want demo-app 1.0-2 only", hr.Hostname, hr.Patches)
		}
	}
	act(ctx, t, c, d.Rollout.ID, "approve", "start")
	e2etest.WaitFor(t, "the two online hosts to succeed", 3*time.Minute, func() (bool, string) {
		if d, err = c.Rollout(ctx, d.Rollout.ID); err != nil {
			return false, err.Error()
		}
		return d.Counts[patchbay.HostSucceeded] == hosts-1, fmt.Sprint(d.Counts)
	})

	out := string(f.CLI(t, "block", "add", "demo-app=1.0-2", "--reason", "corrupts its data directory"))
	blocked := time.Now()
	if !strings.Contains(out, "block 1: demo-app=1.0-2 is blocked fleet-wide") || !strings.Contains(out, "halted: rollout 1 (demo)") ||
		!strings.Contains(out, "rollout 1: "+offline.Name()) {
		t.Errorf("block add said:\n%s", out)
	}
	if d, err = c.Rollout(ctx, d.Rollout.ID); err != nil || d.Rollout.State != patchbay.RolloutHalted {
		t.Fatalf("rollout after the block: %s %v", d.Rollout.State, err)
	}
	// The online agents learn the list at their next exchange and keep it.
	for _, h := range f.lab.Hosts()[:2] {
		e2etest.WaitFor(t, h.Name()+": the blocked version on disk", 30*time.Second, func() (bool, string) {
			res, err := h.Exec(ctx, "cat", "/var/lib/patchbay-agent/jobs/blocked-versions.txt")
			if err != nil {
				return false, err.Error()
			}
			return strings.TrimSpace(string(res.Stdout)) == "demo-app=1.0-2", string(res.Stdout) + string(res.Stderr)
		})
	}

	if err := offline.RestoreNetwork(ctx); err != nil {
		t.Fatal(err)
	}
	e2etest.WaitFor(t, offline.Name()+"'s job withdrawn", 90*time.Second, func() (bool, string) {
		if d, err = c.Rollout(ctx, d.Rollout.ID); err != nil {
			return false, err.Error()
		}
		for _, hr := range d.Hosts {
			if hr.Hostname == offline.Name() {
				return hr.State == patchbay.HostFailed, string(hr.State) + " " + hr.Reason
			}
		}
		return false, "host not in the rollout"
	})
	t.Logf("FIGURE block add → the offline host's queued job withdrawn after it came back: %s", time.Since(blocked).Round(time.Millisecond))
	for _, hr := range d.Hosts {
		if hr.Hostname == offline.Name() && !strings.Contains(hr.Reason, "withdrawn before it ran: demo-app=1.0-2 is blocked fleet-wide") {
			t.Errorf("%s failed for %q", hr.Hostname, hr.Reason)
		}
	}
	// It checked in since, and still has 1.0-1; its agent never started a job.
	waitCandidate(ctx, t, c, "demo-app", "1.0-2", 1)
	if got := dpkgVersion(ctx, t, offline, "demo-app"); got != "1.0-1" {
		t.Errorf("%s: demo-app %s after the block, want 1.0-1", offline.Name(), got)
	}
	if strings.Contains(readLog(t, offline), `msg="job started" job_id=r`) {
		t.Errorf("%s's agent started a job", offline.Name())
	}

	// A new plan leaves the version out.
	d2, err := c.CreateRollout(ctx, patchbay.Rollout{Name: "after", Policy: "demo-only", Rings: []patchbay.Ring{{Name: "all", Percent: 100, MaxConcurrency: 1}}})
	if err != nil {
		t.Fatal(err)
	}
	for _, hr := range d2.Hosts {
		if hr.Hostname == offline.Name() && (len(hr.Patches) != 0 || !excludedFor(hr, "demo-app", "blocked fleet-wide")) {
			t.Errorf("new plan for %s: %v, excluded %+v", hr.Hostname, hr.Patches, hr.Excluded)
		}
	}
}
