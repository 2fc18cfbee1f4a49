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

// TestDormantHostCatchesUp: a host loses its network and goes dormant (the
// server says so after one minute here); the dormant report lists it with
// its owner and exposure; a rollout runs without it (missed, not failed)
// and completes; when the host comes back it gets the rollout's job first
// and ends at the planned version, the catch-up visible in its timeline
// and the rollout's log. Then `hosts retire` takes another host out of the
// lists and refuses its agent, keeping its history, and `hosts unretire`
// brings it back.
func TestDormantHostCatchesUp(t *testing.T) {
	labtest.Require(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	const hosts = 3

	f := startFleetServer(t, []string{"--dormant-after", "1m", "--retire-after", "2m"}, hosts, "--interval", "2s", "--refresh-interval", "0")
	c := f.Client(t)
	demoAppPending(ctx, t, f, c)
	f.CLI(t, "policies", "create", "demo-only", "--classification", "none", "--approve", "demo-app")
	away, other := f.lab.Hosts()[2], f.lab.Hosts()[0]
	f.CLI(t, "hosts", "set", away.Name(), "owner=carol", "env=lab")

	if err := away.CutNetwork(ctx); err != nil {
		t.Fatal(err)
	}
	cut := time.Now()
	var dormant []patchbay.Host
	e2etest.WaitFor(t, away.Name()+" dormant", 2*time.Minute, func() (bool, string) {
		var err error
		if dormant, err = c.ListHosts(ctx, client.HostQuery{Status: patchbay.HostDormant}); err != nil {
			return false, err.Error()
		}
		return len(dormant) == 1 && dormant[0].Hostname == away.Name(), hostSummary(dormant)
	})
	t.Logf("FIGURE %s dormant %s after its network was cut (dormant-after 1m)", away.Name(), time.Since(cut).Round(time.Second))
	rep := e2etest.Decode[patchbay.DormantReport](t, f.CLI(t, "hosts", "dormant", "-o", "json"))
	if len(rep.Hosts) != 1 || rep.Hosts[0].Hostname != away.Name() || rep.Hosts[0].Owner != "carol" || rep.Hosts[0].Environment != "lab" ||
		rep.Hosts[0].SecurityUpdates != dormant[0].SecurityUpdatesCount || rep.Hosts[0].ProposeRetire || rep.Hosts[0].Status != patchbay.HostDormant {
		t.Errorf("dormant report: %+v", rep)
	}
	table := string(f.CLI(t, "hosts", "dormant"))
	if !strings.Contains(table, away.Name()) || !strings.Contains(table, "carol") || !strings.Contains(table, "1 dormant hosts (unseen for 1m0s), 0 proposed for retirement") {
		t.Errorf("hosts dormant said:\n%s", table)
	}

	d, err := c.CreateRollout(ctx, patchbay.Rollout{Name: "demo", Policy: "demo-only",
		Rings: []patchbay.Ring{{Name: "all", Percent: 100, MaxConcurrency: hosts}}})
	if err != nil {
		t.Fatal(err)
	}
	act(ctx, t, c, d.Rollout.ID, "approve", "start")
	d = waitRolloutEnd(ctx, t, c, d.Rollout.ID)
	if d.Rollout.State != patchbay.RolloutCompleted || d.Counts[patchbay.HostSucceeded] != hosts-1 || d.Counts[patchbay.HostMissed] != 1 {
		t.Fatalf("rollout %s with %v, want completed: %d succeeded, the dormant host missed", d.Rollout.State, d.Counts, hosts-1)
	}
	for _, hr := range d.Hosts {
		if hr.Hostname == away.Name() && !strings.Contains(hr.Reason, "away when ring all ran") {
			t.Errorf("%s missed for %q", hr.Hostname, hr.Reason)
		}
	}
	if got := dpkgVersion(ctx, t, away, "demo-app"); got != "1.0-1" {
		t.Fatalf("%s has demo-app %s while away", away.Name(), got)
	}

	if err := away.RestoreNetwork(ctx); err != nil {
		t.Fatal(err)
	}
	back := time.Now()
	e2etest.WaitFor(t, away.Name()+" caught up", 3*time.Minute, func() (bool, string) {
		if d, err = c.Rollout(ctx, d.Rollout.ID); err != nil {
			return false, err.Error()
		}
		for _, hr := range d.Hosts {
			if hr.Hostname == away.Name() {
				return hr.State == patchbay.HostSucceeded, string(hr.State) + " " + hr.Reason
			}
		}
		return false, "not in the rollout"
	})
	t.Logf("FIGURE %s back on the network → its catch-up succeeded: %s", away.Name(), time.Since(back).Round(time.Millisecond))
	if got := dpkgVersion(ctx, t, away, "demo-app"); got != "1.0-2" {
		t.Errorf("%s has demo-app %s after its catch-up, want the planned 1.0-2", away.Name(), got)
	}
	for _, hr := range d.Hosts {
		if hr.Hostname == away.Name() && (!hr.CatchUp || hr.Attempts != 1) {
			t.Errorf("%s: catch-up %v, attempts %d", hr.Hostname, hr.CatchUp, hr.Attempts)
		}
	}
	if d.Rollout.State != patchbay.RolloutCompleted {
		t.Errorf("rollout %s after the catch-up", d.Rollout.State)
	}
	var logged bool
	for _, e := range d.Events {
		logged = logged || e.Kind == "host_catch_up" && strings.Contains(e.Detail, away.Name()+" came back")
	}
	if !logged {
		t.Errorf("the rollout's log has no catch-up of %s: %+v", away.Name(), d.Events)
	}
	hist := string(f.CLI(t, "hosts", "history", away.Name()))
	if !strings.Contains(hist, "catch_up") || !strings.Contains(hist, "demo-app") {
		t.Errorf("%s's history lacks the catch-up and its upgrade:\n%s", away.Name(), hist)
	}
	// The catch-up was the first job its agent ran after coming back (its
	// last failed exchange with the server).
	agentLog := readLog(t, away)
	after := agentLog[max(0, strings.LastIndex(agentLog, "failed")):]
	if i := strings.Index(after, `msg="job started"`); i < 0 || !strings.HasPrefix(after[i:], fmt.Sprintf(`msg="job started" job_id=r%d-`, d.Rollout.ID)) {
		t.Errorf("%s's first job after its return was not the catch-up:\n%s", away.Name(), after)
	}

	// Retire another host: out of the lists, its agent refused, its
	// history kept; unretire: back.
	out := string(f.CLI(t, "hosts", "retire", other.Name(), "--reason", "replaced by vm-b"))
	if !strings.Contains(out, "retired") || !strings.Contains(out, "replaced by vm-b") {
		t.Errorf("hosts retire said:\n%s", out)
	}
	retired := time.Now()
	listed := e2etest.Decode[[]patchbay.Host](t, f.CLI(t, "hosts", "list", "-o", "json"))
	for _, h := range listed {
		if h.Hostname == other.Name() {
			t.Errorf("a retired host is listed: %+v", h)
		}
	}
	if len(listed) != hosts-1 {
		t.Errorf("hosts list after retiring one: %s", hostSummary(listed))
	}
	e2etest.WaitFor(t, other.Name()+"'s agent refused", 30*time.Second, func() (bool, string) {
		l := readLog(t, other)
		return strings.Contains(l, "patchbay hosts unretire "+other.Name()), "agent log has no refusal yet"
	})
	show := e2etest.Decode[patchbay.Host](t, f.CLI(t, "hosts", "show", other.Name(), "-o", "json"))
	if show.Status != patchbay.HostRetired || show.LastSeen.After(retired.Add(time.Second)) {
		t.Errorf("retired host: %s, last seen %s (retired at %s)", show.Status, show.LastSeen, retired)
	}
	if hist := string(f.CLI(t, "hosts", "history", other.Name())); !strings.Contains(hist, "retired") || !strings.Contains(hist, "demo-app") {
		t.Errorf("the retired host's history:\n%s", hist)
	}
	f.CLI(t, "hosts", "unretire", other.Name())
	unretired := time.Now()
	e2etest.WaitFor(t, other.Name()+" checking in again", 90*time.Second, func() (bool, string) {
		h := e2etest.Decode[patchbay.Host](t, f.CLI(t, "hosts", "show", other.Name(), "-o", "json"))
		return h.Status == patchbay.HostActive && h.LastSeen.After(unretired), string(h.Status) + " last seen " + h.LastSeen.String()
	})
}
