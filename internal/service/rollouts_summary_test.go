package service_test

import (
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/patchbay/patchbay"
	"github.com/patchbay/patchbay/internal/service"
)

// TestListRolloutSummaries: each rollout of the list, newest first, with
// its hosts counted by state; a host cannot list rollouts.
func TestListRolloutSummaries(t *testing.T) {
	f := newFleet(t, "h1", "h2", "h3")
	first := f.create(twoRings())
	f.act(first.Rollout.ID, service.ActionApprove)
	f.act(first.Rollout.ID, service.ActionStart) // the canary starts
	second := f.create(patchbay.Rollout{Name: "second", Rings: []patchbay.Ring{{Name: "all", Percent: 100, MaxConcurrency: 1}}})

	got, err := f.svc.ListRolloutSummaries(f.admin)
	if err != nil {
		t.Fatal(err)
	}
	rows := summaryRows(got)
	want := []summaryRow{
		{second.Rollout.ID, patchbay.RolloutDraft, 3, map[patchbay.HostRunState]int{patchbay.HostPending: 3}},
		{first.Rollout.ID, patchbay.RolloutRunning, 3, map[patchbay.HostRunState]int{patchbay.HostRunning: 1, patchbay.HostPending: 2}},
	}
	if diff := cmp.Diff(want, rows); diff != "" {
		t.Errorf("summaries (-want +got):\n%s", diff)
	}
	if _, err := f.svc.ListRolloutSummaries(f.hosts["h1"]); patchbay.ErrorCode(err) != patchbay.EUNAUTHORIZED && patchbay.ErrorCode(err) != patchbay.EFORBIDDEN {
		t.Errorf("a host lists rollouts: %v", err)
	}
}

// summaryRow is what the tests compare of a RolloutSummary.
type summaryRow struct {
	ID     int64
	State  patchbay.RolloutState
	Hosts  int
	Counts map[patchbay.HostRunState]int
}

func summaryRows(list []service.RolloutSummary) []summaryRow {
	var rows []summaryRow
	for _, s := range list {
		rows = append(rows, summaryRow{s.ID, s.State, s.Hosts, s.Counts})
	}
	return rows
}
