package service_test

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/patchbay/patchbay"
)

// clusterA checks names in with a 60 s interval, labels them cluster=a
// and adds the disruption budget budget with max 1.
func (f *fleet) clusterA(budget string, names ...string) {
	f.t.Helper()
	for _, n := range names {
		f.checkIn(n, 60)
		if _, err := f.svc.UpdateHost(f.admin, n, map[string]string{"cluster": "a"}); err != nil {
			f.t.Fatal(err)
		}
	}
	if _, err := f.svc.AddDisruptionBudget(f.admin, patchbay.DisruptionBudgetRequest{Budget: budget, Max: 1}); err != nil {
		f.t.Fatal(err)
	}
}

// TestDisruptionLeases: with "cluster --max 1", two hosts of cluster a
// never hold leases together, cluster b is not held up by a, the lease
// ends with the job, a refusal names the holder, and a job that no
// longer runs gets no lease.
func TestDisruptionLeases(t *testing.T) {
	f := newFleet(t, "a1", "a2", "b1", "solo")
	for name, cluster := range map[string]string{"a1": "a", "a2": "a", "b1": "b"} {
		if _, err := f.svc.UpdateHost(f.admin, name, map[string]string{"cluster": cluster}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := f.svc.AddDisruptionBudget(f.admin, patchbay.DisruptionBudgetRequest{Budget: "cluster", Max: 0}); patchbay.ErrorCode(err) != patchbay.EINVALID {
		t.Fatalf("max 0: %v, want invalid", err)
	}
	if _, err := f.svc.AddDisruptionBudget(f.hosts["a1"], patchbay.DisruptionBudgetRequest{Budget: "cluster", Max: 1}); patchbay.ErrorCode(err) != patchbay.EFORBIDDEN {
		t.Fatalf("budget by a host: %v, want forbidden", err)
	}
	b, err := f.svc.AddDisruptionBudget(f.admin, patchbay.DisruptionBudgetRequest{Budget: "cluster", Max: 1})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.svc.AddDisruptionBudget(f.admin, patchbay.DisruptionBudgetRequest{Budget: "cluster", Max: 2}); patchbay.ErrorCode(err) != patchbay.ECONFLICT {
		t.Fatalf("second budget for the same label: %v, want conflict", err)
	}
	def := twoRings()
	def.Rings = []patchbay.Ring{{Name: "all", Percent: 100, MaxConcurrency: 4}}
	id := f.start(def)
	job := func(name string) string { return f.jobs(name)[0] }

	lease := func(name string) patchbay.LeaseReply {
		t.Helper()
		r, err := f.svc.AcquireLease(f.hosts[name], job(name))
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		return r
	}
	if r := lease("a1"); !r.Granted || r.ExpiresAt.IsZero() {
		t.Fatalf("a1: %+v", r)
	}
	if r := lease("a2"); r.Granted || !slices.Equal(r.HeldBy, []string{"a1"}) || !strings.Contains(r.Budget, "cluster=a") || r.RetryAfterSeconds <= 0 {
		t.Fatalf("a2 while a1 holds cluster a: %+v", r)
	}
	if r := lease("b1"); !r.Granted {
		t.Fatalf("b1 (cluster b): %+v", r)
	}
	if r := lease("solo"); !r.Granted {
		t.Fatalf("solo (no cluster label): %+v", r)
	}
	if r := lease("a1"); !r.Granted {
		t.Fatalf("a1 asking again: %+v", r)
	}
	// Another host may not ask for a1's job.
	if _, err := f.svc.AcquireLease(f.hosts["a2"], job("a1")); patchbay.ErrorCode(err) != patchbay.ENOTFOUND {
		t.Fatalf("a2 asking for a1's job: %v", err)
	}
	st, err := f.svc.Disruption(f.admin)
	if err != nil || len(st.Budgets) != 1 || len(st.Leases) != 3 {
		t.Fatalf("status %+v %v", st, err)
	}
	// a1's job ends: its lease with it, and a2 gets one.
	f.result("a1", patchbay.JobSucceeded)
	if r := lease("a2"); !r.Granted {
		t.Fatalf("a2 after a1 finished: %+v", r)
	}
	// A job that no longer runs (a1's is done) gets none.
	d, _ := f.svc.ShowRollout(f.admin, id)
	var a1Job string
	for _, h := range d.Hosts {
		if h.Hostname == "a1" {
			a1Job = h.JobID
		}
	}
	if _, err := f.svc.AcquireLease(f.hosts["a1"], a1Job); patchbay.ErrorCode(err) != patchbay.ECONFLICT {
		t.Fatalf("lease for a finished job: %v, want conflict", err)
	}
	// An operator releases one; removing the budget lets all go.
	if _, err := f.svc.ReleaseLease(f.admin, "a2"); err != nil {
		t.Fatal(err)
	}
	if _, err := f.svc.ReleaseLease(f.admin, "a2"); patchbay.ErrorCode(err) != patchbay.ENOTFOUND {
		t.Fatalf("second release: %v", err)
	}
	if err := f.svc.RemoveDisruptionBudget(f.admin, b.ID); err != nil {
		t.Fatal(err)
	}
}

// TestLeaseExpiresWhenHolderDies: a holder that stops renewing loses its
// lease after its TTL; heartbeats renew it.
func TestLeaseExpiresWhenHolderDies(t *testing.T) {
	f := newFleet(t, "a1", "a2")
	f.clusterA("cluster=a", "a1", "a2") // the lease's TTL follows the check-in interval
	def := twoRings()
	def.Rings = []patchbay.Ring{{Name: "all", Percent: 100, MaxConcurrency: 2}}
	f.start(def)
	j1, j2 := f.jobs("a1")[0], f.jobs("a2")[0]
	if r, err := f.svc.AcquireLease(f.hosts["a1"], j1); err != nil || !r.Granted {
		t.Fatal(r, err)
	}
	// a1 keeps checking in for 30 minutes: the lease lives on.
	for range 6 {
		f.clock = f.clock.Add(5 * time.Minute)
		if _, err := f.svc.Heartbeat(f.hosts["a1"], patchbay.Heartbeat{SchemaVersion: patchbay.InventorySchemaVersion}); err != nil {
			t.Fatal(err)
		}
	}
	if r, _ := f.svc.AcquireLease(f.hosts["a2"], j2); r.Granted {
		t.Fatal("a2 got a lease while a1, alive, holds cluster a's")
	}
	// a1 dies: after the TTL the lease is gone.
	f.clock = f.clock.Add(11 * time.Minute)
	if r, _ := f.svc.AcquireLease(f.hosts["a2"], j2); !r.Granted {
		t.Fatalf("a2 after a1 stopped renewing for 11 minutes: %+v", r)
	}
}

// TestRebootTimeout: a host that reports rebooting and never comes back
// fails at the reboot timeout, counts against the failure budget (the
// rollout halts) and keeps its lease; when it comes back late its result
// releases the lease.
func TestRebootTimeout(t *testing.T) {
	f := newFleet(t, "h1", "h2", "h3")
	def := twoRings()
	def.Rings = []patchbay.Ring{{Name: "all", Percent: 100, MaxConcurrency: 1}}
	def.Budget = patchbay.FailureBudget{Count: 0}
	def.RebootTimeout = 10 * time.Minute
	id := f.start(def)
	j := f.jobs("h1")[0]
	if r, err := f.svc.AcquireLease(f.hosts["h1"], j); err != nil || !r.Granted {
		t.Fatal(r, err)
	}
	progress := patchbay.JobResult{JobID: j, Action: patchbay.JobInstall, Status: patchbay.JobRunning, Phase: patchbay.PhaseRebooting,
		BootIDBefore: "b0", RebootAttempts: 1, Steps: []patchbay.StepResult{}}
	if err := f.svc.PostJobResult(f.hosts["h1"], j, progress); err != nil {
		t.Fatal(err)
	}
	d, _ := f.svc.ShowRollout(f.admin, id)
	if h := d.Hosts[0]; h.Phase != patchbay.PhaseRebooting || !h.PhaseSince.Equal(f.clock) || h.State != patchbay.HostRunning {
		t.Fatalf("h1 while rebooting: %+v", h)
	}
	f.clock = f.clock.Add(9 * time.Minute)
	f.tick(id)
	if st := f.states(id); st["h1"] != patchbay.HostRunning {
		t.Fatalf("before the timeout: %v", st)
	}
	f.clock = f.clock.Add(time.Minute)
	f.tick(id)
	d, _ = f.svc.ShowRollout(f.admin, id)
	if h := d.Hosts[0]; h.State != patchbay.HostFailed || !strings.Contains(h.Reason, "did not come back within 10m0s of its reboot") || h.Failures != 1 {
		t.Fatalf("h1 after the timeout: %+v", h)
	}
	if d.Rollout.State != patchbay.RolloutHalted {
		t.Errorf("rollout %s after a failure over budget 0", d.Rollout.State)
	}
	// Its lease is held until it returns, however long.
	f.clock = f.clock.Add(24 * time.Hour)
	st, _ := f.svc.Disruption(f.admin)
	if len(st.Leases) != 1 || !st.Leases[0].ExpiresAt.IsZero() || !strings.Contains(st.Leases[0].Note, "did not come back") {
		t.Fatalf("leases a day later: %+v", st.Leases)
	}
	// It comes back and posts its final result: the lease ends.
	final := progress
	final.Status, final.Phase, final.Rebooted, final.BootIDAfter = patchbay.JobSucceeded, "", true, "b1"
	if err := f.svc.PostJobResult(f.hosts["h1"], j, final); err != nil {
		t.Fatal(err)
	}
	if st, _ := f.svc.Disruption(f.admin); len(st.Leases) != 0 {
		t.Errorf("leases after h1's late result: %+v", st.Leases)
	}
}

// TestLeaseWaitIsNotLate: with cluster a's budget at 1 and a 30-minute
// host timeout, a host queued 49 minutes behind two lease holders in turn
// is not timed out while it waits and checks in; once it has its lease it
// gets its full 30 minutes and no more (the wait is recorded on its run).
// A host that stops checking in while it waits fails once it is away,
// with a reason that says so.
func TestLeaseWaitIsNotLate(t *testing.T) {
	names := []string{"a1", "a2", "a3", "a4"}
	f := newFleet(t, names...)
	f.clusterA("cluster", names...) // away after 3 missed minutes
	def := twoRings()
	def.Rings = []patchbay.Ring{{Name: "all", Percent: 100, MaxConcurrency: 4}}
	def.Budget = patchbay.FailureBudget{Count: 5}
	def.HostTimeout = 30 * time.Minute
	id := f.start(def)
	start := f.clock
	jobs := map[string]string{}
	for _, n := range names {
		jobs[n] = f.jobs(n)[0]
	}
	phase := func(name, phase string) {
		t.Helper()
		res := patchbay.JobResult{JobID: jobs[name], Action: patchbay.JobInstall, Status: patchbay.JobRunning, Phase: phase, Steps: []patchbay.StepResult{}}
		if err := f.svc.PostJobResult(f.hosts[name], jobs[name], res); err != nil {
			t.Fatal(err)
		}
	}
	lease := func(name string, want bool) {
		t.Helper()
		r, err := f.svc.AcquireLease(f.hosts[name], jobs[name])
		if err != nil || r.Granted != want {
			t.Fatalf("%s asks for the lease at %s: %+v %v; want granted=%v", name, f.clock.Sub(start), r, err, want)
		}
		if want {
			phase(name, patchbay.PhaseDraining)
		} else {
			phase(name, patchbay.PhaseWaitingLease)
		}
	}
	run := func(name string) patchbay.HostRun {
		t.Helper()
		d, err := f.svc.ShowRollout(f.admin, id)
		if err != nil {
			t.Fatal(err)
		}
		for _, h := range d.Hosts {
			if h.Hostname == name {
				return h
			}
		}
		t.Fatalf("no run for %s", name)
		return patchbay.HostRun{}
	}
	// minutes passes m minutes from the start, the hosts of alive
	// checking in every minute, and checks that a2 waits on.
	minutes := func(from, to int, alive ...string) {
		t.Helper()
		for m := from; m <= to; m++ {
			f.clock = start.Add(time.Duration(m) * time.Minute)
			for _, n := range alive {
				f.checkIn(n, 60)
			}
			f.tick(id)
			if h := run("a2"); h.State != patchbay.HostRunning {
				t.Fatalf("minute %d: a2 is %s: %s", m, h.State, h.Reason)
			}
		}
	}
	lease("a1", true)
	f.clock = start.Add(time.Minute)
	lease("a2", false)
	lease("a3", false)
	lease("a4", false)
	// a4 stops checking in at minute 10: it fails 3 intervals later.
	minutes(2, 10, "a1", "a2", "a3", "a4")
	minutes(11, 12, "a1", "a2", "a3")
	if h := run("a4"); h.State != patchbay.HostRunning {
		t.Fatalf("a4 at minute 12, 2 minutes after its last check-in: %s %s", h.State, h.Reason)
	}
	minutes(13, 14, "a1", "a2", "a3")
	if h := run("a4"); h.State != patchbay.HostFailed || !strings.Contains(h.Reason, "stopped checking in while waiting for a disruption lease") {
		t.Fatalf("a4, silent since minute 10: %+v", h)
	}
	// a1 is done at 25; a3 holds the lease from 25 to 50; a2 waits on,
	// past its 30-minute host timeout.
	minutes(15, 25, "a1", "a2", "a3")
	f.result("a1", patchbay.JobSucceeded)
	lease("a3", true)
	minutes(26, 50, "a2", "a3")
	f.result("a3", patchbay.JobSucceeded)
	lease("a2", true)
	if h := run("a2"); h.LeaseWait != 49*time.Minute {
		t.Fatalf("a2 waited %s for its lease; want 49m", h.LeaseWait)
	}
	// 30 minutes from its start plus the 49 it waited: 79 minutes.
	minutes(51, 78, "a2")
	f.clock = start.Add(79 * time.Minute)
	f.checkIn("a2", 60)
	f.tick(id)
	if h := run("a2"); h.State != patchbay.HostFailed || !strings.Contains(h.Reason, "not counting 49m0s waiting for a disruption lease") {
		t.Fatalf("a2 at 79 minutes: %+v", h)
	}
}
