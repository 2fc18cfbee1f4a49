package e2e

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/patchbay/patchbay"
	"github.com/patchbay/patchbay/internal/client"
	"github.com/patchbay/patchbay/internal/e2e/e2etest"
	"github.com/patchbay/patchbay/internal/lab/labtest"
)

// TestRollbackRestoresPreviousVersions: rollout 1 upgrades demo-app
// 1.0-1 → 1.0-2 on two hosts; `patchbay rollouts rollback 1` makes
// rollout 2, approved and started like any other, which downgrades both
// back to 1.0-1; each host's timeline shows both changes with their
// rollouts as causes. A rollback limited with --host plans that host only.
func TestRollbackRestoresPreviousVersions(t *testing.T) {
	labtest.Require(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	const hosts = 2

	f := startFleet(t, hosts, "--interval", "2s", "--refresh-interval", "0")
	c := f.Client(t)
	demoAppPending(ctx, t, f, c)
	f.CLI(t, "policies", "create", "demo-only", "--classification", "none", "--approve", "demo-app")

	d := runRollout(ctx, t, c, patchbay.Rollout{Name: "demo", Policy: "demo-only",
		Rings: []patchbay.Ring{{Name: "all", Percent: 100, MaxConcurrency: hosts}}})
	if d.Rollout.State != patchbay.RolloutCompleted || d.Counts[patchbay.HostSucceeded] != hosts {
		t.Fatalf("rollout 1: %s %v", d.Rollout.State, d.Counts)
	}
	for _, h := range f.lab.Hosts() {
		if got := dpkgVersion(ctx, t, h, "demo-app"); got != "1.0-2" {
			t.Fatalf("%s: demo-app %s after rollout 1", h.Name(), got)
		}
		waitChange(ctx, t, c, h.Name(), "1.0-1", "1.0-2", patchbay.RolloutCause(1))
	}

	out := string(f.CLI(t, "rollouts", "rollback", "1"))
	for _, h := range f.lab.Hosts() {
		if !strings.Contains(out, h.Name()) {
			t.Errorf("rollback plan does not name %s:\n%s", h.Name(), out)
		}
	}
	rb, err := c.Rollout(ctx, 2)
	if err != nil {
		t.Fatal(err)
	}
	if rb.Rollout.RollbackOf != 1 || rb.Rollout.State != patchbay.RolloutDraft || len(rb.Hosts) != hosts {
		t.Fatalf("rollout 2: rollback_of %d, %s, %d hosts", rb.Rollout.RollbackOf, rb.Rollout.State, len(rb.Hosts))
	}
	for _, hr := range rb.Hosts {
		if len(hr.Patches) != 1 || hr.Patches[0].Name != "demo-app" || hr.Patches[0].Version != "1.0-1" {
			t.Fatalf("%s: rollback plan %v, want demo-app 1.0-1", hr.Hostname, hr.Patches)
		}
	}
	if show := string(f.CLI(t, "rollouts", "show", "2")); !strings.Contains(show, "Rollback of #1") {
		t.Errorf("rollouts show 2 does not say it rolls back #1:\n%s", show)
	}
	f.CLI(t, "rollouts", "approve", "2")
	f.CLI(t, "rollouts", "start", "2")
	if d := waitRolloutEnd(ctx, t, c, 2); d.Rollout.State != patchbay.RolloutCompleted || d.Counts[patchbay.HostSucceeded] != hosts {
		t.Fatalf("rollout 2: %s %v %+v", d.Rollout.State, d.Counts, d.Hosts)
	}
	for _, h := range f.lab.Hosts() {
		if got := dpkgVersion(ctx, t, h, "demo-app"); got != "1.0-1" {
			t.Errorf("%s: demo-app %s after the rollback, want 1.0-1", h.Name(), got)
		}
		waitChange(ctx, t, c, h.Name(), "1.0-2", "1.0-1", patchbay.RolloutCause(2))
		// Both changes are still on the timeline.
		waitChange(ctx, t, c, h.Name(), "1.0-1", "1.0-2", patchbay.RolloutCause(1))
	}

	// --host limits the rollback to one host.
	first := f.lab.Hosts()[0].Name()
	out = string(f.CLI(t, "rollouts", "rollback", "1", "--host", first))
	limited, err := c.Rollout(ctx, 3)
	if err != nil {
		t.Fatal(err)
	}
	if len(limited.Hosts) != 1 || limited.Hosts[0].Hostname != first || limited.Rollout.RollbackOf != 1 {
		t.Errorf("rollback --host %s planned %+v:\n%s", first, limited.Hosts, out)
	}
	f.CLI(t, "rollouts", "abort", "3")
}

// waitChange waits until host's timeline shows demo-app changed from old
// to new with cause.
func waitChange(ctx context.Context, t *testing.T, c *client.Client, host, old, new, cause string) {
	t.Helper()
	e2etest.WaitFor(t, fmt.Sprintf("%s: demo-app %s → %s by %s on the timeline", host, old, new, cause), 90*time.Second, func() (bool, string) {
		events, err := c.HostHistory(ctx, host, "", "demo-app", 0)
		if err != nil {
			return false, err.Error()
		}
		var seen []string
		for _, e := range events {
			if e.OldVersion == old && e.NewVersion == new && e.Cause == cause {
				return true, ""
			}
			seen = append(seen, fmt.Sprintf("%s %s→%s %s", e.Kind, e.OldVersion, e.NewVersion, e.Cause))
		}
		return false, strings.Join(seen, "; ")
	})
}
