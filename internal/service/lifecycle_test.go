package service_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/patchbay/patchbay"
	"github.com/patchbay/patchbay/internal/service"
)

// oneRing takes every host, three at a time.
func oneRing() patchbay.Rollout {
	return patchbay.Rollout{Name: "december", Policy: patchbay.PolicySecurity, Target: patchbay.Selector{},
		Rings: []patchbay.Ring{{Name: "all", Percent: 100, MaxConcurrency: 3}}, Budget: patchbay.FailureBudget{Count: 0}}
}

// awayFleet is h1, h2 (checking in daily) and h3, which checks in every
// minute and has been silent for 10 minutes: away.
func awayFleet(t *testing.T) *fleet {
	f := newFleet(t, "h1", "h2", "h3")
	f.checkIn("h3", 60)
	f.clock = f.clock.Add(10 * time.Minute)
	return f
}

// rolloutLog returns the rollout's log entries of kind.
func (f *fleet) rolloutLog(id int64, kind string) []patchbay.RolloutEvent {
	f.t.Helper()
	d, err := f.svc.ShowRollout(f.admin, id)
	if err != nil {
		f.t.Fatal(err)
	}
	var out []patchbay.RolloutEvent
	for _, e := range d.Events {
		if e.Kind == kind {
			out = append(out, e)
		}
	}
	return out
}

// TestAwayHostMissesThenCatchesUp: a host away when its ring runs is
// missed (no job, no slot, no failure), the rollout completes without it;
// when it checks in again it gets the rollout's job before any other, the
// catch-up shows in the rollout's log and the host's timeline, and its
// result settles its place.
func TestAwayHostMissesThenCatchesUp(t *testing.T) {
	f := awayFleet(t)
	id := f.create(oneRing()).Rollout.ID
	f.act(id, service.ActionApprove)
	f.act(id, service.ActionStart)
	if got := f.states(id); got["h1"] != patchbay.HostRunning || got["h2"] != patchbay.HostRunning || got["h3"] != patchbay.HostMissed {
		t.Fatalf("after start: %v, want h1, h2 running and h3 missed", got)
	}
	if j := f.jobs("h3"); len(j) != 0 {
		t.Fatalf("the away host got jobs %v", j)
	}
	missed := f.rolloutLog(id, "host_missed")
	if len(missed) != 1 || !strings.Contains(missed[0].Detail, "h3: away when ring all ran") || !strings.Contains(missed[0].Detail, "catches up") {
		t.Errorf("missed log = %+v", missed)
	}
	f.result("h1", patchbay.JobSucceeded)
	f.result("h2", patchbay.JobSucceeded)
	f.tick(id)
	d, err := f.svc.ShowRollout(f.admin, id)
	if err != nil {
		t.Fatal(err)
	}
	if d.Rollout.State != patchbay.RolloutCompleted {
		t.Fatalf("rollout is %s with h3 missed, want completed (a missed host neither fails nor holds it)", d.Rollout.State)
	}

	// A second rollout, started while h3 is still away, misses it too.
	id2 := f.create(oneRing()).Rollout.ID
	f.act(id2, service.ActionApprove)
	f.act(id2, service.ActionStart)
	f.result("h1", patchbay.JobSucceeded)
	f.result("h2", patchbay.JobSucceeded)
	f.tick(id2)

	// h3 returns a day later: both catch-ups are queued, oldest rollout
	// first, and handed out before anything else.
	f.clock = f.clock.Add(24 * time.Hour)
	f.checkIn("h3", 60)
	poll, err := f.svc.PollJobs(f.hosts["h3"], 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(poll.Jobs) != 2 || !poll.Jobs[0].CatchUp || !poll.Jobs[1].CatchUp ||
		poll.Jobs[0].ID != jobOf(f, id, "h3") || poll.Jobs[1].ID != jobOf(f, id2, "h3") {
		t.Fatalf("h3's jobs on return = %+v, want the catch-ups of rollouts %d then %d", poll.Jobs, id, id2)
	}
	if len(poll.Jobs[0].Packages) != 1 || poll.Jobs[0].Packages[0].Name != "openssl" {
		t.Errorf("catch-up job installs %+v, want the frozen plan (openssl)", poll.Jobs[0].Packages)
	}
	if got := f.states(id); got["h3"] != patchbay.HostRunning {
		t.Errorf("h3 in rollout %d after its return: %s", id, got["h3"])
	}
	if up := f.rolloutLog(id, "host_catch_up"); len(up) != 1 || !strings.Contains(up[0].Detail, "h3 came back: catching up") {
		t.Errorf("catch-up log = %+v", up)
	}
	ev, err := f.svc.HostHistory(f.admin, "h3", service.HistoryFilter{})
	if err != nil {
		t.Fatal(err)
	}
	var catchUps int
	for _, e := range ev {
		if e.Kind == patchbay.EventCatchUp {
			catchUps++
			if e.Cause != patchbay.RolloutCause(id) && e.Cause != patchbay.RolloutCause(id2) {
				t.Errorf("catch-up event cause %q", e.Cause)
			}
		}
	}
	if catchUps != 2 {
		t.Errorf("h3's timeline has %d catch-up events, want 2", catchUps)
	}
	// Another check-in queues nothing more.
	f.checkIn("h3", 60)
	if j := f.jobs("h3"); len(j) != 2 {
		t.Errorf("after a second check-in h3 has jobs %v, want the same 2", j)
	}

	// The results settle h3's places; the rollouts stay completed.
	for _, j := range poll.Jobs {
		res := patchbay.JobResult{JobID: j.ID, Action: patchbay.JobInstall, Status: patchbay.JobSucceeded, StartedAt: f.clock,
			Installed: []patchbay.PackageVersion{{Name: "openssl", Arch: "amd64", Version: "3.0.15-1~deb12u1"}}}
		if err := f.svc.PostJobResult(f.hosts["h3"], j.ID, res); err != nil {
			t.Fatal(err)
		}
	}
	for _, rid := range []int64{id, id2} {
		d, err := f.svc.ShowRollout(f.admin, rid)
		if err != nil {
			t.Fatal(err)
		}
		for _, h := range d.Hosts {
			if h.Hostname == "h3" && (h.State != patchbay.HostSucceeded || !h.CatchUp || h.Attempts != 1) {
				t.Errorf("rollout %d: h3 = %s, catch-up %v, attempts %d; want succeeded by a catch-up", rid, h.State, h.CatchUp, h.Attempts)
			}
		}
		if d.Rollout.State != patchbay.RolloutCompleted {
			t.Errorf("rollout %d is %s after the catch-up", rid, d.Rollout.State)
		}
	}
}

// jobOf returns the job id of host name's latest attempt in rollout id.
func jobOf(f *fleet, id int64, name string) string {
	f.t.Helper()
	d, err := f.svc.ShowRollout(f.admin, id)
	if err != nil {
		f.t.Fatal(err)
	}
	for _, h := range d.Hosts {
		if h.Hostname == name {
			return h.JobID
		}
	}
	f.t.Fatalf("%s is not in rollout %d", name, id)
	return ""
}

// TestCatchUpTimesOutInACompletedRollout: a catch-up job that never
// reports fails after the host timeout, though its rollout is completed.
func TestCatchUpTimesOutInACompletedRollout(t *testing.T) {
	f := awayFleet(t)
	def := oneRing()
	def.HostTimeout = time.Hour
	id := f.start(def)
	f.result("h1", patchbay.JobSucceeded)
	f.result("h2", patchbay.JobSucceeded)
	f.tick(id)
	f.checkIn("h3", 60)
	if got := f.states(id); got["h3"] != patchbay.HostRunning {
		t.Fatalf("h3 after its return: %s", got["h3"])
	}
	f.clock = f.clock.Add(61 * time.Minute)
	if err := f.svc.TickAll(t.Context()); err != nil {
		t.Fatal(err)
	}
	if got := f.states(id); got["h3"] != patchbay.HostFailed {
		t.Errorf("h3 an hour after its catch-up started: %s, want failed by the host timeout", got["h3"])
	}
}

// TestNoCatchUp: the rollout's policy says no catch-up, or it halted, or
// its window is closed: the returning host gets nothing (for the window,
// until it opens).
func TestNoCatchUp(t *testing.T) {
	t.Run("no_catch_up", func(t *testing.T) {
		f := awayFleet(t)
		def := oneRing()
		def.NoCatchUp = true
		id := f.create(def).Rollout.ID
		f.act(id, service.ActionApprove)
		f.act(id, service.ActionStart)
		if m := f.rolloutLog(id, "host_missed"); len(m) != 1 || !strings.Contains(m[0].Detail, "does not catch up") {
			t.Errorf("missed log = %+v", m)
		}
		f.checkIn("h3", 60)
		if j := f.jobs("h3"); len(j) != 0 || f.states(id)["h3"] != patchbay.HostMissed {
			t.Errorf("h3 got %v and is %s; a rollout without catch-up leaves it missed", j, f.states(id)["h3"])
		}
	})
	t.Run("halted", func(t *testing.T) {
		f := awayFleet(t)
		id := f.create(oneRing()).Rollout.ID // budget 0
		f.act(id, service.ActionApprove)
		f.act(id, service.ActionStart)
		f.result("h1", patchbay.JobFailed)
		f.tick(id)
		if d, _ := f.svc.ShowRollout(f.admin, id); d.Rollout.State != patchbay.RolloutHalted {
			t.Fatalf("rollout %s, want halted", d.Rollout.State)
		}
		f.checkIn("h3", 60)
		if j := f.jobs("h3"); len(j) != 0 {
			t.Errorf("h3 caught up on a halted rollout: %v", j)
		}
	})
	t.Run("window", func(t *testing.T) {
		f := awayFleet(t)
		def := oneRing()
		// Open for an hour from the top of the current hour.
		start := f.clock.Truncate(time.Hour)
		def.Window = &patchbay.Window{Cron: start.Format("4 15 * * *"), Duration: time.Hour, TimeZone: "UTC"}
		id := f.create(def).Rollout.ID
		f.act(id, service.ActionApprove)
		f.act(id, service.ActionStart)
		if got := f.states(id); got["h3"] != patchbay.HostMissed {
			t.Fatalf("h3 in the window: %s", got["h3"])
		}
		f.clock = start.Add(2 * time.Hour) // closed
		f.checkIn("h3", 60)
		if j := f.jobs("h3"); len(j) != 0 {
			t.Errorf("h3 caught up outside the window: %v", j)
		}
		f.clock = start.Add(24 * time.Hour) // open again
		f.checkIn("h3", 60)
		if got := f.states(id); got["h3"] != patchbay.HostRunning {
			t.Errorf("h3 in the next window: %s, want running (caught up)", got["h3"])
		}
	})
}

// TestRetireHost: a retired host leaves lists, figures and plans, its
// agent is refused with a message that says how to take it back; an
// unretired one is back.
func TestRetireHost(t *testing.T) {
	f := newFleet(t, "h1", "h2")
	h, err := f.svc.RetireHost(f.admin, "h2", "decommissioned")
	if err != nil {
		t.Fatal(err)
	}
	if h.Status != patchbay.HostRetired || h.RetiredBy != "test" || h.RetiredReason != "decommissioned" {
		t.Errorf("retired host = %s by %q (%q)", h.Status, h.RetiredBy, h.RetiredReason)
	}
	if _, err := f.svc.RetireHost(f.admin, "h2", ""); patchbay.ErrorCode(err) != patchbay.ECONFLICT {
		t.Errorf("retiring twice: %v", err)
	}
	if _, err := f.svc.RetireHost(f.hosts["h1"], "h2", ""); patchbay.ErrorCode(err) != patchbay.EFORBIDDEN {
		t.Errorf("a host retiring a host: %v", err)
	}
	list, err := f.svc.ListHosts(f.admin, patchbay.HostFilter{})
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 1 || list[0].Hostname != "h1" {
		t.Errorf("hosts after retiring h2: %v", list)
	}
	o, err := f.svc.Overview(f.admin)
	if err != nil {
		t.Fatal(err)
	}
	if o.Total != 1 || o.Retired != 1 || o.SecurityUpdates != 1 {
		t.Errorf("overview: total %d, retired %d, with security updates %d; want 1, 1, 1", o.Total, o.Retired, o.SecurityUpdates)
	}
	d := f.create(oneRing())
	if len(d.Hosts) != 1 || d.Hosts[0].Hostname != "h1" {
		t.Errorf("a new plan takes %d hosts, want only h1", len(d.Hosts))
	}
	// Its agent is refused, even with a fresh enrolment of the machine.
	tok, _, err := f.svc.CreateEnrollToken(f.admin, service.NewEnrollToken{})
	if err != nil {
		t.Fatal(err)
	}
	enr, err := f.svc.Enroll(t.Context(), patchbay.EnrollRequest{Token: tok, MachineID: fmt.Sprintf("%032x", 2), Hostname: "h2", IntervalSeconds: 60})
	if err != nil {
		t.Fatal(err)
	}
	_, err = f.svc.Authenticate(t.Context(), enr.Credential)
	if patchbay.ErrorCode(err) != patchbay.EFORBIDDEN || !strings.Contains(patchbay.ErrorMessage(err), "patchbay hosts unretire h2") {
		t.Errorf("the retired host's agent: %v, want EFORBIDDEN saying how to unretire", err)
	}
	if _, err := f.svc.UnretireHost(f.admin, "h1"); patchbay.ErrorCode(err) != patchbay.ECONFLICT {
		t.Errorf("unretiring an active host: %v", err)
	}
	h, err = f.svc.UnretireHost(f.admin, "h2")
	if err != nil {
		t.Fatal(err)
	}
	if h.Status == patchbay.HostRetired || !h.RetiredAt.IsZero() {
		t.Errorf("unretired host = %s", h.Status)
	}
	if _, err := f.svc.Authenticate(t.Context(), enr.Credential); err != nil {
		t.Errorf("the unretired host's agent: %v", err)
	}
}

// TestDormantReport: dormant hosts longest unseen first, with owner, days
// unseen, pending security updates, and the retirement proposal after
// the retirement period; stale and active hosts are not in it.
func TestDormantReport(t *testing.T) {
	f := newFleet(t, "old", "dormant", "stale", "fresh")
	if _, err := f.svc.UpdateHost(f.admin, "old", map[string]string{"owner": "alice", "env": "lab"}); err != nil {
		t.Fatal(err)
	}
	for _, n := range []string{"old", "dormant", "stale", "fresh"} {
		f.checkIn(n, 3600)
	}
	t0 := f.clock
	// old is last seen at t0; dormant 80 days later; stale 94 days
	// later; fresh at the end, 95 days after t0.
	f.clock = t0.Add(80 * 24 * time.Hour)
	for _, n := range []string{"dormant", "stale", "fresh"} {
		f.checkIn(n, 3600)
	}
	f.clock = t0.Add(94 * 24 * time.Hour)
	f.checkIn("stale", 3600)
	f.checkIn("fresh", 3600)
	f.clock = t0.Add(95 * 24 * time.Hour)
	f.checkIn("fresh", 3600)

	rep, err := f.svc.DormantReport(f.admin)
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Hosts) != 2 || rep.Hosts[0].Hostname != "old" || rep.Hosts[1].Hostname != "dormant" {
		t.Fatalf("dormant report lists %+v, want old then dormant", rep.Hosts)
	}
	old, dormant := rep.Hosts[0], rep.Hosts[1]
	if old.Owner != "alice" || old.Environment != "lab" || old.DaysUnseen != 95 || !old.ProposeRetire || old.SecurityUpdates != 1 || old.Status != patchbay.HostDormant {
		t.Errorf("old = %+v", old)
	}
	if dormant.DaysUnseen != 15 || dormant.ProposeRetire {
		t.Errorf("dormant = %+v, want 15 days unseen and not proposed", dormant)
	}
	if rep.ProposedForRetirement != 1 || rep.Lifecycle.DormantAfter != patchbay.DefaultDormantAfter || rep.Lifecycle.RetireAfter != patchbay.DefaultRetireAfter {
		t.Errorf("report totals: %d proposed, lifecycle %+v", rep.ProposedForRetirement, rep.Lifecycle)
	}
	o, err := f.svc.Overview(f.admin)
	if err != nil {
		t.Fatal(err)
	}
	if o.Active != 1 || o.Stale != 1 || o.Dormant != 2 || o.Total != 4 {
		t.Errorf("overview: active %d stale %d dormant %d total %d; want 1 1 2 4", o.Active, o.Stale, o.Dormant, o.Total)
	}
	if _, err := f.svc.DormantReport(f.hosts["fresh"]); patchbay.ErrorCode(err) != patchbay.EFORBIDDEN {
		t.Errorf("a host reading the report: %v", err)
	}
}
