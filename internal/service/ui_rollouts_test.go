package service_test

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/patchbay/patchbay"
	"github.com/patchbay/patchbay/internal/service"
)

// TestRolloutJobResults: the result of a failed host's job is read by its
// job id, only within its rollout, only once final, and only by a user.
func TestRolloutJobResults(t *testing.T) {
	f := newFleet(t, "h1", "h2")
	def := twoRings()
	def.Rings = []patchbay.Ring{{Name: "all", Percent: 100, MaxConcurrency: 2}}
	def.Budget = patchbay.FailureBudget{Count: 2}
	id := f.create(def).Rollout.ID
	other := f.create(def).Rollout.ID
	f.act(id, service.ActionApprove)
	f.act(id, service.ActionStart)
	step := patchbay.StepResult{Name: "install", Status: patchbay.JobFailed, Message: "apt-get install failed",
		Output: "Setting up demo-app (1.0-2) ...\ndpkg: error processing package demo-app", StartedAt: f.clock.Add(-time.Minute), FinishedAt: f.clock}
	f.result("h1", patchbay.JobFailed, step)
	d, err := f.svc.ShowRollout(f.admin, id)
	if err != nil {
		t.Fatal(err)
	}
	var jobs []string
	for _, h := range d.Hosts {
		jobs = append(jobs, h.JobID)
	}
	got, err := f.svc.RolloutJobResults(f.admin, id, append(jobs, "no-such-job", ""))
	if err != nil {
		t.Fatal(err)
	}
	// h2 runs still: no result yet.
	want := map[string]patchbay.JobResult{"r1-h1-a1": {JobID: "r1-h1-a1", Action: patchbay.JobInstall, Status: patchbay.JobFailed,
		Reason: "demo-app postinst failed", Steps: []patchbay.StepResult{step}, StartedAt: f.clock}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("results (-want +got):\n%s", diff)
	}
	// The job belongs to rollout id, not to the other one.
	if got, err := f.svc.RolloutJobResults(f.admin, other, jobs); err != nil || len(got) != 0 {
		t.Errorf("results of another rollout's jobs: %v, %v", got, err)
	}
	if _, err := f.svc.RolloutJobResults(f.hosts["h1"], id, jobs); patchbay.ErrorCode(err) != patchbay.EFORBIDDEN {
		t.Errorf("a host reading results: %v, want forbidden", err)
	}
	if _, err := f.svc.RolloutJobResults(f.admin, id, make([]string, service.MaxJobResults+1)); patchbay.ErrorCode(err) != patchbay.EINVALID {
		t.Errorf("too many ids: %v, want invalid", err)
	}
}
