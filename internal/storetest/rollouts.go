package storetest

import (
	"errors"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/patchbay/patchbay"
)

func testRollout() patchbay.Rollout {
	return patchbay.Rollout{
		Name: "october", Policy: "security", Target: patchbay.Selector{"env": "prod"}, State: patchbay.RolloutDraft,
		Rings: []patchbay.Ring{
			{Name: "canary", Count: 1, MaxConcurrency: 1, BakeTime: time.Hour, HealthGates: []string{"web"}, Canary: true},
			{Name: "rest", Percent: 100, MaxConcurrency: 2},
		},
		Budget:      patchbay.FailureBudget{Count: 1},
		Window:      &patchbay.Window{Cron: "0 22 * * 2", Duration: 4 * time.Hour, TimeZone: "Europe/London", DayOffset: 4},
		HostTimeout: time.Hour,
		CreatedAt:   at(0).UTC(),
	}
}

// testRollouts: a rollout, its host runs and events round-trip; an update
// writes in one transaction, queues jobs once per id, and finishes them
// once.
func testRollouts(t *testing.T, s patchbay.Store) {
	ctx := t.Context()
	f := newFixture(t, s)
	a := f.enroll("m-a", "a", at(0))
	b := f.enroll("m-b", "b", at(0))

	runs := []patchbay.HostRun{
		{HostID: b.ID, Hostname: "b", Ring: 1, State: patchbay.HostPending, Patches: []patchbay.PackageVersion{{Name: "openssl", Arch: "amd64", Version: "3.0.15-1~deb12u1"}},
			Excluded: []patchbay.ExcludedUpdate{{PackageVersion: patchbay.PackageVersion{Name: "tzdata", Arch: "all", Version: "2025b-0+deb12u1"}, Reason: "held by exception 3", ExceptionID: 3}}},
		{HostID: a.ID, Hostname: "a", Ring: 0, State: patchbay.HostPending, Patches: []patchbay.PackageVersion{{Name: "bash", Version: "5.2.15-2+b7"}},
			Excluded: []patchbay.ExcludedUpdate{}},
	}
	r, err := s.CreateRollout(ctx, testRollout(), runs, []patchbay.RolloutEvent{{Time: at(0), Actor: "alice", Kind: "created"}})
	must(t, err)
	if r.ID == 0 {
		t.Fatal("CreateRollout returned no id")
	}
	want := testRollout()
	want.ID = r.ID
	if diff := cmp.Diff(want, r); diff != "" {
		t.Errorf("CreateRollout (-want +got):\n%s", diff)
	}
	got, err := s.Rollout(ctx, r.ID)
	must(t, err)
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Rollout (-want +got):\n%s", diff)
	}
	_, err = s.Rollout(ctx, r.ID+100)
	wantCode(t, err, patchbay.ENOTFOUND)
	bad := testRollout()
	bad.Rings = nil
	_, err = s.CreateRollout(ctx, bad, nil, nil)
	wantCode(t, err, patchbay.EINVALID)
	_, err = s.CreateRollout(ctx, testRollout(), []patchbay.HostRun{{HostID: 9999, Hostname: "ghost", State: patchbay.HostPending}}, nil)
	wantCode(t, err, patchbay.ENOTFOUND)

	hosts, err := s.HostRuns(ctx, r.ID)
	must(t, err)
	for i := range runs {
		runs[i].RolloutID = r.ID
	}
	wantRuns := []patchbay.HostRun{runs[1], runs[0]} // by ring
	if diff := cmp.Diff(wantRuns, hosts, cmpopts.IgnoreFields(patchbay.HostRun{}, "HostLastSeen", "HostInterval", "HostImage")); diff != "" {
		t.Errorf("HostRuns (-want +got):\n%s", diff)
	}
	ids, err := s.ActiveRollouts(ctx)
	must(t, err)
	if len(ids) != 0 {
		t.Errorf("ActiveRollouts = %v with only a draft", ids)
	}

	// An update that fails writes nothing.
	boom := errors.New("boom")
	err = s.UpdateRollout(ctx, r.ID, func(r patchbay.Rollout, h []patchbay.HostRun) (*patchbay.RolloutUpdate, error) {
		return nil, boom
	})
	if !errors.Is(err, boom) {
		t.Fatalf("UpdateRollout error = %v, want boom", err)
	}

	job := patchbay.Job{ID: "r1-h1-a1", Action: patchbay.JobInstall, Packages: runs[1].Patches, Checks: []string{"web"}}
	start := func(r patchbay.Rollout, h []patchbay.HostRun) (*patchbay.RolloutUpdate, error) {
		if h[0].Patches != nil {
			t.Errorf("UpdateRollout passed patches %v; it reads host runs without them", h[0].Patches)
		}
		r.State, r.StartedAt = patchbay.RolloutRunning, at(time.Minute).UTC()
		h[0].State, h[0].Attempts, h[0].StartedAt, h[0].JobID = patchbay.HostRunning, 1, at(time.Minute).UTC(), job.ID
		return &patchbay.RolloutUpdate{
			Rollout: r, Hosts: h[:1],
			Events: []patchbay.RolloutEvent{{Time: at(time.Minute), Actor: "scheduler", Kind: "host_started", HostID: a.ID}},
			// The store fills in the packages from the frozen plan.
			Jobs: []patchbay.JobRecord{{Job: patchbay.Job{ID: job.ID, Action: job.Action, Checks: job.Checks}, HostID: a.ID, QueuedAt: at(time.Minute)}},
		}, nil
	}
	must(t, s.UpdateRollout(ctx, r.ID, start))
	// The same job id again is a conflict, and rolls the whole update back.
	err = s.UpdateRollout(ctx, r.ID, func(r patchbay.Rollout, h []patchbay.HostRun) (*patchbay.RolloutUpdate, error) {
		u, _ := start(r, h)
		u.Rollout.State = patchbay.RolloutPaused
		u.Rollout.PauseCause = patchbay.PauseOperator
		return u, nil
	})
	wantCode(t, err, patchbay.ECONFLICT)
	got, err = s.Rollout(ctx, r.ID)
	must(t, err)
	if got.State != patchbay.RolloutRunning || !got.StartedAt.Equal(at(time.Minute)) {
		t.Errorf("after update: state %s started %v, want running at %v", got.State, got.StartedAt, at(time.Minute))
	}
	ids, err = s.ActiveRollouts(ctx)
	must(t, err)
	if diff := cmp.Diff([]int64{r.ID}, ids); diff != "" {
		t.Errorf("ActiveRollouts (-want +got):\n%s", diff)
	}
	hosts, err = s.HostRuns(ctx, r.ID)
	must(t, err)
	if hosts[0].State != patchbay.HostRunning || hosts[0].JobID != job.ID || hosts[0].Attempts != 1 || hosts[1].State != patchbay.HostPending {
		t.Errorf("host runs after start = %+v", hosts)
	}
	if diff := cmp.Diff(runs[1].Patches, hosts[0].Patches); diff != "" {
		t.Errorf("frozen patches after an update (-want +got):\n%s", diff)
	}
	// A job for a host that is not in the rollout is refused.
	err = s.UpdateRollout(ctx, r.ID, func(r patchbay.Rollout, h []patchbay.HostRun) (*patchbay.RolloutUpdate, error) {
		return &patchbay.RolloutUpdate{Rollout: r, Jobs: []patchbay.JobRecord{{Job: patchbay.Job{ID: "stray", Action: patchbay.JobInstall}, HostID: 9999, QueuedAt: at(0)}}}, nil
	})
	wantCode(t, err, patchbay.ENOTFOUND)

	// Jobs: delivered to their host only, again until done.
	for range 2 {
		jobs, err := s.PendingJobs(ctx, a.ID, at(2*time.Minute))
		must(t, err)
		if diff := cmp.Diff([]patchbay.Job{job}, jobs); diff != "" {
			t.Errorf("PendingJobs (-want +got):\n%s", diff)
		}
	}
	jobs, err := s.PendingJobs(ctx, b.ID, at(2*time.Minute))
	must(t, err)
	if len(jobs) != 0 {
		t.Errorf("host b got jobs %v", jobs)
	}
	rec, err := s.JobRecord(ctx, job.ID)
	must(t, err)
	wantRec := patchbay.JobRecord{Job: job, HostID: a.ID, RolloutID: r.ID, State: patchbay.JobDelivered,
		QueuedAt: at(time.Minute).UTC(), DeliveredAt: at(2 * time.Minute).UTC()}
	if diff := cmp.Diff(wantRec, rec); diff != "" {
		t.Errorf("JobRecord (-want +got):\n%s", diff)
	}
	_, err = s.JobRecord(ctx, "nope")
	wantCode(t, err, patchbay.ENOTFOUND)
	hostJobs, err := s.HostJobs(ctx, a.ID, at(time.Minute))
	must(t, err)
	if diff := cmp.Diff([]patchbay.JobRecord{wantRec}, hostJobs); diff != "" {
		t.Errorf("HostJobs (-want +got):\n%s", diff)
	}
	for _, tc := range []struct {
		host  int64
		since time.Time
	}{{a.ID, at(time.Minute + 1)}, {b.ID, at(0)}} {
		hostJobs, err = s.HostJobs(ctx, tc.host, tc.since)
		must(t, err)
		if len(hostJobs) != 0 {
			t.Errorf("HostJobs(%d, %v) = %+v, want none", tc.host, tc.since, hostJobs)
		}
	}

	res := patchbay.JobResult{JobID: job.ID, Action: patchbay.JobInstall, Status: patchbay.JobSucceeded,
		Steps: []patchbay.StepResult{{Name: "install", Status: patchbay.JobSucceeded, StartedAt: at(time.Minute).UTC()}}, StartedAt: at(time.Minute).UTC()}
	finish := func(r patchbay.Rollout, h []patchbay.HostRun) (*patchbay.RolloutUpdate, error) {
		return &patchbay.RolloutUpdate{Rollout: r, Finish: &res, FinishAt: at(3 * time.Minute)}, nil
	}
	must(t, s.UpdateRollout(ctx, r.ID, finish))
	res2 := res
	res2.Status = patchbay.JobFailed
	must(t, s.UpdateRollout(ctx, r.ID, func(r patchbay.Rollout, h []patchbay.HostRun) (*patchbay.RolloutUpdate, error) {
		return &patchbay.RolloutUpdate{Rollout: r, Finish: &res2, FinishAt: at(4 * time.Minute)}, nil
	}))
	rec, err = s.JobRecord(ctx, job.ID)
	must(t, err)
	if rec.State != patchbay.JobDone || rec.Result == nil || rec.Result.Status != patchbay.JobSucceeded || !rec.FinishedAt.Equal(at(3*time.Minute)) {
		t.Errorf("job after two results = %+v, want done with the first", rec)
	}
	jobs, err = s.PendingJobs(ctx, a.ID, at(5*time.Minute))
	must(t, err)
	if len(jobs) != 0 {
		t.Errorf("done job delivered again: %v", jobs)
	}
	wantCode(t, s.FinishJob(ctx, patchbay.JobResult{JobID: "nope", Status: patchbay.JobFailed}, at(0)), patchbay.ENOTFOUND)
	wantCode(t, s.FinishJob(ctx, patchbay.JobResult{JobID: job.ID, Status: patchbay.JobRunning}, at(0)), patchbay.EINVALID)

	events, err := s.RolloutEvents(ctx, r.ID, 0)
	must(t, err)
	last, err := s.RolloutEvents(ctx, r.ID, 1)
	must(t, err)
	if len(last) != 1 || last[0].Kind != "host_started" {
		t.Errorf("RolloutEvents limit 1 = %+v, want the newest", last)
	}
	wantEvents := []patchbay.RolloutEvent{
		{RolloutID: r.ID, Time: at(0).UTC(), Actor: "alice", Kind: "created"},
		{RolloutID: r.ID, Time: at(time.Minute).UTC(), Actor: "scheduler", Kind: "host_started", HostID: a.ID},
	}
	if diff := cmp.Diff(wantEvents, events, cmpopts.IgnoreFields(patchbay.RolloutEvent{}, "ID")); diff != "" {
		t.Errorf("RolloutEvents (-want +got):\n%s", diff)
	}
	list, err := s.ListRollouts(ctx)
	must(t, err)
	if len(list) != 1 || list[0].ID != r.ID {
		t.Errorf("ListRollouts = %+v", list)
	}
}
