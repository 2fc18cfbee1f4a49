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
	"github.com/patchbay/patchbay/internal/lab"
	"github.com/patchbay/patchbay/internal/lab/labtest"
)

// failMarker makes demoAppFailing's postinst fail in the hosts that have
// it.
const failMarker = "/etc/demo-app-fail"

// demoAppFailing is demo-app whose postinst fails where failMarker exists.
func demoAppFailing(version string) lab.DebSpec {
	s := lab.DemoApp(version)
	s.Postinst = "if [ -e " + failMarker + " ]; then echo 'demo-app: postinst fails on this host' >&2; exit 1; fi\n"
	return s
}

// TestRolloutPolicyExceptionBudget runs three rollouts on five lab hosts
// with real apt, each proving one rule of issue 5 end to end:
//
//   - FrozenPlan: a stored policy (all updates, tzdata rejected) plans the
//     real pending bookworm-security updates and demo-app 1.0-2, canary of
//     1 then a wave of 4; demo-app 1.0-3 is published while the rollout
//     runs; every host ends at exactly the planned versions (1.0-2, not
//     1.0-3) and tzdata stays where it was.
//   - ExceptionHoldsThenExpires: an exception holds demo-app on one host:
//     that host is held and keeps 1.0-2 while the others get 1.0-3; once
//     the exception has expired the next rollout installs it there too.
//   - FailureBudget: budget 1, two hosts whose demo-app postinst fails: the
//     rollout halts; hosts started ≤ succeeded + budget + concurrency, and
//     the hosts never started keep their version.
func TestRolloutPolicyExceptionBudget(t *testing.T) {
	labtest.Require(t)
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	const hosts = 5

	f := startFleet(t, hosts, "--interval", "2s", "--refresh-interval", "0")
	c := f.Client(t)
	repo := f.lab.Repo()
	byName := map[string]*lab.Host{}
	for _, h := range f.lab.Hosts() {
		byName[h.Name()] = h
	}
	demoAppPending(ctx, t, f, c)
	tzdata := map[string]string{} // host → tzdata before anything ran
	for _, h := range f.lab.Hosts() {
		tzdata[h.Name()] = dpkgVersion(ctx, t, h, "tzdata")
	}

	pol, err := c.CreatePolicy(ctx, patchbay.Policy{Name: "lab-baseline", Classification: patchbay.ClassAll, Reject: []string{"tzdata"},
		Description: "everything but tzdata"})
	if err != nil {
		t.Fatal(err)
	}

	t.Run("FrozenPlan", func(t *testing.T) {
		d, err := c.CreateRollout(ctx, patchbay.Rollout{Name: "frozen", Policy: pol.Name,
			Rings: []patchbay.Ring{
				{Name: "canary", Count: 1, MaxConcurrency: 1, BakeTime: 3 * time.Second},
				{Name: "wave", Percent: 100, MaxConcurrency: 2},
			}})
		if err != nil {
			t.Fatal(err)
		}
		plan := map[string][]patchbay.PackageVersion{}
		var canary string
		for _, hr := range d.Hosts {
			plan[hr.Hostname] = hr.Patches
			if hr.Ring == 0 {
				canary = hr.Hostname
			}
			if !planHas(hr.Patches, "demo-app", "1.0-2") || len(hr.Patches) < 2 {
				t.Errorf("%s: plan %v lacks demo-app 1.0-2 and the security updates", hr.Hostname, hr.Patches)
			}
			if planHas(hr.Patches, "tzdata", "") || !excludedFor(hr, "tzdata", `rejected by policy lab-baseline (pattern "tzdata")`) {
				t.Errorf("%s: tzdata planned or not excluded by the reject rule: %+v", hr.Hostname, hr.Excluded)
			}
		}
		if len(plan) != hosts || canary == "" {
			t.Fatalf("plan of %d hosts, canary %q", len(plan), canary)
		}
		act(ctx, t, c, d.Rollout.ID, "approve", "start")
		start := time.Now()
		// While the canary bakes, a newer demo-app appears; the wave's jobs
		// refresh the index first, so apt sees 1.0-3 when it installs.
		e2etest.WaitFor(t, "the canary to succeed", 3*time.Minute, func() (bool, string) {
			d, err = c.Rollout(ctx, d.Rollout.ID)
			if err != nil {
				return false, err.Error()
			}
			return d.Counts[patchbay.HostSucceeded] >= 1, fmt.Sprint(d.Counts)
		})
		if err := repo.Publish(ctx, lab.DemoApp("1.0-3")); err != nil {
			t.Fatal(err)
		}
		d = waitRolloutEnd(ctx, t, c, d.Rollout.ID)
		if d.Rollout.State != patchbay.RolloutCompleted {
			t.Fatalf("rollout %s: %+v", d.Rollout.State, d.Hosts)
		}
		t.Logf("FIGURE rollout of a stored policy on %d lab hosts (canary 1, bake 3s, then 2 at a time) with real apt: %s",
			hosts, time.Since(start).Round(time.Millisecond))
		for name, pkgs := range plan {
			h := byName[name]
			for _, p := range pkgs {
				if got := dpkgVersion(ctx, t, h, pkgName(p)); got != p.Version {
					t.Errorf("%s: %s at %q, planned %s", name, pkgName(p), got, p.Version)
				}
			}
			if got := dpkgVersion(ctx, t, h, "tzdata"); got != tzdata[name] {
				t.Errorf("%s: tzdata moved from %s to %s although the policy rejects it", name, tzdata[name], got)
			}
		}
		// 1.0-3 was there all along for the wave: the hosts report it now.
		waitCandidate(ctx, t, c, "demo-app", "1.0-3", hosts)
	})

	held := f.lab.Hosts()[0].Name()
	t.Run("ExceptionHoldsThenExpires", func(t *testing.T) {
		expires := time.Now().Add(25 * time.Second)
		reply, err := c.CreateException(ctx, patchbay.ExceptionRequest{Host: held, Package: "demo-app",
			Reason: "demo-app 1.0-3 not certified here yet", Owner: "lab-team", ExpiresAt: expires})
		if err != nil {
			t.Fatal(err)
		}
		d := runRollout(ctx, t, c, patchbay.Rollout{Name: "held", Policy: pol.Name, Rings: []patchbay.Ring{{Name: "all", Percent: 100, MaxConcurrency: 4}}})
		if d.Rollout.State != patchbay.RolloutCompleted {
			t.Fatalf("rollout %s: %+v", d.Rollout.State, d.Hosts)
		}
		for _, hr := range d.Hosts {
			want := "1.0-3"
			if hr.Hostname == held {
				want = "1.0-2"
				if hr.State != patchbay.HostHeld || !excludedFor(hr, "demo-app", fmt.Sprintf("held by exception %d", reply.Exception.ID)) || hr.Attempts != 0 {
					t.Errorf("%s: %s after %d attempts, excluded %+v; want held, never started", hr.Hostname, hr.State, hr.Attempts, hr.Excluded)
				}
			}
			if got := dpkgVersion(ctx, t, byName[hr.Hostname], "demo-app"); got != want {
				t.Errorf("%s: demo-app %s, want %s", hr.Hostname, got, want)
			}
		}

		time.Sleep(time.Until(expires) + time.Second) // it expires by itself
		if active, err := c.ListExceptions(ctx, false); err != nil || len(active) != 0 {
			t.Fatalf("exceptions in force after the expiry: %+v %v", active, err)
		}
		d = runRollout(ctx, t, c, patchbay.Rollout{Name: "after-expiry", Policy: pol.Name, Rings: []patchbay.Ring{{Name: "all", Percent: 100, MaxConcurrency: 4}}})
		for _, hr := range d.Hosts {
			if hr.Hostname == held && (hr.State != patchbay.HostSucceeded || !planHas(hr.Patches, "demo-app", "1.0-3")) {
				t.Errorf("%s after the expiry: %s with %v, want demo-app 1.0-3 installed", hr.Hostname, hr.State, hr.Patches)
			}
			if hr.Hostname != held && hr.State != patchbay.HostSkipped {
				t.Errorf("%s: %s (%s), want skipped: nothing left that the policy approves", hr.Hostname, hr.State, hr.Reason)
			}
		}
		if got := dpkgVersion(ctx, t, byName[held], "demo-app"); got != "1.0-3" {
			t.Errorf("%s: demo-app %s after the expiry, want 1.0-3", held, got)
		}
	})

	t.Run("FailureBudget", func(t *testing.T) {
		failing := map[string]bool{f.lab.Hosts()[1].Name(): true, f.lab.Hosts()[3].Name(): true}
		for name := range failing {
			if err := byName[name].WriteFile(ctx, failMarker, nil, 0o644); err != nil {
				t.Fatal(err)
			}
		}
		if err := repo.Publish(ctx, demoAppFailing("2.0-1")); err != nil {
			t.Fatal(err)
		}
		waitCandidate(ctx, t, c, "demo-app", "2.0-1", hosts)
		const budget, concurrency = 1, 2
		d := runRollout(ctx, t, c, patchbay.Rollout{Name: "budget", Policy: pol.Name, Budget: patchbay.FailureBudget{Count: budget},
			Rings: []patchbay.Ring{{Name: "all", Percent: 100, MaxConcurrency: concurrency}}})
		if d.Rollout.State != patchbay.RolloutHalted {
			t.Fatalf("rollout %s, want halted: %+v", d.Rollout.State, d.Hosts)
		}
		// Halted at the breach; a host in flight then finishes.
		e2etest.WaitFor(t, "the hosts in flight to finish", 3*time.Minute, func() (bool, string) {
			var err error
			if d, err = c.Rollout(ctx, d.Rollout.ID); err != nil {
				return false, err.Error()
			}
			return d.Counts[patchbay.HostRunning] == 0, fmt.Sprint(d.Counts)
		})
		started, succeeded := 0, 0
		var breach time.Time
		for _, hr := range d.Hosts {
			if hr.Attempts > 0 {
				started++
			}
			switch {
			case hr.State == patchbay.HostSucceeded:
				succeeded++
				if failing[hr.Hostname] {
					t.Errorf("%s succeeded although its postinst fails", hr.Hostname)
				}
			case hr.State == patchbay.HostFailed:
				if !failing[hr.Hostname] || !strings.Contains(hr.Reason, "error processing package demo-app") {
					t.Errorf("%s failed: %q", hr.Hostname, hr.Reason)
				}
				if hr.FinishedAt.After(breach) {
					breach = hr.FinishedAt
				}
			case hr.Attempts == 0:
				if got := dpkgVersion(ctx, t, byName[hr.Hostname], "demo-app"); got != "1.0-3" {
					t.Errorf("%s never started, yet demo-app is %s", hr.Hostname, got)
				}
			}
		}
		if d.Counts[patchbay.HostFailed] != len(failing) {
			t.Errorf("%d hosts failed, want %d: %+v", d.Counts[patchbay.HostFailed], len(failing), d.Counts)
		}
		if started > succeeded+budget+concurrency {
			t.Errorf("started %d > succeeded %d + budget %d + concurrency %d", started, succeeded, budget, concurrency)
		}
		t.Logf("FIGURE failure budget 1 on 5 lab hosts (concurrency 2): %d started, %d succeeded, %d failed; budget breach to halt %s",
			started, succeeded, d.Counts[patchbay.HostFailed], d.Rollout.FinishedAt.Sub(breach).Round(time.Millisecond))
	})
}

// demoAppPending installs demo-app 1.0-1 in every host, publishes 1.0-2
// and waits until every host reports it pending.
func demoAppPending(ctx context.Context, t *testing.T, f *fleet, c *client.Client) {
	t.Helper()
	repo := f.lab.Repo()
	if err := repo.Publish(ctx, lab.DemoApp("1.0-1")); err != nil {
		t.Fatal(err)
	}
	for _, h := range f.lab.Hosts() {
		aptGet(ctx, t, h, "update")
		aptGet(ctx, t, h, "install", "-y", "demo-app=1.0-1")
	}
	if err := repo.Publish(ctx, lab.DemoApp("1.0-2")); err != nil {
		t.Fatal(err)
	}
	waitCandidate(ctx, t, c, "demo-app", "1.0-2", len(f.lab.Hosts()))
}

// runRollout creates, approves and starts a rollout and waits for it to
// end.
func runRollout(ctx context.Context, t *testing.T, c *client.Client, def patchbay.Rollout) patchbay.RolloutDetail {
	t.Helper()
	d, err := c.CreateRollout(ctx, def)
	if err != nil {
		t.Fatal(err)
	}
	act(ctx, t, c, d.Rollout.ID, "approve", "start")
	return waitRolloutEnd(ctx, t, c, d.Rollout.ID)
}

func act(ctx context.Context, t *testing.T, c *client.Client, id int64, actions ...string) {
	t.Helper()
	for _, a := range actions {
		if _, err := c.RolloutAction(ctx, id, a); err != nil {
			t.Fatalf("%s rollout %d: %v", a, id, err)
		}
	}
}

// waitRolloutEnd waits until the rollout is completed, halted or aborted.
func waitRolloutEnd(ctx context.Context, t *testing.T, c *client.Client, id int64) patchbay.RolloutDetail {
	t.Helper()
	var d patchbay.RolloutDetail
	e2etest.WaitFor(t, fmt.Sprintf("rollout %d to end", id), 5*time.Minute, func() (bool, string) {
		var err error
		if d, err = c.Rollout(ctx, id); err != nil {
			return false, err.Error()
		}
		var states []string
		for _, h := range d.Hosts {
			states = append(states, h.Hostname+"="+string(h.State)+" "+h.Reason)
		}
		return d.Rollout.State.Final(), string(d.Rollout.State) + ": " + strings.Join(states, ", ")
	})
	return d
}

// waitCandidate waits until n hosts report name pending at version.
func waitCandidate(ctx context.Context, t *testing.T, c *client.Client, name, version string, n int) {
	t.Helper()
	e2etest.WaitFor(t, fmt.Sprintf("%d hosts with %s %s pending", n, name, version), 90*time.Second, func() (bool, string) {
		hs, err := c.ListHosts(ctx, client.HostQuery{})
		if err != nil {
			return false, err.Error()
		}
		with := 0
		for _, h := range hs {
			ups, err := c.HostUpdates(ctx, fmt.Sprint(h.ID))
			if err != nil {
				return false, err.Error()
			}
			for _, u := range ups {
				if u.Name == name && u.CandidateVersion == version {
					with++
				}
			}
		}
		return with == n, fmt.Sprintf("%d of %d", with, n)
	})
}

func planHas(ps []patchbay.PackageVersion, name, version string) bool {
	for _, p := range ps {
		if p.Name == name && (version == "" || p.Version == version) {
			return true
		}
	}
	return false
}

func excludedFor(hr patchbay.HostRun, name, reason string) bool {
	for _, x := range hr.Excluded {
		if x.Name == name && strings.Contains(x.Reason, reason) {
			return true
		}
	}
	return false
}

func pkgName(p patchbay.PackageVersion) string {
	if p.Arch != "" {
		return p.Name + ":" + p.Arch
	}
	return p.Name
}

// dpkgVersion is the version of name installed in h, "" when none.
func dpkgVersion(ctx context.Context, t *testing.T, h *lab.Host, name string) string {
	t.Helper()
	res, err := h.Exec(ctx, "dpkg-query", "-W", "-f", "${Version}", name)
	if err != nil {
		t.Fatalf("%s: dpkg-query %s: %v", h.Name(), name, err)
	}
	return strings.TrimSpace(string(res.Stdout))
}
