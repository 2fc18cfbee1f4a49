package storetest

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/patchbay/patchbay"
)

// testRetireHost: a retired host leaves the host lists, the fleet's
// finding figures and evaluation, keeps its history and its own findings,
// and its pending and missed places in rollouts are skipped; unretiring
// brings it all back.
func testRetireHost(t *testing.T, s patchbay.Store) {
	ctx := t.Context()
	dashboardFleet(t, s)
	find := func(name string) patchbay.Host {
		h, err := s.FindHost(ctx, name)
		must(t, err)
		return h
	}
	a, b, c := find("a"), find("b"), find("c")

	// c is pending in a running rollout and missed in a completed one; a
	// halted rollout's pending place is left alone.
	rollout := func(state patchbay.RolloutState, hostState patchbay.HostRunState) int64 {
		def := testRollout()
		def.State = state
		r, err := s.CreateRollout(ctx, def, []patchbay.HostRun{
			{HostID: c.ID, Hostname: "c", State: hostState}, {HostID: a.ID, Hostname: "a", State: patchbay.HostPending},
		}, nil)
		must(t, err)
		return r.ID
	}
	running := rollout(patchbay.RolloutRunning, patchbay.HostPending)
	completed := rollout(patchbay.RolloutCompleted, patchbay.HostMissed)
	halted := rollout(patchbay.RolloutHalted, patchbay.HostPending)
	missed, err := s.MissedRollouts(ctx, c.ID)
	must(t, err)
	if diff := cmp.Diff([]int64{completed}, missed); diff != "" {
		t.Errorf("MissedRollouts before retiring (-want +got):\n%s", diff)
	}

	before, err := s.FindingCounts(ctx)
	must(t, err)
	retiredAt := at(2 * time.Hour)
	h, err := s.RetireHost(ctx, c.ID, "alice", "decommissioned, ticket OPS-1", retiredAt)
	must(t, err)
	if !h.RetiredAt.Equal(retiredAt) || h.RetiredBy != "alice" || h.RetiredReason != "decommissioned, ticket OPS-1" || h.StatusAt(retiredAt, patchbay.Lifecycle{}) != patchbay.HostRetired {
		t.Errorf("retired host = at %v by %q for %q", h.RetiredAt, h.RetiredBy, h.RetiredReason)
	}
	_, err = s.RetireHost(ctx, c.ID, "bob", "", retiredAt)
	wantCode(t, err, patchbay.ECONFLICT)
	_, err = s.RetireHost(ctx, 9999, "bob", "", retiredAt)
	wantCode(t, err, patchbay.ENOTFOUND)

	// Lists: out by default, in the retired status only; found by name.
	list, err := s.ListHosts(ctx, patchbay.HostFilter{})
	must(t, err)
	if diff := cmp.Diff([]int64{a.ID, b.ID}, hostIDs(list)); diff != "" {
		t.Errorf("hosts after retiring c (-want +got):\n%s", diff)
	}
	list, err = s.ListHosts(ctx, patchbay.HostFilter{Status: patchbay.HostRetired})
	must(t, err)
	if diff := cmp.Diff([]int64{c.ID}, hostIDs(list)); diff != "" {
		t.Errorf("retired hosts (-want +got):\n%s", diff)
	}
	for _, f := range []patchbay.HostFilter{{Stale: true, Now: at(48 * time.Hour)}, {Status: patchbay.HostDormant, Now: at(48 * time.Hour), DormantAfter: time.Hour}} {
		list, err = s.ListHosts(ctx, f)
		must(t, err)
		if diff := cmp.Diff([]int64{a.ID, b.ID}, hostIDs(list)); diff != "" {
			t.Errorf("away hosts %+v: a retired host is not away (-want +got):\n%s", f, diff)
		}
	}
	if got := find("c"); got.RetiredAt.IsZero() {
		t.Error("FindHost lost the retirement")
	}

	// Figures: c's critical curl and low bash findings are out.
	got, err := s.FindingCounts(ctx)
	must(t, err)
	want := patchbay.FindingCounts{BySeverity: []patchbay.SeverityCount{{Severity: patchbay.SeverityHigh, Findings: 2, KEV: 2}},
		Findings: 2, Hosts: 2, KEVFindings: 2, KEVHosts: 2}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("FindingCounts after retiring c (-want +got):\n%s", diff)
	}
	trend, err := s.OpenFindingsTrend(ctx, at(0), 10*time.Minute, 7)
	must(t, err)
	if diff := cmp.Diff([]int{2, 3, 2, 2, 2, 2, 2}, trend); diff != "" {
		t.Errorf("trend without c (-want +got):\n%s", diff)
	}
	fleet, err := s.Findings(ctx, patchbay.FindingFilter{})
	must(t, err)
	for _, x := range fleet {
		if x.HostID == c.ID {
			t.Errorf("fleet findings list the retired host: %+v", x)
		}
	}
	own, err := s.Findings(ctx, patchbay.FindingFilter{HostID: c.ID})
	must(t, err)
	if len(own) != 2 {
		t.Errorf("the retired host's own findings = %d, want its 2", len(own))
	}
	exp, err := s.HostExposures(ctx, []int64{a.ID, c.ID})
	must(t, err)
	if diff := cmp.Diff(map[int64]patchbay.Exposure{a.ID: {Findings: 1, High: 1, KEV: 1}, c.ID: {Findings: 2, Critical: 1}}, exp); diff != "" {
		t.Errorf("HostExposures (-want +got):\n%s", diff)
	}
	var evaluated []int64
	must(t, s.EvalHosts(ctx, nil, func(h patchbay.EvalHost) error { evaluated = append(evaluated, h.ID); return nil }))
	if diff := cmp.Diff([]int64{a.ID, b.ID}, evaluated); diff != "" {
		t.Errorf("EvalHosts after retiring c (-want +got):\n%s", diff)
	}

	// Rollouts: pending and missed places are skipped, with a log entry;
	// the halted rollout is left as it was.
	for id, want := range map[int64]patchbay.HostRunState{running: patchbay.HostSkipped, completed: patchbay.HostSkipped, halted: patchbay.HostPending} {
		runs, err := s.HostRuns(ctx, id)
		must(t, err)
		for _, r := range runs {
			if r.HostID == c.ID && r.State != want {
				t.Errorf("rollout %d: c is %s, want %s", id, r.State, want)
			}
			if r.HostID == a.ID && r.State != patchbay.HostPending {
				t.Errorf("rollout %d: a is %s, want pending", id, r.State)
			}
		}
	}
	log, err := s.RolloutEvents(ctx, running, 0)
	must(t, err)
	if len(log) != 1 || log[0].Kind != "host_skipped" || log[0].HostID != c.ID || log[0].Actor != "alice" {
		t.Errorf("rollout log after retiring = %+v", log)
	}

	// Unretire: back in the lists and the figures, with both events in
	// the timeline.
	_, err = s.UnretireHost(ctx, a.ID, "bob", at(3*time.Hour))
	wantCode(t, err, patchbay.ECONFLICT)
	h, err = s.UnretireHost(ctx, c.ID, "bob", at(3*time.Hour))
	must(t, err)
	if !h.RetiredAt.IsZero() || h.RetiredBy != "" {
		t.Errorf("unretired host still retired: %v by %q", h.RetiredAt, h.RetiredBy)
	}
	got, err = s.FindingCounts(ctx)
	must(t, err)
	if diff := cmp.Diff(before, got); diff != "" {
		t.Errorf("FindingCounts after unretiring (-before +after):\n%s", diff)
	}
	ev, err := s.Events(ctx, patchbay.EventFilter{HostID: c.ID, Kinds: []patchbay.EventKind{patchbay.EventRetired, patchbay.EventUnretired}})
	must(t, err)
	if len(ev) != 2 || ev[0].Kind != patchbay.EventUnretired || ev[1].Kind != patchbay.EventRetired ||
		ev[1].Detail != "retired by alice: decommissioned, ticket OPS-1" || !ev[1].Time.Equal(retiredAt) {
		t.Errorf("timeline = %+v", ev)
	}
}

// testCatchUpJobsFirst: a catch-up job is handed out before the host's
// older jobs.
func testCatchUpJobsFirst(t *testing.T, s patchbay.Store) {
	ctx := t.Context()
	f := newFixture(t, s)
	a := f.enroll("m-a", "a", at(0))
	def := testRollout()
	def.State = patchbay.RolloutRunning
	r, err := s.CreateRollout(ctx, def, []patchbay.HostRun{{HostID: a.ID, Hostname: "a", State: patchbay.HostPending,
		Patches: []patchbay.PackageVersion{{Name: "bash", Version: "5.2.15-2+b7"}}}}, nil)
	must(t, err)
	queue := func(id string, catchUp bool, when time.Time) {
		must(t, s.UpdateRollout(ctx, r.ID, func(r patchbay.Rollout, _ []patchbay.HostRun) (*patchbay.RolloutUpdate, error) {
			return &patchbay.RolloutUpdate{Rollout: r, Jobs: []patchbay.JobRecord{{Job: patchbay.Job{ID: id, Action: patchbay.JobInstall, CatchUp: catchUp}, HostID: a.ID, QueuedAt: when}}}, nil
		}))
	}
	queue("older", false, at(time.Minute))
	queue("catch-up", true, at(2*time.Minute))
	queue("newer", false, at(3*time.Minute))
	jobs, err := s.PendingJobs(ctx, a.ID, at(4*time.Minute))
	must(t, err)
	var ids []string
	for _, j := range jobs {
		ids = append(ids, j.ID)
	}
	if diff := cmp.Diff([]string{"catch-up", "older", "newer"}, ids); diff != "" {
		t.Errorf("PendingJobs order (-want +got):\n%s", diff)
	}
}
