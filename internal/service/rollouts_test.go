package service_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/patchbay/patchbay"
	"github.com/patchbay/patchbay/internal/service"
)

// fleet is a service over a real SQLite database with an injected clock
// and n Debian hosts h1..hn, each with a pending security update of
// openssl and a non-security update of vim.
type fleet struct {
	*vulnFixture
	hosts map[string]context.Context // hostname → acting as that host
	ids   map[string]int64
}

func newFleet(t *testing.T, names ...string) *fleet {
	t.Helper()
	f := &fleet{vulnFixture: newVulnFixture(t), hosts: map[string]context.Context{}, ids: map[string]int64{}}
	for _, name := range names {
		mid := fmt.Sprintf("%032x", len(f.hosts)+1)
		ctx := f.host(mid, name)
		p, _ := patchbay.PrincipalFrom(ctx)
		f.hosts[name], f.ids[name] = ctx, p.HostID
		f.report(ctx, patchbay.Inventory{SchemaVersion: patchbay.InventorySchemaVersion, MachineID: mid, Hostname: name,
			PackageManager: "apt", Arch: "amd64", OS: patchbay.OS{ID: "debian", VersionID: "12", Codename: "bookworm", Name: "Debian GNU/Linux"},
			Packages: []patchbay.Package{debPkg("openssl", "openssl", "3.0.14-1~deb12u2"), debPkg("vim", "vim", "2:9.0.1378-2")},
			Updates: []patchbay.Update{
				{Name: "openssl", Arch: "amd64", InstalledVersion: "3.0.14-1~deb12u2", CandidateVersion: "3.0.15-1~deb12u1", Origin: "Debian-Security:12/stable-security", Security: true},
				{Name: "vim", Arch: "amd64", InstalledVersion: "2:9.0.1378-2", CandidateVersion: "2:9.0.1378-2+deb12u1", Origin: "Debian:12.8/stable"},
			}})
		// A daily check-in: the tests move the clock by hours without
		// the hosts checking in, and a host away when its turn comes
		// would miss it (lifecycle_test.go tests that).
		f.checkIn(name, 86400)
	}
	f.answerChangelogs()
	return f
}

// checkIn sends a heartbeat of host name with a check-in interval.
func (f *fleet) checkIn(name string, intervalSeconds int64) {
	f.t.Helper()
	if _, err := f.svc.Heartbeat(f.hosts[name], patchbay.Heartbeat{SchemaVersion: patchbay.InventorySchemaVersion, IntervalSeconds: intervalSeconds}); err != nil {
		f.t.Fatalf("heartbeat %s: %v", name, err)
	}
}

// answerChangelogs answers the changelog jobs the hosts' first reports
// brought (changelogs_test.go tests them), so that each host's jobs are
// the rollout's.
func (f *fleet) answerChangelogs() {
	f.t.Helper()
	for _, ctx := range f.hosts {
		poll, err := f.svc.PollJobs(ctx, 0)
		if err != nil {
			f.t.Fatal(err)
		}
		for _, j := range poll.Jobs {
			p := j.Packages[0]
			text := fmt.Sprintf("%s (%s) bookworm-security; urgency=medium\n\n  * Fix CVE-2026-0001.\n\n -- A Maintainer <a@example.org>  Mon, 31 Aug 2026 12:00:00 +0000\n", p.Name, p.Version)
			res := patchbay.JobResult{JobID: j.ID, Action: j.Action, Status: patchbay.JobSucceeded, Steps: []patchbay.StepResult{},
				Changelog: &patchbay.ChangelogFile{Package: p.Name, Version: p.Version, Source: p.Name, SourceVersion: p.Version, Text: text}}
			if err := f.svc.PostJobResult(ctx, j.ID, res); err != nil {
				f.t.Fatal(err)
			}
		}
	}
}

func (f *fleet) create(def patchbay.Rollout) patchbay.RolloutDetail {
	f.t.Helper()
	d, err := f.svc.CreateRollout(f.admin, def)
	if err != nil {
		f.t.Fatal(err)
	}
	return d
}

// start creates the rollout def, approves and starts it, and returns its id.
func (f *fleet) start(def patchbay.Rollout) int64 {
	f.t.Helper()
	id := f.create(def).Rollout.ID
	f.act(id, service.ActionApprove)
	f.act(id, service.ActionStart)
	return id
}

func (f *fleet) act(id int64, a service.RolloutAction) patchbay.RolloutDetail {
	f.t.Helper()
	d, err := f.svc.ActOnRollout(f.admin, id, a)
	if err != nil {
		f.t.Fatalf("%s: %v", a, err)
	}
	return d
}

func (f *fleet) tick(id int64) {
	f.t.Helper()
	if err := f.svc.Tick(f.t.Context(), id); err != nil {
		f.t.Fatal(err)
	}
}

// jobs polls (without waiting) as host name and returns the job ids.
func (f *fleet) jobs(name string) []string {
	f.t.Helper()
	poll, err := f.svc.PollJobs(f.hosts[name], 0)
	if err != nil {
		f.t.Fatal(err)
	}
	ids := []string{}
	for _, j := range poll.Jobs {
		ids = append(ids, j.ID)
	}
	return ids
}

// result posts the final result of the host's only job.
func (f *fleet) result(name string, status patchbay.JobStatus, steps ...patchbay.StepResult) {
	f.t.Helper()
	ids := f.jobs(name)
	if len(ids) != 1 {
		f.t.Fatalf("host %s has jobs %v, want one", name, ids)
	}
	res := patchbay.JobResult{JobID: ids[0], Action: patchbay.JobInstall, Status: status, Steps: steps, StartedAt: f.clock}
	if status == patchbay.JobFailed {
		res.Reason = "demo-app postinst failed"
	}
	if err := f.svc.PostJobResult(f.hosts[name], ids[0], res); err != nil {
		f.t.Fatal(err)
	}
}

// states returns hostname → state.
func (f *fleet) states(id int64) map[string]patchbay.HostRunState {
	f.t.Helper()
	d, err := f.svc.ShowRollout(f.admin, id)
	if err != nil {
		f.t.Fatal(err)
	}
	m := map[string]patchbay.HostRunState{}
	for _, h := range d.Hosts {
		m[h.Hostname] = h.State
	}
	return m
}

func twoRings() patchbay.Rollout {
	return patchbay.Rollout{
		Name: "october", Policy: patchbay.PolicySecurity, Target: patchbay.Selector{},
		Rings: []patchbay.Ring{
			{Name: "canary", Count: 1, MaxConcurrency: 1, BakeTime: 10 * time.Minute, HealthGates: []string{"web"}, Canary: true},
			{Name: "wave", Percent: 100, MaxConcurrency: 2},
		},
		Budget: patchbay.FailureBudget{Count: 1},
	}
}

// TestRolloutLifecycle: create → plan → approve → start; the canary gets
// its frozen job with the ring's gates; the wave waits for the bake, then
// starts two at a time; a new Service over the same database continues
// without giving any host a second job; the rollout completes and its log
// says who did what.
func TestRolloutLifecycle(t *testing.T) {
	f := newFleet(t, "h1", "h2", "h3", "h4")
	d := f.create(twoRings())
	id := d.Rollout.ID
	if d.Rollout.State != patchbay.RolloutDraft || len(d.Hosts) != 4 {
		t.Fatalf("created %s with %d hosts, want a draft of 4", d.Rollout.State, len(d.Hosts))
	}
	for _, h := range d.Hosts {
		want := []patchbay.PackageVersion{{Name: "openssl", Arch: "amd64", Version: "3.0.15-1~deb12u1"}}
		if diff := cmp.Diff(want, h.Patches); diff != "" {
			t.Errorf("plan of %s (-want +got):\n%s", h.Hostname, diff)
		}
		if wantRing := map[bool]int{true: 0, false: 1}[h.Hostname == "h1"]; h.Ring != wantRing {
			t.Errorf("%s in ring %d, want %d", h.Hostname, h.Ring, wantRing)
		}
		if got := d.Installed[h.HostID]["openssl:amd64"]; got != "3.0.14-1~deb12u2" {
			t.Errorf("installed openssl on %s = %q", h.Hostname, got)
		}
	}
	if _, err := f.svc.ActOnRollout(f.admin, id, service.ActionStart); patchbay.ErrorCode(err) != patchbay.ECONFLICT {
		t.Fatalf("start of a draft: %v, want a conflict", err)
	}
	if _, err := f.svc.ActOnRollout(f.hosts["h1"], id, service.ActionApprove); patchbay.ErrorCode(err) != patchbay.EFORBIDDEN {
		t.Fatalf("approve by a host: %v, want forbidden", err)
	}
	f.act(id, service.ActionApprove)
	d = f.act(id, service.ActionStart) // ticks at once

	if got := f.jobs("h1"); !slices.Equal(got, []string{"r1-h1-a1"}) {
		t.Fatalf("canary jobs = %v", got)
	}
	poll, _ := f.svc.PollJobs(f.hosts["h1"], 0)
	wantJob := patchbay.Job{ID: "r1-h1-a1", Action: patchbay.JobInstall, Refresh: true,
		Packages: []patchbay.PackageVersion{{Name: "openssl", Arch: "amd64", Version: "3.0.15-1~deb12u1"}}, Checks: []string{"web"},
		Reboot: patchbay.RebootIfRequired, RebootTimeout: patchbay.DefaultRebootTimeout}
	if diff := cmp.Diff([]patchbay.Job{wantJob}, poll.Jobs); diff != "" {
		t.Errorf("canary job (-want +got):\n%s", diff)
	}
	for _, h := range []string{"h2", "h3", "h4"} {
		if got := f.jobs(h); len(got) != 0 {
			t.Errorf("%s got %v while the canary runs", h, got)
		}
	}
	f.tick(id)
	f.result("h1", patchbay.JobSucceeded, patchbay.StepResult{Name: "check:web", Status: patchbay.JobSucceeded, Check: patchbay.CheckWarning})
	f.tick(id)
	if got := f.jobs("h2"); len(got) != 0 {
		t.Fatalf("wave started during the bake: %v", got)
	}
	d, _ = f.svc.ShowRollout(f.admin, id)
	if d.Counts[patchbay.HostSucceeded] != 1 || d.Status == "" {
		t.Errorf("after the canary: counts %v, status %q", d.Counts, d.Status)
	}

	f.clock = f.clock.Add(11 * time.Minute)
	f.tick(id)
	if got := append(f.jobs("h2"), f.jobs("h3")...); !slices.Equal(got, []string{"r1-h2-a1", "r1-h3-a1"}) {
		t.Fatalf("wave jobs = %v, want h2 and h3", got)
	}
	if got := f.jobs("h4"); len(got) != 0 {
		t.Fatalf("h4 started beyond the concurrency of 2: %v", got)
	}

	// A server restart: a new Service over the same database resumes, and
	// ticks never give a running host another job.
	f.svc = service.New(f.db, service.Options{Now: func() time.Time { return f.clock }})
	for range 3 {
		f.tick(id)
	}
	if got := append(f.jobs("h2"), f.jobs("h3")...); !slices.Equal(got, []string{"r1-h2-a1", "r1-h3-a1"}) {
		t.Fatalf("after restart: wave jobs = %v", got)
	}
	f.result("h2", patchbay.JobSucceeded)
	f.tick(id)
	if got := f.jobs("h4"); !slices.Equal(got, []string{"r1-h4-a1"}) {
		t.Fatalf("h4 jobs = %v after h2 finished", got)
	}
	f.result("h3", patchbay.JobSucceeded)
	f.result("h4", patchbay.JobSucceeded)
	// Posting again is not an error and changes nothing.
	if err := f.svc.PostJobResult(f.hosts["h4"], "r1-h4-a1", patchbay.JobResult{Status: patchbay.JobFailed}); err != nil {
		t.Fatal(err)
	}
	f.tick(id)
	d, _ = f.svc.ShowRollout(f.admin, id)
	if d.Rollout.State != patchbay.RolloutCompleted || d.Counts[patchbay.HostSucceeded] != 4 || d.Rollout.FinishedAt.IsZero() {
		t.Fatalf("end: %s, counts %v", d.Rollout.State, d.Counts)
	}
	var log []string
	for _, e := range d.Events {
		if e.Kind != "host_started" && e.Kind != "host_succeeded" {
			log = append(log, e.Actor+" "+e.Kind)
		}
	}
	want := []string{"test created", "test approve", "test start", "scheduler state"}
	if diff := cmp.Diff(want, log); diff != "" {
		t.Errorf("rollout log (-want +got):\n%s", diff)
	}
}

// TestRolloutBudgetHalts: with a budget of 1, the second failure halts the
// rollout: no new host starts, and hosts started ≤ succeeded + budget +
// concurrency.
func TestRolloutBudgetHalts(t *testing.T) {
	f := newFleet(t, "h1", "h2", "h3", "h4", "h5", "h6")
	def := twoRings()
	def.Rings = []patchbay.Ring{{Name: "all", Percent: 100, MaxConcurrency: 2}}
	id := f.start(def)
	f.result("h1", patchbay.JobFailed)
	f.tick(id)
	if st := f.states(id); st["h1"] != patchbay.HostFailed || st["h3"] != patchbay.HostRunning {
		t.Fatalf("after one failure (within budget): %v", st)
	}
	f.result("h2", patchbay.JobFailed)
	f.tick(id)
	d, _ := f.svc.ShowRollout(f.admin, id)
	if d.Rollout.State != patchbay.RolloutHalted {
		t.Fatalf("state %s after 2 failures with a budget of 1, want halted", d.Rollout.State)
	}
	// The host in flight finishes; nothing else starts.
	f.result("h3", patchbay.JobSucceeded)
	if err := f.svc.TickAll(t.Context()); err != nil {
		t.Fatal(err)
	}
	d, _ = f.svc.ShowRollout(f.admin, id)
	started := 0
	for _, h := range d.Hosts {
		started += min(h.Attempts, 1)
	}
	if started != 3 || started > d.Counts[patchbay.HostSucceeded]+1+2 {
		t.Errorf("started %d hosts, counts %v", started, d.Counts)
	}
	if got := f.jobs("h4"); len(got) != 0 {
		t.Errorf("h4 got %v after the halt", got)
	}
	if _, err := f.svc.RetryHost(f.admin, id, "h1"); patchbay.ErrorCode(err) != patchbay.ECONFLICT {
		t.Errorf("retry in a halted rollout: %v, want a conflict", err)
	}
}

// TestRolloutCanaryGateHalts: a CRITICAL health check on the canary fails
// it with the gate's name and halts the rollout before the wave.
func TestRolloutCanaryGateHalts(t *testing.T) {
	f := newFleet(t, "h1", "h2", "h3")
	def := twoRings()
	def.Budget = patchbay.FailureBudget{Count: 5}
	id := f.start(def)
	f.result("h1", patchbay.JobFailed, patchbay.StepResult{Name: "install", Status: patchbay.JobSucceeded},
		patchbay.StepResult{Name: "check:web", Status: patchbay.JobFailed, Check: patchbay.CheckCritical})
	f.clock = f.clock.Add(time.Hour)
	f.tick(id)
	d, _ := f.svc.ShowRollout(f.admin, id)
	if d.Rollout.State != patchbay.RolloutHalted || d.Hosts[0].FailedGate != "web" {
		t.Fatalf("state %s, canary %+v", d.Rollout.State, d.Hosts[0])
	}
	for _, h := range []string{"h2", "h3"} {
		if got := f.jobs(h); len(got) != 0 {
			t.Errorf("%s got %v after the canary's gate failed", h, got)
		}
	}
}

// TestRolloutRetrySkipTimeout: a host that never reports times out and
// fails; a retry gives it a new job id (attempt 2); a skip lets the ring
// move on; an aborted rollout's undelivered jobs are never delivered.
func TestRolloutRetrySkipTimeout(t *testing.T) {
	f := newFleet(t, "h1", "h2", "h3")
	def := twoRings()
	def.Rings = []patchbay.Ring{{Name: "all", Percent: 100, MaxConcurrency: 1}}
	def.Budget = patchbay.FailureBudget{Count: 2}
	def.HostTimeout = 30 * time.Minute
	id := f.start(def)
	f.clock = f.clock.Add(31 * time.Minute)
	f.tick(id)
	// A failed host does not stop the rest of its ring within the budget.
	if st := f.states(id); st["h1"] != patchbay.HostFailed || st["h2"] != patchbay.HostRunning {
		t.Fatalf("after the timeout: %v", st)
	}
	if _, err := f.svc.RetryHost(f.admin, id, "h2"); patchbay.ErrorCode(err) != patchbay.ECONFLICT {
		t.Fatalf("retry of a running host: %v, want a conflict", err)
	}
	if _, err := f.svc.RetryHost(f.admin, id, "h1"); err != nil {
		t.Fatal(err)
	}
	if _, err := f.svc.SkipHost(f.admin, id, "h3"); err != nil {
		t.Fatal(err)
	}
	f.result("h2", patchbay.JobSucceeded)
	f.tick(id)
	// The late result of attempt 1 does not settle attempt 2.
	if err := f.svc.PostJobResult(f.hosts["h1"], "r1-h1-a1", patchbay.JobResult{Status: patchbay.JobSucceeded}); err != nil {
		t.Fatal(err)
	}
	d, _ := f.svc.ShowRollout(f.admin, id)
	if h := d.Hosts[0]; h.State != patchbay.HostRunning || h.JobID != "r1-h1-a2" || h.Attempts != 2 || h.Failures != 1 {
		t.Fatalf("h1 after retry and a late result = %+v", h)
	}
	// Another host may not post h1's result.
	if err := f.svc.PostJobResult(f.hosts["h2"], "r1-h1-a2", patchbay.JobResult{Status: patchbay.JobSucceeded}); patchbay.ErrorCode(err) != patchbay.ENOTFOUND {
		t.Fatalf("result by another host: %v, want not found", err)
	}
	// Aborted before h1 polled: its queued job of attempt 2 is never
	// delivered.
	f.act(id, service.ActionAbort)
	if got := f.jobs("h1"); len(got) != 0 {
		t.Errorf("h1 got %v from an aborted rollout", got)
	}
	d, _ = f.svc.ShowRollout(f.admin, id)
	if d.Rollout.State != patchbay.RolloutAborted || d.Hosts[2].Reason != "skipped by test" {
		t.Errorf("end: %s, h3 %+v", d.Rollout.State, d.Hosts[2])
	}
}

// TestPollJobsWakes: a long poll returns the job queued while it waits.
func TestPollJobsWakes(t *testing.T) {
	f := newFleet(t, "h1")
	def := twoRings()
	def.Rings = []patchbay.Ring{{Name: "all", Percent: 100, MaxConcurrency: 1}}
	id := f.create(def).Rollout.ID
	f.act(id, service.ActionApprove)
	got := make(chan patchbay.JobsPoll, 1)
	go func() {
		poll, err := f.svc.PollJobs(f.hosts["h1"], 60*time.Second)
		if err != nil {
			t.Error(err)
		}
		got <- poll
	}()
	time.Sleep(50 * time.Millisecond) // let the poll start waiting; if not, it finds the job at once
	f.act(id, service.ActionStart)
	if poll := <-got; len(poll.Jobs) != 1 || poll.Jobs[0].ID != "r1-h1-a1" {
		t.Fatalf("long poll returned %+v", poll)
	}
	if _, err := f.svc.PollJobs(f.hosts["h1"], 61*time.Second); patchbay.ErrorCode(err) != patchbay.EINVALID {
		t.Errorf("wait of 61 s: %v", err)
	}
	if _, err := f.svc.PollJobs(f.admin, 0); patchbay.ErrorCode(err) != patchbay.EFORBIDDEN {
		t.Errorf("poll by a user: %v", err)
	}
}

// TestRolloutCausesTimelineEvents: after a rollout's job, the host's
// upgrade to the planned version shows the rollout as its cause; a change
// the plan did not make stays observed.
func TestRolloutCausesTimelineEvents(t *testing.T) {
	f := newFleet(t, "h1")
	def := twoRings()
	def.Rings = []patchbay.Ring{{Name: "all", Percent: 100, MaxConcurrency: 1}}
	f.start(def)
	f.result("h1", patchbay.JobSucceeded)
	p, _ := patchbay.PrincipalFrom(f.hosts["h1"])
	f.report(f.hosts["h1"], patchbay.Inventory{SchemaVersion: patchbay.InventorySchemaVersion, MachineID: fmt.Sprintf("%032x", 1), Hostname: "h1",
		PackageManager: "apt", Arch: "amd64", OS: patchbay.OS{ID: "debian", VersionID: "12", Codename: "bookworm", Name: "Debian GNU/Linux"},
		Packages: []patchbay.Package{debPkg("openssl", "openssl", "3.0.15-1~deb12u1"), debPkg("vim", "vim", "2:9.0.1378-2+deb12u1")}})
	events, err := f.svc.HostHistory(f.admin, fmt.Sprint(p.HostID), service.HistoryFilter{})
	if err != nil {
		t.Fatal(err)
	}
	causes := map[string]string{}
	for _, e := range events {
		if e.Kind == patchbay.EventPackageUpgraded {
			causes[e.Package] = e.Cause + " " + e.Detail
		}
	}
	want := map[string]string{"openssl": "rollout:1 job r1-h1-a1", "vim": "observed "}
	if diff := cmp.Diff(want, causes); diff != "" {
		t.Errorf("causes of upgrades (-want +got):\n%s", diff)
	}
}

// TestRolloutWindowAndPause: nothing starts outside the maintenance
// window; the scheduler pauses the rollout when it closes and resumes it
// when it opens, logging both; an operator's pause holds until resumed.
func TestRolloutWindowAndPause(t *testing.T) {
	f := newFleet(t, "h1", "h2", "h3")
	// The fleet's clock is 2026-09-01 (a Tuesday) 12:03 UTC; the window is
	// daily 22:00-23:00 Europe/London (21:00-22:00 UTC in September).
	def := twoRings()
	def.Rings = []patchbay.Ring{{Name: "all", Percent: 100, MaxConcurrency: 1}}
	def.Budget = patchbay.FailureBudget{Count: 3}
	def.Window = &patchbay.Window{Cron: "0 22 * * *", Duration: time.Hour, TimeZone: "Europe/London"}
	id := f.create(def).Rollout.ID
	f.act(id, service.ActionApprove)
	d := f.act(id, service.ActionStart)
	if d.Rollout.State != patchbay.RolloutPaused || d.Rollout.PauseCause != patchbay.PauseWindow {
		t.Fatalf("started outside the window: %s (%s)", d.Rollout.State, d.Rollout.PauseCause)
	}
	if got := f.jobs("h1"); len(got) != 0 {
		t.Fatalf("a job outside the window: %v", got)
	}
	f.clock = time.Date(2026, 9, 1, 21, 0, 30, 0, time.UTC)
	f.tick(id)
	if got := f.jobs("h1"); !slices.Equal(got, []string{"r1-h1-a1"}) {
		t.Fatalf("jobs when the window opened: %v", got)
	}
	f.result("h1", patchbay.JobSucceeded)
	if _, err := f.svc.ActOnRollout(f.admin, id, service.ActionPause); err != nil {
		t.Fatal(err)
	}
	f.tick(id)
	if got := f.jobs("h2"); len(got) != 0 {
		t.Fatalf("a job while paused by an operator: %v", got)
	}
	f.act(id, service.ActionResume)
	if got := f.jobs("h2"); !slices.Equal(got, []string{"r1-h2-a1"}) {
		t.Fatalf("jobs after resume: %v", got)
	}
	f.clock = time.Date(2026, 9, 1, 22, 0, 30, 0, time.UTC) // closed; h2 in flight finishes
	f.tick(id)
	f.result("h2", patchbay.JobSucceeded)
	f.tick(id)
	d, _ = f.svc.ShowRollout(f.admin, id)
	if d.Rollout.State != patchbay.RolloutPaused || d.Rollout.PauseCause != patchbay.PauseWindow || d.Counts[patchbay.HostPending] != 1 {
		t.Fatalf("after the window closed: %s (%s), counts %v", d.Rollout.State, d.Rollout.PauseCause, d.Counts)
	}
	f.clock = time.Date(2026, 9, 2, 21, 5, 0, 0, time.UTC)
	f.tick(id)
	f.result("h3", patchbay.JobSucceeded)
	f.tick(id)
	d, _ = f.svc.ShowRollout(f.admin, id)
	if d.Rollout.State != patchbay.RolloutCompleted {
		t.Fatalf("end: %s, %s", d.Rollout.State, d.Status)
	}
	var log []string
	for _, e := range d.Events {
		if e.Kind == "state" || e.Kind == "pause" || e.Kind == "resume" || e.Kind == "start" {
			change, _, _ := strings.Cut(e.Detail, ":")
			log = append(log, e.Actor+" "+change)
		}
	}
	want := []string{
		"test approved → running", "scheduler running → paused", // the window is closed
		"scheduler paused → running", // it opened
		"test running → paused", "test paused → running",
		"scheduler running → paused", "scheduler paused → running", "scheduler running → completed",
	}
	if diff := cmp.Diff(want, log); diff != "" {
		t.Errorf("state changes (-want +got):\n%s", diff)
	}
}

// TestRolloutInstalledNotAsPlanned: a job reported successful whose host
// ends at another version than the frozen plan fails the host, naming both
// versions.
func TestRolloutInstalledNotAsPlanned(t *testing.T) {
	f := newFleet(t, "h1", "h2")
	def := twoRings()
	def.Rings = []patchbay.Ring{{Name: "all", Percent: 100, MaxConcurrency: 2}}
	def.Budget = patchbay.FailureBudget{Count: 2}
	id := f.start(def)
	for name, version := range map[string]string{"h1": "3.0.15-1~deb12u1", "h2": "3.0.16-1~deb12u1"} {
		job := f.jobs(name)[0]
		err := f.svc.PostJobResult(f.hosts[name], job, patchbay.JobResult{Status: patchbay.JobSucceeded,
			Installed: []patchbay.PackageVersion{{Name: "openssl", Arch: "amd64", Version: version}}})
		if err != nil {
			t.Fatal(err)
		}
	}
	d, _ := f.svc.ShowRollout(f.admin, id)
	if h := d.Hosts[0]; h.State != patchbay.HostSucceeded {
		t.Errorf("h1 at the planned version: %s %q", h.State, h.Reason)
	}
	if h := d.Hosts[1]; h.State != patchbay.HostFailed || h.Reason != "the job succeeded but openssl is at 3.0.16-1~deb12u1, planned 3.0.15-1~deb12u1" {
		t.Errorf("h2 at another version: %s %q", h.State, h.Reason)
	}
}

// TestEndPolls: after EndPolls a waiting long poll and a new one answer at
// once, so a graceful shutdown does not wait for them.
func TestEndPolls(t *testing.T) {
	f := newFleet(t, "h1")
	done := make(chan error, 2)
	go func() {
		_, err := f.svc.PollJobs(f.hosts["h1"], 60*time.Second)
		done <- err
	}()
	time.Sleep(50 * time.Millisecond)
	f.svc.EndPolls()
	go func() {
		_, err := f.svc.PollJobs(f.hosts["h1"], 60*time.Second)
		done <- err
	}()
	for range 2 {
		select {
		case err := <-done:
			if err != nil {
				t.Fatal(err)
			}
		case <-time.After(20 * time.Second):
			t.Fatal("a long poll still waits after EndPolls")
		}
	}
}
